//! Comparing an expected value (with symbols and matchers) against what the runtime answered.
//!
//! Rules (also in `conformance/README.md`): objects compare as subsets (fields not written
//! are ignored), except `labels` and `annotations`, which must have exactly the written keys;
//! `info` fields are ignored; lists are ordered and of equal length unless wrapped in
//! `$unordered`; a field missing from the answer is its proto3 default (`""`, `0`, `false`,
//! `[]`, `{}`, the zero enum name); an int64 written as a number equals the same number sent
//! as a string. A whole-string symbol not yet bound is bound to the value found there.

use crate::symbols::{self, Symbols};
use prost::Message;
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Matcher keys.
pub const MATCHERS: [&str; 8] = [
    "$any",
    "$type",
    "$re",
    "$ge",
    "$len",
    "$unordered",
    "$subset",
    "$absent",
];
/// Arguments of `$type`.
pub const TYPES: [&str; 7] = ["string", "nonEmpty", "int", "number", "bool", "list", "map"];
/// Fields compared as exact maps.
const EXACT_MAPS: [&str; 2] = ["labels", "annotations"];
/// Fields never compared.
const IGNORED: [&str; 1] = ["info"];

/// Names of every enum value numbered 0 in the CRI (what proto3 JSON leaves out).
static ZERO_ENUM_NAMES: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let fds = prost_types::FileDescriptorSet::decode(crius_proto::FILE_DESCRIPTOR_SET)
        .expect("valid descriptor set");
    let mut names = HashSet::new();
    let mut messages: Vec<&prost_types::DescriptorProto> =
        fds.file.iter().flat_map(|f| &f.message_type).collect();
    let mut enums: Vec<&prost_types::EnumDescriptorProto> =
        fds.file.iter().flat_map(|f| &f.enum_type).collect();
    while let Some(m) = messages.pop() {
        enums.extend(&m.enum_type);
        messages.extend(&m.nested_type);
    }
    for e in enums {
        for v in &e.value {
            if v.number() == 0 {
                names.insert(v.name().to_string());
            }
        }
    }
    names
});

/// One difference between expected and actual.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where, e.g. `response.status.state`.
    pub path: String,
    /// What the trace expects there.
    pub expected: Value,
    /// What the runtime answered (`None`: the field is absent).
    pub got: Option<Value>,
    /// Why they differ.
    pub why: String,
}

/// The matcher an object is, if it is one: its key and argument.
pub fn as_matcher(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    let (key, arg) = map.iter().next()?;
    (key.starts_with('$')).then_some((key.as_str(), arg))
}

