//! [`StringMap`]: labels, annotations and similar small string maps, kept as a sorted vector.
//!
//! kubelet's maps hold a handful of entries. A `BTreeMap` allocates a whole node (room for 11
//! pairs, over half a kilobyte) for even one entry; with tens of thousands of pods that
//! dominated the daemon's memory. A sorted vector holds exactly what it has, answers lookups by
//! binary search, and iterates in key order like the `BTreeMap` it replaces.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A map from string to string, ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StringMap {
    entries: Vec<(String, String)>,
}

impl StringMap {
    /// An empty map.
    pub fn new() -> StringMap {
        StringMap::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.position(key).ok().map(|i| &self.entries[i].1)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.position(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &String)> + DoubleEndedIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
}

impl FromIterator<(String, String)> for StringMap {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> StringMap {
        let mut entries: Vec<(String, String)> = pairs.into_iter().collect();
        // Later pairs win, as with repeated inserts.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        entries.shrink_to_fit();
        StringMap { entries }
    }
}

impl<const N: usize> From<[(String, String); N]> for StringMap {
    fn from(pairs: [(String, String); N]) -> StringMap {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for StringMap {
    fn from(map: BTreeMap<String, String>) -> StringMap {
        map.into_iter().collect()
    }
}

impl Extend<(String, String)> for StringMap {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for StringMap {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a StringMap {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for StringMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StringMap, D::Error> {
        BTreeMap::<String, String>::deserialize(deserializer).map(StringMap::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn behaves_like_an_ordered_map() {
        let mut map: StringMap = [(s("b"), s("2")), (s("a"), s("1")), (s("b"), s("3"))].into();
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("b"), Some(&s("3")), "the later pair wins");
        assert_eq!(map.insert(s("c"), s("4")), None);
        assert_eq!(map.insert(s("a"), s("0")), Some(s("1")));
        let keys: Vec<_> = map.keys().cloned().collect();
        assert_eq!(keys, vec![s("a"), s("b"), s("c")]);
        assert_eq!(map.remove("b"), Some(s("3")));
        assert!(!map.contains_key("b"));
        assert!(map.get("zz").is_none());
    }

    #[test]
    fn serialises_as_a_json_object() {
        let map: StringMap = [(s("k"), s("v")), (s("a"), s("b"))].into();
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, r#"{"a":"b","k":"v"}"#);
        let back: StringMap = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
    }
}
