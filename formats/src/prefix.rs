//! Firehose-compatible S3 prefix templates (`Prefix` and `ErrorOutputPrefix`).
//!
//! A template is literal text mixed with `!{namespace:value}` expressions. Config load parses
//! and validates it once; the S3 sink evaluates it per object with the oldest record's arrival
//! time, the object's dynamic-partition keys and, for failed records, the error output type.
//! `!{timestamp:…}` is Java's `DateTimeFormatter` pattern language, whole (see [`pattern`]),
//! in UTC or the configured time zone (Firehose's `CustomTimeZone`).
//! `!{firehose:random-string}` survives [`PrefixTemplate::evaluate`] so every record of one
//! object gets the same key; the writer fills each occurrence with a random string of its own
//! ([`fill_random_strings`]) when it opens the object. [`PrefixTemplate::table_layout`] tells the Glue catalog step the table root and
//! partition columns the template produces.

pub mod pattern;

use chrono::{DateTime, Utc};

use self::pattern::{FormatError, PatternError, TimePattern, Zone};

/// Firehose's default prefix, `YYYY/MM/dd/HH/` in UTC.
pub const DEFAULT_PREFIX: &str = "!{timestamp:yyyy/MM/dd/HH}/";

/// What Firehose appends to a prefix without a timestamp or partition-key expression.
pub const DEFAULT_TIMESTAMP: &str = "!{timestamp:yyyy/MM/dd/HH/}";

/// Left in place by [`PrefixTemplate::evaluate`]; replaced by [`fill_random_strings`].
const RANDOM_STRING_EXPR: &str = "!{firehose:random-string}";
const RANDOM_STRING_LEN: usize = 11;

// Firehose's wording for the configurations it rejects.
const NO_ERROR_TYPE_IN_PREFIX: &str = "Prefix can't contain !{firehose:error-output-type}";
const NO_LEADING_SLASH: &str = "Prefix and ErrorOutputPrefix must not start with '/'";
const ERROR_PREFIX_REQUIRED: &str =
    "ErrorOutputPrefix can't be null when Prefix contains expressions";
const ERROR_PREFIX_NEEDS_TYPE: &str =
    "ErrorOutputPrefix must contain !{firehose:error-output-type} when Prefix contains expressions";
const ERROR_EXPRESSIONS_NEED_TYPE: &str =
    "ErrorOutputPrefix expressions must include !{firehose:error-output-type}";
const NO_KEYS_IN_ERROR_PREFIX: &str =
    "ErrorOutputPrefix can't contain partitionKeyFromQuery or partitionKeyFromLambda expressions";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    #[error("unterminated expression `{expression}` at byte {position}: missing `}}`")]
    Unterminated { expression: String, position: usize },
    #[error("empty expression `!{{}}` at byte {position}")]
    EmptyExpression { position: usize },
    /// Not one of timestamp, partitionKeyFromQuery, partitionKeyFromLambda, firehose.
    #[error("unknown expression `{expression}` at byte {position}")]
    UnknownExpression { expression: String, position: usize },
    #[error("expression `{expression}` at byte {position} has no value")]
    MissingValue { expression: String, position: usize },
    /// A `!{timestamp:…}` pattern Java's `DateTimeFormatter` refuses.
    #[error("{0}")]
    Pattern(#[from] PatternError),
    /// A padded timestamp field printed wider than its padding (Java fails the same way).
    #[error("{0}")]
    Format(#[from] FormatError),
    #[error("prefix `{template}` uses partition key `{name}`, which the record does not have")]
    MissingPartitionKey { name: String, template: String },
    #[error("prefix `{template}` uses !{{firehose:error-output-type}} but none was given")]
    MissingErrorOutputType { template: String },
    /// A partition key whose value is the empty string: it would name no partition.
    #[error("partition key `{name}` is an empty string, which names no partition")]
    EmptyPartitionKey { name: String },
    /// An evaluated prefix that breaks its destination's [`NameRule`].
    #[error("{what} `{name}` {reason}")]
    UnsafeName {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// A Prefix / ErrorOutputPrefix that Firehose rejects; `reason` is Firehose's wording.
    #[error("{reason} ({field} is `{template}`)")]
    Invalid {
        reason: &'static str,
        field: &'static str,
        template: String,
    },
}

/// What one object's prefix is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct PrefixContext<'a> {
    /// Approximate arrival time of the oldest record in the object (Firehose's rule).
    pub timestamp: DateTime<Utc>,
    /// Dynamic-partitioning keys as `(name, value)`, from the JQ query or the Lambda.
    pub partition_keys: &'a [(&'a str, &'a str)],
    /// Set only when writing failed records, e.g. `processing-failed`.
    pub error_output_type: Option<&'a str>,
}

/// How a template maps onto a Hive/Glue table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    /// Leading literal folders, each with its trailing `/`; `""` when the first folder varies.
    pub root: String,
    /// One column per folder below the root, named as the Glue crawler names them.
    pub partition_columns: Vec<String>,
}

