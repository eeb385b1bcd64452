//! One pass over a record for the fields partitioning needs: the record is parsed once by
//! serde_json, which validates all of it, but only the wanted fields are kept — every other
//! value is skipped without being built (no map of the record, no strings of it), and the
//! objects on the way to a wanted field are walked, not stored. A wanted field is kept as a
//! small [`Value`] (so numbers keep their own text).
//!
//! Duplicate keys behave as in a `serde_json::Value`: the last one wins.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::FieldPath;

/// The wanted fields as a tree of keys; each path ends at a slot.
#[derive(Clone, Debug, Default)]
pub struct FieldTree {
    children: Vec<(String, Node)>,
    /// The paths, by slot.
    paths: Vec<FieldPath>,
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// The slot of a path that ends here: the whole value is kept.
    slot: Option<usize>,
    /// Paths that go on through here.
    children: Vec<(String, Node)>,
}

impl FieldTree {
    /// The tree of `paths`; slot `i` holds the value at `paths[i]`.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a FieldPath>) -> Self {
        let mut tree = FieldTree::default();
        for path in paths {
            let slot = tree.paths.len();
            tree.paths.push(path.clone());
            let mut children = &mut tree.children;
            let (last, inner) = match path.keys.split_last() {
                Some(split) => split,
                None => continue,
            };
            for key in inner {
                let at = position_or_insert(children, key);
                children = &mut children[at].1.children;
            }
            let at = position_or_insert(children, last);
            // A second path to the same field shares the first one's slot.
            children[at].1.slot.get_or_insert(slot);
        }
        tree
    }

    /// Parses `data` (all of it must be one JSON value) and returns the value at each path,
    /// by slot; `None` where a path does not lead to a value.
    pub fn extract(&self, data: &[u8]) -> Result<Vec<Option<Value>>, serde_json::Error> {
        let mut slots = vec![None; self.paths.len()];
        let mut de = serde_json::Deserializer::from_slice(data);
        de.deserialize_any(ObjectVisitor {
            children: &self.children,
            slots: &mut slots,
        })?;
        de.end()?;
        // A path that goes on past a kept value (`.a` and `.a.b` both wanted) reads it there.
        for (i, path) in self.paths.iter().enumerate() {
            if slots[i].is_none() {
                slots[i] = self.kept_on_the_way(path, &slots);
            }
        }
        Ok(slots)
    }

    fn kept_on_the_way(&self, path: &FieldPath, slots: &[Option<Value>]) -> Option<Value> {
        let mut children = &self.children;
        for (depth, key) in path.keys.iter().enumerate() {
            let node = &children.iter().find(|(k, _)| k == key)?.1;
            if let Some(kept) = node.slot.and_then(|s| slots[s].as_ref()) {
                let rest = &path.keys[depth + 1..];
                return rest.iter().try_fold(kept, |v, k| v.get(k)).cloned();
            }
            children = &node.children;
        }
        None
    }
}

fn position_or_insert(children: &mut Vec<(String, Node)>, key: &str) -> usize {
    match children.iter().position(|(k, _)| k == key) {
        Some(at) => at,
        None => {
            children.push((key.to_string(), Node::default()));
            children.len() - 1
        }
    }
}

/// Walks one value: an object is searched for the wanted keys; anything else is skipped.
struct ObjectVisitor<'t, 's> {
    children: &'t [(String, Node)],
    slots: &'s mut [Option<Value>],
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(found) = map.next_key_seed(KeySeed(self.children))? {
            let Some(node) = found else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            // The last of duplicate keys wins: forget what an earlier one left below here.
            clear(node, self.slots);
            match node.slot {
                Some(slot) => self.slots[slot] = Some(map.next_value::<Value>()?),
                None => map.next_value_seed(ObjectSeed {
                    children: &node.children,
                    slots: self.slots,
                })?,
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

fn clear(node: &Node, slots: &mut [Option<Value>]) {
    if let Some(slot) = node.slot {
        slots[slot] = None;
    }
    for (_, child) in &node.children {
        clear(child, slots);
    }
}

struct ObjectSeed<'t, 's> {
    children: &'t [(String, Node)],
    slots: &'s mut [Option<Value>],
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(ObjectVisitor {
            children: self.children,
            slots: self.slots,
        })
    }
}

/// A key, looked up among the wanted ones without being copied.
struct KeySeed<'t>(&'t [(String, Node)]);

impl<'de, 't> DeserializeSeed<'de> for KeySeed<'t> {
    type Value = Option<&'t Node>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 't> Visitor<'de> for KeySeed<'t> {
    type Value = Option<&'t Node>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().find(|(k, _)| k == key).map(|(_, node)| node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(texts: &[&str]) -> Vec<FieldPath> {
        texts.iter().map(|t| FieldPath::parse(t).unwrap()).collect()
    }

    /// What a full parse into a `Value` finds at each path: the reference.
    fn by_value(paths: &[FieldPath], data: &str) -> Option<Vec<Option<Value>>> {
        let value: Value = serde_json::from_str(data).ok()?;
        Some(paths.iter().map(|p| p.extract(&value).cloned()).collect())
    }

    #[test]
    fn the_one_pass_finds_what_a_full_parse_finds() {
        let paths = paths(&[
            ".ts",
            ".geo.country",
            ".geo",
            ".a.b.c",
            ".ts",
            ".\"odd key\"",
        ]);
        let tree = FieldTree::new(&paths);
        for data in [
            r#"{"ts":"2024-05-01T00:00:00Z","geo":{"country":"DE","city":"x"},"n":[1,{"ts":2}]}"#,
            r#"{"geo":{"country":7},"ts":1714521601.123456789012345678901}"#,
            r#"{"geo":"flat","a":{"b":{"c":null}}}"#,
            r#"{"geo":{"country":"DE"},"geo":{"city":"y"}}"#,
            r#"{"ts":1,"ts":2,"geo":{"country":"A","country":"B"}}"#,
            r#"{"co\u0075ntry":1,"geo":{"co\u0075ntry":"esc"},"odd key":true}"#,
            r#"[1,2,{"ts":3}]"#,
            r#""just text""#,
            r#"12345678901234567890123"#,
            r#"{}"#,
        ] {
            let expected = by_value(&paths, data).unwrap();
            assert_eq!(tree.extract(data.as_bytes()).unwrap(), expected, "{data}");
        }
    }

    #[test]
    fn anything_that_is_not_one_json_value_is_refused() {
        let tree = FieldTree::new(&paths(&[".ts"]));
        for data in [
            r#"{"ts":1} x"#,
            r#"{"ts":1"#,
            r#"{"ts":tru}"#,
            "",
            "{\"ts\":\"\x01\"}",
        ] {
            assert!(tree.extract(data.as_bytes()).is_err(), "{data}");
            assert!(serde_json::from_str::<Value>(data).is_err(), "{data}");
        }
    }

    #[test]
    fn an_escaped_lone_surrogate_in_a_skipped_string_is_json_text_and_passes() {
        // The JSON grammar allows `\ud800`; it is not Unicode, so a conversion that needs the
        // string refuses it (to the dead letter), and NDJSON output keeps it as written —
        // as the validation-only decoder always did.
        let tree = FieldTree::new(&paths(&[".ts"]));
        let kept = tree.extract(br#"{"a":"\ud800","ts":1}"#).unwrap();
        assert_eq!(kept, vec![Some(Value::from(1))]);
    }
}
