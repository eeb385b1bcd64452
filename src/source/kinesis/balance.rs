//! Which leases this worker takes or asks for, from one look at the lease table: a pure
//! function, so the rule is tested without DynamoDB.
//!
//! The rule: every live worker (an owner of a lease that is not expired, and this one) should
//! hold ⌊shards/workers⌋ or ⌈shards/workers⌉ of the shards that can be read now. A worker
//! under ⌈…⌉ takes, in this order, leases handed to it, leases nobody holds (new shards,
//! leases released at a shutdown) and expired leases (their owner stopped renewing). When
//! none is left and it still holds at least two fewer than the busiest worker, it asks that
//! worker for one lease — at most `max_lease_requests` requests outstanding (default one),
//! each to the busiest worker left — and the owner hands it over once the shard is drained. Every move takes a lease from a worker holding at least two more than
//! the taker, so each move narrows the spread and the leases settle; with the holdings within
//! one of each other nobody moves again (no ping-pong). Leases count alike: weighting by each
//! shard's throughput (as KCL 3.x does) is left for later.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::checkpoint::lease_table::Lease;

/// What to do with a lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// Take it (create it if there is no lease yet).
    Take(String),
    /// Ask its owner to hand it over.
    Ask(String),
}

/// The lease table as this worker sees it at one moment.
pub struct View<'a> {
    pub me: &'a str,
    /// Shards that may be read now (not ended, parents done), in a stable order.
    pub readable: &'a [String],
    /// Leases by shard.
    pub leases: &'a HashMap<String, Lease>,
    /// Leases whose counter has not moved for the failover time.
    pub expired: &'a HashSet<String>,
    /// Shards this worker reads (or drains) now.
    pub reading: &'a HashSet<String>,
    /// Requests of this worker still outstanding.
    pub asked: usize,
    /// The most requests outstanding at once: the moves between live workers it starts.
    pub max_requests: usize,
    pub max_leases: Option<usize>,
}

