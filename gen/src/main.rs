//! `spillway-gen`: writes deterministic NDJSON events to stdout (see the library's
//! documentation for the kinds and the guarantees).
//!
//! `spillway-gen --kind clickstream --count 1000 [--seed 42] [--start 2024-05-01T00:00:00]`

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use spillway_gen::{write_events, Kind, Options, StartTime};

const USAGE: &str = "usage: spillway-gen --kind {clickstream,orders,logs} --count N \
                     [--seed S] [--start YYYY-MM-DDTHH:MM:SS]";

const HELP: &str = "\
Writes COUNT deterministic NDJSON events of KIND to stdout: the same arguments give the
same bytes on every machine.

  --kind K     clickstream (~520 B a line), orders (~345 B) or logs (~320 B)
  --count N    how many records
  --seed S     random seed, 0 to 18446744073709551615 (default 42)
  --start T    time of the first record, UTC (default 2024-05-01T00:00:00)";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Generate(Options),
    Help,
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, OsString> = std::env::args_os()
        .skip(1)
        .map(OsString::into_string)
        .collect();
    let command = match args {
        Ok(args) => parse_args(args),
        Err(arg) => Err(format!("argument {arg:?} is not UTF-8")),
    };
    match command {
        Ok(Command::Generate(options)) => generate(&options),
        Ok(Command::Help) => {
            println!("{USAGE}\n\n{HELP}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("spillway-gen: {problem}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Writes the events to stdout; a reader that goes away early (`| head`) is not an error.
fn generate(options: &Options) -> ExitCode {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    match write_events(options, &mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spillway-gen: cannot write to stdout: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The command the arguments (without the program name) ask for, or the problem with them.
/// `-h`/`--help` anywhere asks for the help; options take their value as the next argument
/// or after `=`; a repeated option's last value wins.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut kind = None;
    let mut count = None;
    let mut seed = Options::DEFAULT_SEED;
    let mut start = StartTime::DEFAULT;
    let args: Vec<String> = args.into_iter().collect();
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        return Ok(Command::Help);
    }
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if !matches!(name.as_str(), "--kind" | "--count" | "--seed" | "--start") {
            return Err(format!("unknown argument {name:?}"));
        }
        let value = inline_value
            .or_else(|| args.next())
            .ok_or_else(|| format!("{name} needs a value"))?;
        match name.as_str() {
            "--kind" => kind = Some(value.parse::<Kind>().map_err(|e| e.to_string())?),
            "--count" => count = Some(parse_number(&name, &value)?),
            "--seed" => seed = parse_number(&name, &value)?,
            "--start" => start = value.parse::<StartTime>().map_err(|e| e.to_string())?,
            _ => unreachable!("the option names are checked above"),
        }
    }
    Ok(Command::Generate(Options {
        kind: kind.ok_or("--kind is required")?,
        count: count.ok_or("--count is required")?,
        seed,
        start,
    }))
}

/// A whole number that fits the option, or a message naming the option and the value.
fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{name} must be a whole number, not {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn all_options() {
        let command = parse(&[
            "--kind",
            "orders",
            "--count=12",
            "--seed",
            "7",
            "--start",
            "2024-01-02T03:04:05",
        ]);
        let expected = Options {
            kind: Kind::Orders,
            count: 12,
            seed: 7,
            start: "2024-01-02T03:04:05".parse().unwrap(),
        };
        assert_eq!(command, Ok(Command::Generate(expected)));
    }

    #[test]
    fn defaults() {
        let command = parse(&["--count", "5", "--kind", "logs"]);
        assert_eq!(command, Ok(Command::Generate(Options::new(Kind::Logs, 5))));
    }

    #[test]
    fn help_wins_wherever_it_is() {
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert_eq!(parse(&["--count", "3", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["--kind", "nope", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn problems_are_named() {
        let problem = |args: &[&str]| parse(args).unwrap_err();
        assert_eq!(problem(&["--count", "3"]), "--kind is required");
        assert_eq!(problem(&["--kind", "logs"]), "--count is required");
        assert_eq!(problem(&["--kind"]), "--kind needs a value");
        assert_eq!(
            problem(&["--kind", "logs", "--count", "-1"]),
            "--count must be a whole number, not \"-1\""
        );
        assert_eq!(
            problem(&["--kind", "logs", "--count", "1", "--seed", "x"]),
            "--seed must be a whole number, not \"x\""
        );
        assert_eq!(
            problem(&["--kind", "logs", "--count", "1", "--verbose"]),
            "unknown argument \"--verbose\""
        );
        assert_eq!(problem(&["logs"]), "unknown argument \"logs\"");
        let start = problem(&[
            "--kind",
            "logs",
            "--count",
            "1",
            "--start",
            "2024-02-30T00:00:00",
        ]);
        assert!(start.contains("2024-02 has no day 30"), "{start}");
    }
}
