//! A small seeded random number generator for the permutation tests and the bootstrap:
//! xoshiro256** (Blackman & Vigna) seeded by SplitMix64, in-house so the sequence is fixed
//! forever, identical natively and in wasm32, and easy to reproduce in a reference script
//! (a crate's sequence may change between versions). Not for cryptography.
//!
//! The exact sequences (a reference implementation must follow them to get the same p-values):
//! - seeding: four SplitMix64 outputs from `seed` are the state s0..s3;
//! - `below(n)`: draws x until x < floor(2^64 / n) * n, returns x mod n (no modulo bias);
//! - `shuffle`: Fisher–Yates from the end: for i = len-1 down to 1, swap i with below(i + 1);
//! - `permutation(n)`: `shuffle` applied to 0..n, a fresh identity each time.

#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        Rng {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
        }
    }

    /// A generator with this exact state (for known-answer tests of the algorithm).
    pub fn from_state(s: [u64; 4]) -> Self {
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in 0..n (n > 0), by rejection: no modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0) has no value");
        let n = n as u128;
        let limit = ((1u128 << 64) / n) * n;
        loop {
            let x = self.next_u64() as u128;
            if x < limit {
                return (x % n) as usize;
            }
        }
    }

    /// Fisher–Yates shuffle in place (from the last element down).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A uniform random permutation of 0..n.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }

    /// n draws of 0..n with replacement (a bootstrap resample of n items).
    pub fn resample(&mut self, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.below(n)).collect()
    }
}