/// The moves this worker makes now.
pub fn plan(view: &View) -> Vec<Move> {
    let mut holders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for shard in view.readable {
        if let Some(lease) = view.leases.get(shard) {
            let alive = !lease.is_free() && !view.expired.contains(shard);
            if alive && lease.owner != view.me {
                holders.entry(&lease.owner).or_default().push(shard);
            }
        }
    }
    let workers = holders.len() + 1;
    let fair = view.readable.len().div_ceil(workers);
    let target = view.max_leases.map_or(fair, |max| fair.min(max));
    let mut mine = view.reading.len();
    let mut moves = Vec::new();

    // Handed to this worker (or its own from before): always taken back.
    let unread = view.readable.iter().filter(|s| !view.reading.contains(*s));
    for shard in unread.clone() {
        if view.leases.get(shard).is_some_and(|l| l.owner == view.me) {
            moves.push(Move::Take(shard.clone()));
            mine += 1;
        }
    }
    // Then new and free leases, then expired ones, up to the fair share.
    let free = |shard: &&String| view.leases.get(*shard).is_none_or(Lease::is_free);
    let expired = |shard: &&String| view.expired.contains(*shard);
    let takeable = unread.clone().filter(free).chain(unread.filter(expired));
    for shard in takeable {
        if mine >= target {
            break;
        }
        if !moves.contains(&Move::Take(shard.clone())) {
            moves.push(Move::Take(shard.clone()));
            mine += 1;
        }
    }
    // Asking waits for free and expired leases to be taken first (they need no owner's
    // drain), but not for a handed lease: taking it is when the next request may go.
    let taking_free = moves
        .iter()
        .any(|m| matches!(m, Move::Take(s) if view.leases.get(s).is_none_or(|l| l.owner != view.me)));
    if taking_free || mine >= target {
        return moves;
    }
    // Still short: ask the busiest worker, if it holds at least two more than this one will
    // once its requests are answered; again while requests are allowed.
    let mut counts: Vec<(&str, &Vec<&str>, usize)> =
        holders.iter().map(|(o, s)| (*o, s, s.len())).collect();
    let mut asking = view.asked;
    while asking < view.max_requests && mine + asking < target {
        let busiest = (0..counts.len())
            .max_by_key(|&i| (counts[i].2, std::cmp::Reverse(counts[i].0)));
        let Some(i) = busiest else {
            break;
        };
        let (_, shards, count) = counts[i];
        if count < mine + asking + 2 {
            break;
        }
        let next = shards.iter().find(|shard| {
            let free_to_ask = view
                .leases
                .get(**shard)
                .is_some_and(|l| l.handoff_to.is_none());
            free_to_ask && !moves.contains(&Move::Ask(shard.to_string()))
        });
        let Some(shard) = next else {
            break;
        };
        moves.push(Move::Ask(shard.to_string()));
        counts[i].2 -= 1;
        asking += 1;
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(shard: &str, owner: &str) -> Lease {
        Lease {
            shard: shard.into(),
            owner: owner.into(),
            counter: 1,
            checkpoint: "TRIM_HORIZON".into(),
            sub_sequence: 0,
            handoff_to: None,
        }
    }

    /// The shards `owner` holds: what it reads.
    fn held_by(leases: &HashMap<String, Lease>, owner: &str) -> HashSet<String> {
        leases
            .values()
            .filter(|l| l.owner == owner)
            .map(|l| l.shard.clone())
            .collect()
    }

    fn shards(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("shard-{i}")).collect()
    }

    /// Workers taking turns to plan against a shared table until nothing moves; a request is
    /// answered (the lease handed over) before the next turn. Returns the holdings and the
    /// number of moves.
    fn settle(readable: &[String], workers: &[&str]) -> (BTreeMap<String, usize>, usize) {
        let mut leases: HashMap<String, Lease> = HashMap::new();
        let mut moved = 0;
        for round in 0..100 {
            let mut any = false;
            for me in workers {
                let reading = held_by(&leases, me);
                let view = View {
                    me,
                    readable,
                    leases: &leases,
                    expired: &HashSet::new(),
                    reading: &reading,
                    asked: 0,
                    max_requests: 1,
                    max_leases: None,
                };
                for m in plan(&view) {
                    any = true;
                    match m {
                        Move::Take(shard) => {
                            leases.insert(shard.clone(), lease(&shard, me));
                        }
                        Move::Ask(shard) => {
                            moved += 1;
                            leases.insert(shard.clone(), lease(&shard, me));
                        }
                    }
                }
            }
            if !any {
                let mut held = BTreeMap::new();
                for l in leases.values() {
                    *held.entry(l.owner.clone()).or_default() += 1;
                }
                return (held, moved);
            }
            assert!(round < 99, "no settling");
        }
        unreachable!()
    }

    #[test]
    fn a_lone_worker_takes_every_shard() {
        let (held, moved) = settle(&shards(8), &["a"]);
        assert_eq!(held["a"], 8);
        assert_eq!(moved, 0);
    }

    #[test]
    fn workers_joining_one_by_one_end_within_one_of_each_other() {
        let readable = shards(8);
        // "a" alone first, then a and b, then three.
        let (held, _) = settle(&readable, &["a"]);
        assert_eq!(held["a"], 8);
        let (held, moved) = settle(&readable, &["a", "b", "c"]);
        let counts: Vec<usize> = held.values().copied().collect();
        assert_eq!(counts.iter().sum::<usize>(), 8);
        assert!(counts.iter().all(|c| (2..=3).contains(c)), "{held:?}");
        assert!(moved <= 6, "{moved} moves for 8 shards over 3 workers");
    }

    #[test]
    fn settled_holdings_make_no_move() {
        let readable = shards(8);
        let mut leases = HashMap::new();
        for (i, shard) in readable.iter().enumerate() {
            let owner = ["a", "b", "c"][i % 3];
            leases.insert(shard.clone(), lease(shard, owner));
        }
        for me in ["a", "b", "c"] {
            let reading = held_by(&leases, me);
            let view = View {
                me,
                readable: &readable,
                leases: &leases,
                expired: &HashSet::new(),
                reading: &reading,
                asked: 0,
            max_requests: 1,
                max_leases: None,
            };
            assert_eq!(plan(&view), vec![], "{me} holds {}", reading.len());
        }
    }

    #[test]
    fn expired_and_free_leases_are_taken_before_asking_and_handed_ones_always() {
        let readable = shards(4);
        let mut leases = HashMap::new();
        leases.insert("shard-0".into(), lease("shard-0", "dead"));
        leases.insert("shard-1".into(), lease("shard-1", ""));
        leases.insert("shard-2".into(), lease("shard-2", "b"));
        leases.insert("shard-3".into(), lease("shard-3", "me"));
        let expired = HashSet::from(["shard-0".to_string()]);
        let view = View {
            me: "me",
            readable: &readable,
            leases: &leases,
            expired: &expired,
            reading: &HashSet::new(),
            asked: 0,
            max_requests: 1,
            max_leases: None,
        };
        // Two live workers (me, b): a fair share of 2 — the handed one, then the free one.
        assert_eq!(
            plan(&view),
            vec![Move::Take("shard-3".into()), Move::Take("shard-1".into())]
        );
    }

    #[test]
    fn one_request_at_a_time_and_only_to_a_worker_two_ahead() {
        let readable = shards(6);
        let mut leases = HashMap::new();
        for shard in &readable {
            leases.insert(shard.clone(), lease(shard, "a"));
        }
        let mut view = View {
            me: "b",
            readable: &readable,
            leases: &leases,
            expired: &HashSet::new(),
            reading: &HashSet::new(),
            asked: 0,
            max_requests: 1,
            max_leases: None,
        };
        assert_eq!(plan(&view), vec![Move::Ask("shard-0".into())]);
        view.asked = 1;
        assert_eq!(plan(&view), vec![]);
        // Allowed three requests at once, b asks for its whole share (3 of 6) in one round,
        // each time of the busiest holder left.
        view.asked = 0;
        view.max_requests = 3;
        assert_eq!(
            plan(&view),
            vec![
                Move::Ask("shard-0".into()),
                Move::Ask("shard-1".into()),
                Move::Ask("shard-2".into())
            ]
        );
        // a holds 4, b 2: within one of the fair share 3 each? No: 4 ≥ 2 + 2, so b asks.
        let reading: HashSet<String> = ["shard-4".to_string(), "shard-5".to_string()].into();
        leases.insert("shard-4".into(), lease("shard-4", "b"));
        leases.insert("shard-5".into(), lease("shard-5", "b"));
        let view = View {
            me: "b",
            readable: &readable,
            leases: &leases,
            expired: &HashSet::new(),
            reading: &reading,
            asked: 0,
            max_requests: 1,
            max_leases: None,
        };
        assert_eq!(plan(&view), vec![Move::Ask("shard-0".into())]);
    }

    #[test]
    fn taking_a_handed_lease_and_asking_for_the_next_go_together() {
        let readable = shards(8);
        let mut leases = HashMap::new();
        for shard in &readable {
            leases.insert(shard.clone(), lease(shard, "a"));
        }
        leases.insert("shard-7".into(), lease("shard-7", "b"));
        let view = View {
            me: "b",
            readable: &readable,
            leases: &leases,
            expired: &HashSet::new(),
            reading: &HashSet::new(),
            asked: 0,
            max_requests: 1,
            max_leases: None,
        };
        // b takes the lease handed to it and, still 6 behind a, asks for the next at once.
        assert_eq!(
            plan(&view),
            vec![Move::Take("shard-7".into()), Move::Ask("shard-0".into())]
        );
    }

    #[test]
    fn max_leases_caps_what_is_taken() {
        let readable = shards(8);
        let leases = HashMap::new();
        let view = View {
            me: "a",
            readable: &readable,
            leases: &leases,
            expired: &HashSet::new(),
            reading: &HashSet::new(),
            asked: 0,
            max_requests: 1,
            max_leases: Some(3),
        };
        assert_eq!(plan(&view).len(), 3);
    }
}
