//! The only source of randomness in the crate: xoshiro256** (Blackman & Vigna, "Scrambled
//! linear pseudorandom number generators", ACM TOMS 47(4), 2021), seeded through SplitMix64
//! (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014), the
//! seeding the xoshiro authors recommend.
//!
//! The whole state is four words ([`RngState`]): record it before a draw and
//! [`Rng::from_state`] replays the draw exactly. Nothing here reads the clock or the OS; a
//! seed is always given by the caller. The generator is used for allocation only (which arm a
//! session gets), never for a reported number.

use serde::{Deserialize, Serialize};

/// The complete state of an [`Rng`]: enough to replay every draw that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RngState(pub [u64; 4]);

/// A state that xoshiro256** cannot run from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RngError {
    /// The all-zero state is the generator's one fixed point (it would only ever output 0).
    #[error("the all-zero state is not a valid xoshiro256** state")]
    ZeroState,
}

/// xoshiro256**: period 2^256 − 1, passes BigCrush and PractRand (Blackman & Vigna 2021, §5).
///
/// Deliberately not `Copy`: copying a generator silently repeats its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64 (the constants are the published ones).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 2^-53: the spacing of the 53-bit grid that uniform doubles are drawn on.
const UNIT: f64 = 1.0 / (1u64 << 53) as f64;
/// 2^-52: the spacing of the grid of [`Rng::uniform_open`].
const OPEN_UNIT: f64 = 1.0 / (1u64 << 52) as f64;

impl Rng {
    /// Seeds the four state words from four SplitMix64 outputs of `seed`. SplitMix64 is a
    /// bijection of its counter, so no seed gives the all-zero state.
    pub fn seed_from_u64(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// Resumes from a recorded state.
    pub fn from_state(state: RngState) -> Result<Rng, RngError> {
        if state.0 == [0; 4] {
            return Err(RngError::ZeroState);
        }
        Ok(Rng { s: state.0 })
    }

    /// The state now: the next draw replays from it.
    pub fn state(&self) -> RngState {
        RngState(self.s)
    }

    /// The next 64 random bits.
    #[inline]
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

    /// Uniform on [0, 1): the top 53 bits scaled by 2^-53 (every value on the grid equally likely).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * UNIT
    }

    /// Uniform on the open interval (0, 1): the midpoints of a 2^52 grid, so the logarithm of
    /// a draw is always finite (midpoints of the 2^53 grid would round up to 1.0 at the top).
    #[inline]
    pub fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 12) as f64 + 0.5) * OPEN_UNIT
    }

    /// Uniform on {0, …, n − 1} without modulo bias: Lemire's multiply-and-reject ("Fast random
    /// integer generation in an interval", ACM TOMACS 29(1), 2019). Usually one draw; the
    /// rejection probability is below n / 2^64. `n == 0` returns 0 without drawing.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Advances the state by 2^128 draws (the published jump polynomial). Shard `i` of a
    /// process can take the seed's stream jumped `i` times: streams that never overlap.
    pub fn jump(&mut self) {
        const JUMP: [u64; 4] = [
            0x180e_c6d3_3cfd_0aba,
            0xd5a6_1266_f0c9_392c,
            0xa958_2618_e03f_c9aa,
            0x39ab_dc45_29b1_661c,
        ];
        let mut acc = [0u64; 4];
        for word in JUMP {
            for bit in 0..64 {
                if word & (1u64 << bit) != 0 {
                    for (a, s) in acc.iter_mut().zip(self.s) {
                        *a ^= s;
                    }
                }
                self.next_u64();
            }
        }
        self.s = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_the_reference_vector_from_state_1_2_3_4() {
        // Output of the reference xoshiro256starstar.c from the state {1, 2, 3, 4}
        // (also the test vector of the rand_xoshiro crate).
        let mut rng = Rng::from_state(RngState([1, 2, 3, 4])).expect("nonzero");
        let expected = [
            11520,
            0,
            1509978240,
            1215971899390074240,
            1216172134540287360,
            607988272756665600,
            16172922978634559625,
            8476171486693032832,
            10595114339597558777,
            2904607092377533576,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn splitmix_matches_the_reference_vector_for_seed_1234567() {
        let mut s = 1234567;
        let expected = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for e in expected {
            assert_eq!(splitmix64(&mut s), e);
        }
    }

    #[test]
    fn state_round_trips_and_replays_exactly() {
        let mut a = Rng::seed_from_u64(42);
        for _ in 0..10 {
            a.next_u64();
        }
        let saved = a.state();
        let ahead: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let mut b = Rng::from_state(saved).expect("nonzero");
        let replay: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(ahead, replay);
        assert_eq!(Rng::from_state(RngState([0; 4])), Err(RngError::ZeroState));
    }

    #[test]
    fn uniforms_stay_in_their_intervals() {
        // The extreme 53-bit values map to the ends of the intervals.
        let lo = 0.0f64;
        let hi = ((1u64 << 53) - 1) as f64 * UNIT;
        assert!(hi < 1.0);
        assert!(0.5 * OPEN_UNIT > lo && ((1u64 << 52) as f64 - 0.5) * OPEN_UNIT < 1.0);
        let mut rng = Rng::seed_from_u64(7);
        for _ in 0..10_000 {
            let u = rng.uniform();
            assert!((0.0..1.0).contains(&u));
            let v = rng.uniform_open();
            assert!(v > 0.0 && v < 1.0);
        }
    }

    #[test]
    fn below_is_unbiased_on_a_small_range() {
        let mut rng = Rng::seed_from_u64(3);
        let mut hits = [0u32; 3];
        let n = 30_000;
        for _ in 0..n {
            hits[rng.below(3) as usize] += 1;
        }
        // Each count is Binomial(30000, 1/3): sd ≈ 81.6; 5 sd ≈ 408.
        for h in hits {
            assert!((f64::from(h) - 10_000.0).abs() < 408.0, "{hits:?}");
        }
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
    }

    #[test]
    fn jumped_streams_differ_and_are_deterministic() {
        let mut a = Rng::seed_from_u64(9);
        let mut b = a.clone();
        b.jump();
        assert_ne!(a.state(), b.state());
        let mut c = Rng::seed_from_u64(9);
        c.jump();
        assert_eq!(b, c);
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
