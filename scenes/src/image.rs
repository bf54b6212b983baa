//! A BGRA image in memory and the few drawing primitives the scenes need.

use crate::Error;
use crate::geometry::{Rect, Size};

/// An opaque colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

impl Color {
    /// Black.
    pub const BLACK: Self = Self::rgb(0, 0, 0);
    /// White.
    pub const WHITE: Self = Self::rgb(255, 255, 255);

    /// A colour from its red, green and blue parts.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// The colour as the four bytes of one BGRA pixel (alpha opaque).
    pub const fn bgra(self) -> [u8; 4] {
        [self.b, self.g, self.r, 255]
    }
}

/// A BGRA image, rows packed (stride = width × 4), alpha always 255.
///
/// This is the byte layout of a 24-bit-depth X screen on a little-endian machine, so an image can
/// be sent to the X server or compared with a captured screen as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    size: Size,
    data: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image").field("size", &self.size).finish()
    }
}

impl Image {
    /// A black image of `size`.
    pub fn new(size: Size) -> Self {
        let mut data = vec![0; size.bgra_bytes()];
        for px in data.chunks_exact_mut(4) {
            px[3] = 255;
        }
        Self { size, data }
    }

    /// Wraps BGRA bytes of `size`; fails when the length does not match.
    pub fn from_bgra(size: Size, data: Vec<u8>) -> Result<Self, Error> {
        if data.len() != size.bgra_bytes() {
            return Err(Error::BufferLength {
                size,
                expected: size.bgra_bytes(),
                actual: data.len(),
            });
        }
        Ok(Self { size, data })
    }

    /// The image size.
    pub fn size(&self) -> Size {
        self.size
    }

    /// The BGRA bytes, row after row.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The BGRA bytes, writable (e.g. to read a frame into this image).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.size.width as usize * 4
    }

    /// The pixel at (`x`, `y`) as BGRA bytes.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let at = self.offset(x, y);
        [
            self.data[at],
            self.data[at + 1],
            self.data[at + 2],
            self.data[at + 3],
        ]
    }

    /// Copies all of `other` (same size) into this image.
    pub(crate) fn copy_from(&mut self, other: &Self) {
        self.data.copy_from_slice(&other.data);
    }

    /// The bytes of `rect` (clipped to the image), rows packed, appended to `out` after clearing it.
    pub fn extract(&self, rect: Rect, out: &mut Vec<u8>) {
        out.clear();
        let rect = rect.clip(self.size);
        for y in rect.y..rect.bottom() {
            let at = self.offset(rect.x, y);
            out.extend_from_slice(&self.data[at..at + rect.width as usize * 4]);
        }
    }

    /// Fills `rect` (clipped to the image) with `color`.
    pub(crate) fn fill(&mut self, rect: Rect, color: Color) {
        let rect = rect.clip(self.size);
        if rect.is_empty() {
            return;
        }
        let px = color.bgra();
        let first = self.offset(rect.x, rect.y);
        let len = rect.width as usize * 4;
        for chunk in self.data[first..first + len].chunks_exact_mut(4) {
            chunk.copy_from_slice(&px);
        }
        let stride = self.stride();
        for row in 1..rect.height as usize {
            let at = first + row * stride;
            self.data.copy_within(first..first + len, at);
        }
    }

    /// Draws a one-pixel-wide outline of `rect` with `color`.
    pub(crate) fn outline(&mut self, rect: Rect, color: Color) {
        if rect.is_empty() {
            return;
        }
        self.fill(Rect::new(rect.x, rect.y, rect.width, 1), color);
        self.fill(Rect::new(rect.x, rect.bottom() - 1, rect.width, 1), color);
        self.fill(Rect::new(rect.x, rect.y, 1, rect.height), color);
        self.fill(Rect::new(rect.right() - 1, rect.y, 1, rect.height), color);
    }

    /// Fills the disc of radius `r` centred on (`cx`, `cy`), clipped to `clip` and the image.
    pub(crate) fn disc(&mut self, cx: i64, cy: i64, r: i64, color: Color, clip: Rect) {
        let clip = clip.clip(self.size);
        let px = color.bgra();
        let y0 = (cy - r).max(i64::from(clip.y));
        let y1 = (cy + r + 1).min(i64::from(clip.bottom()));
        for y in y0..y1 {
            let dy = y - cy;
            let half = isqrt(r * r - dy * dy);
            let x0 = (cx - half).max(i64::from(clip.x));
            let x1 = (cx + half + 1).min(i64::from(clip.right()));
            if x0 >= x1 {
                continue;
            }
            // Both ends lie inside the clipped image, so the casts cannot truncate.
            let start = self.offset(x0 as u32, y as u32);
            let end = start + (x1 - x0) as usize * 4;
            for chunk in self.data[start..end].chunks_exact_mut(4) {
                chunk.copy_from_slice(&px);
            }
        }
    }

    /// Sets one pixel when it lies inside `clip` and the image.
    pub(crate) fn put(&mut self, x: u32, y: u32, color: Color, clip: Rect) {
        if clip.contains(x, y) && x < self.size.width && y < self.size.height {
            let at = self.offset(x, y);
            self.data[at..at + 4].copy_from_slice(&color.bgra());
        }
    }

    /// A mutable row slice of `width` pixels starting at (`x`, `y`); the caller keeps it inside.
    pub(crate) fn span_mut(&mut self, x: u32, y: u32, width: u32) -> &mut [u8] {
        let at = self.offset(x, y);
        &mut self.data[at..at + width as usize * 4]
    }

    fn offset(&self, x: u32, y: u32) -> usize {
        (y as usize * self.size.width as usize + x as usize) * 4
    }
}

/// The integer square root of a non-negative `n` (0 for negative input).
fn isqrt(n: i64) -> i64 {
    if n <= 0 {
        return 0;
    }
    let mut x = (n as f64).sqrt() as i64;
    // Correct the float estimate so the result is exact on every platform.
    while x * x > n {
        x -= 1;
    }
    while (x + 1) * (x + 1) <= n {
        x += 1;
    }
    x
}
