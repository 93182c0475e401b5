//! Seeded randomness, forked per concern.
//!
//! One run has one `u64` seed. Every concern that needs randomness (`traffic`,
//! `outcomes`, `faults`, `upgrade`, `policy`, …) gets its own ChaCha8 stream:
//! the key is derived from the seed, the ChaCha *stream id* from the concern's
//! name. Streams never share draws, so adding a fault class or a policy that
//! draws more numbers cannot change the traffic a seed produces.
//!
//! Two ways to draw:
//! - [`Streams::stream`] gives a sequential generator for a concern whose
//!   consumption does not depend on what the policy does (per-tick traffic).
//! - [`Streams::keyed`] gives the generator for one *key* inside a concern,
//!   e.g. "host 1234's 2nd upgrade". ChaCha is a counter-mode cipher, so each
//!   key seeks to its own region of the stream. This is what makes Monte Carlo
//!   comparisons fair (common random numbers): host 1234's restart takes the
//!   same time whichever policy upgrades it and whenever.
//!
//! Every sampler is exact in distribution (no normal approximations: the
//! tails are what analyses judge). Most are written here; the binomial's
//! large-mean branch is `rand_distr`'s BTPE (Kachitvichyanukul & Schmeiser
//! 1988), driven by the same ChaCha stream. `rand_distr` is pinned to one
//! version in `sim/Cargo.toml`, so the bytes a seed produces depend on this
//! file and that pin only. The Poisson stays here (Knuth below λ = 30,
//! Hörmann's PTRS above, both exact): `rand_distr` 0.4, the last release on
//! `rand_core` 0.6, samples Poisson by Numerical Recipes' Cauchy rejection,
//! and its PTRS arrived only with `rand_core` 0.9.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::Distribution;

/// The root of all randomness of one run.
#[derive(Clone, Debug)]
pub struct Streams {
    seed: u64,
}