/// A parsed prefix template: parse once, evaluate per object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixTemplate {
    source: String,
    parts: Vec<Part>,
    /// The zone `!{timestamp:…}` is evaluated in (UTC unless configured).
    zone: Zone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Time(TimePattern),
    PartitionKey(String),
    ErrorOutputType,
    RandomString,
}

/// One `/`-separated piece of the template's output.
#[derive(Default)]
struct Segment {
    /// Literal text before the first expression (all of it when `dynamic` is false).
    lead: String,
    dynamic: bool,
}

impl PrefixTemplate {
    pub fn parse(template: &str) -> Result<Self, PrefixError> {
        let mut parts = Vec::new();
        let mut pos = 0;
        while let Some(offset) = template[pos..].find("!{") {
            let start = pos + offset;
            push_literal(&mut parts, &template[pos..start]);
            let body = &template[start + 2..];
            // `!{` may not nest: an expression ends at the first `}` before any further `!{`.
            let nested = body.find("!{").unwrap_or(body.len());
            let Some(close) = body.find('}').filter(|&close| close < nested) else {
                let expression = template[start..start + 2 + nested].to_string();
                return Err(PrefixError::Unterminated {
                    expression,
                    position: start,
                });
            };
            let expression = &template[start..start + close + 3];
            parse_expression(&mut parts, &body[..close], expression, start)?;
            pos = start + close + 3;
        }
        push_literal(&mut parts, &template[pos..]);
        Ok(Self {
            source: template.to_string(),
            parts,
            zone: Zone::Utc,
        })
    }

