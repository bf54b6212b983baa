//! Encoded frames shared by every viewer of one encoder, recycled so the steady state allocates
//! nothing.
//!
//! The encoder thread fills a free buffer and hands an `Arc` of it to each viewer's slot; once
//! every viewer has written it out and dropped its `Arc`, the buffer is free again. Each viewer
//! holds at most two (one waiting, one being written), so the pool stays small and bounded.

use std::sync::Arc;

use deskcast_codec::{Codec, Packet};

/// One encoded video frame, ready to be wrapped in a `VideoFrame` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The bitstream of one frame.
    pub data: Vec<u8>,
    /// A decoder can start here.
    pub keyframe: bool,
    /// Milliseconds, as passed to the encoder.
    pub pts_ms: i64,
    /// The codec; `None` only for a never-filled buffer.
    pub codec: Option<Codec>,
    /// Monotonic time of the capture, in microseconds since the pipeline started.
    pub captured_us: u64,
}

/// A small set of reusable [`EncodedFrame`] buffers.
#[derive(Debug)]
pub struct FramePool {
    frames: Vec<Arc<EncodedFrame>>,
    limit: usize,
}

impl FramePool {
    /// A pool that keeps at most `limit` buffers for reuse.
    pub fn new(limit: usize) -> Self {
        Self {
            frames: Vec::with_capacity(limit),
            limit,
        }
    }

    /// Copies `packet` into a free buffer (allocating one only when all are in use) and returns
    /// it, shared.
    pub fn fill(&mut self, packet: &Packet<'_>, captured_us: u64) -> Arc<EncodedFrame> {
        // Only this pool ever clones these `Arc`s and no `Weak` exists, so a strong count of one
        // means no viewer holds the buffer any more.
        let free = self.frames.iter().position(|f| Arc::strong_count(f) == 1);
        let index = match free {
            Some(i) => i,
            None if self.frames.len() < self.limit => {
                self.frames.push(Arc::default());
                self.frames.len() - 1
            }
            None => {
                // Everything is held by viewers: hand out an unpooled buffer this once.
                let mut fresh = EncodedFrame::default();
                write(&mut fresh, packet, captured_us);
                return Arc::new(fresh);
            }
        };
        match Arc::get_mut(&mut self.frames[index]) {
            Some(frame) => write(frame, packet, captured_us),
            None => {
                let mut fresh = EncodedFrame::default();
                write(&mut fresh, packet, captured_us);
                self.frames[index] = Arc::new(fresh);
            }
        }
        Arc::clone(&self.frames[index])
    }

    /// How many buffers the pool holds.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the pool holds no buffer.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

fn write(frame: &mut EncodedFrame, packet: &Packet<'_>, captured_us: u64) {
    frame.data.clear();
    frame.data.extend_from_slice(packet.data);
    frame.keyframe = packet.keyframe;
    frame.pts_ms = packet.pts_ms;
    frame.codec = Some(packet.codec);
    frame.captured_us = captured_us;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(data: &[u8]) -> Packet<'_> {
        Packet {
            data,
            keyframe: false,
            pts_ms: 7,
            codec: Codec::Vp9,
        }
    }

    #[test]
    fn buffers_are_reused_once_viewers_drop_them() {
        let mut pool = FramePool::new(4);
        let a = pool.fill(&packet(b"first"), 1);
        let ptr = a.data.as_ptr();
        assert_eq!(a.data, b"first");
        drop(a);
        let b = pool.fill(&packet(b"again"), 2);
        assert_eq!(
            b.data.as_ptr(),
            ptr,
            "the freed buffer is refilled in place"
        );
        assert_eq!(
            (b.data.as_slice(), b.captured_us, b.codec),
            (&b"again"[..], 2, Some(Codec::Vp9))
        );
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn held_buffers_are_not_overwritten_and_the_pool_stays_bounded() {
        let mut pool = FramePool::new(2);
        let held: Vec<_> = (0..5u8)
            .map(|i| pool.fill(&packet(&[i]), u64::from(i)))
            .collect();
        for (i, f) in held.iter().enumerate() {
            assert_eq!(f.data, [i as u8], "a viewer's frame never changes under it");
        }
        assert_eq!(pool.len(), 2);
    }
}