/// FNV-1a, 64 bit: a stable hash of a stream name (std's hasher is not
/// guaranteed stable across releases).
pub const fn stream_id(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

impl Streams {
    pub fn new(seed: u64) -> Self {
        Streams { seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn key(&self) -> [u8; 32] {
        // SplitMix64 expands the seed into a 256-bit key.
        let mut key = [0u8; 32];
        let mut x = self.seed;
        for chunk in key.chunks_exact_mut(8) {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        key
    }

    /// The sequential stream of one concern.
    pub fn stream(&self, concern: &str) -> Rng {
        let mut inner = ChaCha8Rng::from_seed(self.key());
        inner.set_stream(stream_id(concern));
        Rng {
            inner: Inner::Full(inner),
        }
    }

    /// The generator for one key within a concern (random access). Each key
    /// owns 2^20 words (4 MiB) of the concern's stream: far more than one
    /// key ever draws.
    ///
    /// Most keys draw a handful of numbers (one restart time, one coin), so
    /// the first 16 words are one ChaCha8 block computed on the spot
    /// ([`chacha8_block`]); only a key that draws more gets the full
    /// generator, seeked to the word after them. The words are
    /// `ChaCha8Rng`'s, word for word (a test checks it).
    pub fn keyed(&self, concern: &str, key: u64) -> Rng {
        let seed = self.key();
        let stream = stream_id(concern);
        // Word `key << 20` starts block `key << 16`.
        let block = key << 16;
        let mut words = [0u32; 8];
        for (w, b) in words.iter_mut().zip(seed.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Rng {
            inner: Inner::Block {
                seed,
                stream,
                block,
                words: chacha8_block(&words, stream, block),
                next: 0,
            },
        }
    }
}

/// The ChaCha quarter round on words `a`, `b`, `c`, `d` of the state.
#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

/// Block `block` of the ChaCha8 keystream with key `key` and stream id
/// `stream`, laid out as `rand_chacha` lays it out (Bernstein's original
/// ChaCha: a 64-bit block counter, then the 64-bit stream id).
fn chacha8_block(key: &[u32; 8], stream: u64, block: u64) -> [u32; 16] {
    let input = [
        0x6170_7865,
        0x3320_646e,
        0x7962_2d32,
        0x6b20_6574,
        key[0],
        key[1],
        key[2],
        key[3],
        key[4],
        key[5],
        key[6],
        key[7],
        block as u32,
        (block >> 32) as u32,
        stream as u32,
        (stream >> 32) as u32,
    ];
    let mut x = input;
    // Eight rounds: four double rounds (columns, then diagonals).
    for _ in 0..4 {
        quarter_round(&mut x, 0, 4, 8, 12);
        quarter_round(&mut x, 1, 5, 9, 13);
        quarter_round(&mut x, 2, 6, 10, 14);
        quarter_round(&mut x, 3, 7, 11, 15);
        quarter_round(&mut x, 0, 5, 10, 15);
        quarter_round(&mut x, 1, 6, 11, 12);
        quarter_round(&mut x, 2, 7, 8, 13);
        quarter_round(&mut x, 3, 4, 9, 14);
    }
    for (o, i) in x.iter_mut().zip(input) {
        *o = o.wrapping_add(i);
    }
    x
}

/// A ChaCha8 generator with the samplers the simulator needs.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: Inner,
}

#[derive(Clone, Debug)]
enum Inner {
    Full(ChaCha8Rng),
    /// A keyed generator's first block, `next` words of it drawn.
    Block {
        seed: [u8; 32],
        stream: u64,
        block: u64,
        words: [u32; 16],
        next: usize,
    },
}

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        match &mut self.inner {
            Inner::Full(rng) => rng.next_u64(),
            Inner::Block { words, next, .. } if *next < 16 => {
                // As rand_core's block RNG: the low word first.
                let x = u64::from(words[*next]) | (u64::from(words[*next + 1]) << 32);
                *next += 2;
                x
            }
            Inner::Block { .. } => self.full().next_u64(),
        }
    }

    /// The full generator, at the word a block generator has reached.
    fn full(&mut self) -> &mut ChaCha8Rng {
        if let Inner::Block {
            seed,
            stream,
            block,
            next,
            ..
        } = self.inner
        {
            let mut rng = ChaCha8Rng::from_seed(seed);
            rng.set_stream(stream);
            rng.set_word_pos(u128::from(block) * 16 + next as u128);
            self.inner = Inner::Full(rng);
        }
        match &mut self.inner {
            Inner::Full(rng) => rng,
            Inner::Block { .. } => unreachable!("just replaced"),
        }
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    pub fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Uniform integer in [0, n) (Lemire's method without bias).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        loop {
            let x = self.next_u64();
            let m = (x as u128) * (n as u128);
            let lo = m as u64;
            if lo >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// Standard normal (Box–Muller, one value per call: simple and stable).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform_open0();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform_open0().ln()
    }

    /// Poisson(λ). Knuth's product method below λ = 30, Hörmann's PTRS
    /// (transformed rejection with squeeze) above: exact in distribution.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 || !lambda.is_finite() {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0u64;
            let mut prod = self.uniform_open0();
            while prod > limit {
                k += 1;
                prod *= self.uniform_open0();
            }
            return k;
        }
        // PTRS: W. Hörmann, "The transformed rejection method for generating
        // Poisson random variables" (1993).
        let slam = lambda.sqrt();
        let loglam = lambda.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            if (v * inv_alpha / (a / (us * us) + b)).ln() <= -lambda + k * loglam - ln_factorial(k)
            {
                return k as u64;
            }
        }
    }

    /// Binomial(n, p), exact in distribution. Inversion by sequential search
    /// when the mean of the rarer outcome is small (< 20), `rand_distr`'s
    /// BTPE otherwise (issue 10 item 14: this replaced a rounded normal
    /// approximation whose tail was 19 % light at 2,400 requests and 4 %
    /// errors against a 5 % budget).
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 || p.is_nan() {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if p > 0.5 {
            return n - self.binomial(n, 1.0 - p);
        }
        let mean = n as f64 * p;
        if mean < 20.0 {
            // Inversion by sequential search from 0.
            let q = 1.0 - p;
            let s = p / q;
            let mut prob = q.powf(n as f64);
            let mut cdf = prob;
            let u = self.uniform();
            let mut k = 0u64;
            while u > cdf && k < n {
                prob *= s * (n - k) as f64 / (k + 1) as f64;
                cdf += prob;
                k += 1;
                if prob < 1e-300 && cdf < u {
                    // Numerical tail exhausted; restart is not needed at
                    // these sizes, clamp instead.
                    break;
                }
            }
            return k;
        }
        // 0 < p <= 0.5 here, so `new` cannot fail; BTPE's branch is taken
        // because n·p >= 20 exceeds rand_distr's BINV threshold of 10.
        rand_distr::Binomial::new(n, p)
            .expect("0 < p <= 0.5")
            .sample(self.full())
    }
}

