//! The files a pod provides to its containers: `/etc/hostname`, `/etc/hosts`,
//! `/etc/resolv.conf`; their contents are pure functions of the sandbox configuration.

use crate::model::SandboxConfig;

/// The pod's hostname: kubelet's, else the pod name (as the fake does).
pub(super) fn hostname(config: &SandboxConfig) -> String {
    if config.hostname.is_empty() {
        config.metadata.name.clone()
    } else {
        config.hostname.clone()
    }
}

/// `/etc/hosts` of the pod.
pub(super) fn hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
    )
}

/// `/etc/resolv.conf` of the pod from kubelet's DNS config, or `None` when there is none (the
/// caller then copies the host's).
pub(super) fn resolv_conf(config: &SandboxConfig) -> Option<String> {
    let dns = config.dns.as_ref()?;
    if dns.servers.is_empty() && dns.searches.is_empty() && dns.options.is_empty() {
        return None;
    }
    let mut text = String::new();
    if !dns.searches.is_empty() {
        text.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for server in &dns.servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !dns.options.is_empty() {
        text.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    Some(text)
}

/// Whether a line of generated file content could smuggle in another line.
pub(super) fn check_single_line(what: &str, value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(format!("{what} {value:?} contains a line break or NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DnsConfig;

    #[test]
    fn resolv_conf_from_dns_config() {
        let mut config = SandboxConfig::default();
        assert_eq!(resolv_conf(&config), None);
        config.dns = Some(DnsConfig {
            servers: vec!["10.0.0.10".into()],
            searches: vec!["ns.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        });
        assert_eq!(
            resolv_conf(&config).unwrap(),
            "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn hostname_defaults_to_pod_name() {
        let mut config = SandboxConfig::default();
        config.metadata.name = "web".into();
        assert_eq!(hostname(&config), "web");
        config.hostname = "web-0".into();
        assert_eq!(hostname(&config), "web-0");
        assert!(hosts("web-0").ends_with("127.0.1.1\tweb-0\n"));
    }
}
