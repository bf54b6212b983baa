//! Desktop audio as a RustDesk client receives it (spec §8.3): a `Misc{audio_format}` opens an
//! Opus decoder, each `AudioFrame` that follows is one Opus packet, decoded here to 48 kHz
//! interleaved stereo and stamped with the CLOCK_MONOTONIC instant it was decoded.
//!
//! Opus decodes to any rate and channel count whatever the encoder was fed, so the probe always
//! decodes to 48 kHz stereo and reports the announced format alongside.

use deskcast_codec::opus::{self, OpusDecoder};
use deskcast_protocol::message;
use serde::Serialize;

use super::stats::monotonic_ms;

/// The rate of [`AudioPacket::samples`], in hertz.
pub const AUDIO_RATE: u32 = opus::SAMPLE_RATE;
/// The channels of [`AudioPacket::samples`], interleaved.
pub const AUDIO_CHANNELS: usize = opus::CHANNELS;
/// The longest Opus packet lasts 120 ms: 5,760 samples per channel at 48 kHz.
const MAX_PACKET_SAMPLES: usize = 5_760;

/// The format the agent announced (`Misc.audio_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AudioFormat {
    /// The sample rate the agent encodes at, in hertz.
    pub sample_rate: u32,
    /// Its channel count.
    pub channels: u32,
}

/// One decoded Opus packet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AudioPacket {
    /// 0 for the first packet decoded in this session, then counting up.
    pub index: u64,
    /// CLOCK_MONOTONIC, in milliseconds, when the packet had been decoded: the earliest
    /// instant a listener could hear its first sample.
    pub decoded_ms: f64,
    /// Size of the Opus packet.
    pub encoded_bytes: usize,
    /// The decoded audio: [`AUDIO_RATE`] Hz, [`AUDIO_CHANNELS`] channels interleaved, ±1.0
    /// full scale.
    pub samples: Vec<f32>,
}

impl AudioPacket {
    /// How long the packet plays.
    #[must_use]
    pub fn duration(&self) -> std::time::Duration {
        let per_channel = (self.samples.len() / AUDIO_CHANNELS) as u64;
        std::time::Duration::from_micros(per_channel * 1_000_000 / u64::from(AUDIO_RATE))
    }

    /// The largest magnitude among the samples.
    #[must_use]
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0, |peak, s| peak.max(s.abs()))
    }
}

/// The session's audio decoder: opened by an `AudioFormat`, fed `AudioFrame`s.
#[derive(Debug)]
pub(super) struct AudioReceiver {
    decoder: Option<OpusDecoder>,
    pcm: Vec<f32>,
    next_index: u64,
}

impl AudioReceiver {
    pub(super) fn new() -> Self {
        Self {
            decoder: None,
            pcm: vec![0.0; MAX_PACKET_SAMPLES * AUDIO_CHANNELS],
            next_index: 0,
        }
    }

    /// A new stream starts: a fresh decoder, as a RustDesk client makes one per
    /// `AudioFormat`. The error is a line for the report.
    pub(super) fn start(&mut self, format: &message::AudioFormat) -> Result<AudioFormat, String> {
        let format = AudioFormat {
            sample_rate: format.sample_rate,
            channels: format.channels,
        };
        self.decoder = None;
        if !(1..=2).contains(&format.channels) || format.sample_rate == 0 {
            return Err(format!(
                "AudioFormat of {} Hz, {} channels cannot be Opus",
                format.sample_rate, format.channels
            ));
        }
        self.decoder = Some(OpusDecoder::new().map_err(|e| format!("Opus decoder: {e}"))?);
        Ok(format)
    }

    /// Decodes one `AudioFrame`'s packet; the error is a line for the report.
    pub(super) fn decode(&mut self, data: &[u8]) -> Result<AudioPacket, String> {
        let decoder = self
            .decoder
            .as_mut()
            .ok_or("an AudioFrame without an AudioFormat before it")?;
        let per_channel = decoder
            .decode_f32(data, &mut self.pcm)
            .map_err(|e| format!("audio packet {}: {e}", self.next_index))?;
        let decoded_ms = monotonic_ms();
        let index = self.next_index;
        self.next_index += 1;
        Ok(AudioPacket {
            index,
            decoded_ms,
            encoded_bytes: data.len(),
            samples: self.pcm[..per_channel * AUDIO_CHANNELS].to_vec(),
        })
    }
}
