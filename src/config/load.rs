//! Reading a config file: TOML syntax, `${VAR}` / `${VAR:-default}` interpolation inside
//! string values (`$$` is a literal `$`), deserialization with the failing key's path, then
//! validation. Every problem names its key, e.g.
//! `destination.buffering.size: 200 MiB is above the 128 MiB maximum`.

use std::path::{Path, PathBuf};

use spillway_sinks::settings::{read_section, ConfigProblem, Problems};
use thiserror::Error;

use super::validate::{validate, ValidatedConfig};
use super::Config;

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
    let mut problems = Problems::default();
    let config: Config =
        read_section(&value, "", &mut problems).map_err(|_| ConfigError::Invalid(problems.0))?;
    validate(config).map_err(ConfigError::Invalid)
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
            Err(e) => problems.push(ConfigProblem::new(path, e.to_string())),
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

/// Why a `${…}` could not be expanded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InterpolationError {
    #[error("unterminated ${{…}} in {0:?}")]
    Unterminated(String),
    #[error("invalid variable name {name:?} in {text:?}")]
    BadName { name: String, text: String },
    #[error("environment variable {0} is not set (write ${{{0}:-default}} to give a default)")]
    Unset(String),
}

/// Expands `${VAR}` (an error when unset), `${VAR:-default}` (default when unset or empty)
/// and `$$` (a literal `$`).
pub fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
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
                .ok_or_else(|| InterpolationError::Unterminated(text.to_string()))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(InterpolationError::BadName {
                    name: name.to_string(),
                    text: text.to_string(),
                });
            }
            match (
                env(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(InterpolationError::Unset(name.to_string())),
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
        assert_eq!(
            interpolate("${NOPE}", &env),
            Err(InterpolationError::Unset("NOPE".into()))
        );
        assert!(interpolate("${NOPE}", &env)
            .unwrap_err()
            .to_string()
            .contains("NOPE is not set (write ${NOPE:-default} to give a default)"));
        assert!(interpolate("${BROKEN", &env).is_err());
    }
}