    /// The same template, with `!{timestamp:…}` evaluated in `zone`.
    pub fn in_zone(mut self, zone: Zone) -> Self {
        self.zone = zone;
        self
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Firehose's own test: a parsed template has expressions iff it contains `!{`.
    pub fn has_expressions(&self) -> bool {
        self.source.contains("!{")
    }

    pub fn uses_error_output_type(&self) -> bool {
        self.parts.contains(&Part::ErrorOutputType)
    }

    pub fn uses_timestamp(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Time(..)))
    }

    /// Whether every instant of one UTC hour evaluates to the same prefix (with the same
    /// partition keys): the zone is UTC and every `!{timestamp:…}` pattern prints nothing finer
    /// than the hour. A partitioner may then reuse the prefix it evaluated last within that hour.
    pub fn same_within_utc_hour(&self) -> bool {
        self.zone == Zone::Utc
            && self.parts.iter().all(|part| match part {
                Part::Time(pattern) => pattern.same_within_utc_hour(),
                _ => true,
            })
    }

    /// Names used by `partitionKeyFromQuery` / `partitionKeyFromLambda`, in order, deduplicated.
    pub fn partition_key_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for part in &self.parts {
            match part {
                Part::PartitionKey(name) if !names.contains(&name.as_str()) => names.push(name),
                _ => {}
            }
        }
        names
    }

    /// Evaluates every expression except `!{firehose:random-string}`, which stays literal.
    pub fn evaluate(&self, ctx: &PrefixContext<'_>) -> Result<String, PrefixError> {
        let template = || self.source.clone();
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Time(pattern) => out.push_str(&pattern.format(ctx.timestamp, &self.zone)?),
                Part::RandomString => out.push_str(RANDOM_STRING_EXPR),
                Part::PartitionKey(name) => {
                    let found = ctx.partition_keys.iter().find(|(key, _)| key == name);
                    let (_, value) = found.ok_or_else(|| PrefixError::MissingPartitionKey {
                        name: name.clone(),
                        template: template(),
                    })?;
                    if value.is_empty() {
                        return Err(PrefixError::EmptyPartitionKey { name: name.clone() });
                    }
                    out.push_str(&escape_partition_value(value));
                }
                Part::ErrorOutputType => {
                    let missing = || PrefixError::MissingErrorOutputType {
                        template: template(),
                    };
                    out.push_str(ctx.error_output_type.ok_or_else(missing)?);
                }
            }
        }
        Ok(out)
    }

    /// The table root and one partition column per later non-empty folder. Text after the last
    /// `/` is part of the object name, so it is neither root nor column.
    pub fn table_layout(&self) -> TableLayout {
        let (root, columns) = self.folders();
        let partition_columns = (columns.into_iter().enumerate())
            .map(|(n, (_, name))| name.unwrap_or_else(|| format!("partition_{n}")))
            .collect();
        TableLayout {
            root,
            partition_columns,
        }
    }

    /// The value of each [`TableLayout::partition_columns`] entry in `evaluated`, an output of
    /// this template, unescaped (a key value `a/b` is the folder `k=a%2Fb` and the value
    /// `a/b`). The count always matches the layout (missing folders come back empty).
    pub fn partition_values(&self, evaluated: &str) -> Vec<String> {
        let pieces: Vec<&str> = evaluated.split('/').collect();
        let (_, columns) = self.folders();
        let value = |(index, name): (usize, Option<String>)| {
            let piece = pieces.get(index).copied().unwrap_or("");
            match (name, piece.split_once('=')) {
                (Some(_), Some((_, value))) => unescape_partition_value(value),
                _ => unescape_partition_value(piece),
            }
        };
        columns.into_iter().map(value).collect()
    }

    /// The root, and each column as (index of its piece in the `/`-split output, Hive name).
    fn folders(&self) -> (String, Vec<(usize, Option<String>)>) {
        let mut segments = vec![Segment::default()];
        for part in &self.parts {
            match part {
                Part::Literal(text) => push_shape_text(&mut segments, text),
                Part::Time(pattern) => {
                    for piece in pattern.pieces() {
                        match piece {
                            Some(text) => push_shape_text(&mut segments, text),
                            None => mark_dynamic(&mut segments),
                        }
                    }
                }
                _ => mark_dynamic(&mut segments),
            }
        }
        let folders = &segments[..segments.len() - 1];
        let root_len = folders.iter().take_while(|s| !s.dynamic).count();
        let root = folders[..root_len]
            .iter()
            .map(|s| format!("{}/", s.lead))
            .collect();
        let columns = (folders.iter().enumerate().skip(root_len))
            .filter(|(_, s)| s.dynamic || !s.lead.is_empty())
            .map(|(index, s)| {
                let name = s.lead.split_once('=').map(|(name, _)| name.to_lowercase());
                (index, name.filter(|name| !name.is_empty()))
            })
            .collect();
        (root, columns)
    }
}

fn push_shape_text(segments: &mut Vec<Segment>, text: &str) {
    for (i, piece) in text.split('/').enumerate() {
        if i > 0 {
            segments.push(Segment::default());
        }
        if let Some(last) = segments.last_mut().filter(|s| !s.dynamic) {
            last.lead.push_str(piece);
        }
    }
}

fn mark_dynamic(segments: &mut [Segment]) {
    if let Some(last) = segments.last_mut() {
        last.dynamic = true;
    }
}

