//! What a pod tells its plugins: `CNI_ARGS` and the `runtimeConfig` capabilities.
//!
//! Capabilities, each given only to plugins that declare it in `capabilities`:
//! - `portMappings`: the sandbox's port mappings with a host port (for `portmap`);
//! - `bandwidth`: from kubelet's `kubernetes.io/ingress-bandwidth` and
//!   `kubernetes.io/egress-bandwidth` annotations (bits per second, Kubernetes quantities);
//! - `ips`: from the `crius.io/ips` annotation, a comma-separated list of addresses.

use crate::model::{Protocol, SandboxConfig};
use serde_json::{Map, Value, json};

/// Annotation asking for specific pod addresses (the `ips` capability).
pub const IPS_ANNOTATION: &str = "crius.io/ips";

/// `CNI_ARGS` of a pod, with the Kubernetes keys plugins such as Calico expect.
pub fn cni_args(sandbox_id: &str, config: &SandboxConfig) -> String {
    let m = &config.metadata;
    format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={sandbox_id};K8S_POD_UID={}",
        m.namespace, m.name, m.uid
    )
}

/// Every capability value the pod has, by capability name; invalid annotations are an error.
pub fn capabilities(config: &SandboxConfig) -> Result<Map<String, Value>, String> {
    let mut caps = Map::new();
    let ports: Vec<Value> = config
        .port_mappings
        .iter()
        .filter(|p| p.host_port > 0)
        .map(|p| {
            let protocol = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            let mut port = json!({"hostPort": p.host_port, "containerPort": p.container_port, "protocol": protocol});
            if !p.host_ip.is_empty() {
                port["hostIP"] = json!(p.host_ip);
            }
            port
        })
        .collect();
    if !ports.is_empty() {
        caps.insert("portMappings".into(), Value::Array(ports));
    }
    let rate = |key: &str| -> Result<Option<u64>, String> {
        config
            .annotations
            .get(key)
            .map(|q| {
                parse_quantity(q)
                    .ok_or_else(|| format!("annotation {key}: {q:?} is not a quantity"))
            })
            .transpose()
    };
    let ingress = rate("kubernetes.io/ingress-bandwidth")?;
    let egress = rate("kubernetes.io/egress-bandwidth")?;
    if ingress.is_some() || egress.is_some() {
        // No burst limit, as the other CRI runtimes do.
        let mut bandwidth = Map::new();
        if let Some(rate) = ingress {
            bandwidth.insert("ingressRate".into(), json!(rate));
            bandwidth.insert("ingressBurst".into(), json!(i32::MAX));
        }
        if let Some(rate) = egress {
            bandwidth.insert("egressRate".into(), json!(rate));
            bandwidth.insert("egressBurst".into(), json!(i32::MAX));
        }
        caps.insert("bandwidth".into(), Value::Object(bandwidth));
    }
    if let Some(list) = config.annotations.get(IPS_ANNOTATION) {
        let ips: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        for ip in &ips {
            let address = ip.split('/').next().unwrap_or(ip);
            if address.parse::<std::net::IpAddr>().is_err() {
                return Err(format!(
                    "annotation {IPS_ANNOTATION}: {ip:?} is not an IP address"
                ));
            }
        }
        caps.insert("ips".into(), json!(ips));
    }
    Ok(caps)
}

/// The `runtimeConfig` of one plugin: the pod's capabilities that the plugin declares.
pub fn runtime_config(plugin: &Map<String, Value>, caps: &Map<String, Value>) -> Option<Value> {
    let declared = plugin.get("capabilities")?.as_object()?;
    let given: Map<String, Value> = caps
        .iter()
        .filter(|(name, _)| declared.get(name.as_str()).and_then(Value::as_bool) == Some(true))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    (!given.is_empty()).then_some(Value::Object(given))
}

/// A Kubernetes quantity (`10M`, `1Gi`, `500k`, `1.5M`) as an integer.
pub fn parse_quantity(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        _ => return None,
    };
    let number: f64 = number.parse().ok()?;
    Some((number * multiplier).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortMapping;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("10M"), Some(10_000_000));
        assert_eq!(parse_quantity("1Mi"), Some(1_048_576));
        assert_eq!(parse_quantity("1.5k"), Some(1500));
        assert_eq!(parse_quantity("12"), Some(12));
        assert_eq!(parse_quantity("12x"), None);
    }

    #[test]
    fn capabilities_go_only_to_plugins_declaring_them() {
        let mut config = SandboxConfig {
            port_mappings: vec![
                PortMapping {
                    protocol: Protocol::Tcp,
                    container_port: 80,
                    host_port: 8080,
                    host_ip: String::new(),
                },
                PortMapping {
                    protocol: Protocol::Udp,
                    container_port: 53,
                    host_port: 0,
                    host_ip: String::new(),
                },
            ],
            ..SandboxConfig::default()
        };
        config
            .annotations
            .insert("kubernetes.io/ingress-bandwidth".into(), "1M".into());
        let caps = capabilities(&config).unwrap();
        let portmap = json!({"type": "portmap", "capabilities": {"portMappings": true}});
        let bridge = json!({"type": "bridge"});
        assert_eq!(
            runtime_config(portmap.as_object().unwrap(), &caps),
            Some(
                json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
            )
        );
        assert_eq!(runtime_config(bridge.as_object().unwrap(), &caps), None);
        assert_eq!(caps["bandwidth"]["ingressRate"], 1_000_000);
        config
            .annotations
            .insert(IPS_ANNOTATION.into(), "10.0.0.5, nope".into());
        assert!(capabilities(&config).is_err());
    }

    #[test]
    fn cni_args_carry_the_pod_identity() {
        let mut config = SandboxConfig::default();
        config.metadata.name = "web".into();
        config.metadata.namespace = "default".into();
        config.metadata.uid = "u1".into();
        assert_eq!(
            cni_args("sb1", &config),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=u1"
        );
    }
}
