//! Borrowed input frames.

/// A rectangle in pixels, relative to the frame's top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Identifies a long-lived pixel buffer (a capture segment) across frames, so a backend may
/// prepare it once (NVENC page-locks it with `cuMemHostRegister`) instead of on every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u64);

/// A BGRA (X11 ZPixmap, depth 24/32, little endian: B, G, R, X in memory) frame, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The pixels: `height` rows of `stride` bytes, the first `width * 4` of each row used.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: usize,
    /// The parts that changed since the previous frame; empty means "unknown, assume all".
    pub damage: &'a [Rect],
    /// Presentation time in milliseconds, carried through to the packet.
    pub pts_ms: i64,
    /// Set when `data` lies in a buffer that stays mapped, at the same address, until the caller
    /// calls [`Encoder::release_buffers`](crate::Encoder::release_buffers) or drops the encoder.
    pub buffer: Option<BufferId>,
}