/// Appends literal text, merging it into a preceding literal.
fn push_literal(parts: &mut Vec<Part>, text: &str) {
    match parts.last_mut() {
        Some(Part::Literal(last)) => last.push_str(text),
        _ if !text.is_empty() => parts.push(Part::Literal(text.to_string())),
        _ => {}
    }
}

fn parse_expression(
    parts: &mut Vec<Part>,
    body: &str,
    expression: &str,
    position: usize,
) -> Result<(), PrefixError> {
    let expression = expression.to_string();
    if body.trim().is_empty() {
        return Err(PrefixError::EmptyExpression { position });
    }
    let part = match body.split_once(':').unwrap_or((body, "")) {
        ("timestamp" | "partitionKeyFromQuery" | "partitionKeyFromLambda" | "firehose", "") => {
            return Err(PrefixError::MissingValue {
                expression,
                position,
            })
        }
        ("timestamp", pattern) => Part::Time(TimePattern::parse(pattern)?),
        ("partitionKeyFromQuery" | "partitionKeyFromLambda", name) => {
            Part::PartitionKey(name.to_string())
        }
        ("firehose", "error-output-type") => Part::ErrorOutputType,
        ("firehose", "random-string") => Part::RandomString,
        _ => {
            return Err(PrefixError::UnknownExpression {
                expression,
                position,
            })
        }
    };
    parts.push(part);
    Ok(())
}

/// Characters Hive and Spark escape in a partition value written into a path (Hive's
/// `FileUtils.escapePathName`): control characters and `"#%'*/:=?\\{[]^` plus DEL.
fn needs_escape(c: char) -> bool {
    c.is_ascii_control() || "\"#%'*/:=?\\{[]^".contains(c)
}

/// A value from a record made safe as (part of) one folder name: the characters Hive and
/// Spark escape become `%XX` (so readers that decode Hive paths see the original value), and a
/// value that is exactly `.` or `..` becomes `%2E` or `%2E%2E`. Anything else is kept.
pub fn escape_partition_value(value: &str) -> std::borrow::Cow<'_, str> {
    if value == "." || value == ".." {
        return value.replace('.', "%2E").into();
    }
    if !value.chars().any(needs_escape) {
        return value.into();
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if needs_escape(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// The inverse of [`escape_partition_value`]: `%XX` sequences decoded (as Hive's
/// `unescapePathName` does); text that is not a valid escape is kept as it is.
pub fn unescape_partition_value(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// What an evaluated prefix names, and so the rule it must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// The key prefix of an object (local lake folder or S3 key): no `.` or `..` folder, no
    /// leading `/`, no control characters — it cannot leave the destination's root.
    ObjectKey,
    /// An OpenSearch / Elasticsearch index name: lower case, none of `\ / * ? " < > | , # :`
    /// or space, not starting with `_ - +`, not `.` or `..`, at most 255 bytes.
    IndexName,
    /// A DynamoDB table name: 3–255 characters of `A–Z a–z 0–9 _ . -`.
    TableName,
}

impl NameRule {
    /// What a name under this rule is called in messages.
    pub fn what(self) -> &'static str {
        match self {
            NameRule::ObjectKey => "object prefix",
            NameRule::IndexName => "index name",
            NameRule::TableName => "table name",
        }
    }

    /// The `errorCode` of a record whose evaluated prefix breaks the rule.
    pub fn error_code(self) -> &'static str {
        match self {
            NameRule::ObjectKey => "Partition.UnsafePrefix",
            NameRule::IndexName => "Partition.InvalidIndexName",
            NameRule::TableName => "Partition.InvalidTableName",
        }
    }

    /// Checks an evaluated prefix; the error says which part is wrong.
    pub fn check(self, name: &str) -> Result<(), PrefixError> {
        let reason = match self {
            NameRule::ObjectKey => object_key_problem(name),
            NameRule::IndexName => index_name_problem(name),
            NameRule::TableName => table_name_problem(name),
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(PrefixError::UnsafeName {
                what: self.what(),
                name: name.to_string(),
                reason,
            }),
        }
    }
}

