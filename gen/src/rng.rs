//! The generator's own pseudo-random numbers: SplitMix64, so that the output depends on
//! nothing but this file (no `rand` version, no platform).

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter passed through a mixing
/// function. Small, fast and good enough for test data; not for cryptography.
pub(crate) struct Rng {
    state: u64,
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), by multiply-and-shift; the bias, below `n / 2^64`, does
    /// not matter for test data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `low..=high`, like Python's `randint(low, high)`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with a probability of `percent` in 100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items` (not empty), each equally likely.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// One value of `table` (not empty), each as likely as its weight.
    pub(crate) fn pick_weighted(&mut self, table: &[(&'static str, u64)]) -> &'static str {
        let total: u64 = table.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.below(total);
        for (value, weight) in table {
            if roll < *weight {
                return value;
            }
            roll -= weight;
        }
        unreachable!("roll is below the sum of the weights")
    }

    /// `len` random lowercase hexadecimal digits.
    pub(crate) fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        let mut bits = 0;
        for i in 0..len {
            if i % 16 == 0 {
                bits = self.next_u64();
            }
            out.push(char::from(HEX_DIGITS[(bits & 0xf) as usize]));
            bits >>= 4;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // First outputs for seed 0, as published with the reference implementation.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn range_is_inclusive_and_covers_both_ends() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 4];
        for _ in 0..1000 {
            let n = rng.range(3, 6);
            assert!((3..=6).contains(&n));
            seen[(n - 3) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn weighted_pick_follows_the_weights() {
        let mut rng = Rng::new(9);
        let table = [("a", 90), ("b", 10)];
        let a = (0..10_000)
            .filter(|_| rng.pick_weighted(&table) == "a")
            .count();
        assert!((8_800..=9_200).contains(&a), "{a}");
    }

    #[test]
    fn hex_has_the_asked_length_and_digits() {
        let mut rng = Rng::new(3);
        let hex = rng.hex(37);
        assert_eq!(hex.len(), 37);
        assert!(hex.bytes().all(|b| HEX_DIGITS.contains(&b)));
    }
}
