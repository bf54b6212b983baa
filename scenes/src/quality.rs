//! Picture quality: mean squared error and PSNR over the B, G and R channels.

use crate::Error;
use crate::image::Image;

/// The mean squared error between two images of the same size over B, G and R (alpha ignored),
/// in 8-bit units.
pub fn mse(a: &Image, b: &Image) -> Result<f64, Error> {
    if a.size() != b.size() {
        return Err(Error::SizeMismatch {
            expected: a.size(),
            actual: b.size(),
        });
    }
    let mut sum = 0u64;
    for (pa, pb) in a.data().chunks_exact(4).zip(b.data().chunks_exact(4)) {
        for c in 0..3 {
            let d = i32::from(pa[c]) - i32::from(pb[c]);
            sum += (d * d) as u64;
        }
    }
    let samples = a.data().len() / 4 * 3;
    Ok(sum as f64 / samples.max(1) as f64)
}

/// PSNR in dB for an 8-bit mean squared error; infinite when the error is zero.
pub fn psnr(mse: f64) -> f64 {
    if mse <= 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests;