fn object_key_problem(key: &str) -> Option<String> {
    if key.starts_with('/') {
        return Some("starts with '/'".into());
    }
    if let Some(c) = key.chars().find(char::is_ascii_control) {
        return Some(format!("contains the control character {:?}", c));
    }
    let dots = key
        .split('/')
        .find(|folder| *folder == "." || *folder == "..");
    if let Some(folder) = dots {
        return Some(format!(
            "has a `{folder}` folder, which would leave the destination's root"
        ));
    }
    if let Some(folder) = key
        .split('/')
        .find(|folder| folder.len() > MAX_FOLDER_BYTES)
    {
        return Some(format!(
            "has a folder of {} bytes, above the {MAX_FOLDER_BYTES}-byte limit of a name in a file system",
            folder.len()
        ));
    }
    if key.len() > MAX_PREFIX_BYTES {
        return Some(format!(
            "is {} bytes, above {MAX_PREFIX_BYTES} (S3 keys end at 1024 bytes, and the object's name needs the rest)",
            key.len()
        ));
    }
    None
}

/// A folder of an object prefix is one name in the local lake's file system (255 bytes on
/// ext4, XFS, APFS); S3 would take more, but one rule keeps a record's fate the same in both.
const MAX_FOLDER_BYTES: usize = 255;
/// An object prefix at most: S3 keys end at 1024 bytes, and the object's own name (stream,
/// version, time, UUID, extension) takes up to about a hundred of them.
const MAX_PREFIX_BYTES: usize = 900;

fn index_name_problem(name: &str) -> Option<String> {
    const FORBIDDEN: &str = "\\/*?\"<>|,#: ";
    if name.is_empty() || name == "." || name == ".." {
        return Some("is not a valid index name".into());
    }
    if name.len() > 255 {
        return Some(format!("is {} bytes, above the 255-byte limit", name.len()));
    }
    if name.starts_with(['_', '-', '+']) {
        return Some("starts with _, - or +".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| FORBIDDEN.contains(*c) || c.is_control())
    {
        return Some(format!("contains {c:?}, which index names may not"));
    }
    if name.chars().any(char::is_uppercase) {
        return Some("has upper-case letters, which index names may not".into());
    }
    None
}

fn table_name_problem(name: &str) -> Option<String> {
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    match (valid, name.len()) {
        (false, _) => Some("may only contain A–Z, a–z, 0–9, _ . and -".into()),
        (true, 3..=255) => None,
        (true, n) => Some(format!("is {n} characters; table names have 3–255")),
    }
}

/// Replaces each `!{firehose:random-string}` left by [`PrefixTemplate::evaluate`] with a
/// random string of its own (see [`random_string`]), as Firehose does for each occurrence.
pub fn fill_random_strings(evaluated: &str) -> String {
    fill_random_strings_with(evaluated, random_string)
}

/// As [`fill_random_strings`], with the strings from `next`.
pub fn fill_random_strings_with(evaluated: &str, mut next: impl FnMut() -> String) -> String {
    let mut pieces = evaluated.split(RANDOM_STRING_EXPR);
    let mut out = pieces.next().unwrap_or_default().to_string();
    for piece in pieces {
        out.push_str(&next());
        out.push_str(piece);
    }
    out
}

/// Firehose's rule for a prefix with no timestamp expression: `!{timestamp:yyyy/MM/dd/HH/}`
/// is appended (after a `/` when the prefix does not end with one), so
/// `myFirehosePrefix` at 2018-08-27T10:30Z is `myFirehosePrefix/2018/08/27/10/`. A prefix
/// with a partition-key expression (dynamic partitioning) is left as it is, as Firehose does;
/// so is an empty one (the default prefix applies).
pub fn with_default_timestamp(prefix: &str) -> String {
    let dynamic = prefix.contains("!{timestamp:")
        || prefix.contains("!{partitionKeyFromQuery:")
        || prefix.contains("!{partitionKeyFromLambda:");
    match (dynamic, prefix.is_empty(), prefix.ends_with('/')) {
        (true, _, _) | (_, true, _) => prefix.to_string(),
        (false, false, true) => format!("{prefix}{DEFAULT_TIMESTAMP}"),
        (false, false, false) => format!("{prefix}/{DEFAULT_TIMESTAMP}"),
    }
}

/// 11 random lowercase alphanumeric characters, like Firehose's `random-string`.
pub fn random_string() -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // The 122 random bits of a v4 UUID, without its version and variant bits.
    let u = uuid::Uuid::new_v4().as_u128();
    let mut bits = (u & ((1 << 62) - 1)) | (((u >> 64) & 0xfff) << 62) | ((u >> 80) << 74);
    let mut out = String::with_capacity(RANDOM_STRING_LEN);
    for _ in 0..RANDOM_STRING_LEN {
        out.push(char::from(ALPHABET[(bits % 36) as usize]));
        bits /= 36;
    }
    out
}

