//! Reading the pod's addresses out of a CNI result (1.0.0, 0.4.0, 0.3.x, and 0.2.0's `ip4`).

use crate::backend::network::PodAddresses;
use serde_json::Value;

/// The addresses of a result: the first IPv4 address of the pod's interface is the primary.
pub fn addresses(result: &Value) -> Result<PodAddresses, String> {
    let mut ips = Vec::new();
    if let Some(list) = result.get("ips").and_then(Value::as_array) {
        let interfaces = result.get("interfaces").and_then(Value::as_array);
        // An address belongs to the pod when its interface lives in a sandbox (the netns);
        // results without interface indexes are taken as they are.
        let in_pod = |ip: &Value| {
            let Some(index) = ip.get("interface").and_then(Value::as_u64) else {
                return true;
            };
            interfaces
                .and_then(|all| all.get(index as usize))
                .and_then(|iface| iface.get("sandbox"))
                .and_then(Value::as_str)
                .is_some_and(|sandbox| !sandbox.is_empty())
        };
        let mut chosen: Vec<&Value> = list.iter().filter(|ip| in_pod(ip)).collect();
        if chosen.is_empty() {
            chosen = list.iter().collect();
        }
        ips.extend(
            chosen
                .iter()
                .filter_map(|ip| ip.get("address").and_then(Value::as_str))
                .map(strip_prefix),
        );
    } else {
        for family in ["ip4", "ip6"] {
            if let Some(ip) = result
                .get(family)
                .and_then(|v| v.get("ip"))
                .and_then(Value::as_str)
            {
                ips.push(strip_prefix(ip));
            }
        }
    }
    ips.dedup();
    let primary = ips
        .iter()
        .position(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
        .or(if ips.is_empty() { None } else { Some(0) })
        .ok_or_else(|| format!("the CNI result has no IP address: {result}"))?;
    let ip = ips.remove(primary);
    Ok(PodAddresses {
        ip,
        additional_ips: ips,
    })
}

fn strip_prefix(cidr: &str) -> String {
    cidr.split('/').next().unwrap_or(cidr).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_1_0_0_takes_the_pod_interface() {
        let result = json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "cni0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/run/ns/net"}],
            "ips": [
                {"address": "fd00::5/64", "interface": 2},
                {"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 2},
                {"address": "10.1.0.1/24", "interface": 0}
            ]
        });
        let addresses = addresses(&result).unwrap();
        assert_eq!(addresses.ip, "10.1.0.5");
        assert_eq!(addresses.additional_ips, ["fd00::5"]);
    }

    #[test]
    fn results_0_4_0_0_3_1_and_0_2_0() {
        let v040 =
            json!({"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.2.0.7/16"}]});
        assert_eq!(addresses(&v040).unwrap().ip, "10.2.0.7");
        let v031 = json!({"cniVersion": "0.3.1", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
            "ips": [{"version": "4", "address": "10.3.0.2/24", "interface": 0}]});
        assert_eq!(addresses(&v031).unwrap().ip, "10.3.0.2");
        let v020 = json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.4.0.9/24"}});
        assert_eq!(addresses(&v020).unwrap().ip, "10.4.0.9");
        assert!(addresses(&json!({"cniVersion": "1.0.0"})).is_err());
    }
}
