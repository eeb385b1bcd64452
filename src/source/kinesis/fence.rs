//! The lease fence: which records this worker may still write. A lease admits the records of
//! the reading that began when it was taken (positions from that reading's first one, see
//! [`ShardCursor::starting_at`](super::records::ShardCursor::starting_at)) until two thirds of
//! the failover time after the last renewal *sent* — by this worker's own clock, whether or
//! not the coordinator is running at that moment (a hung DynamoDB call cannot hold the fence
//! open). Another worker may take the lease only a whole failover time after it *saw* that
//! renewal, so the fence closes first, with a third of the failover time to spare.
//!
//! Sinks ask the fence before every write they start and before publishing an object (see
//! [`Fence`]); the tracker is told to drop a lost lease's records (`Progress::set_floor`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use spillway_formats::record::{Fence, ShardId};

#[derive(Debug)]
struct Grant {
    /// The first position of the reading the lease admits.
    from: u64,
    /// When the lease stops admitting records unless renewed again.
    until: Instant,
}

#[derive(Debug)]
pub struct LeaseFence {
    grants: Mutex<HashMap<ShardId, Grant>>,
    /// How long after a renewal is sent its lease still admits records.
    lasts: Duration,
}

impl LeaseFence {
    /// A fence for leases that expire after `failover_time`.
    pub fn new(failover_time: Duration) -> Self {
        LeaseFence {
            grants: Mutex::default(),
            lasts: failover_time * 2 / 3,
        }
    }

    fn grants(&self) -> std::sync::MutexGuard<'_, HashMap<ShardId, Grant>> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lease of `shard` is taken, by a request sent at `sent`: the reading that starts at
    /// position `from` may be written.
    pub fn grant(&self, shard: &str, from: u64, sent: Instant) {
        let until = sent + self.lasts;
        self.grants().insert(ShardId::from(shard), Grant { from, until });
    }

    /// The lease of `shard` is renewed, by a request sent at `sent`. False when its fence had
    /// already closed (the renewal came too late: records were refused meanwhile, so the
    /// lease must be given up). A lease without a grant (being taken, or given up) gets none.
    pub fn renewed(&self, shard: &str, sent: Instant) -> bool {
        let mut grants = self.grants();
        match grants.get_mut(shard) {
            Some(grant) if Instant::now() < grant.until => {
                grant.until = grant.until.max(sent + self.lasts);
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Whether the lease of `shard` still admits its reading (granted, fence not closed).
    pub fn open(&self, shard: &str) -> bool {
        self.grants()
            .get(shard)
            .is_some_and(|g| Instant::now() < g.until)
    }

    /// The lease of `shard` is gone (lost, fenced or released): nothing of it is admitted.
    pub fn revoke(&self, shard: &str) {
        self.grants().remove(shard);
    }
}

impl Fence for LeaseFence {
    fn admits(&self, shard: &ShardId, position: u64) -> bool {
        self.grants()
            .get(shard)
            .is_some_and(|g| position >= g.from && Instant::now() < g.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_admits_its_own_reading_until_two_thirds_of_the_failover_time_after_a_renewal() {
        let fence = LeaseFence::new(Duration::from_millis(300));
        let shard = ShardId::from("s");
        assert!(!fence.admits(&shard, 5), "never granted");
        assert!(!fence.open("s"));
        assert!(fence.renewed("s", Instant::now()), "no grant yet: nothing lapsed");
        let now = Instant::now();
        fence.grant("s", 1 << 40, now);
        assert!(fence.admits(&shard, 1 << 40));
        assert!(fence.admits(&shard, (1 << 40) + 7));
        assert!(!fence.admits(&shard, 5), "a reading before this lease");
        // A renewal sent later moves the fence; one sent earlier cannot pull it back.
        assert!(fence.renewed("s", now + Duration::from_millis(100)));
        assert!(fence.renewed("s", now));
        std::thread::sleep(Duration::from_millis(250));
        assert!(fence.admits(&shard, 1 << 40), "renewed until 300 ms from the start");
        std::thread::sleep(Duration::from_millis(80));
        assert!(!fence.admits(&shard, 1 << 40), "closed 200 ms after the last renewal sent");
        assert!(!fence.open("s"));
        assert!(!fence.renewed("s", Instant::now()), "too late: the lease must go");
        fence.grant("s", 2 << 40, Instant::now());
        assert!(fence.admits(&shard, 2 << 40));
        fence.revoke("s");
        assert!(!fence.admits(&shard, 2 << 40));
    }
}
