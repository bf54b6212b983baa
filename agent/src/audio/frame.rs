//! 10 ms PCM frames cut from the sound server's chunks, each flagged when it is digital silence.
//!
//! This part is sans-IO: [`Framer`] takes bytes and the instant they arrived, [`SilenceGate`]
//! decides from frames alone; neither reads the clock.

use std::time::{Duration, Instant};

/// Sample rate of every frame, in hertz.
pub const SAMPLE_RATE: u32 = 48_000;
/// Channels of every frame (interleaved left, right).
pub const CHANNELS: usize = 2;
/// Samples per channel in one frame: 10 ms at 48 kHz.
pub const FRAME_SAMPLES: usize = 480;
/// Interleaved values in one frame.
pub const FRAME_LEN: usize = FRAME_SAMPLES * CHANNELS;
/// The audio one frame holds.
pub const FRAME_DURATION: Duration = Duration::from_millis(10);
/// Bytes of one interleaved sample pair as the server delivers it (`float32le`, stereo).
pub(crate) const BYTES_PER_SAMPLE_PAIR: usize = CHANNELS * size_of::<f32>();

/// One 10 ms frame of 48 kHz interleaved stereo PCM, as `f32` in `-1.0..=1.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFrame {
    samples: Box<[f32]>,
    sequence: u64,
    captured_at: Instant,
    peak: f32,
    silent: bool,
}

impl AudioFrame {
    /// The interleaved samples (left, right, left, …), [`FRAME_LEN`] of them.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Takes the samples out, e.g. to hand them to an encoder without a copy.
    pub fn into_samples(self) -> Box<[f32]> {
        self.samples
    }

    /// The frame's number since capture started. Every cut frame gets one, including frames later
    /// dropped by the queue or held back as silence, so a gap in the numbers is audio not seen.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// When the frame's last sample reached deskcast.
    ///
    /// This is the instant the chunk holding that sample was read from the sound server, less the
    /// audio that followed the sample in the same chunk, so frames cut from one chunk stay 10 ms
    /// apart. `Instant` is `CLOCK_MONOTONIC` on Linux: to compare with another process's clock,
    /// read `clock_gettime(CLOCK_MONOTONIC)` there, or measure `Instant::now()` here.
    pub fn captured_at(&self) -> Instant {
        self.captured_at
    }

    /// The largest absolute sample value in the frame.
    pub fn peak(&self) -> f32 {
        self.peak
    }

    /// True when every sample is below the silence threshold: the encoder may skip the frame or
    /// let Opus DTX send nothing.
    pub fn is_silent(&self) -> bool {
        self.silent
    }
}

/// Cuts a byte stream of `float32le` stereo samples into [`AudioFrame`]s.
#[derive(Debug)]
pub(crate) struct Framer {
    /// Samples of the frame being filled; fewer than [`FRAME_LEN`].
    pending: Vec<f32>,
    /// Bytes of a sample split across chunks.
    partial: Vec<u8>,
    next_sequence: u64,
    silence_threshold: f32,
}

impl Framer {
    /// A framer that flags frames whose peak is below `silence_threshold` as silent.
    pub(crate) fn new(silence_threshold: f32) -> Self {
        Self {
            pending: Vec::with_capacity(FRAME_LEN),
            partial: Vec::with_capacity(size_of::<f32>()),
            next_sequence: 0,
            silence_threshold,
        }
    }

    /// Takes `bytes` that arrived at `arrived_at` and appends every frame they complete to `out`.
    pub(crate) fn push(&mut self, bytes: &[u8], arrived_at: Instant, out: &mut Vec<AudioFrame>) {
        let mut rest = bytes;
        if !self.partial.is_empty() {
            let need = size_of::<f32>() - self.partial.len();
            let (head, tail) = rest.split_at(need.min(rest.len()));
            self.partial.extend_from_slice(head);
            rest = tail;
            if self.partial.len() < size_of::<f32>() {
                return;
            }
            let value = f32::from_le_bytes([
                self.partial[0],
                self.partial[1],
                self.partial[2],
                self.partial[3],
            ]);
            self.partial.clear();
            // The split sample belongs to this chunk; its place in time is the chunk's start.
            self.take_sample(value, arrived_at, rest.len(), out);
        }
        let mut samples = rest.chunks_exact(size_of::<f32>());
        while let Some(sample) = samples.next() {
            let value = f32::from_le_bytes([sample[0], sample[1], sample[2], sample[3]]);
            let bytes_after = samples.len() * size_of::<f32>() + samples.remainder().len();
            self.take_sample(value, arrived_at, bytes_after, out);
        }
        self.partial.extend_from_slice(samples.remainder());
    }

    fn take_sample(
        &mut self,
        value: f32,
        arrived_at: Instant,
        bytes_after: usize,
        out: &mut Vec<AudioFrame>,
    ) {
        // NaN and infinities never reach an encoder; a broken server gets silence instead.
        let value = if value.is_finite() { value } else { 0.0 };
        self.pending.push(value);
        if self.pending.len() < FRAME_LEN {
            return;
        }
        let samples: Box<[f32]> =
            std::mem::replace(&mut self.pending, Vec::with_capacity(FRAME_LEN)).into_boxed_slice();
        let peak = samples.iter().fold(0.0_f32, |peak, s| peak.max(s.abs()));
        let later = duration_of_bytes(bytes_after);
        out.push(AudioFrame {
            samples,
            sequence: self.next_sequence,
            captured_at: arrived_at.checked_sub(later).unwrap_or(arrived_at),
            peak,
            silent: peak < self.silence_threshold,
        });
        self.next_sequence += 1;
    }
}

/// How long `bytes` of `float32le` stereo at 48 kHz play.
pub(crate) fn duration_of_bytes(bytes: usize) -> Duration {
    let pairs = (bytes / BYTES_PER_SAMPLE_PAIR) as u64;
    Duration::from_nanos(pairs * 1_000_000_000 / u64::from(SAMPLE_RATE))
}

/// How many bytes of `float32le` stereo at 48 kHz last `duration` (whole sample pairs).
pub(crate) fn bytes_of_duration(duration: Duration) -> usize {
    let pairs = duration.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000;
    usize::try_from(pairs)
        .unwrap_or(usize::MAX / BYTES_PER_SAMPLE_PAIR)
        .saturating_mul(BYTES_PER_SAMPLE_PAIR)
}

/// Decides which frames are worth handing on: after `pause_after` silent frames in a row, further
/// silent frames are held back until sound returns. `None` hands on every frame.
#[derive(Debug)]
pub(crate) struct SilenceGate {
    pause_after: Option<u32>,
    silent_run: u32,
}

impl SilenceGate {
    pub(crate) fn new(pause_after: Option<u32>) -> Self {
        Self {
            pause_after,
            silent_run: 0,
        }
    }

    /// True when `frame` should be delivered.
    pub(crate) fn admit(&mut self, frame: &AudioFrame) -> bool {
        if !frame.is_silent() {
            self.silent_run = 0;
            return true;
        }
        self.silent_run = self.silent_run.saturating_add(1);
        self.pause_after
            .is_none_or(|pause_after| self.silent_run <= pause_after)
    }
}

#[cfg(test)]
mod tests;
