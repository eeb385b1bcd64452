//! The Kinesis source's section (`type = "kinesis"`): the stream, how it is read (enhanced
//! fan-out or polling), where a shard without a checkpoint starts, and the DynamoDB lease
//! table its checkpoints live in; and its start — the lease table opened, the coordinator
//! spawned.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use spillway_formats::decode::parse_time_text;
use spillway_sinks::aws::{dynamodb_client, dynamodb_client_with_timeout, sdk_config, AwsConnection};
use spillway_sinks::settings::{read_section, HumanDuration, Problems};

use super::fence::LeaseFence;
use super::{KinesisSettings, KinesisSource, ReadMode, StartPosition};
use crate::checkpoint::lease_table::LeaseTable;
use crate::checkpoint::{CheckpointStore, LeaseCheckpoints, LeaseSegmentLog, SegmentLog};
use crate::source::{Source, SourceContext, SourceStats, SourceType, StartContext, StartedSource};

pub const TYPE: SourceType = SourceType {
    name: "kinesis",
    read: |table, ctx, p| Some(Box::new(read(table, ctx, p)?)),
};

/// A Kinesis data stream, read with enhanced fan-out (default) or by polling; checkpoints in
/// a DynamoDB lease table with the KCL's attribute names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisSourceConfig {
    /// Stream name or ARN.
    pub stream: String,
    /// `efo` (enhanced fan-out: a dedicated 2 MiB/s per shard) or `polling` (GetRecords).
    #[serde(default)]
    pub mode: KinesisModeConfig,
    /// Enhanced fan-out consumer name; default `spillway-<name>`.
    #[serde(default)]
    pub consumer_name: Option<String>,
    /// Where a shard without a checkpoint starts: `TRIM_HORIZON` (default: nothing already
    /// in the stream is skipped), `LATEST`, or `AT_TIMESTAMP` with `start_timestamp`.
    #[serde(default)]
    pub start_position: StartPositionConfig,
    /// ISO-8601 time for `AT_TIMESTAMP`.
    #[serde(default)]
    pub start_timestamp: Option<String>,
    /// DynamoDB lease table (created on-demand if missing).
    pub lease_table: String,
    /// This worker's name in the lease table; default: host name and process id.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// How often acknowledged positions are checkpointed (and at shutdown).
    #[serde(default = "defaults::ten_seconds")]
    pub checkpoint_interval: HumanDuration,
    /// How often `ListShards` looks for new and closed shards.
    #[serde(default = "defaults::ten_seconds")]
    pub shard_discovery_interval: HumanDuration,
    /// Several workers share the lease table: a lease whose owner has not renewed it for
    /// this long is taken over by another worker (renewals every third of it). 1 s – 10 min.
    #[serde(default = "defaults::ten_seconds")]
    pub failover_time: HumanDuration,
    /// The most leases this worker takes; default: its fair share of the shards among the
    /// workers on the table.
    #[serde(default)]
    pub max_leases_per_worker: Option<usize>,
    /// The most leases this worker asks busier workers for at once (each one move between
    /// live workers: drained, checkpointed, handed over). Expired and released leases are
    /// taken up to the fair share regardless: nobody is reading them.
    #[serde(default = "defaults::one")]
    pub max_lease_requests: usize,
    /// Polling mode: pause between GetRecords calls when caught up.
    #[serde(default = "defaults::one_second")]
    pub poll_interval: HumanDuration,
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override for Kinesis and the lease table; default: the AWS SDK chain.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KinesisModeConfig {
    #[default]
    Efo,
    Polling,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
pub enum StartPositionConfig {
    #[default]
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    #[serde(rename = "LATEST")]
    Latest,
    #[serde(rename = "AT_TIMESTAMP")]
    AtTimestamp,
}

fn read(table: &toml::Value, ctx: &SourceContext, p: &mut Problems) -> Option<KinesisStream> {
    let k: KinesisSourceConfig = read_section(table, "source", p).ok()?;
    let key = "source";
    let before = p.count();
    if k.stream.is_empty() {
        p.add(
            format!("{key}.stream"),
            "must name a stream (or give its ARN)",
        );
    }
    let start = match (k.start_position, k.start_timestamp.as_deref()) {
        (StartPositionConfig::TrimHorizon, None) => StartPosition::TrimHorizon,
        (StartPositionConfig::Latest, None) => StartPosition::Latest,
        (StartPositionConfig::AtTimestamp, Some(text)) => match parse_time_text(text) {
            Some(ms) => StartPosition::AtTimestamp(ms),
            None => {
                p.add(
                    format!("{key}.start_timestamp"),
                    format!("{text:?} is not an ISO-8601 time"),
                );
                StartPosition::TrimHorizon
            }
        },
        (StartPositionConfig::AtTimestamp, None) => {
            p.add(
                format!("{key}.start_timestamp"),
                "is required with start_position = \"AT_TIMESTAMP\"",
            );
            StartPosition::TrimHorizon
        }
        (_, Some(_)) => {
            p.add(
                format!("{key}.start_timestamp"),
                "only applies with start_position = \"AT_TIMESTAMP\"",
            );
            StartPosition::TrimHorizon
        }
    };
    let table_ok = (3..=255).contains(&k.lease_table.len())
        && k.lease_table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !table_ok {
        p.add(
            format!("{key}.lease_table"),
            format!("{:?} is not a valid DynamoDB table name", k.lease_table),
        );
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&k.failover_time.0) {
        p.add(
            format!("{key}.failover_time"),
            format!("{} is outside 1 s – 10 min", k.failover_time),
        );
    }
    if k.max_lease_requests == 0 {
        p.add(format!("{key}.max_lease_requests"), "must be at least 1");
    }
    if k.max_leases_per_worker == Some(0) {
        p.add(
            format!("{key}.max_leases_per_worker"),
            "must be at least 1",
        );
    }
    if k.checkpoint_interval.0 < Duration::from_millis(100) {
        p.add(
            format!("{key}.checkpoint_interval"),
            "must be at least 100ms",
        );
    }
    let settings = KinesisSettings {
        stream: k.stream,
        mode: match k.mode {
            KinesisModeConfig::Efo => ReadMode::EnhancedFanOut,
            KinesisModeConfig::Polling => ReadMode::Polling,
        },
        consumer_name: k
            .consumer_name
            .unwrap_or_else(|| format!("spillway-{}", ctx.stream)),
        start,
        lease_table: k.lease_table,
        worker_id: k.worker_id.unwrap_or_else(default_worker_id),
        checkpoint_interval: k.checkpoint_interval.0,
        discovery_interval: k.shard_discovery_interval.0,
        poll_interval: k.poll_interval.0,
        failover_time: k.failover_time.0,
        max_leases: k.max_leases_per_worker,
        max_lease_requests: k.max_lease_requests,
    };
    let connection = AwsConnection {
        region: k.region,
        endpoint_url: k.endpoint_url,
        force_path_style: None,
        request_timeout: None,
    };
    (p.count() == before).then_some(KinesisStream {
        settings,
        connection,
    })
}

/// `host:pid`, the KCL's kind of worker identifier.
fn default_worker_id() -> String {
    format!("{}:{}", crate::host::host_name(), std::process::id())
}


/// A checked Kinesis source: what to read, and where the stream and lease table are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KinesisStream {
    pub settings: KinesisSettings,
    pub connection: AwsConnection,
}

