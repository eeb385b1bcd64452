//! Spillway's deterministic NDJSON event generator: the input of the integration tests and
//! benchmarks, made in-process (or by the `spillway-gen` binary) so the repository needs no
//! outside script.
//!
//! It replaces the Python reference `shared/bench/gen_events.py` that used to live beside
//! the repository: same three kinds, same fields in the same key order, same value shapes,
//! vocabularies and weights, about the same record sizes. The output is *not* byte-identical
//! to the Python script's (the random numbers come from a different generator), but it is
//! fixed by its inputs: the same [`Options`] give byte-identical output on every machine and
//! with every version of this crate. To keep that promise the crate has its own random
//! number generator (SplitMix64) and its own calendar arithmetic; a test pins a hash of the
//! output, and changing what it produces means changing that test on purpose.
//!
//! The kinds (average line length for seed 1, without the newline):
//! - `clickstream` (~520 B): `event_id`, `user_id`, `session_id`, `event_type`, `url`,
//!   `referrer`, `user_agent`, `ts`, `geo{country,city}`, `props{device,screen,lang,
//!   ab_bucket[,element_id,sku][,query][,depth_pct][,cart_value]}`;
//! - `orders` (~345 B): `order_id`, `customer_id`, `items[{sku,qty,price}]`, `total` (a
//!   decimal string, the sum of `qty * price`), `currency`, `status`, `payment_method`,
//!   `shipping{country,city,method}`, `ts`;
//! - `logs` (~320 B): `ts`, `level`, `service`, `host`, `region`, `message`, `trace_id`,
//!   `span_id`, `latency_ms`, `status_code`.
//!
//! `ts` is ISO-8601 UTC with milliseconds, e.g. `2024-05-01T00:00:00.123Z`. It advances
//! 0–12 ms per record (6 ms on average) and jitters up to 50 ms back, so records are
//! slightly out of order and the first ones may precede the start time by up to 50 ms.
//! Prices and cart values are whole cents written as JSON numbers (`129.72`, `12.5`).
//!
//! ```
//! use spillway_gen::{events, Kind, Options};
//!
//! let options = Options {
//!     kind: Kind::Orders,
//!     count: 3,
//!     seed: 7,
//!     start: "2024-05-01T23:59:59".parse().unwrap(),
//! };
//! let ndjson = events(&options);
//! assert_eq!(ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 3);
//! assert_eq!(ndjson, events(&options));
//! ```

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use serde::Serialize;

mod records;
mod rng;
mod time;
mod vocab;

pub use time::{ParseStartError, StartTime};

use rng::Rng;
use time::Clock;

/// What kind of events to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Web shop page views, clicks, searches, … (~520 B a line).
    Clickstream,
    /// Web shop orders with one to five items (~345 B a line).
    Orders,
    /// Service log lines with trace ids and latencies (~320 B a line).
    Logs,
}

impl Kind {
    /// Every kind, in the order of the documentation.
    pub const ALL: [Kind; 3] = [Kind::Clickstream, Kind::Orders, Kind::Logs];

    /// The name used on the command line and by [`FromStr`]: `clickstream`, `orders`, `logs`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Clickstream => "clickstream",
            Kind::Orders => "orders",
            Kind::Logs => "logs",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kind name that is none of `clickstream`, `orders`, `logs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown kind {:?} (expected clickstream, orders or logs)",
            self.0
        )
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for Kind {
    type Err = UnknownKind;

    /// The kind of that exact (lowercase) name.
    fn from_str(name: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| UnknownKind(name.to_owned()))
    }
}

/// What to generate; the output is a function of these four values alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The kind of every record.
    pub kind: Kind,
    /// How many records (lines).
    pub count: usize,
    /// The random seed.
    pub seed: u64,
    /// The time around which the first record lies (see the crate documentation).
    pub start: StartTime,
}

impl Options {
    /// The seed when none is given, as in the Python reference.
    pub const DEFAULT_SEED: u64 = 42;

    /// `count` records of `kind` with the default seed (42) and start (2024-05-01T00:00:00).
    pub fn new(kind: Kind, count: usize) -> Options {
        Options {
            kind,
            count,
            seed: Options::DEFAULT_SEED,
            start: StartTime::DEFAULT,
        }
    }
}

/// Writes the records `options` describe to `out` as NDJSON: compact JSON, one record a
/// line, every line ending in `\n`. Makes one `write_all` per line, so a buffered writer (a
/// `Vec<u8>`, a `BufWriter`) is best. Fails only when `out` does.
pub fn write_events(options: &Options, out: &mut impl Write) -> io::Result<()> {
    let mut rng = Rng::new(options.seed);
    let mut clock = Clock::new(options.start);
    let mut line = Vec::with_capacity(1024);
    for index in 0..options.count {
        line.clear();
        push_record(&mut line, options.kind, &mut rng, &mut clock, index);
        out.write_all(&line)?;
    }
    Ok(())
}

/// The records `options` describe as NDJSON in memory; see [`write_events`].
pub fn events(options: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    write_events(options, &mut out).expect("writing to a Vec<u8> does not fail");
    out
}

/// Appends the `index`-th record (counting from 0) and its `\n` to `line`.
fn push_record(line: &mut Vec<u8>, kind: Kind, rng: &mut Rng, clock: &mut Clock, index: usize) {
    match kind {
        Kind::Clickstream => push_json(line, &records::click(rng, clock)),
        Kind::Orders => push_json(line, &records::order(rng, clock, index)),
        Kind::Logs => push_json(line, &records::log_line(rng, clock)),
    }
    line.push(b'\n');
}

/// Appends `record` as compact JSON.
fn push_json(line: &mut Vec<u8>, record: &impl Serialize) {
    // Writing to a Vec does not fail, and neither does serialising these records: string
    // keys, strings, integers and finite floats only.
    serde_json::to_writer(line, record).expect("a record serialises to JSON");
}

#[cfg(test)]
mod tests;
