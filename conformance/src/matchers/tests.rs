use super::*;
use serde_json::json;

fn check(expected: Value, got: Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    compare(
        &expected,
        Some(&got),
        &mut Symbols::new(),
        "response",
        &mut out,
    );
    out
}

fn ok(expected: Value, got: Value) {
    let out = check(expected.clone(), got.clone());
    assert!(out.is_empty(), "{expected} should match {got}: {out:?}");
}

fn bad(expected: Value, got: Value) {
    assert!(
        !check(expected.clone(), got.clone()).is_empty(),
        "{expected} should not match {got}"
    );
}

#[test]
fn objects_are_subsets_and_absent_fields_are_defaults() {
    ok(json!({"a": 1}), json!({"a": 1, "b": 2}));
    ok(
        json!({"exitCode": 0, "state": "CONTAINER_CREATED", "ip": "", "list": []}),
        json!({}),
    );
    bad(json!({"a": 1}), json!({"a": 2}));
    ok(json!({"n": 5}), json!({"n": "5"}));
    ok(json!({"info": {"x": 1}}), json!({"info": {"y": 2}}));
}

#[test]
fn labels_and_annotations_compare_exactly() {
    ok(json!({"labels": {"a": "1"}}), json!({"labels": {"a": "1"}}));
    bad(
        json!({"labels": {"a": "1"}}),
        json!({"labels": {"a": "1", "b": "2"}}),
    );
    bad(
        json!({"annotations": {}}),
        json!({"annotations": {"b": "2"}}),
    );
    ok(
        json!({"labels": {"$subset": {"a": "1"}}}),
        json!({"labels": {"a": "1", "b": "2"}}),
    );
}

#[test]
fn matchers_do_what_they_say() {
    ok(json!({"x": {"$any": true}}), json!({}));
    ok(json!({"x": {"$absent": true}}), json!({}));
    bad(json!({"x": {"$absent": true}}), json!({"x": 1}));
    ok(
        json!({"x": {"$type": "int"}}),
        json!({"x": "1767225600000000000"}),
    );
    bad(json!({"x": {"$type": "int"}}), json!({}));
    bad(json!({"x": {"$type": "nonEmpty"}}), json!({"x": ""}));
    ok(json!({"x": {"$re": "^a.c$"}}), json!({"x": "abc"}));
    bad(json!({"x": {"$re": "^a.c$"}}), json!({"x": "abcd"}));
    ok(json!({"x": {"$ge": 3}}), json!({"x": "4"}));
    bad(json!({"x": {"$ge": 3}}), json!({"x": 2}));
    ok(json!({"x": {"$len": 2}}), json!({"x": [1, 2]}));
    ok(json!({"x": {"$len": 0}}), json!({}));
    ok(json!({"x": {"$unordered": [2, 1]}}), json!({"x": [1, 2]}));
    bad(json!({"x": [2, 1]}), json!({"x": [1, 2]}));
    bad(json!({"x": {"$unordered": [1, 1]}}), json!({"x": [1, 2]}));
}

#[test]
fn symbols_bind_on_first_sight_then_compare() {
    let mut symbols = Symbols::new();
    let mut out = Vec::new();
    compare(
        &json!({"id": "$SB1"}),
        Some(&json!({"id": "abc"})),
        &mut symbols,
        "r",
        &mut out,
    );
    assert_eq!(symbols.get("SB1"), Some("abc"));
    compare(
        &json!({"id": "$SB1", "path": "/x/{{$SB1}}"}),
        Some(&json!({"id": "abc", "path": "/x/abc"})),
        &mut symbols,
        "r",
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    compare(
        &json!({"id": "$SB1"}),
        Some(&json!({"id": "zzz"})),
        &mut symbols,
        "r",
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].path, "r.id");
    // Inside $unordered, bindings follow the matching that succeeded.
    let mut symbols = Symbols::new();
    let mut out = Vec::new();
    let expected = json!({"$unordered": [{"id": "$A", "n": 2}, {"id": "$B", "n": 1}]});
    compare(
        &expected,
        Some(&json!([{"id": "one", "n": 1}, {"id": "two", "n": 2}])),
        &mut symbols,
        "r",
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        (symbols.get("A"), symbols.get("B")),
        (Some("two"), Some("one"))
    );
}

#[test]
fn malformed_matchers_are_named() {
    assert!(validate(&json!({"a": {"$type": "int"}}), "response").is_ok());
    let e = validate(&json!({"a": {"$nope": 1}}), "response").unwrap_err();
    assert!(e.contains("response.a") && e.contains("$nope"), "{e}");
    assert!(validate(&json!({"a": {"$len": -1}}), "r").is_err());
    assert!(validate(&json!({"a": {"$type": "float"}}), "r").is_err());
    assert!(validate(&json!({"a": {"$unordered": [{"$any": false}]}}), "r").is_err());
    assert!(validate(&json!({"a": {"$re": "^{{$SB1}}$"}}), "r").is_ok());
}
