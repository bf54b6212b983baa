//! Capture buffers and the frames that lend them out: a [`CapturedFrame`] owns its buffer until
//! it is dropped, then the buffer goes home to its [`Capturer`](super::Capturer) for reuse.

use std::sync::mpsc::Sender;

use deskcast_codec::{BufferId, Frame, Rect};

use super::super::region::merge_rects;
use super::super::shm::Mapping;

/// The memory behind a buffer.
#[derive(Debug)]
pub(super) enum Memory {
    /// Shared with the X server, which writes frames straight into it.
    Shared(Mapping),
    /// Our own memory, filled from `GetImage` replies.
    Heap(Vec<u8>),
}

impl Memory {
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Shared(m) => m.as_slice(),
            Self::Heap(v) => v,
        }
    }
}

/// One capture buffer with the frame it currently holds.
#[derive(Debug)]
pub(super) struct Buffer {
    /// The slot of the capturer this buffer belongs to.
    pub(super) slot: usize,
    /// The capturer's buffer generation when this buffer was made; stale buffers are dropped
    /// when they come home.
    pub(super) generation: u64,
    pub(super) id: BufferId,
    pub(super) memory: Memory,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) stride: usize,
    /// The damage of the frame held, frame-relative; reused from frame to frame.
    pub(super) damage: Vec<Rect>,
    /// The bound on `damage` set by the capturer's configuration.
    pub(super) max_damage_rects: usize,
}

/// A captured frame: borrowed pixels in a capture buffer (shared memory on the SHM paths), with
/// the damage since the previous frame.
///
/// It owns its buffer: send it to the encoding thread, read it there, then drop it, and the
/// buffer returns to the [`Capturer`](super::Capturer) for the next grab. While a frame is alive
/// the X server never writes into its buffer. A capturer has a fixed number of buffers
/// ([`CaptureConfig::buffers`](super::CaptureConfig::buffers)), so hold few frames at a time.
#[derive(Debug)]
pub struct CapturedFrame {
    buffer: Option<Buffer>,
    home: Sender<Buffer>,
}

impl CapturedFrame {
    pub(super) fn new(buffer: Buffer, home: Sender<Buffer>) -> Self {
        Self {
            buffer: Some(buffer),
            home,
        }
    }

    fn buffer(&self) -> &Buffer {
        // The buffer is present from construction until drop.
        self.buffer
            .as_ref()
            .expect("a CapturedFrame holds its buffer until dropped")
    }

    /// The pixels: `height` rows of `stride` bytes, BGRX (little-endian 32-bit ZPixmap); the
    /// fourth byte of each pixel is undefined.
    pub fn data(&self) -> &[u8] {
        let b = self.buffer();
        &b.memory.as_slice()[..b.stride * b.height as usize]
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.buffer().width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.buffer().height
    }

    /// Bytes from one row to the next.
    pub fn stride(&self) -> usize {
        self.buffer().stride
    }

    /// What changed since the previous frame of this capturer, frame-relative and bounded by
    /// [`CaptureConfig::max_damage_rects`](super::CaptureConfig::max_damage_rects). The first
    /// frame, the first after a resize or a failed grab, and a grab with nothing pending report
    /// the whole frame.
    pub fn damage(&self) -> &[Rect] {
        &self.buffer().damage
    }

    /// The id of the buffer holding the pixels, stable for as long as the buffer lives.
    pub fn buffer_id(&self) -> BufferId {
        self.buffer().id
    }

    /// True when the pixels lie in memory shared with the X server, which stays mapped at the
    /// same address for the buffer's life (so an encoder may page-lock it once).
    pub fn is_shared(&self) -> bool {
        matches!(self.buffer().memory, Memory::Shared(_))
    }

    /// The frame as the codec takes it. [`Frame::buffer`] is set on the shared-memory paths
    /// only: after a resize the old ids are gone, so call `Encoder::release_buffers` then.
    pub fn as_frame(&self, pts_ms: i64) -> Frame<'_> {
        Frame {
            data: self.data(),
            width: self.width(),
            height: self.height(),
            stride: self.stride(),
            damage: self.damage(),
            pts_ms,
            buffer: self.is_shared().then(|| self.buffer_id()),
        }
    }

    /// Takes over the damage of an older frame that will not be encoded (latest frame wins), so
    /// that this frame's damage is relative to the last frame the encoder actually saw. The
    /// older frame's buffer goes home.
    pub fn absorb(&mut self, older: Self) {
        if let (Some(mine), Some(theirs)) = (self.buffer.as_mut(), older.buffer.as_ref()) {
            mine.damage.extend_from_slice(&theirs.damage);
            merge_rects(&mut mine.damage, mine.max_damage_rects);
        }
    }
}

impl Drop for CapturedFrame {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            // When the capturer is gone the send fails and the buffer is simply unmapped here.
            let _ = self.home.send(buffer);
        }
    }
}
