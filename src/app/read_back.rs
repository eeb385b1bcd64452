//! `spillway redrive` and `spillway replay`: where they read (the dead letter, the backup, or
//! `--from`), and the dead-letter objects a finished redrive removes.

use std::sync::Mutex;

use super::destination::{location_of, Destination, Location};
use crate::source::read_back::{ReadBack, ReadBackStats, Replay};
use spillway_sinks::store::ObjectStore;

/// Where a redrive or replay reads.
pub(super) async fn location(
    destination: &Destination,
    read_back: &ReadBack,
) -> anyhow::Result<Location> {
    match read_back {
        ReadBack::Redrive(_) => Ok(destination.dead_letter_location.clone()),
        ReadBack::Replay(Replay { from: None, .. }) => {
            destination.backup_location.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "replay: this stream keeps no source-record backup ([destination.backup]); \
                 give --from with a folder or s3://bucket/prefix of backup objects"
                )
            })
        }
        ReadBack::Replay(Replay {
            from: Some(from), ..
        }) => Ok(location_of(from).await),
    }
}

/// Deletes the dead-letter objects a finished redrive sent whole (every record of them is now
/// delivered or in a newer dead letter); counts them in `removed`.
pub(super) async fn remove_sent_whole(
    store: &dyn ObjectStore,
    stats: &Mutex<ReadBackStats>,
) -> anyhow::Result<()> {
    let keys = stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sent_whole
        .clone();
    for key in &keys {
        store
            .delete(key)
            .await
            .map_err(|e| anyhow::anyhow!("cannot remove redriven {}: {e}", store.url(key)))?;
    }
    stats.lock().unwrap_or_else(|p| p.into_inner()).removed = keys.len();
    Ok(())
}
