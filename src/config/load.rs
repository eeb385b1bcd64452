//! Reading a config file: TOML syntax, `${VAR}` / `${VAR:-default}` interpolation inside
//! string values (`$$` is a literal `$`), deserialization with the failing key's path, then
//! validation. Every problem names its key, e.g.
//! `destination.buffering.size: 200 MiB is above the 128 MiB maximum`.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::validate::{validate, ValidatedConfig};
use super::Config;

/// One thing wrong with a config, at a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    #[error("{}", problems_text(.0))]
    Invalid(Vec<ConfigProblem>),
}

fn problems_text(problems: &[ConfigProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    format!(
        "config has {} problem(s):\n{}",
        problems.len(),
        lines.join("\n")
    )
}

/// Reads, interpolates, deserializes and validates the config file at `path`.
pub fn load(path: &Path) -> Result<ValidatedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, &|name| std::env::var(name).ok())
}

/// As [`load`], from text, with `env` answering variable look-ups.
pub fn load_str(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ValidatedConfig, ConfigError> {
    let mut value: toml::Value =
        toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    let mut problems = Vec::new();
    interpolate_value(&mut value, "", env, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let config: Config = match serde_path_to_error::deserialize(value.clone()) {
        Ok(config) => config,
        Err(e) => return Err(ConfigError::Invalid(vec![locate_problem(&value, e)])),
    };
    validate(config).map_err(ConfigError::Invalid)
}

type PathError = serde_path_to_error::Error<toml::de::Error>;

/// Turns a deserialization error into a problem at the precise key. serde reports errors
/// inside an internally tagged section (`destination`, `destination.format`, …) at the
/// section itself, so such a section is deserialized again as its variant's struct.
fn locate_problem(root: &toml::Value, error: PathError) -> ConfigProblem {
    let path = match error.path().to_string() {
        p if p == "." => String::new(),
        p => p,
    };
    let section = path.split('.').try_fold(root, |v, key| v.get(key));
    let kind = section.and_then(|s| s.get("type")).and_then(|t| t.as_str());
    if let (Some(section), Some(kind)) = (section, kind) {
        let mut table = section.clone();
        if let Some(t) = table.as_table_mut() {
            t.remove("type");
        }
        if let Some(Err(inner)) = deserialize_variant(&path, kind, table.clone()) {
            let mut problem = locate_problem(&table, inner);
            problem.path = match problem.path.as_str() {
                "" => path,
                inner => format!("{path}.{inner}"),
            };
            return problem;
        }
    }
    let message = error.into_inner().message().trim().to_string();
    // Name the missing key itself: `destination.bucket: missing field `bucket``.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field.to_string());
    let path = match (missing, path.is_empty()) {
        (Some(field), true) => field,
        (Some(field), false) => format!("{path}.{field}"),
        (None, _) => path,
    };
    ConfigProblem::new(path, message)
}

/// Deserializes one tagged section as the struct of its `type`; `None` for an unknown pair.
fn deserialize_variant(
    section: &str,
    kind: &str,
    table: toml::Value,
) -> Option<Result<(), PathError>> {
    use super::*;
    fn check<T: serde::de::DeserializeOwned>(table: toml::Value) -> Result<(), PathError> {
        serde_path_to_error::deserialize::<_, T>(table).map(|_| ())
    }
    let section = section.rsplit('.').next().unwrap_or(section);
    Some(match (section, kind) {
        ("source", "file") => check::<FileSourceConfig>(table),
        ("source", "kinesis") => check::<KinesisSourceConfig>(table),
        ("destination", "local") => check::<LocalDestinationConfig>(table),
        ("destination", "s3") => check::<S3DestinationConfig>(table),
        ("destination", "dynamodb") => check::<DynamodbDestinationConfig>(table),
        ("destination", "opensearch") => check::<OpenSearchDestinationConfig>(table),
        ("format", "parquet") => check::<ParquetFormatConfig>(table),
        ("format", "ndjson") => check::<NdjsonFormatConfig>(table),
        ("dead_letter", "local") => check::<LocalDeadLetterConfig>(table),
        ("dead_letter", "s3") => check::<S3DeadLetterConfig>(table),
        _ => return None,
    })
}

fn interpolate_value(
    value: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        toml::Value::String(s) => match interpolate(s, env) {
            Ok(text) => *s = text,
            Err(message) => problems.push(ConfigProblem::new(path, message)),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), env, problems);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                interpolate_value(item, &join(key), env, problems);
            }
        }
        _ => {}
    }
}

/// Expands `${VAR}` (an error when unset), `${VAR:-default}` (default when unset or empty)
/// and `$$` (a literal `$`).
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated ${{…}} in {text:?}"))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid variable name {name:?} in {text:?}"));
            }
            match (env(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "BUCKET" => Some("b1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn interpolation_expands_defaults_and_escapes() {
        assert_eq!(interpolate("s3://${BUCKET}/x", &env).unwrap(), "s3://b1/x");
        assert_eq!(interpolate("${NOPE:-demo}", &env).unwrap(), "demo");
        assert_eq!(interpolate("${EMPTY:-demo}", &env).unwrap(), "demo");
        assert_eq!(interpolate("$$HOME and $5", &env).unwrap(), "$HOME and $5");
        assert!(interpolate("${NOPE}", &env)
            .unwrap_err()
            .contains("NOPE is not set"));
        assert!(interpolate("${BROKEN", &env).is_err());
    }
}
