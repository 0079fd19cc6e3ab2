//! [`Labels`]: a compact, sorted string map for labels, annotations and
//! node selectors.
//!
//! Most objects carry a handful of labels and annotations (a pod typically
//! one to five), and a 200,000-pod cluster holds three such maps per pod. A
//! `BTreeMap` allocates a node of about 540 bytes even for one entry; a
//! sorted vector holds exactly its entries. Lookups are binary searches,
//! which for these sizes are as fast as a tree's.
//!
//! The API is the part of `BTreeMap`'s that the code uses, with the same
//! meaning, and the JSON form is the same object (`{"app": "web"}`); a key
//! written twice in one object keeps its last value, as `BTreeMap` does.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Labels or annotations: key → value, sorted by key for deterministic
/// output, each key once.
///
/// ```
/// use cloudoptim_core::snapshot::Labels;
///
/// let mut labels: Labels = [("app".to_owned(), "web".to_owned())].into();
/// labels.insert("tier".to_owned(), "front".to_owned());
/// assert_eq!(labels.get("app").map(String::as_str), Some("web"));
/// assert_eq!(labels.keys().collect::<Vec<_>>(), ["app", "tier"]);
/// assert_eq!(serde_json::to_string(&labels).unwrap(), r#"{"app":"web","tier":"front"}"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    /// Sorted by key, keys unique.
    entries: Vec<(String, String)>,
}

impl Labels {
    /// No labels.
    pub const fn new() -> Self {
        Labels {
            entries: Vec::new(),
        }
    }

