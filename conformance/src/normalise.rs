//! Normalisation of answers: what a recorder writes as the expectation, and what snapshots
//! show. Values the runtime chooses are replaced by the symbols bound to them; timestamps,
//! sizes, pids and usage figures by their type; `info` maps are dropped. Labels and
//! annotations stay exact (they are kubelet's data and must round-trip).

use crate::symbols::Symbols;
use serde_json::{Map, Value, json};

/// Fields holding times in nanoseconds.
fn is_timestamp(key: &str) -> bool {
    key.ends_with("At") || key == "timestamp"
}

/// A JSON integer, or an int64 as proto3 JSON writes it (a string of digits).
fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.parse::<i128>().is_ok(),
        _ => false,
    }
}

/// Fields holding sizes, counts and process ids, compared by type.
const BY_TYPE: [&str; 4] = ["size", "pid", "usedBytes", "inodesUsed"];
/// Usage figures, compared as "some object".
const USAGE: [&str; 6] = ["cpu", "memory", "swap", "writableLayer", "io", "process"];
/// Fields never compared.
const DROPPED: [&str; 1] = ["info"];

/// `value` with runtime-chosen values replaced (see the module documentation).
pub fn normalise(value: &Value, symbols: &Symbols) -> Value {
    let mut names: Vec<(&str, &str)> = symbols.iter().filter(|(_, v)| !v.is_empty()).collect();
    // Longest values first, so a path root never shadows a whole id.
    names.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    walk(value, None, &names)
}

/// A streaming URL with its address and single-use token replaced, keeping its kind:
/// `http://127.0.0.1:40123/exec/3f…` becomes `http://<streaming-server>/exec/<token>`.
fn streaming_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (_, path) = rest.split_once('/')?;
    let (kind, _) = path.split_once('/')?;
    Some(format!("{scheme}://<streaming-server>/{kind}/<token>"))
}

fn walk(value: &Value, key: Option<&str>, names: &[(&str, &str)]) -> Value {
    match (key, value) {
        // A URL the recorder bound to a symbol stays a symbol; an unbound one (snapshots of
        // replies) keeps only its kind.
        (Some("url"), Value::String(url))
            if streaming_url(url).is_some() && !names.iter().any(|(_, bound)| bound == url) =>
        {
            Value::String(streaming_url(url).unwrap_or_default())
        }
        (Some(k), v) if (is_timestamp(k) || BY_TYPE.contains(&k)) && is_integer(v) => {
            json!({"$type": "int"})
        }
        // Wrapped integers such as `usedBytes: {"value": "4096"}`.
        (Some(k), Value::Object(map)) if BY_TYPE.contains(&k) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if is_integer(v) {
                            json!({"$type": "int"})
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect(),
        ),
        (Some(k), Value::Object(_)) if USAGE.contains(&k) => json!({"$type": "map"}),
        (Some(k), Value::Object(map)) if k == "labels" || k == "annotations" => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), strings(v, names)))
                .collect(),
        ),
        (_, Value::Object(map)) => {
            let mut out = Map::new();
            for (k, v) in map {
                if !DROPPED.contains(&k.as_str()) {
                    out.insert(k.clone(), walk(v, Some(k), names));
                }
            }
            Value::Object(out)
        }
        (_, Value::Array(items)) => {
            Value::Array(items.iter().map(|v| walk(v, key, names)).collect())
        }
        (_, v) => strings(v, names),
    }
}

/// `value` with only its strings symbolised (for requests, which must stay concrete).
pub fn symbolise(value: &Value, symbols: &Symbols) -> Value {
    let mut names: Vec<(&str, &str)> = symbols.iter().filter(|(_, v)| !v.is_empty()).collect();
    names.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    fn walk_strings(value: &Value, names: &[(&str, &str)]) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), walk_strings(v, names)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| walk_strings(v, names)).collect())
            }
            v => strings(v, names),
        }
    }
    walk_strings(value, &names)
}

fn strings(value: &Value, names: &[(&str, &str)]) -> Value {
    let Value::String(s) = value else {
        return value.clone();
    };
    if let Some((name, _)) = names.iter().find(|(_, v)| *v == s) {
        return Value::String(format!("${name}"));
    }
    let mut out = s.clone();
    for (name, v) in names {
        if v.len() >= 8 && out.contains(v) {
            out = out.replace(v, &format!("{{{{${name}}}}}"));
        }
    }
    if out.starts_with('$') && out == *s {
        out.insert(0, '$');
    }
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_chosen_values_become_symbols_and_types() {
        let mut symbols = Symbols::new();
        symbols.bind("SB1", "0123456789abcdef");
        symbols.bind("LOG_ROOT", "/tmp/replay-1");
        let got = json!({
            "status": {"id": "0123456789abcdef", "createdAt": "1767225600000000000", "info": {"x": "y"},
                       "logDirectory": "/tmp/replay-1/pods/p", "labels": {"a": "0123456789abcdef"},
                       "cpu": {"usageCoreNanoSeconds": {"value": "5"}}, "literal": "$HOME",
                       "namespaces": {"options": {"pid": "CONTAINER"}}},
            "items": [{"size": "123", "pid": 7}]
        });
        assert_eq!(
            normalise(&got, &symbols),
            json!({
                "status": {"id": "$SB1", "createdAt": {"$type": "int"}, "logDirectory": "{{$LOG_ROOT}}/pods/p",
                           "labels": {"a": "$SB1"}, "cpu": {"$type": "map"}, "literal": "$$HOME",
                           "namespaces": {"options": {"pid": "CONTAINER"}}},
                "items": [{"size": {"$type": "int"}, "pid": {"$type": "int"}}]
            })
        );
    }
}
