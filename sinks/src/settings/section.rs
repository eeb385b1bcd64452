//! One config section into its struct: serde reports the failing key (through
//! `serde_path_to_error`), and keys no struct of the section knows are refused with the
//! section's known keys listed — so a section can be read into two structs (a destination's
//! own keys and the shared delivery keys), which serde's `deny_unknown_fields` cannot do
//! together with `flatten`.

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserializer;

use super::Problems;

/// Why a section could not be read; each is already a problem at its key.
#[derive(Debug, thiserror::Error)]
#[error("the section has problems")]
pub struct SectionError;

/// Reads `table` (the section at `key`, e.g. `destination`) into `T`; each problem is added
/// to `p` with its full key.
pub fn read_section<T: DeserializeOwned>(
    table: &toml::Value,
    key: &str,
    p: &mut Problems,
) -> Result<T, SectionError> {
    match serde_path_to_error::deserialize::<_, T>(table.clone()) {
        Ok(value) => Ok(value),
        Err(error) => {
            let inner = match error.path().to_string() {
                p if p == "." => String::new(),
                p => p,
            };
            let message = error.into_inner().message().trim().to_string();
            // Name the missing key itself: `destination.bucket: missing field `bucket``.
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(field, _)| field.to_string());
            let path = [key.to_string(), inner]
                .into_iter()
                .chain(missing)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(".");
            p.add(path, message);
            Err(SectionError)
        }
    }
}

/// Refuses the keys of `table` (the section at `key`) that none of `known` lists.
pub fn refuse_unknown_keys(table: &toml::Value, key: &str, known: &[&[&str]], p: &mut Problems) {
    let Some(table) = table.as_table() else {
        return;
    };
    let mut all: Vec<&str> = known.iter().flat_map(|k| k.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    for name in table.keys() {
        if !all.contains(&name.as_str()) {
            let expected: Vec<String> = all.iter().map(|k| format!("`{k}`")).collect();
            let hint = all
                .iter()
                .filter(|k| {
                    edit_distance(k, name) <= 2 || (name.len() >= 4 && k.starts_with(name.as_str()))
                })
                .min_by_key(|k| edit_distance(k, name))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            p.add(
                format!("{key}.{name}"),
                format!(
                    "unknown field `{name}`{hint}, expected one of {}",
                    expected.join(", ")
                ),
            );
        }
    }
}

/// Levenshtein distance: how many single-character edits turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The field names serde's derive gives `T` (the keys of its section), found by asking `T`
/// to deserialize from a deserializer that only records them.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names(&'static [&'static str]);
    impl<'de> Deserializer<'de> for &mut Names {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(de::Error::custom("names only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = Names(&[]);
    let _ = T::deserialize(&mut names);
    names.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Own {
        bucket: String,
        #[serde(default)]
        part_size: Option<u64>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Shared {
        #[serde(default)]
        concurrency: Option<u32>,
    }

    #[test]
    fn a_section_reads_into_two_structs_and_refuses_what_neither_knows() {
        assert_eq!(field_names::<Own>(), ["bucket", "part_size"]);
        let table: toml::Value =
            toml::from_str("type = \"s3\"\nbucket = \"b\"\nconcurrency = 2\nbuckit = 1").unwrap();
        let mut p = Problems::default();
        let own: Own = read_section(&table, "destination", &mut p).unwrap();
        assert_eq!(own.bucket, "b");
        let known = [field_names::<Own>(), field_names::<Shared>(), &["type"]];
        refuse_unknown_keys(&table, "destination", &known, &mut p);
        assert_eq!(p.0.len(), 1);
        assert_eq!(p.0[0].path, "destination.buckit");
        assert!(
            p.0[0].message.starts_with("unknown field `buckit` (did you mean `bucket`?), expected one of `bucket`, `concurrency`"),
            "{}",
            p.0[0]
        );
    }

    #[test]
    fn a_bad_or_missing_value_is_named_by_its_full_key() {
        let mut p = Problems::default();
        let table: toml::Value = toml::from_str("").unwrap();
        assert!(read_section::<Own>(&table, "destination", &mut p).is_err());
        assert_eq!(p.0[0].path, "destination.bucket", "{}", p.0[0]);
        let mut p = Problems::default();
        let table: toml::Value = toml::from_str("bucket = \"b\"\npart_size = \"x\"").unwrap();
        assert!(read_section::<Own>(&table, "destination", &mut p).is_err());
        assert_eq!(p.0[0].path, "destination.part_size", "{}", p.0[0]);
    }
}
