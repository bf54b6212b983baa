//! What the probe measures: frame rate, bitrate, capture→decoded latency, round trips, decode
//! errors, and the audio stream's packets and bitrate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::audio::AudioFormat;

/// Samples kept per series; older ones are dropped, so a long run stays bounded.
const MAX_SAMPLES: usize = 100_000;
/// Error texts kept for the report.
const MAX_ERRORS: usize = 16;

/// CLOCK_MONOTONIC in milliseconds (with a fraction): the clock a deskcast agent on the same
/// machine stamps captures with when it serves a probe.
#[must_use]
pub fn monotonic_ms() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0.0, |t| {
        t.tv_sec() as f64 * 1000.0 + t.tv_nsec() as f64 / 1_000_000.0
    })
}

/// Median, 99th percentile and maximum of a series, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub samples: usize,
    /// The median.
    pub median_ms: f64,
    /// The 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// The largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `samples`, or `None` when there are none.
    #[must_use]
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a f64>) -> Option<Self> {
        let mut sorted: Vec<f64> = samples.into_iter().copied().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            // Nearest rank: the smallest sample with at least q of the samples at or below it.
            let index = (q * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1]
        };
        Some(Self {
            samples: sorted.len(),
            median_ms: rank(0.5),
            p99_ms: rank(0.99),
            max_ms: sorted[sorted.len() - 1],
        })
    }
}

/// A summary of a probe session so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Frames decoded.
    pub frames: u64,
    /// Of those, keyframes.
    pub keyframes: u64,
    /// Encoded bytes of the decoded frames.
    pub encoded_bytes: u64,
    /// Seconds from the first decoded frame to the last.
    pub seconds: f64,
    /// Frames per second over that time (0 with fewer than two frames).
    pub fps: f64,
    /// Video bitrate over that time, kbit/s.
    pub kbps: f64,
    /// Capture → decoded latency, when the agent stamps captures on this machine's clock.
    pub latency: Option<Percentiles>,
    /// Round trips of the probe's own `TestDelay`s.
    pub rtt: Option<Percentiles>,
    /// The last round trip the agent measured and reported (`TestDelay.last_delay`), ms.
    pub agent_rtt_ms: Option<u32>,
    /// The agent's `TestDelay`s received and echoed.
    pub heartbeats: u64,
    /// Time spent decoding a frame.
    pub decode: Option<Percentiles>,
    /// Frames that could not be decoded (including inter frames with no keyframe before).
    pub decode_errors: u64,
    /// Decoded frames the caller did not take before newer ones pushed them out.
    pub dropped: u64,
    /// The first few decode errors (video and audio), as text.
    pub errors: Vec<String>,
    /// Desktop audio.
    pub audio: AudioSummary,
}

/// What the probe received of the desktop audio.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AudioSummary {
    /// The last format the agent announced; `None` when it sent no audio.
    pub format: Option<AudioFormat>,
    /// Opus packets decoded.
    pub packets: u64,
    /// Their encoded bytes.
    pub encoded_bytes: u64,
    /// Seconds from the first decoded packet to the last.
    pub seconds: f64,
    /// Audio bitrate over that time, kbit/s (0 with fewer than two packets). The agent sends
    /// nothing during long silences, so this is below the encoder's rate when there were some.
    pub kbps: f64,
    /// Packets that could not be decoded (including those before any `AudioFormat`).
    pub decode_errors: u64,
    /// Decoded packets the caller did not take before newer ones pushed them out.
    pub dropped: u64,
}

/// The running tally behind [`Summary`].
#[derive(Debug, Default)]
pub(super) struct Stats {
    frames: u64,
    keyframes: u64,
    encoded_bytes: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    latency: VecDeque<f64>,
    rtt: VecDeque<f64>,
    decode: VecDeque<f64>,
    pub(super) agent_rtt_ms: Option<u32>,
    pub(super) heartbeats: u64,
    pub(super) decode_errors: u64,
    pub(super) dropped: u64,
    errors: Vec<String>,
    pub(super) audio_format: Option<AudioFormat>,
    audio_packets: u64,
    audio_bytes: u64,
    audio_first: Option<Instant>,
    audio_last: Option<Instant>,
    audio_errors: u64,
    pub(super) audio_dropped: u64,
}

impl Stats {
    /// Counts one decoded frame.
    pub(super) fn frame(
        &mut self,
        at: Instant,
        keyframe: bool,
        bytes: usize,
        decode: Duration,
        latency: Option<Duration>,
    ) {
        self.frames += 1;
        self.keyframes += u64::from(keyframe);
        self.encoded_bytes += bytes as u64;
        self.first.get_or_insert(at);
        self.last = Some(at);
        push(&mut self.decode, decode.as_secs_f64() * 1000.0);
        if let Some(latency) = latency {
            push(&mut self.latency, latency.as_secs_f64() * 1000.0);
        }
    }

    /// Counts a frame that failed to decode.
    pub(super) fn decode_error(&mut self, text: String) {
        self.decode_errors += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(text);
        }
    }

    /// Counts one decoded audio packet.
    pub(super) fn audio_packet(&mut self, at: Instant, bytes: usize) {
        self.audio_packets += 1;
        self.audio_bytes += bytes as u64;
        self.audio_first.get_or_insert(at);
        self.audio_last = Some(at);
    }

    /// Counts an audio packet that failed to decode.
    pub(super) fn audio_error(&mut self, text: String) {
        self.audio_errors += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(format!("audio: {text}"));
        }
    }

    /// Records a round trip of the probe's own `TestDelay`.
    pub(super) fn rtt(&mut self, rtt_ms: f64) {
        push(&mut self.rtt, rtt_ms);
    }

    pub(super) fn summary(&self) -> Summary {
        let (seconds, fps, kbps) = rates(self.first, self.last, self.frames, self.encoded_bytes);
        let (audio_seconds, _, audio_kbps) = rates(
            self.audio_first,
            self.audio_last,
            self.audio_packets,
            self.audio_bytes,
        );
        Summary {
            frames: self.frames,
            keyframes: self.keyframes,
            encoded_bytes: self.encoded_bytes,
            seconds,
            fps,
            kbps,
            latency: Percentiles::of(&self.latency),
            rtt: Percentiles::of(&self.rtt),
            agent_rtt_ms: self.agent_rtt_ms,
            heartbeats: self.heartbeats,
            decode: Percentiles::of(&self.decode),
            decode_errors: self.decode_errors,
            dropped: self.dropped,
            errors: self.errors.clone(),
            audio: AudioSummary {
                format: self.audio_format,
                packets: self.audio_packets,
                encoded_bytes: self.audio_bytes,
                seconds: audio_seconds,
                kbps: audio_kbps,
                decode_errors: self.audio_errors,
                dropped: self.audio_dropped,
            },
        }
    }
}

/// Seconds from the first to the last of `count` items of `bytes` in all, the items per second
/// (the first opens the interval, so it does not count) and kbit/s.
fn rates(first: Option<Instant>, last: Option<Instant>, count: u64, bytes: u64) -> (f64, f64, f64) {
    let seconds = match (first, last) {
        (Some(first), Some(last)) => (last - first).as_secs_f64(),
        _ => 0.0,
    };
    if count < 2 || seconds <= 0.0 {
        return (seconds, 0.0, 0.0);
    }
    let bits = bytes as f64 * 8.0;
    (
        seconds,
        (count - 1) as f64 / seconds,
        bits / seconds / 1000.0,
    )
}

fn push(samples: &mut VecDeque<f64>, value: f64) {
    if samples.len() == MAX_SAMPLES {
        samples.pop_front();
    }
    samples.push_back(value);
}
