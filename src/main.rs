//! The `spillway` command: parse arguments, set up logging, call the library. Exit codes:
//! 0 done, 1 runtime failure, 2 bad config or usage, 130 a second interrupt.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spillway::app::{self, RunOptions};
use spillway::config::{self, ConfigError};
use spillway::source::read_back::{ReadBack, Redrive, Replay, TimeRange};
use spillway_sinks::redact::redact;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "spillway",
    version,
    about = "Kinesis-Firehose-style delivery: read, buffer, convert, load"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How logs are written: `text` (stderr, for people) or `json` (one JSON object per line
    /// on stdout, for log collectors; the progress line is off and the summary goes to stderr).
    #[arg(
        long,
        global = true,
        env = "SPILLWAY_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a delivery stream until its input ends (or SIGINT/SIGTERM).
    Run {
        /// The delivery stream's config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Serve Prometheus metrics here (e.g. 127.0.0.1:9108); off by default.
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
    },
    /// Run as a service: metrics on (default 0.0.0.0:9108), keep running until a signal.
    Serve {
        /// The delivery stream's config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Serve Prometheus metrics, /healthz and /readyz here; default 0.0.0.0:9108.
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
    },
    /// Send the stream's dead-lettered records through the destination again (the config's
    /// dead letter is read; records that fail again are dead-lettered with attemptsMade added
    /// up). The dead-letter objects read are kept.
    Redrive {
        /// The delivery stream's config file (TOML): its dead letter is read.
        #[arg(long, short)]
        config: PathBuf,
        /// Only these error-output types (e.g. `s3-failed`); repeatable. Default: all.
        #[arg(long = "error-type")]
        error_types: Vec<String>,
        /// Only records whose last attempt ended at or after this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        since: Option<i64>,
        /// Only records whose last attempt ended before this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        until: Option<i64>,
        /// Once every record read is delivered or dead-lettered again, delete the dead-letter
        /// objects that were redriven whole (none skipped by the time range, none unreadable).
        #[arg(long)]
        remove: bool,
    },
    /// Send the raw source-record backup through the destination again (the config's own
    /// backup, or --from): rebuild a destination, or fill a new one, without the stream.
    Replay {
        /// The delivery stream's config file (TOML): its destination receives the records.
        #[arg(long, short)]
        config: PathBuf,
        /// A folder or s3://bucket/prefix holding backup objects (`*.json.gz`); default: the
        /// config's `[destination.backup]`.
        #[arg(long)]
        from: Option<String>,
        /// Only backup objects written at or after this time (RFC 3339, from their names).
        #[arg(long, value_parser = parse_time)]
        since: Option<i64>,
        /// Only backup objects written before this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        until: Option<i64>,
    },
    /// Print a Kinesis source's lease table: each shard's owner, lease counter, checkpoint
    /// and the worker that asked for it.
    Leases {
        /// The delivery stream's config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Load and validate a config without running it; print every problem.
    Validate {
        /// The delivery stream's config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    spillway::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let json_logs = cli.log_format == LogFormat::Json;
    init_logging(cli.log_format);
    let (path, serve, listen, read_back) = match cli.command {
        Command::Validate { config } => return validate(&config),
        Command::Leases { config } => return leases(&config),
        Command::Run {
            config,
            metrics_listen,
        } => (config, false, metrics_listen, None),
        Command::Serve {
            config,
            metrics_listen,
        } => (config, true, metrics_listen, None),
        Command::Redrive {
            config,
            error_types,
            since,
            until,
            remove,
        } => {
            let redrive = ReadBack::Redrive(Redrive {
                error_types,
                ended: TimeRange {
                    since_ms: since,
                    until_ms: until,
                },
                remove,
            });
            (config, false, None, Some(redrive))
        }
        Command::Replay {
            config,
            from,
            since,
            until,
        } => {
            let replay = ReadBack::Replay(Replay {
                written: TimeRange {
                    since_ms: since,
                    until_ms: until,
                },
                from,
            });
            (config, false, None, Some(replay))
        }
    };
    let config = match config::load(&path) {
        Ok(config) => config,
        Err(e) => return config_failure(&path, &e),
    };
    let default_listen = serve.then(|| "0.0.0.0:9108".parse().expect("a valid address"));
    let options = RunOptions {
        metrics_listen: listen.or(config.metrics_listen).or(default_listen),
        progress: !json_logs,
        serve,
        read_back,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spillway: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            match json_logs {
                true => tracing::warn!("stopping: flushing buffers and committing checkpoints (signal again to exit at once)"),
                false => eprintln!("\nspillway: stopping — flushing buffers and committing checkpoints (signal again to exit at once)"),
            }
            let _ = stop_tx.send(true);
            wait_for_signal().await;
            match json_logs {
                true => tracing::error!("second signal, exiting now"),
                false => eprintln!("spillway: second signal, exiting now"),
            }
            std::process::exit(130);
        });
        match app::run(config, options, stop_rx).await {
            Ok(summary) => {
                // In JSON mode stdout carries log lines only: the figures go in one, the
                // human summary to stderr.
                match json_logs {
                    true => {
                        tracing::info!(
                            records_in = summary.records_in,
                            bytes_in = summary.bytes_in,
                            delivered = summary.delivered,
                            dead_lettered = summary.dead_lettered,
                            objects = summary.objects,
                            elapsed_ms = summary.elapsed.as_millis() as u64,
                            "run ended"
                        );
                        eprint!("{}", redact(&summary.render()));
                    }
                    false => print!("{}", redact(&summary.render())),
                }
                match summary.failed() {
                    true => ExitCode::from(1),
                    false => ExitCode::SUCCESS,
                }
            }
            Err(e) => {
                let message = redact(&format!("{e:#}")).into_owned();
                match json_logs {
                    true => tracing::error!(error = %message, "the run failed"),
                    false => eprintln!("spillway: {message}"),
                }
                ExitCode::from(1)
            }
        }
    });
    // A delivery abandoned at shutdown_timeout may still be encoding on a blocking thread:
    // do not wait for it.
    runtime.shutdown_background();
    code
}

/// An RFC 3339 time as ms since the epoch.
fn parse_time(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (e.g. 2024-05-01T00:00:00Z): {e}"))
}

fn validate(path: &std::path::Path) -> ExitCode {
    match config::load(path) {
        Ok(config) => {
            println!("{}: ok (stream {:?})", path.display(), config.name);
            ExitCode::SUCCESS
        }
        Err(e) => config_failure(path, &e),
    }
}

fn leases(path: &std::path::Path) -> ExitCode {
    let config = match config::load(path) {
        Ok(config) => config,
        Err(e) => return config_failure(path, &e),
    };
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(spillway::source::kinesis::lease_report(&*config.source)));
    match report {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spillway: {}", redact(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn config_failure(path: &std::path::Path, e: &ConfigError) -> ExitCode {
    eprintln!("spillway: {}: {}", path.display(), redact(&e.to_string()));
    ExitCode::from(2)
}

/// Logs filtered by `RUST_LOG` (default `warn,spillway=info`), with credentials in URLs
/// masked: as text on stderr, or as one JSON object per line on stdout (`timestamp`, `level`,
/// `target`, `message` and the event's other fields beside it, `span`/`spans`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,spillway=info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs
            .with_writer(|| Redacting(std::io::stderr()))
            // Colours only on a terminal: logs collected from a file or a container stay plain.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_writer(|| Redacting(std::io::stdout()))
            .init(),
    }
}

/// Log output with credentials in URLs masked (each log line is one write).
struct Redacting<W>(W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
