//! Dropout masks from explicit generators, for MC-Dropout's head passes.
//!
//! libtorch's `dropout` draws from the process-wide generator of the tensor's device: two
//! model stages scoring at once would interleave their draws, and a sample's masks would
//! depend on what else is in its batch. Here every group of rows (one sample's K passes) has
//! its own generator, seeded by the caller, and the masks are drawn on the CPU in a fixed
//! order (row by row, element by element, one head dropout layer after the other), then
//! copied to the tensor's device. A sample therefore gets the same masks alone or in a
//! batch, on any stage, on the CPU or a GPU.
use tch::Tensor;

use crate::{Error, Result};

/// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective mix of 64 bits, used
/// to spread seeds over the generator's state.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256++ (Blackman and Vigna 2019): small, fast, and good enough for Bernoulli masks.
#[derive(Clone, Debug)]
struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    fn new(seed: u64) -> Self {
        // Four SplitMix64 steps from the seed: never the all-zero state.
        let mut x = seed;
        let mut next = || {
            let out = splitmix64(x);
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            out
        };
        Xoshiro256 {
            s: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform on [0, 1) with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Inverted-dropout masks for a head input whose rows come in groups, each group drawing
/// from its own generator: `seeds[g]` serves rows `g·rows_per_seed .. (g+1)·rows_per_seed`.
#[derive(Clone, Debug)]
pub struct DropoutMasks {
    streams: Vec<Xoshiro256>,
    rows_per_seed: usize,
}

impl DropoutMasks {
    pub fn new(seeds: &[u64], rows_per_seed: usize) -> Self {
        DropoutMasks {
            streams: seeds.iter().map(|&s| Xoshiro256::new(s)).collect(),
            rows_per_seed,
        }
    }

    /// `xs` with dropout of probability `p` applied as torch's `F.dropout` in training mode
    /// does: each element zeroed with probability p, the others scaled by 1/(1−p).
    pub fn apply(&mut self, xs: &Tensor, p: f64) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Invalid(format!(
                "dropout probability {p} is not in [0, 1)"
            )));
        }
        let shape = xs.size();
        let rows = shape.first().copied().unwrap_or(0) as usize;
        if rows != self.streams.len() * self.rows_per_seed {
            return Err(Error::Invalid(format!(
                "dropout masks for {} group(s) of {} row(s), but the head input has {rows} rows",
                self.streams.len(),
                self.rows_per_seed
            )));
        }
        let per_row = shape.iter().skip(1).product::<i64>().max(0) as usize;
        let keep = (1.0 / (1.0 - p)) as f32;
        let mut mask = Vec::with_capacity(rows * per_row);
        for stream in &mut self.streams {
            for _ in 0..self.rows_per_seed * per_row {
                mask.push(if stream.next_f64() < p { 0.0 } else { keep });
            }
        }
        let mask = Tensor::f_from_slice(&mask)?
            .f_view(shape.as_slice())?
            .f_to_kind(xs.f_kind()?)?
            .f_to_device(xs.device())?;
        Ok(xs.f_mul(&mask)?)
    }
}

/// The head's dropout layer: identity without masks (inference), else the masks' draw.
pub fn dropout(xs: &Tensor, p: f64, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
    match masks {
        Some(m) if p > 0.0 => m.apply(xs, p),
        _ => Ok(xs.shallow_clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn groups_draw_from_their_own_seed() {
        let xs = Tensor::ones([4, 1000], (Kind::Float, tch::Device::Cpu));
        let both = DropoutMasks::new(&[1, 2], 2).apply(&xs, 0.5).unwrap();
        let first = DropoutMasks::new(&[1], 2)
            .apply(&xs.narrow(0, 0, 2), 0.5)
            .unwrap();
        let second = DropoutMasks::new(&[2], 2)
            .apply(&xs.narrow(0, 2, 2), 0.5)
            .unwrap();
        assert!(both.narrow(0, 0, 2).equal(&first));
        assert!(both.narrow(0, 2, 2).equal(&second));
        assert!(!first.equal(&second), "other seed, other masks");
        // Inverted dropout: zeros and 1/(1-p), about half each.
        let kept = f64::try_from(both.gt(0.0).sum(Kind::Double)).unwrap();
        assert!((kept - 2000.0).abs() < 200.0, "{kept}");
        assert!(
            both.eq(0.0)
                .logical_or(&both.eq(2.0))
                .all()
                .int64_value(&[])
                == 1
        );
        // The wrong row count is an error, not a panic.
        assert!(DropoutMasks::new(&[1], 3).apply(&xs, 0.5).is_err());
    }
}
