//! Encoded streams as the pipelines write them: split into frames (access units), each stamped
//! with the time its first byte arrived.
//!
//! [`Recorder`] reads a pipeline's output as it comes, keeps every byte and the arrival time of
//! every read; [`split`] finds the frame boundaries afterwards. H.264 comes as an Annex B byte
//! stream (access units found by the rules of H.264 7.4.1.2.3, so access unit delimiters are not
//! needed), VP8/VP9 as IVF.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a pipeline's output is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFormat {
    /// H.264 Annex B byte stream.
    H264,
    /// IVF (VP8, VP9, AV1).
    Ivf,
}

impl StreamFormat {
    /// ffmpeg's demuxer name for this format.
    pub(crate) fn ffmpeg_demuxer(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::Ivf => "ivf",
        }
    }

    /// A file extension for a stream in this format.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::Ivf => "ivf",
        }
    }
}

/// One encoded frame in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Packet {
    /// Where it starts in the stream.
    pub(crate) offset: usize,
    /// Its length in bytes, headers included.
    pub(crate) size: usize,
    /// When its first byte arrived, ns since the Unix epoch.
    pub(crate) arrival_ns: u128,
}

/// The bytes of a stream and when each read of them arrived.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) data: Vec<u8>,
    /// (offset of the first byte of a read, its arrival time), in order.
    reads: Vec<(usize, u128)>,
}

impl Recorder {
    /// Reads `input` to its end, stamping every read. I/O errors end the recording.
    pub(crate) fn record(mut input: impl Read) -> Self {
        let mut recorder = Self::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => recorder.push(&buf[..n], unix_ns()),
            }
        }
        recorder
    }

    /// Appends one read that arrived at `arrival_ns`.
    pub(crate) fn push(&mut self, bytes: &[u8], arrival_ns: u128) {
        self.reads.push((self.data.len(), arrival_ns));
        self.data.extend_from_slice(bytes);
    }

    /// When the byte at `offset` arrived.
    fn arrival(&self, offset: usize) -> u128 {
        let i = self.reads.partition_point(|&(start, _)| start <= offset);
        self.reads.get(i.saturating_sub(1)).map_or(0, |&(_, t)| t)
    }

    /// The frames of the recorded stream, in stream order.
    pub(crate) fn packets(&self, format: StreamFormat) -> Vec<Packet> {
        let starts = split(format, &self.data);
        starts
            .iter()
            .enumerate()
            .map(|(i, &offset)| Packet {
                offset,
                size: starts.get(i + 1).copied().unwrap_or(self.data.len()) - offset,
                arrival_ns: self.arrival(offset),
            })
            .collect()
    }
}

/// The offsets where frames start in `data`.
pub(crate) fn split(format: StreamFormat, data: &[u8]) -> Vec<usize> {
    match format {
        StreamFormat::H264 => h264_access_units(data),
        StreamFormat::Ivf => ivf_frames(data),
    }
}

/// Access unit starts in an H.264 Annex B stream: a new access unit begins at the first
/// AUD/SPS/PPS/SEI (or NAL types 14–18) after a picture's slices, or at a slice whose
/// `first_mb_in_slice` is 0 when the current access unit already has a slice.
fn h264_access_units(data: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut has_slice = false;
    let mut i = 0;
    while let Some(start) = find_start_code(data, i) {
        // `start` is where the 00 00 01 begins; a preceding zero byte belongs to it (4-byte code).
        let code_at = if start > 0 && data[start - 1] == 0 {
            start - 1
        } else {
            start
        };
        let header = start + 3;
        let Some(&nal) = data.get(header) else {
            break;
        };
        let kind = nal & 0x1f;
        let begins = match kind {
            1 | 5 => {
                // first_mb_in_slice is ue(v); it is 0 exactly when its first bit is 1.
                let first_mb_zero = data.get(header + 1).is_some_and(|b| b & 0x80 != 0);
                let begins = starts.is_empty() || (has_slice && first_mb_zero);
                has_slice = true;
                begins
            }
            6..=9 | 14..=18 => {
                let begins = starts.is_empty() || has_slice;
                if begins {
                    has_slice = false;
                }
                begins
            }
            _ => starts.is_empty(),
        };
        if begins {
            if kind == 1 || kind == 5 {
                has_slice = true;
            }
            starts.push(code_at);
        }
        i = header + 1;
    }
    starts
}

fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|p| from + p)
}

/// Frame starts (frame header offsets) in an IVF file; a truncated last frame is kept.
fn ivf_frames(data: &[u8]) -> Vec<usize> {
    if data.len() < 32 || &data[..4] != b"DKIF" {
        return Vec::new();
    }
    let header_len = usize::from(u16::from_le_bytes([data[6], data[7]])).max(32);
    let mut starts = Vec::new();
    let mut at = header_len;
    while at + 12 <= data.len() {
        starts.push(at);
        let size =
            u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        at += 12 + size;
    }
    starts
}

/// Now, in nanoseconds since the Unix epoch.
pub(crate) fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests;