#[async_trait]
impl Source for KinesisStream {
    fn rereadable(&self) -> bool {
        true
    }

    async fn start(&self, ctx: StartContext) -> anyhow::Result<StartedSource> {
        let sdk = sdk_config(&self.connection).await;
        let leases = LeaseTable::open(
            // An attempt that hangs (a partition) is abandoned after the failover time and
            // tried again by the SDK, so that no lease call — a take, a checkpoint, the final
            // release — waits forever. (Renewals and scans have their own bound of a round.)
            dynamodb_client_with_timeout(&sdk, self.settings.failover_time),
            &self.settings.lease_table,
            &self.settings.worker_id,
        )
        .await
        .map_err(|e| anyhow::anyhow!("source.lease_table: {e}"))?;
        let leases = Arc::new(leases);
        // Not ready until the first shard listing succeeds.
        ctx.metrics
            .source_disconnected
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let fence = Arc::new(LeaseFence::new(self.settings.failover_time));
        let source = KinesisSource {
            client: aws_sdk_kinesis::Client::new(&sdk),
            settings: self.settings.clone(),
            leases: leases.clone(),
            metrics: ctx.metrics,
            progress: ctx.progress,
            fence: fence.clone(),
        };
        let tx = ctx.tx;
        let task = tokio::spawn(async move {
            source
                .run(tx)
                .await
                .map_err(|e| anyhow::anyhow!("source: {e}"))?;
            Ok(SourceStats::default())
        });
        let segment_log = ctx.exactly_once.then(|| {
            Arc::new(LeaseSegmentLog {
                table: leases.clone(),
            }) as Arc<dyn SegmentLog>
        });
        Ok(StartedSource {
            task,
            checkpoints: Some(Box::new(LeaseCheckpoints::new(leases)) as Box<dyn CheckpointStore>),
            checkpoint_every: self.settings.checkpoint_interval,
            segment_log,
            fence: Some(fence),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

mod defaults {
    use super::HumanDuration;

    pub fn ten_seconds() -> HumanDuration {
        HumanDuration::from_secs(10)
    }
    pub fn one_second() -> HumanDuration {
        HumanDuration::from_secs(1)
    }
    pub fn one() -> usize {
        1
    }
}

/// `spillway leases`: the lease table of a Kinesis source, a line per shard (owner, lease
/// counter, checkpoint, the worker that asked for it), sorted by shard.
pub async fn lease_report(source: &dyn Source) -> anyhow::Result<String> {
    let Some(stream) = source.as_any().downcast_ref::<KinesisStream>() else {
        anyhow::bail!("source: only a Kinesis source (type = \"kinesis\") has a lease table");
    };
    let sdk = sdk_config(&stream.connection).await;
    let table = &stream.settings.lease_table;
    let mut leases = LeaseTable::existing(dynamodb_client(&sdk), table)
        .list()
        .await
        .map_err(|e| anyhow::anyhow!("source.lease_table: {e}"))?;
    leases.sort_by(|a, b| a.shard.cmp(&b.shard));
    let mut out = format!(
        "{:<28} {:<32} {:>8}  {:<58} {}\n",
        "shard", "owner", "counter", "checkpoint", "asked by"
    );
    for lease in &leases {
        let owner = if lease.is_free() { "(free)" } else { &lease.owner };
        let checkpoint = match lease.sub_sequence {
            0 => lease.checkpoint.clone(),
            sub => format!("{}/{sub}", lease.checkpoint),
        };
        out.push_str(&format!(
            "{:<28} {:<32} {:>8}  {:<58} {}\n",
            lease.shard,
            owner,
            lease.counter,
            checkpoint,
            lease.handoff_to.as_deref().unwrap_or("-")
        ));
    }
    let mut owners: Vec<&str> = leases.iter().map(|l| l.owner.as_str()).collect();
    owners.sort();
    owners.dedup();
    owners.retain(|o| !o.is_empty());
    out.push_str(&format!(
        "{} leases in {table}, {} workers\n",
        leases.len(),
        owners.len()
    ));
    Ok(out)
}
