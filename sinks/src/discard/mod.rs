//! The discard destination (`type = "discard"`): acknowledges every record and keeps none. A
//! tool for measuring the pipeline without I/O — source, decoding, partitioning, buffering
//! and acknowledgement at full speed — and the shape every destination folder has, at its
//! smallest: a config, a [`Destination`] that builds the sink, and the sink.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use spillway_formats::prefix::NameRule;
use spillway_formats::record::{Batch, ErrorOutputType};

use crate::destination::{
    Backup, BuildContext, BuildError, Built, Destination, DestinationType, Features, Target,
};
use crate::settings::{field_names, read_section, Problems};
use crate::sink::{Delivery, Sink, SinkError};

/// This folder's destination.
pub const TYPES: &[DestinationType] = &[DestinationType {
    name: "discard",
    read: |table, _, p| Some(Box::new(read(table, p)?)),
    keys: || field_names::<DiscardConfig>().to_vec(),
}];

/// Records go nowhere; the prefix still partitions them (and is still checked).
#[derive(Debug, Deserialize)]
pub struct DiscardConfig {
    /// Firehose prefix template, as for an object destination; default
    /// `!{timestamp:yyyy/MM/dd/HH}/`.
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug)]
pub struct DiscardDestination {
    prefix: Option<String>,
}

fn read(table: &toml::Value, p: &mut Problems) -> Option<DiscardDestination> {
    let d: DiscardConfig = read_section(table, "destination", p).ok()?;
    Some(DiscardDestination { prefix: d.prefix })
}

#[async_trait]
impl Destination for DiscardDestination {
    fn target(&self) -> Target {
        Target {
            key: "destination.prefix",
            template: self.prefix.clone(),
            rule: NameRule::ObjectKey,
        }
    }

    fn features(&self) -> Features {
        Features {
            exactly_once: false,
            backup: Backup::Refused("is not kept by the discard destination"),
            object_names: false,
        }
    }

    fn has_store(&self) -> bool {
        false
    }

    async fn build(&self, _ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
        Ok(Built {
            sink: Arc::new(DiscardSink),
            store: None,
            location: "nowhere (discard)".into(),
            catalog: None,
            query: None,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Acknowledges every record of every batch.
pub struct DiscardSink;

#[async_trait]
impl Sink for DiscardSink {
    fn name(&self) -> &'static str {
        "Discard"
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::S3Failed
    }

    /// Every record delivered; its incoming bytes counted as delivered bytes, so throughput
    /// metrics read as they would for a real destination.
    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        Ok(Delivery {
            delivered: batch.len(),
            bytes: batch.incoming_bytes() as u64,
            ..Delivery::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use spillway_formats::record::{PartitionKey, RecordMeta};

    use super::*;

    #[tokio::test]
    async fn every_record_is_acknowledged_and_nothing_is_kept() {
        let mut batch = Batch::new(PartitionKey(Arc::from("k/")));
        for (position, line) in [r#"{"a":1}"#, r#"{"a":2}"#, "not json"].iter().enumerate() {
            batch.push(line.as_bytes(), RecordMeta::at(Arc::from("f"), position as u64, 0));
        }
        let incoming = batch.incoming_bytes() as u64;
        let delivery = DiscardSink.deliver(Arc::new(batch)).await.unwrap();
        assert_eq!(delivery.delivered, 3);
        assert_eq!(delivery.bytes, incoming, "counted as delivered, for throughput");
        assert!(delivery.failed.is_empty() && delivery.objects.is_empty());
    }

    #[test]
    fn the_section_takes_a_prefix_and_refuses_a_bad_value() {
        let mut p = Problems::default();
        let table: toml::Value = toml::from_str("prefix = \"t/\"").unwrap();
        let destination = read(&table, &mut p).unwrap();
        assert_eq!(destination.target().template.as_deref(), Some("t/"));
        assert!(!destination.has_store(), "the dead letter goes elsewhere");
        let table: toml::Value = toml::from_str("prefix = 5").unwrap();
        assert!(read(&table, &mut p).is_none());
        assert_eq!(p.0[0].path, "destination.prefix");
    }
}
