//! Which open buffers close early, and why. A pure function of the buffers' sizes and times
//! and the flush policy: no clock, no I/O.
//!
//! Two limits can make a buffer close before its size or interval: the memory budget (all
//! buffered bytes) and the cap on open partitions. Each early close writes one object, so the
//! rule is chosen to write as few objects as possible for the bytes delivered:
//! - **Memory budget: greatest bytes × age first.** An object frees its buffer's bytes, so a
//!   large buffer frees the most per object written; and an old one is near its interval,
//!   where it closes anyway, so closing it early rarely costs an extra object. Largest-only
//!   keeps the long tail of slow keys open for good, leaving the busy keys less room;
//!   oldest-only closes small buffers while large ones wait.
//! - **Open partitions: least recently written first.** Any close frees one slot, whatever its
//!   size; a key written a moment ago is busy and would open again at once (another slot,
//!   another object soon), while a key not seen for a while is likely to stay closed.
//!
//! Both close in batches, down to a low-water mark below the limit (hysteresis): for the cap,
//! an eighth below it, because closing only one buffer per record at the cap is the thrash in
//! which every record of a new key closes another buffer of about one record; for memory, a
//! 32nd below it, so that a round of closes (a scan of every buffer) is not needed per record. The cap's default is sized to the
//! budget ([`default_max_open`]), so that it bites only when buffers would be small anyway.
//! The tests simulate skewed and uniform key mixes and compare the objects written with the
//! former rule (one buffer per record: the largest over the budget, the oldest over the cap).

use std::cmp::Reverse;

/// What the rule needs to know of one open buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferStats {
    /// Incoming bytes it holds.
    pub bytes: usize,
    /// When its first record arrived (ms, monotonic).
    pub opened_at_ms: u64,
    /// When its latest record arrived (ms, monotonic).
    pub last_write_ms: u64,
}

/// The limits an early close keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// All buffered bytes together.
    pub memory_budget: usize,
    /// Open buffers at most.
    pub max_open: usize,
}

/// Why a buffer is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pressure {
    Memory,
    OpenPartitions,
}

/// The default cap on open partitions is the memory budget over this (131,072 partitions for
/// the default 512 MiB). What the budget counts is the records' bytes; each open buffer also
/// costs a few hundred bytes it does not count (its key, map entry and vectors): at this
/// ratio they stay under a tenth of the budget, even when a partition key turns out to be
/// unique per record.
pub const BYTES_PER_PARTITION: usize = 4 << 10;

/// The cap on open partitions when none is configured: sized to the budget (see
/// [`BYTES_PER_PARTITION`]).
pub fn default_max_open(memory_budget: usize) -> usize {
    (memory_budget / BYTES_PER_PARTITION).max(1)
}

/// Under memory pressure, the buffer to close first is the one with the greatest bytes × age:
/// a big object, and one whose interval would close it soon anyway (closing a buffer early
/// costs an object only if its key writes again before then). Of equal scores, the larger.
fn memory_score(buffer: &BufferStats, now_ms: u64) -> (u128, usize) {
    let age = now_ms.saturating_sub(buffer.opened_at_ms) + 1;
    (buffer.bytes as u128 * u128::from(age), buffer.bytes)
}

/// The level the buffered bytes are brought down to once the budget is passed: a 32nd below
/// it. Each round of closes scans every open buffer; the margin makes the rounds few with
/// tens of thousands of partitions, and small enough that few buffers close before they
/// must.
pub fn memory_low_water(budget: usize) -> usize {
    budget - budget / 32
}

/// The count of open buffers is brought down to an eighth below the cap once it is passed.
pub fn count_low_water(cap: usize) -> usize {
    (cap - cap / 8).max(1)
}