/// ln(k!) via Stirling's series for large k, exact table for small k.
fn ln_factorial(k: f64) -> f64 {
    if k < 10.0 {
        let mut acc = 1.0f64;
        let mut i = 2.0;
        while i <= k {
            acc *= i;
            i += 1.0;
        }
        return acc.ln();
    }
    let x = k + 1.0;
    (x - 0.5) * x.ln() - x + 0.5 * (std::f64::consts::TAU).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop};
    use proptest::{prop_assert_eq, prop_oneof, proptest};

    /// `keyed` as it was before its first block was computed on the spot.
    fn reference_keyed(seed: u64, concern: &str, key: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(Streams::new(seed).key());
        rng.set_stream(stream_id(concern));
        rng.set_word_pos((key as u128) << 20);
        rng
    }

    proptest! {
        /// Word for word `ChaCha8Rng`'s stream: within the first block, past
        /// it, and for the binomial (which takes the full generator) after
        /// any number of draws.
        #[test]
        fn keyed_draws_are_chacha8rng_word_for_word(
            seed in any::<u64>(),
            concern in prop::sample::select(vec!["faults", "upgrade", "traffic", ""]),
            key in prop_oneof![0u64..4, any::<u64>()],
            draws in 0usize..40,
            binomial in any::<bool>(),
        ) {
            let mut ours = Streams::new(seed).keyed(concern, key);
            let mut theirs = reference_keyed(seed, concern, key);
            for _ in 0..draws {
                prop_assert_eq!(ours.next_u64(), theirs.next_u64());
            }
            if binomial {
                let want = rand_distr::Binomial::new(1_000, 0.25).unwrap().sample(&mut theirs);
                prop_assert_eq!(ours.binomial(1_000, 0.25), want);
            }
            prop_assert_eq!(ours.next_u64(), theirs.next_u64());
        }
    }

    #[test]
    fn same_seed_same_draws() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = Streams::new(7).stream("traffic");
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = Streams::new(7).stream("traffic");
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn streams_are_independent_of_each_other() {
        // Drawing heavily from `faults` (or creating a brand new concern)
        // does not shift `traffic`.
        let streams = Streams::new(42);
        let mut t1 = streams.stream("traffic");
        let first: Vec<u64> = (0..16).map(|_| t1.next_u64()).collect();

        let mut f = streams.stream("faults");
        for _ in 0..10_000 {
            f.next_u64();
        }
        let mut new_concern = streams.stream("a-fault-class-added-later");
        new_concern.next_u64();
        let mut t2 = streams.stream("traffic");
        let second: Vec<u64> = (0..16).map(|_| t2.next_u64()).collect();
        assert_eq!(first, second);
        assert_ne!(first[0], Streams::new(42).stream("faults").next_u64());
    }

    #[test]
    fn keyed_draws_do_not_depend_on_access_order() {
        let s = Streams::new(9);
        let a = s.keyed("upgrade", 1234).next_u64();
        let _ = s.keyed("upgrade", 5).next_u64();
        let b = s.keyed("upgrade", 1234).next_u64();
        assert_eq!(a, b);
        assert_ne!(a, s.keyed("upgrade", 1235).next_u64());
        assert_ne!(a, s.keyed("faults", 1234).next_u64());
    }

    #[test]
    fn poisson_and_binomial_have_the_right_moments() {
        let mut r = Streams::new(1).stream("test");
        for lambda in [0.5, 4.0, 29.0, 31.0, 750.0, 200_000.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n).map(|_| r.poisson(lambda) as f64).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            // Mean within 5 standard errors; variance within 10 %.
            let se = (lambda / n as f64).sqrt();
            assert!((mean - lambda).abs() < 5.0 * se, "λ={lambda} mean={mean}");
            assert!((var / lambda - 1.0).abs() < 0.1, "λ={lambda} var={var}");
        }
        for (n, p) in [(10u64, 0.3), (1000, 0.01), (100_000, 0.2), (50, 0.9)] {
            let m = 20_000;
            let xs: Vec<f64> = (0..m).map(|_| r.binomial(n, p) as f64).collect();
            let mean = xs.iter().sum::<f64>() / m as f64;
            let expect = n as f64 * p;
            let se = (expect * (1.0 - p) / m as f64).sqrt();
            assert!((mean - expect).abs() < 5.0 * se, "n={n} p={p} mean={mean}");
        }
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = Streams::new(3).stream("x");
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[r.below(7) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
