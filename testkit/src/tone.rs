//! Test signals and their analysis: sine tones, frequency by interpolated zero crossings, the
//! share of a signal's energy at one frequency (Goertzel), and where a tone starts.

use std::f64::consts::TAU;

/// `pairs` interleaved stereo samples of a sine at `frequency` hertz and `amplitude`, sampled at
/// `rate`, starting at phase zero.
pub fn sine_stereo(frequency: f64, amplitude: f32, rate: u32, pairs: usize) -> Vec<f32> {
    (0..pairs)
        .flat_map(|n| {
            let value = amplitude * (TAU * frequency * n as f64 / f64::from(rate)).sin() as f32;
            [value, value]
        })
        .collect()
}

/// The left channel of interleaved stereo samples.
pub fn left(interleaved: &[f32]) -> Vec<f32> {
    interleaved.iter().step_by(2).copied().collect()
}

/// The frequency of a clean periodic signal from the times of its rising zero crossings,
/// interpolated between samples. `None` with fewer than two crossings.
pub fn zero_crossing_frequency(samples: &[f32], rate: u32) -> Option<f64> {
    let crossings: Vec<f64> = samples
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, w)| i as f64 + f64::from(-w[0]) / f64::from(w[1] - w[0]))
        .collect();
    let (first, last) = (crossings.first()?, crossings.last()?);
    if crossings.len() < 2 {
        return None;
    }
    let periods = (crossings.len() - 1) as f64;
    Some(periods * f64::from(rate) / (last - first))
}

/// The share (0 to about 1) of the signal's energy that lies at `frequency`, by the Goertzel
/// algorithm: about 1 for a pure tone at that frequency, near 0 for other signals.
pub fn tone_share(samples: &[f32], rate: u32, frequency: f64) -> f64 {
    let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    if energy == 0.0 || samples.is_empty() {
        return 0.0;
    }
    let coefficient = 2.0 * (TAU * frequency / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    for sample in samples {
        let s0 = f64::from(*sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    2.0 * power / samples.len() as f64 / energy
}

/// The index of the first sample whose magnitude exceeds `threshold`.
pub fn onset(samples: &[f32], threshold: f32) -> Option<usize> {
    samples.iter().position(|s| s.abs() > threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_tone_is_measured_at_its_frequency() {
        for frequency in [440.0, 1000.0, 3111.0] {
            let tone = left(&sine_stereo(frequency, 0.5, 48_000, 24_000));
            let measured = zero_crossing_frequency(&tone, 48_000).unwrap();
            assert!(
                (measured / frequency - 1.0).abs() < 1e-3,
                "{measured} for {frequency}"
            );
            assert!(tone_share(&tone, 48_000, frequency) > 0.98);
            assert!(tone_share(&tone, 48_000, frequency * 1.1) < 0.01);
        }
    }

    #[test]
    fn silence_and_noise_have_no_tone() {
        assert_eq!(zero_crossing_frequency(&[0.0; 100], 48_000), None);
        assert_eq!(tone_share(&[0.0; 100], 48_000, 1000.0), 0.0);
        let mut state = 12345_u32;
        let noise: Vec<f32> = (0..48_000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect();
        assert!(tone_share(&noise, 48_000, 1000.0) < 0.01);
    }

    #[test]
    fn the_onset_is_the_first_loud_sample() {
        let mut samples = vec![0.0_f32; 100];
        samples[40] = 0.01;
        samples[60] = -0.3;
        assert_eq!(onset(&samples, 0.1), Some(60));
        assert_eq!(onset(&samples, 0.5), None);
    }
}
