//! Symbols: `$NAME` stands for a value the runtime chose (an id, an address, a path root).
//! A whole string `"$NAME"` is the value itself; `{{$NAME}}` inside a longer string is
//! replaced by it; `"$$…"` is a literal string starting with one `$`.

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

static WHOLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\$([A-Za-z_][A-Za-z0-9_]*)$").unwrap());
static EMBEDDED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\$([A-Za-z_][A-Za-z0-9_]*)\}\}").unwrap());
static PATH_STEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[[0-9]+\])*)$").unwrap());

/// The symbol a whole string stands for (`"$SB1"` → `SB1`).
pub fn whole(text: &str) -> Option<&str> {
    WHOLE.captures(text).map(|c| c.get(1).unwrap().as_str())
}

/// The symbols named by `{{$NAME}}` inside `text`.
pub fn embedded(text: &str) -> impl Iterator<Item = &str> {
    EMBEDDED
        .captures_iter(text)
        .map(|c| c.get(1).unwrap().as_str())
}

/// Whether a bind name is well formed (`$NAME`).
pub fn is_symbol_name(name: &str) -> bool {
    whole(name).is_some()
}

/// A string symbol reference that is not bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("symbol ${0} used before it is bound")]
pub struct Unbound(pub String);

/// The values of bound symbols.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Symbols {
    values: BTreeMap<String, String>,
}

impl Symbols {
    /// An empty table.
    pub fn new() -> Symbols {
        Symbols::default()
    }

    /// The value of `name` (without the `$`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Binds `name` (with or without the `$`) to `value`.
    pub fn bind(&mut self, name: &str, value: impl Into<String>) {
        let name = name.strip_prefix('$').unwrap_or(name);
        self.values.insert(name.to_string(), value.into());
    }

    /// Every binding, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `text` with every symbol replaced by its value (`escape` maps each value first, e.g.
    /// `regex::escape` inside patterns).
    pub fn substitute_str(
        &self,
        text: &str,
        escape: fn(&str) -> String,
    ) -> Result<String, Unbound> {
        if let Some(literal) = text.strip_prefix("$$") {
            return Ok(format!("${literal}"));
        }
        if let Some(name) = whole(text) {
            return self
                .get(name)
                .map(escape)
                .ok_or_else(|| Unbound(name.to_string()));
        }
        let mut missing = None;
        let out = EMBEDDED.replace_all(text, |c: &regex::Captures<'_>| {
            let name = c.get(1).unwrap().as_str();
            match self.get(name) {
                Some(value) => escape(value),
                None => {
                    missing.get_or_insert_with(|| name.to_string());
                    String::new()
                }
            }
        });
        match missing {
            Some(name) => Err(Unbound(name)),
            None => Ok(out.into_owned()),
        }
    }

    /// `value` with every string's symbols replaced (requests, paths, file lines).
    pub fn substitute(&self, value: &Value) -> Result<Value, Unbound> {
        Ok(match value {
            Value::String(s) => Value::String(self.substitute_str(s, str::to_string)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.substitute(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.substitute(v)?)))
                    .collect::<Result<_, Unbound>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// Why a bind path is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad bind path {path:?}: {why}")]
pub struct BadPath {
    /// The path.
    pub path: String,
    /// What is wrong.
    pub why: &'static str,
}

/// One step of a bind path: a field, then list indexes.
type Step<'a> = (&'a str, Vec<usize>);

/// Splits `response.items[0].id` into steps; the first must be `response` or `request`.
pub fn parse_path(path: &str) -> Result<Vec<Step<'_>>, BadPath> {
    let bad = |why| BadPath {
        path: path.to_string(),
        why,
    };
    let mut steps = Vec::new();
    for part in path.split('.') {
        let c = PATH_STEP
            .captures(part)
            .ok_or_else(|| bad("each step is a field name with optional [n]"))?;
        let indexes = c
            .get(2)
            .unwrap()
            .as_str()
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| bad("index too large")))
            .collect::<Result<Vec<usize>, _>>()?;
        steps.push((c.get(1).unwrap().as_str(), indexes));
    }
    match steps.first() {
        Some(("response" | "request" | "msg", idx)) if idx.is_empty() => Ok(steps),
        _ => Err(bad("it must start with `response.`, `request.` or `msg.`")),
    }
}

/// The value at a checked bind path, inside `root` (which stands for its first step).
pub fn resolve<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let steps = parse_path(path).ok()?;
    let mut at = root;
    for (i, (field, indexes)) in steps.iter().enumerate() {
        if i > 0 {
            at = at.get(field)?;
        }
        for index in indexes {
            at = at.get(index)?;
        }
    }
    Some(at)
}

/// A bound value as a string (numbers and booleans by their JSON text).
pub fn as_symbol_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_and_embedded_symbols_are_substituted() {
        let mut symbols = Symbols::new();
        symbols.bind("$SB1", "abc");
        symbols.bind("LOG_ROOT", "/tmp/x");
        let request = json!({"podSandboxId": "$SB1", "dir": "{{$LOG_ROOT}}/p_{{$SB1}}", "lit": "$$SB1", "n": 3});
        assert_eq!(
            symbols.substitute(&request).unwrap(),
            json!({"podSandboxId": "abc", "dir": "/tmp/x/p_abc", "lit": "$SB1", "n": 3})
        );
        assert_eq!(
            symbols.substitute(&json!(["$NOPE"])),
            Err(Unbound("NOPE".into()))
        );
        assert_eq!(
            symbols.substitute(&json!("a{{$NOPE}}")),
            Err(Unbound("NOPE".into()))
        );
        assert_eq!(
            symbols
                .substitute_str("^{{$SB1}}.$", regex::escape)
                .unwrap(),
            "^abc.$"
        );
    }

    #[test]
    fn paths_resolve_fields_and_indexes() {
        let response = json!({"items": [{"id": "a"}, {"id": "b", "ip": ["x"]}]});
        assert_eq!(
            resolve(&response, "response.items[1].id"),
            Some(&json!("b"))
        );
        assert_eq!(
            resolve(&response, "response.items[1].ip[0]"),
            Some(&json!("x"))
        );
        assert_eq!(resolve(&response, "response.items[5].id"), None);
        assert!(parse_path("items.id").is_err());
        assert!(parse_path("response..id").is_err());
        assert!(parse_path("response.a[x]").is_err());
    }
}