/// The first broken rule, as a [`PrefixError::Invalid`] about `t`.
fn check(
    rules: &[(bool, &'static str)],
    field: &'static str,
    t: &PrefixTemplate,
) -> Result<(), PrefixError> {
    let template = t.source.clone();
    match rules.iter().find(|(broken, _)| *broken) {
        Some(&(_, reason)) => Err(PrefixError::Invalid {
            reason,
            field,
            template,
        }),
        None => Ok(()),
    }
}

/// Firehose's rules for `Prefix` on its own, then `rule` on the text the template's own
/// literals and patterns produce (so `../escape/` is refused here, not found at run time).
pub fn validate_prefix(t: &PrefixTemplate, rule: NameRule) -> Result<(), PrefixError> {
    let rules = [
        (t.uses_error_output_type(), NO_ERROR_TYPE_IN_PREFIX),
        (t.source.starts_with('/'), NO_LEADING_SLASH),
    ];
    check(&rules, "Prefix", t)?;
    check_literals(t, rule)
}

/// Evaluates `t` with harmless sample values (partition keys `x`, a fixed time) and checks
/// the result against `rule`: what fails here is in the template's own text.
fn check_literals(t: &PrefixTemplate, rule: NameRule) -> Result<(), PrefixError> {
    let names = t.partition_key_names();
    let keys: Vec<(&str, &str)> = names.iter().map(|name| (*name, "x")).collect();
    let sample = PrefixContext {
        timestamp: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        partition_keys: &keys,
        error_output_type: Some("processing-failed"),
    };
    let evaluated = fill_random_strings_with(&t.evaluate(&sample)?, || "abcdefghijk".into());
    rule.check(&evaluated).map_err(|e| match e {
        PrefixError::UnsafeName { what, reason, .. } => PrefixError::UnsafeName {
            what,
            name: t.source.clone(),
            reason,
        },
        other => other,
    })
}

/// Firehose's rules for `ErrorOutputPrefix` given its `Prefix`; an empty `error_prefix`
/// stands for an unset one.
pub fn validate_error_prefix(
    prefix: &PrefixTemplate,
    error_prefix: &PrefixTemplate,
) -> Result<(), PrefixError> {
    let unset = error_prefix.source.is_empty();
    let required = [(unset && prefix.has_expressions(), ERROR_PREFIX_REQUIRED)];
    check(&required, "Prefix", prefix)?;
    let untyped = !unset && !error_prefix.uses_error_output_type();
    let keyed = !error_prefix.partition_key_names().is_empty();
    let rules = [
        (error_prefix.source.starts_with('/'), NO_LEADING_SLASH),
        (keyed, NO_KEYS_IN_ERROR_PREFIX),
        (untyped && prefix.has_expressions(), ERROR_PREFIX_NEEDS_TYPE),
        (
            untyped && error_prefix.has_expressions(),
            ERROR_EXPRESSIONS_NEED_TYPE,
        ),
    ];
    check(&rules, "ErrorOutputPrefix", error_prefix)?;
    check_literals(error_prefix, NameRule::ObjectKey)
}

#[cfg(test)]
mod tests;