    /// Where `key` is, or where it would go.
    fn position<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`, if present.
    pub fn get<Q>(&self, key: &Q) -> Option<&String>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.position(key).ok()?;
        self.entries.get(at).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaces, if any.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.position(&key) {
            Ok(at) => self
                .entries
                .get_mut(at)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value, if it was present.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<String>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.position(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut String) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// The entries, in key order.
    pub fn iter(&self) -> Iter<'_> {
        self.into_iter()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + DoubleEndedIterator + Clone {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &String> + DoubleEndedIterator + Clone {
        self.entries.iter().map(|(_, v)| v)
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Builds from entries in any order; a key given twice keeps its last
    /// value. Holds no spare capacity.
    fn from_entries(mut entries: Vec<(String, String)>) -> Self {
        // Stable, so equal keys stay in input order; `dedup_by` then hands
        // the later entry's value to the earlier one it keeps.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        entries.shrink_to_fit();
        Labels { entries }
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Iterator over `&Labels`: `(&key, &value)` in key order.
pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (String, String)>,
    fn(&'a (String, String)) -> (&'a String, &'a String),
>;

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Labels::from_entries(iter.into_iter().collect())
    }
}

impl Extend<(String, String)> for Labels {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.extend(iter);
        *self = Labels::from_entries(entries);
    }
}

impl<'a> Extend<(&'a String, &'a String)> for Labels {
    fn extend<I: IntoIterator<Item = (&'a String, &'a String)>>(&mut self, iter: I) {
        self.extend(iter.into_iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

impl<const N: usize> From<[(String, String); N]> for Labels {
    fn from(entries: [(String, String); N]) -> Self {
        Labels::from_entries(entries.into())
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        // Already sorted and unique.
        Labels {
            entries: map.into_iter().collect(),
        }
    }
}

impl From<Labels> for BTreeMap<String, String> {
    fn from(labels: Labels) -> Self {
        labels.entries.into_iter().collect()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;

        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = Labels;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                // The hint comes from the input: trust it only so far.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, String>()? {
                    entries.push(entry);
                }
                Ok(Labels::from_entries(entries))
            }
        }

        deserializer.deserialize_map(LabelsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Short keys from a small alphabet, so that operations hit the same
    /// keys often.
    fn key() -> impl Strategy<Value = String> {
        "[a-d]{0,2}"
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(String, String),
        Remove(String),
        Clear,
        Retain(String),
        Extend(Vec<(String, String)>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (key(), "[xy]{0,2}").prop_map(|(k, v)| Op::Insert(k, v)),
            key().prop_map(Op::Remove),
            Just(Op::Clear),
            key().prop_map(Op::Retain),
            proptest::collection::vec((key(), "[xy]{0,2}"), 0..4).prop_map(Op::Extend),
        ]
    }

    fn as_map(labels: &Labels) -> BTreeMap<String, String> {
        labels.clone().into()
    }

    proptest! {
        /// Every operation agrees with `BTreeMap`'s: return values, lookups,
        /// order, equality, ordering and JSON.
        #[test]
        fn behaves_like_a_btreemap(
            start in proptest::collection::vec((key(), "[xy]{0,2}"), 0..6),
            ops in proptest::collection::vec(op(), 0..12),
            probe in key(),
        ) {
            let mut labels: Labels = start.iter().cloned().collect();
            let mut map: BTreeMap<String, String> = start.into_iter().collect();
            prop_assert_eq!(as_map(&labels), map.clone());
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        prop_assert_eq!(labels.insert(k.clone(), v.clone()), map.insert(k, v));
                    }
                    Op::Remove(k) => prop_assert_eq!(labels.remove(&k), map.remove(&k)),
                    Op::Clear => {
                        labels.clear();
                        map.clear();
                    }
                    Op::Retain(k) => {
                        labels.retain(|key, _| *key != k);
                        map.retain(|key, _| *key != k);
                    }
                    Op::Extend(entries) => {
                        labels.extend(entries.clone());
                        map.extend(entries);
                    }
                }
                prop_assert_eq!(labels.len(), map.len());
                prop_assert_eq!(labels.is_empty(), map.is_empty());
                prop_assert_eq!(labels.get(probe.as_str()), map.get(probe.as_str()));
                prop_assert_eq!(labels.contains_key(&probe), map.contains_key(&probe));
                prop_assert!(labels.iter().eq(map.iter()));
                prop_assert!(labels.keys().eq(map.keys()));
                prop_assert!(labels.values().eq(map.values()));
                prop_assert_eq!(format!("{labels:?}"), format!("{map:?}"));
                prop_assert_eq!(
                    serde_json::to_string(&labels).unwrap(),
                    serde_json::to_string(&map).unwrap()
                );
            }
            let other: Labels = map.clone().into();
            prop_assert_eq!(&labels, &other);
            prop_assert_eq!(labels.cmp(&other), std::cmp::Ordering::Equal);
        }

        /// Two label sets compare (`==`, `<`) as the two maps do.
        #[test]
        fn orders_like_a_btreemap(
            a in proptest::collection::vec((key(), "[xy]{0,2}"), 0..4),
            b in proptest::collection::vec((key(), "[xy]{0,2}"), 0..4),
        ) {
            let (la, lb): (Labels, Labels) = (a.iter().cloned().collect(), b.iter().cloned().collect());
            let (ma, mb): (BTreeMap<_, _>, BTreeMap<_, _>) = (a.into_iter().collect(), b.into_iter().collect());
            prop_assert_eq!(la == lb, ma == mb);
            prop_assert_eq!(la.cmp(&lb), ma.cmp(&mb));
        }

        /// A JSON object, duplicate keys and all, reads as `BTreeMap` reads
        /// it (a repeated key keeps its last value) and writes back the same.
        #[test]
        fn reads_json_like_a_btreemap(
            entries in proptest::collection::vec((key(), "[xy\"\\\\]{0,2}"), 0..8),
        ) {
            let body: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), serde_json::to_string(v).unwrap()))
                .collect();
            let text = format!("{{{}}}", body.join(","));
            let labels: Labels = serde_json::from_str(&text).unwrap();
            let map: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(as_map(&labels), map.clone());
            prop_assert_eq!(serde_json::to_string(&labels).unwrap(), serde_json::to_string(&map).unwrap());
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let labels: Labels = serde_json::from_str(r#"{"b":"1","a":"2","b":"3"}"#).unwrap();
        assert_eq!(labels.get("b").map(String::as_str), Some("3"));
        assert_eq!(labels.len(), 2);
        let built: Labels = [
            ("k".to_owned(), "first".to_owned()),
            ("k".to_owned(), "last".to_owned()),
        ]
        .into();
        assert_eq!(built.get("k").map(String::as_str), Some("last"));
    }

    #[test]
    fn rejects_what_a_btreemap_rejects_with_the_same_message() {
        for text in [r#"{"a":1}"#, r#"["a"]"#, r#""a""#, r#"{"a":null}"#] {
            let ours = serde_json::from_str::<Labels>(text)
                .unwrap_err()
                .to_string();
            let map = serde_json::from_str::<BTreeMap<String, String>>(text)
                .unwrap_err()
                .to_string();
            assert_eq!(ours, map, "{text}");
        }
    }

    #[test]
    fn holds_no_spare_capacity_after_reading() {
        let labels: Labels = serde_json::from_str(r#"{"app":"web"}"#).unwrap();
        assert_eq!(labels.entries.capacity(), 1);
    }
}