/// The buffers (indices into `buffers`) to close so that both limits hold again, each with
/// the limit that chose it; empty while both hold.
pub fn choose(buffers: &[BufferStats], limits: Limits, now_ms: u64) -> Vec<(usize, Pressure)> {
    let total: usize = buffers.iter().map(|b| b.bytes).sum();
    let over_memory = total > limits.memory_budget;
    let over_count = buffers.len() > limits.max_open;
    if !over_memory && !over_count {
        return Vec::new();
    }
    let mut chosen = Vec::new();
    let mut closed = vec![false; buffers.len()];
    if over_memory {
        let mut by_cost: Vec<usize> = (0..buffers.len()).collect();
        by_cost.sort_by_key(|&i| (Reverse(memory_score(&buffers[i], now_ms)), i));
        let target = memory_low_water(limits.memory_budget);
        let mut left = total;
        for i in by_cost {
            if left <= target {
                break;
            }
            left -= buffers[i].bytes;
            closed[i] = true;
            chosen.push((i, Pressure::Memory));
        }
    }
    let open = buffers.len() - chosen.len();
    if open > limits.max_open {
        let mut by_use: Vec<usize> = (0..buffers.len()).filter(|&i| !closed[i]).collect();
        // Least recently written first; of equal times, the smaller.
        by_use.sort_by_key(|&i| (buffers[i].last_write_ms, buffers[i].bytes, i));
        let excess = open - count_low_water(limits.max_open);
        chosen.extend(
            by_use
                .into_iter()
                .take(excess)
                .map(|i| (i, Pressure::OpenPartitions)),
        );
    }
    chosen
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn stats(bytes: usize, opened_at_ms: u64, last_write_ms: u64) -> BufferStats {
        BufferStats {
            bytes,
            opened_at_ms,
            last_write_ms,
        }
    }

    #[test]
    fn nothing_closes_within_the_limits() {
        let buffers = [stats(10, 0, 5), stats(20, 1, 6)];
        let limits = Limits {
            memory_budget: 30,
            max_open: 2,
        };
        assert!(choose(&buffers, limits, 10).is_empty());
    }

    #[test]
    fn memory_pressure_closes_by_bytes_times_age_down_to_the_low_water_mark() {
        // 100 + 50 + 40 + 30 = 220 > 200; the low-water mark is 194. At 10 ms, bytes × age:
        // 550, 600, 400, 270 — closing the 100 bytes (opened at 5) is enough.
        let buffers = [
            stats(50, 0, 9),
            stats(100, 5, 6),
            stats(40, 1, 1),
            stats(30, 2, 2),
        ];
        let limits = Limits {
            memory_budget: 200,
            max_open: 10,
        };
        assert_eq!(choose(&buffers, limits, 10), vec![(1, Pressure::Memory)]);
        // Equal sizes: the older first, then as many as the mark needs (240 → 180).
        let buffers = [
            stats(60, 3, 3),
            stats(60, 1, 1),
            stats(60, 2, 2),
            stats(60, 0, 9),
        ];
        let limits = Limits {
            memory_budget: 200,
            max_open: 10,
        };
        assert_eq!(choose(&buffers, limits, 10), vec![(3, Pressure::Memory)]);
        // An old buffer before a larger young one: 60 × 11 > 100 × 2.
        let buffers = [stats(100, 9, 9), stats(60, 0, 5), stats(60, 8, 8)];
        assert_eq!(choose(&buffers, limits, 10), vec![(1, Pressure::Memory)]);
    }

    #[test]
    fn the_partition_cap_closes_the_least_recently_written_in_a_batch() {
        // Nine open, cap eight: down to seven (an eighth below), the two idlest first.
        let buffers: Vec<BufferStats> = (0..9)
            .map(|i| stats(10, i, [50, 3, 70, 1, 80, 90, 60, 40, 30][i as usize]))
            .collect();
        let limits = Limits {
            memory_budget: 1 << 20,
            max_open: 8,
        };
        assert_eq!(
            choose(&buffers, limits, 10),
            vec![(3, Pressure::OpenPartitions), (1, Pressure::OpenPartitions)]
        );
        // A cap of one keeps one open.
        let limits = Limits {
            memory_budget: 1 << 20,
            max_open: 1,
        };
        assert_eq!(choose(&buffers[..3], limits, 10).len(), 2);
    }

    #[test]
    fn a_buffer_closed_for_memory_is_not_counted_twice() {
        let buffers = [stats(100, 0, 0), stats(1, 1, 1), stats(1, 2, 2)];
        let limits = Limits {
            memory_budget: 50,
            max_open: 2,
        };
        assert_eq!(choose(&buffers, limits, 10), vec![(0, Pressure::Memory)]);
    }

    /// A small simulation: records of 100 bytes, one a millisecond, of `keys` keys (alike, or
    /// skewed: key `i` drawn with weight 1/(i+1)) into buffers under `limits`, each buffer
    /// also closing at 64 records; returns the objects written, the buffers still open at the
    /// end included. `rule` picks which buffers close.
    fn simulate(
        keys: usize,
        records: usize,
        skewed: bool,
        limits: Limits,
        rule: fn(&[BufferStats], Limits, u64) -> Vec<usize>,
    ) -> usize {
        let max_bytes = 64 * 100;
        let weights: Vec<f64> = (0..keys)
            .map(|i| if skewed { 1.0 / (i + 1) as f64 } else { 1.0 })
            .collect();
        let sum: f64 = weights.iter().sum();
        let mut seed = 1u64;
        let mut open: HashMap<usize, BufferStats> = HashMap::new();
        let (mut objects, mut total) = (0, 0);
        for now in 0..records as u64 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut pick = (seed >> 11) as f64 / (1u64 << 53) as f64 * sum;
            let key = weights
                .iter()
                .position(|w| {
                    pick -= w;
                    pick < 0.0
                })
                .unwrap_or(keys - 1);
            let buffer = open.entry(key).or_insert(stats(0, now, now));
            buffer.bytes += 100;
            buffer.last_write_ms = now;
            total += 100;
            if buffer.bytes >= max_bytes {
                total -= buffer.bytes;
                open.remove(&key);
                objects += 1;
            }
            if total <= limits.memory_budget && open.len() <= limits.max_open {
                continue;
            }
            let (keys, stats): (Vec<usize>, Vec<BufferStats>) =
                open.iter().map(|(k, s)| (*k, *s)).unzip();
            for i in rule(&stats, limits, now) {
                total -= stats[i].bytes;
                open.remove(&keys[i]);
                objects += 1;
            }
        }
        objects + open.len()
    }

    /// What the batcher did before: one buffer at a time at each record — the largest while
    /// over the budget, the oldest while over the cap.
    fn one_at_a_time(b: &[BufferStats], l: Limits, _now: u64) -> Vec<usize> {
        let total: usize = b.iter().map(|s| s.bytes).sum();
        let pick = if total > l.memory_budget {
            (0..b.len()).max_by_key(|&i| (b[i].bytes, Reverse(b[i].opened_at_ms)))
        } else if b.len() > l.max_open {
            (0..b.len()).min_by_key(|&i| b[i].opened_at_ms)
        } else {
            None
        };
        pick.into_iter().collect()
    }

    fn the_rule(b: &[BufferStats], l: Limits, now: u64) -> Vec<usize> {
        choose(b, l, now).into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn the_rules_write_fewer_objects_than_closing_one_at_a_time() {
        // The cap bites: 400 keys of a skewed mix, 100 open at most.
        let cap = Limits {
            memory_budget: 1 << 30,
            max_open: 100,
        };
        let (rule, old) = (
            simulate(400, 20_000, true, cap, the_rule),
            simulate(400, 20_000, true, cap, one_at_a_time),
        );
        assert!(rule * 20 < old * 19, "cap: {rule} objects vs {old} before");
        // The budget bites: room for about 31 full buffers.
        let budget = Limits {
            memory_budget: 200_000,
            max_open: 100_000,
        };
        let (rule, old) = (
            simulate(400, 50_000, true, budget, the_rule),
            simulate(400, 50_000, true, budget, one_at_a_time),
        );
        assert!(
            rule * 10 < old * 9,
            "budget: {rule} objects vs {old} before"
        );
        // Keys all alike, as in 50,000 keys over 2 GB with a 256 MiB budget: room for about
        // 15 records a key.
        let alike = Limits {
            memory_budget: 1_000 * 1_500,
            max_open: 100_000,
        };
        let (rule, old) = (
            simulate(1_000, 100_000, false, alike, the_rule),
            simulate(1_000, 100_000, false, alike, one_at_a_time),
        );
        assert!(
            rule <= old + old / 20,
            "uniform: {rule} objects vs {old} before"
        );
    }

    #[test]
    fn the_thrash_case_needs_a_cap_sized_to_the_budget() {
        // 5,000 keys interleaved at random, 100 bytes a record, 60,000 records.
        // Under the old default (a cap of 1,000), every record of a key not open closed
        // another buffer: nearly an object per record.
        let records = 60_000;
        let old_default = Limits {
            memory_budget: 256 << 20,
            max_open: 1_000,
        };
        let thrash = simulate(5_000, records, false, old_default, one_at_a_time);
        assert!(thrash > records / 2, "{thrash} objects");
        // The default cap sized to a 256 MiB budget does not bite: one object per key.
        let sized = Limits {
            memory_budget: 256 << 20,
            max_open: default_max_open(256 << 20),
        };
        assert_eq!(simulate(5_000, records, false, sized, the_rule), 5_000);
        // Where a cap must bite on keys all alike, no rule helps much; this one is within a
        // few percent of before.
        let batched = simulate(5_000, records, false, old_default, the_rule);
        assert!(batched <= thrash + thrash / 20, "{batched} vs {thrash}");
    }
}
