//! Objects by id, found by any unique prefix of it.

use super::error::{Error, Result};
use std::collections::BTreeMap;

/// A map from id to object that resolves unique id prefixes, as `crictl` users type them.
#[derive(Debug, Clone)]
pub struct IdIndex<T> {
    objects: BTreeMap<String, T>,
}

impl<T> Default for IdIndex<T> {
    fn default() -> Self {
        IdIndex {
            objects: BTreeMap::new(),
        }
    }
}

impl<T> IdIndex<T> {
    /// The full id that `prefix` names: NotFound when none, InvalidArgument when several.
    /// `what` names the kind of object in messages ("container", "pod sandbox").
    pub fn resolve(&self, prefix: &str, what: &str) -> Result<&str> {
        if prefix.is_empty() {
            return Err(Error::invalid(format!("{what} id must not be empty")));
        }
        if let Some((id, _)) = self.objects.get_key_value(prefix) {
            return Ok(id);
        }
        let mut matches = self
            .objects
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(id, _)| id)
            .take_while(|id| id.starts_with(prefix));
        match (matches.next(), matches.next()) {
            (Some(id), None) => Ok(id),
            (None, _) => Err(Error::not_found(format!("{what} {prefix:?} not found"))),
            (Some(first), Some(second)) => Err(Error::invalid(format!(
                "{what} id prefix {prefix:?} is ambiguous: it matches {first} and {second}"
            ))),
        }
    }

    /// The object `prefix` names, with its full id; `None` when nothing matches.
    /// An ambiguous prefix is still an error.
    pub fn find(&self, prefix: &str, what: &str) -> Result<Option<(&str, &T)>> {
        match self.resolve(prefix, what) {
            Ok(id) => Ok(self.objects.get_key_value(id).map(|(k, v)| (k.as_str(), v))),
            Err(e) if e.kind() == crate::error::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The object with exactly this id.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.objects.get(id)
    }

    /// Adds or replaces an object.
    pub fn insert(&mut self, id: String, object: T) {
        self.objects.insert(id, object);
    }

    /// Removes an object.
    pub fn remove(&mut self, id: &str) -> Option<T> {
        self.objects.remove(id)
    }

    /// All objects, in id order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.objects.values()
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.objects.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn index() -> IdIndex<u32> {
        let mut index = IdIndex::default();
        index.insert("abc123".into(), 1);
        index.insert("abd456".into(), 2);
        index.insert("ff00".into(), 3);
        index
    }

    #[test]
    fn unique_prefix_resolves_to_full_id() {
        let index = index();
        assert_eq!(index.resolve("abc", "container").unwrap(), "abc123");
        assert_eq!(index.resolve("f", "container").unwrap(), "ff00");
        assert_eq!(index.resolve("abd456", "container").unwrap(), "abd456");
    }

    #[test]
    fn ambiguous_prefix_is_invalid_argument_naming_both() {
        let err = index().resolve("ab", "container").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("abc123") && err.message().contains("abd456"));
    }

    #[test]
    fn unknown_and_empty_ids() {
        let index = index();
        assert_eq!(
            index.resolve("zz", "pod sandbox").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            index.resolve("", "pod sandbox").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert!(index.find("zz", "x").unwrap().is_none());
        assert!(index.find("ab", "x").is_err());
        assert_eq!(index.find("abc", "x").unwrap(), Some(("abc123", &1)));
    }
}
