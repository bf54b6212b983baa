//! Encoding a `Message { video_frame }` from borrowed bitstream bytes.
//!
//! The agent sends every encoded frame through this: [`VideoFrameRef`] is a [`Payload`], so
//! [`crate::crypto::Cipher::seal_message`] writes the protobuf bytes straight into the
//! output buffer and seals them there. No `Vec` is built per frame. The bytes decode to the
//! equivalent [`super::Message`] and have the length prost gives it (fields are written in
//! number order).

use prost::encoding::{encode_varint, encoded_len_varint};

use crate::framing::Payload;

/// The codec of a video frame, which selects the `VideoFrame` union member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VideoCodec {
    /// `vp8s` (12).
    Vp8,
    /// `vp9s` (6).
    Vp9,
    /// `av1s` (13).
    Av1,
    /// `h264s` (10), Annex B access units.
    H264,
    /// `h265s` (11), Annex B access units.
    H265,
}

impl VideoCodec {
    /// The `VideoFrame` field number of this codec's `EncodedVideoFrames`.
    #[must_use]
    pub fn field_number(self) -> u32 {
        match self {
            Self::Vp9 => 6,
            Self::H264 => 10,
            Self::H265 => 11,
            Self::Vp8 => 12,
            Self::Av1 => 13,
        }
    }
}

/// One encoded frame (an `EncodedVideoFrame`), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedFrameRef<'a> {
    /// The bitstream of one frame or access unit.
    pub data: &'a [u8],
    /// Whether it is a keyframe.
    pub key: bool,
    /// Milliseconds since capture started.
    pub pts: i64,
}

/// A whole `Message { video_frame: VideoFrame { <codec>s: { frames }, display } }`, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFrameRef<'a> {
    /// Selects the union member.
    pub codec: VideoCodec,
    /// The display index, as in `PeerInfo.displays`.
    pub display: i32,
    /// The frames; normally one.
    pub frames: &'a [EncodedFrameRef<'a>],
}

/// Wire type of length-delimited fields.
const LEN: u32 = 2;
/// Wire type of varint fields.
const VARINT: u32 = 0;
/// `Message.video_frame`.
const MESSAGE_VIDEO_FRAME: u32 = 6;
/// `VideoFrame.display`.
const VIDEO_FRAME_DISPLAY: u32 = 14;

fn key_len(field: u32) -> usize {
    encoded_len_varint(u64::from(field << 3))
}

fn write_key(field: u32, wire_type: u32, out: &mut Vec<u8>) {
    encode_varint(u64::from((field << 3) | wire_type), out);
}

/// Length of a length-delimited field holding `len` bytes.
fn delimited_len(field: u32, len: usize) -> usize {
    key_len(field) + encoded_len_varint(len as u64) + len
}

impl EncodedFrameRef<'_> {
    fn body_len(&self) -> usize {
        // proto3 leaves fields at their default value out.
        let mut len = 0;
        if !self.data.is_empty() {
            len += delimited_len(1, self.data.len());
        }
        if self.key {
            len += key_len(2) + 1;
        }
        if self.pts != 0 {
            // int64 is encoded as the two's-complement u64.
            len += key_len(3) + encoded_len_varint(self.pts as u64);
        }
        len
    }

    fn write(&self, out: &mut Vec<u8>) {
        if !self.data.is_empty() {
            write_key(1, LEN, out);
            encode_varint(self.data.len() as u64, out);
            out.extend_from_slice(self.data);
        }
        if self.key {
            write_key(2, VARINT, out);
            out.push(1);
        }
        if self.pts != 0 {
            write_key(3, VARINT, out);
            encode_varint(self.pts as u64, out);
        }
    }
}

impl VideoFrameRef<'_> {
    fn frames_len(&self) -> usize {
        self.frames
            .iter()
            .map(|f| delimited_len(1, f.body_len()))
            .sum()
    }

    fn video_frame_len(&self) -> usize {
        let mut len = delimited_len(self.codec.field_number(), self.frames_len());
        if self.display != 0 {
            // int32 is sign-extended to 64 bits on the wire.
            len +=
                key_len(VIDEO_FRAME_DISPLAY) + encoded_len_varint(i64::from(self.display) as u64);
        }
        len
    }
}

impl Payload for VideoFrameRef<'_> {
    fn payload_len(&self) -> usize {
        delimited_len(MESSAGE_VIDEO_FRAME, self.video_frame_len())
    }

    fn write_payload(&self, out: &mut Vec<u8>) {
        write_key(MESSAGE_VIDEO_FRAME, LEN, out);
        encode_varint(self.video_frame_len() as u64, out);
        write_key(self.codec.field_number(), LEN, out);
        encode_varint(self.frames_len() as u64, out);
        for frame in self.frames {
            write_key(1, LEN, out);
            encode_varint(frame.body_len() as u64, out);
            frame.write(out);
        }
        if self.display != 0 {
            write_key(VIDEO_FRAME_DISPLAY, VARINT, out);
            encode_varint(i64::from(self.display) as u64, out);
        }
    }
}