/// Checks the matchers inside `expected`; names the first malformed one.
pub fn validate(expected: &Value, path: &str) -> Result<(), String> {
    match expected {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                validate(item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let dollar = map.keys().filter(|k| k.starts_with('$')).count();
            if dollar == 0 {
                for (k, v) in map {
                    validate(v, &format!("{path}.{k}"))?;
                }
                return Ok(());
            }
            if map.len() != 1 {
                return Err(format!(
                    "{path}: a matcher object has exactly one `$` key, found {}",
                    Value::Object(map.clone())
                ));
            }
            let (key, arg) = map.iter().next().unwrap();
            validate_matcher(key, arg)
                .map_err(|why| format!("{path}: malformed matcher {key}: {why}"))?;
            match key.as_str() {
                "$unordered" => validate(arg, path),
                "$subset" => {
                    for (k, v) in arg.as_object().unwrap() {
                        validate(v, &format!("{path}.{k}"))?;
                    }
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn validate_matcher(key: &str, arg: &Value) -> Result<(), String> {
    match key {
        "$any" | "$absent" => match arg {
            Value::Bool(true) => Ok(()),
            _ => Err("the argument must be true".into()),
        },
        "$type" => match arg.as_str() {
            Some(t) if TYPES.contains(&t) => Ok(()),
            _ => Err(format!("the argument must be one of {}", TYPES.join("|"))),
        },
        "$re" => {
            let pattern = arg.as_str().ok_or("the argument must be a string")?;
            let placeholder = symbols::embedded(pattern).fold(pattern.to_string(), |p, name| {
                p.replace(&format!("{{{{${name}}}}}"), "x")
            });
            Regex::new(&placeholder)
                .map(|_| ())
                .map_err(|e| format!("bad regular expression: {e}"))
        }
        "$ge" => arg
            .as_f64()
            .map(|_| ())
            .ok_or_else(|| "the argument must be a number".into()),
        "$len" => arg
            .as_u64()
            .map(|_| ())
            .ok_or_else(|| "the argument must be a non-negative integer".into()),
        "$unordered" => arg
            .as_array()
            .map(|_| ())
            .ok_or_else(|| "the argument must be a list".into()),
        "$subset" => arg
            .as_object()
            .map(|_| ())
            .ok_or_else(|| "the argument must be an object".into()),
        _ => Err(format!("unknown matcher (known: {})", MATCHERS.join(", "))),
    }
}

/// Symbols an expectation needs bound beforehand (embedded `{{$X}}`, in strings and `$re`
/// patterns), and the whole-string symbols it binds on first sight (added to `bound`).
/// Returns the first symbol used before being bound.
pub fn check_symbols(expected: &Value, bound: &mut HashSet<String>) -> Result<(), String> {
    match expected {
        Value::String(s) if s.starts_with("$$") => Ok(()),
        Value::String(s) => {
            if let Some(name) = symbols::whole(s) {
                bound.insert(name.to_string());
                return Ok(());
            }
            require(symbols::embedded(s), bound)
        }
        Value::Array(items) => items.iter().try_for_each(|v| check_symbols(v, bound)),
        Value::Object(map) => match as_matcher(expected) {
            Some(("$re", Value::String(p))) => require(symbols::embedded(p), bound),
            Some(("$unordered", arg)) => check_symbols(arg, bound),
            Some(("$subset", arg)) => check_symbols(arg, bound),
            Some(_) => Ok(()),
            None => map.values().try_for_each(|v| check_symbols(v, bound)),
        },
        _ => Ok(()),
    }
}

fn require<'a>(
    mut names: impl Iterator<Item = &'a str>,
    bound: &HashSet<String>,
) -> Result<(), String> {
    match names.find(|n| !bound.contains(*n)) {
        Some(name) => Err(name.to_string()),
        None => Ok(()),
    }
}

/// Compares `got` against `expected` at `path`, binding first-sight symbols; appends every
/// difference to `out`.
pub fn compare(
    expected: &Value,
    got: Option<&Value>,
    symbols: &mut Symbols,
    path: &str,
    out: &mut Vec<Mismatch>,
) {
    let mut fail = |why: String| {
        out.push(Mismatch {
            path: path.to_string(),
            expected: expected.clone(),
            got: got.cloned(),
            why,
        })
    };
    match expected {
        Value::Object(_) if as_matcher(expected).is_some() => {
            let (key, arg) = as_matcher(expected).unwrap();
            if let Err(why) = apply(key, arg, got, symbols, path, out) {
                out.push(Mismatch {
                    path: path.to_string(),
                    expected: expected.clone(),
                    got: got.cloned(),
                    why,
                });
            }
        }
        Value::Object(map) => match got {
            None | Some(Value::Object(_)) => {
                let empty = Map::new();
                let got_map = got.and_then(Value::as_object).unwrap_or(&empty);
                let leaf = path.rsplit('.').next().unwrap_or("");
                compare_object(map, got_map, EXACT_MAPS.contains(&leaf), symbols, path, out);
            }
            Some(_) => fail("expected an object".into()),
        },
        Value::Array(items) => {
            let got_items = match got {
                None => &Vec::new(),
                Some(Value::Array(g)) => g,
                Some(_) => return fail("expected a list".into()),
            };
            if got_items.len() != items.len() {
                return fail(format!(
                    "expected {} items, got {}",
                    items.len(),
                    got_items.len()
                ));
            }
            for (i, (e, g)) in items.iter().zip(got_items).enumerate() {
                compare(e, Some(g), symbols, &format!("{path}[{i}]"), out);
            }
        }
        Value::String(s) => {
            if let Err(why) = compare_string(s, got, symbols) {
                fail(why)
            }
        }
        Value::Number(n) => {
            let got_n = match got {
                None => Some(0.0),
                Some(Value::Number(g)) => g.as_f64(),
                Some(Value::String(g)) => g.parse::<f64>().ok(),
                Some(_) => None,
            };
            if got_n != n.as_f64() {
                fail("different number".into())
            }
        }
        Value::Bool(b) => {
            if got.unwrap_or(&Value::Bool(false)) != &Value::Bool(*b) {
                fail("different boolean".into())
            }
        }
        Value::Null => {
            if !matches!(got, None | Some(Value::Null)) {
                fail("expected null".into())
            }
        }
    }
}

fn compare_object(
    expected: &Map<String, Value>,
    got: &Map<String, Value>,
    exact: bool,
    symbols: &mut Symbols,
    path: &str,
    out: &mut Vec<Mismatch>,
) {
    for (key, value) in expected {
        if IGNORED.contains(&key.as_str()) {
            continue;
        }
        compare(value, got.get(key), symbols, &format!("{path}.{key}"), out);
    }
    if exact {
        for (key, value) in got {
            if !expected.contains_key(key) {
                out.push(Mismatch {
                    path: format!("{path}.{key}"),
                    expected: Value::Null,
                    got: Some(value.clone()),
                    why: "unexpected key (labels and annotations compare exactly)".into(),
                });
            }
        }
    }
}

fn compare_string(
    expected: &str,
    got: Option<&Value>,
    symbols: &mut Symbols,
) -> Result<(), String> {
    let got_text = match got {
        None => None,
        Some(v) => Some(symbols::as_symbol_value(v).ok_or("expected a string")?),
    };
    if let Some(name) = symbols::whole(expected).filter(|_| !expected.starts_with("$$")) {
        return match (symbols.get(name), got_text) {
            (Some(value), got) if value == got.as_deref().unwrap_or("") => Ok(()),
            (Some(value), _) => Err(format!("${name} is {value:?}")),
            (None, Some(got)) => {
                symbols.bind(name, got);
                Ok(())
            }
            (None, None) => Err(format!("absent, so ${name} cannot be bound")),
        };
    }
    let want = symbols
        .substitute_str(expected, str::to_string)
        .map_err(|e| e.to_string())?;
    match got_text {
        Some(g) if g == want => Ok(()),
        None if want.is_empty() || ZERO_ENUM_NAMES.contains(&want) => Ok(()),
        _ if want != expected => Err(format!("expected {want:?}")),
        _ => Err("different string".into()),
    }
}

fn apply(
    key: &str,
    arg: &Value,
    got: Option<&Value>,
    symbols: &mut Symbols,
    path: &str,
    out: &mut Vec<Mismatch>,
) -> Result<(), String> {
    match key {
        "$any" => Ok(()),
        "$absent" => match got {
            None => Ok(()),
            Some(_) => Err("expected the field to be absent".into()),
        },
        "$type" => check_type(arg.as_str().unwrap_or(""), got),
        "$re" => {
            let pattern = symbols
                .substitute_str(arg.as_str().unwrap_or(""), regex::escape)
                .map_err(|e| e.to_string())?;
            let re = Regex::new(&pattern).map_err(|e| format!("bad regular expression: {e}"))?;
            let text = got
                .map_or(Some(String::new()), symbols::as_symbol_value)
                .ok_or("expected a string")?;
            if re.is_match(&text) {
                Ok(())
            } else {
                Err(format!("does not match /{pattern}/"))
            }
        }
        "$ge" => {
            let n = number(got).ok_or("expected a number")?;
            if n >= arg.as_f64().unwrap_or(f64::NAN) {
                Ok(())
            } else {
                Err(format!("{n} is less than {arg}"))
            }
        }
        "$len" => {
            let len = match got {
                None => 0,
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(o)) => o.len(),
                Some(Value::String(s)) => s.chars().count(),
                Some(_) => return Err("expected a list, map or string".into()),
            };
            if Some(len as u64) == arg.as_u64() {
                Ok(())
            } else {
                Err(format!("length is {len}"))
            }
        }
        "$unordered" => unordered(
            arg.as_array().map(Vec::as_slice).unwrap_or_default(),
            got,
            symbols,
        ),
        "$subset" => match got {
            None | Some(Value::Object(_)) => {
                let empty = Map::new();
                let got_map = got.and_then(Value::as_object).unwrap_or(&empty);
                compare_object(
                    arg.as_object().unwrap_or(&empty),
                    got_map,
                    false,
                    symbols,
                    path,
                    out,
                );
                Ok(())
            }
            Some(_) => Err("expected an object".into()),
        },
        other => Err(format!("unknown matcher {other}")),
    }
}

fn number(got: Option<&Value>) -> Option<f64> {
    match got {
        None => Some(0.0),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    }
}

fn check_type(kind: &str, got: Option<&Value>) -> Result<(), String> {
    let ok = match (kind, got) {
        (_, None) => false,
        ("string", Some(Value::String(_))) => true,
        ("nonEmpty", Some(Value::String(s))) => !s.is_empty(),
        ("int", Some(Value::Number(n))) => n.is_i64() || n.is_u64(),
        ("int", Some(Value::String(s))) => s.parse::<i128>().is_ok(),
        ("number", Some(v)) => number(Some(v)).is_some() && !v.is_boolean(),
        ("bool", Some(Value::Bool(_))) => true,
        ("list", Some(Value::Array(_))) => true,
        ("map", Some(Value::Object(_))) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected a present value of type {kind}"))
    }
}

/// Matches every expected item to a distinct answered item, in any order (backtracking).
fn unordered(expected: &[Value], got: Option<&Value>, symbols: &mut Symbols) -> Result<(), String> {
    let got_items = match got {
        None => &Vec::new(),
        Some(Value::Array(g)) => g,
        Some(_) => return Err("expected a list".into()),
    };
    if got_items.len() != expected.len() {
        return Err(format!(
            "expected {} items, got {}",
            expected.len(),
            got_items.len()
        ));
    }
    let mut used = vec![false; got_items.len()];
    if assign(expected, got_items, &mut used, symbols) {
        Ok(())
    } else {
        Err("no one-to-one matching of the items in any order".into())
    }
}

fn assign(expected: &[Value], got: &[Value], used: &mut [bool], symbols: &mut Symbols) -> bool {
    let Some((first, rest)) = expected.split_first() else {
        return true;
    };
    for i in 0..got.len() {
        if used[i] {
            continue;
        }
        let mut trial = symbols.clone();
        let mut out = Vec::new();
        compare(first, Some(&got[i]), &mut trial, "", &mut out);
        if out.is_empty() {
            used[i] = true;
            if assign(rest, got, used, &mut trial) {
                *symbols = trial;
                return true;
            }
            used[i] = false;
        }
    }
    false
}

#[cfg(test)]
mod tests;
