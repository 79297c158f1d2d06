//! The seeded pseudo-random numbers behind `probability` rules: SplitMix64, one stream per rule.

/// A SplitMix64 generator (Steele, Lea and Flood, 2014).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The independent stream of rule `index` under the plan seed `seed`.
    pub(crate) fn for_rule(seed: u64, index: usize) -> Self {
        let mut mixer = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        SplitMix64::new(mixer.next_u64())
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number uniformly drawn from `[0, 1)`.
    pub(crate) fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn matches_the_reference_sequence() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn unit_draws_stay_in_range_and_rule_streams_differ() {
        let mut rng = SplitMix64::for_rule(7, 0);
        assert!(
            (0..1000)
                .map(|_| rng.next_unit())
                .all(|x| (0.0..1.0).contains(&x))
        );
        let first: Vec<u64> = (0..3)
            .map(|i| SplitMix64::for_rule(7, i).next_u64())
            .collect();
        assert_ne!(first[0], first[1]);
        assert_ne!(first[1], first[2]);
    }
}
