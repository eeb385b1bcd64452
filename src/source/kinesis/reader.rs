//! What shard readers share: where to start, how a read ends, sending messages in order,
//! and the per-shard lag metric.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::source::SourceMessage;

/// Where a shard reader starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartAt {
    TrimHorizon,
    Latest,
    AtTimestamp(i64),
    AfterSequence(String),
    AtSequence(String),
}

impl StartAt {
    pub fn iterator_type(&self) -> (ShardIteratorType, Option<&str>, Option<DateTime>) {
        match self {
            StartAt::TrimHorizon => (ShardIteratorType::TrimHorizon, None, None),
            StartAt::Latest => (ShardIteratorType::Latest, None, None),
            StartAt::AtTimestamp(ms) => (
                ShardIteratorType::AtTimestamp,
                None,
                Some(DateTime::from_millis(*ms)),
            ),
            StartAt::AfterSequence(seq) => {
                (ShardIteratorType::AfterSequenceNumber, Some(seq), None)
            }
            StartAt::AtSequence(seq) => (ShardIteratorType::AtSequenceNumber, Some(seq), None),
        }
    }
}

/// How a read ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// The shard was read to its end (and `ShardEnd` sent).
    ShardEnd,
    /// The pipeline stopped listening (shutdown).
    Stopped,
}

/// What every reader needs.
#[derive(Clone)]
pub struct ReaderContext {
    pub client: Client,
    pub stream_arn: String,
    pub tx: mpsc::Sender<SourceMessage>,
    pub metrics: Arc<Metrics>,
    /// Pause between GetRecords calls when caught up (Firehose polls once a second).
    pub poll_interval: Duration,
}

impl ReaderContext {
    /// Sends messages in order; false when the pipeline stopped listening.
    pub async fn send_all(&self, messages: Vec<SourceMessage>) -> bool {
        for message in messages {
            if self.tx.send(message).await.is_err() {
                return false;
            }
        }
        true
    }

    pub fn record_lag(&self, shard: &str, millis_behind: Option<i64>) {
        if let Some(ms) = millis_behind {
            self.metrics.set_millis_behind(shard, ms);
        }
    }
}
