//! BGRA → I420 colour conversion for the software encoders.
//!
//! One SIMD pass (yuvutils-rs: AVX2/SSE4.1 picked at run time) reads the capture buffer in place,
//! row stride and all, and writes Y, U and V planes that the encoder owns and reuses. Only the
//! damaged parts of a frame are converted: the planes keep the previous frame everywhere else.
//!
//! The colour description is fixed: **BT.601 matrix, limited ("studio") range**, chroma sited
//! as the 2×2 box average. That is what libyuv's `ARGBToI420` (RustDesk's own converter) and
//! NVENC's built-in ARGB input produce, so every backend hands clients the same colours, and
//! every software bitstream signals it (VP9 colour space and range, H.264 VUI; VP8 has no field
//! and is BT.601 by definition).

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
    bgra_to_yuv420,
};

use crate::{Error, Frame, Rect};

/// Bytes per BGRA pixel.
const BGRA: usize = 4;
/// Plane rows start on this boundary (bytes), which SIMD loads and libvpx's copies like.
const ALIGN: usize = 64;

/// An I420 (YUV 4:2:0, 8-bit, planar) picture owned by an encoder and refilled in place from BGRA
/// frames of one fixed size.
#[derive(Debug)]
pub struct I420 {
    width: u32,
    height: u32,
    y_stride: usize,
    c_stride: usize,
    /// Y, U and V planes in one allocation, each followed by one spare row (see `convert_rows`).
    buf: Vec<u8>,
    /// Offsets of the Y, U and V planes in `buf` (the Y offset aligns the planes).
    y_at: usize,
    u_at: usize,
    v_at: usize,
    /// Room for the last two rows of a frame whose final row is not padded to its stride.
    tail: Vec<u8>,
    /// False until a whole frame has been converted; damage is only trusted after that.
    primed: bool,
}

impl I420 {
    /// Allocates the planes for `width` × `height` pixels (both at least 1).
    pub fn new(width: u32, height: u32) -> Result<Self, Error> {
        if width == 0 || height == 0 || width > 16_384 || height > 16_384 {
            return Err(Error::InvalidInput(format!(
                "frame size {width}x{height} is outside 1..=16384"
            )));
        }
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y_stride = w.next_multiple_of(ALIGN);
        let c_stride = cw.next_multiple_of(ALIGN);
        let y_len = y_stride * (h + 1);
        let c_len = c_stride * (ch + 1);
        let buf = vec![0u8; ALIGN + y_len + 2 * c_len];
        let y_at = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        Ok(Self {
            width,
            height,
            y_stride,
            c_stride,
            y_at,
            u_at: y_at + y_len,
            v_at: y_at + y_len + c_len,
            buf,
            tail: vec![0u8; 2 * w * BGRA],
            primed: false,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from one Y row to the next.
    pub fn y_stride(&self) -> usize {
        self.y_stride
    }

    /// Bytes from one U (or V) row to the next.
    pub fn uv_stride(&self) -> usize {
        self.c_stride
    }

    /// The Y plane: `height` rows of `y_stride` bytes, `width` of them used.
    pub fn y(&self) -> &[u8] {
        &self.buf[self.y_at..self.y_at + self.y_stride * self.height as usize]
    }

    /// The U (Cb) plane: `ceil(height / 2)` rows of `uv_stride` bytes, `ceil(width / 2)` used.
    pub fn u(&self) -> &[u8] {
        &self.buf[self.u_at..self.u_at + self.c_stride * self.height.div_ceil(2) as usize]
    }

    /// The V (Cr) plane, laid out as [`u`](Self::u).
    pub fn v(&self) -> &[u8] {
        &self.buf[self.v_at..self.v_at + self.c_stride * self.height.div_ceil(2) as usize]
    }

    /// Converts `frame` into the planes. Only the frame's damage rectangles are converted (widened
    /// to even coordinates so that chroma stays consistent), except on the first call or when the
    /// damage list is empty, which both mean "everything".
    pub fn convert(&mut self, frame: &Frame<'_>) -> Result<(), Error> {
        self.check(frame)?;
        if !self.primed || frame.damage.is_empty() {
            self.convert_rect(frame, self.full())?;
            self.primed = true;
            return Ok(());
        }
        for (i, rect) in frame.damage.iter().enumerate() {
            // A rectangle inside another one (X often reports the same area twice) is skipped.
            let covered = frame.damage.iter().enumerate().any(|(j, other)| {
                j != i && contains(other, rect) && (!contains(rect, other) || j < i)
            });
            if covered {
                continue;
            }
            if let Some(r) = self.even_clip(rect) {
                self.convert_rect(frame, r)?;
            }
        }
        Ok(())
    }

    /// Converts the whole of `frame`, ignoring its damage list.
    pub fn convert_all(&mut self, frame: &Frame<'_>) -> Result<(), Error> {
        self.check(frame)?;
        self.convert_rect(frame, self.full())?;
        self.primed = true;
        Ok(())
    }

    fn full(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
        }
    }

    /// Checks the frame's size and that its buffer holds every row it claims.
    fn check(&self, frame: &Frame<'_>) -> Result<(), Error> {
        if frame.width != self.width || frame.height != self.height {
            return Err(Error::InvalidInput(format!(
                "frame is {}x{}, the encoder was opened for {}x{}",
                frame.width, frame.height, self.width, self.height
            )));
        }
        let row = self.width as usize * BGRA;
        if frame.stride < row {
            return Err(Error::InvalidInput(format!(
                "stride {} is shorter than a row of {row} bytes",
                frame.stride
            )));
        }
        let need = frame.stride * (self.height as usize - 1) + row;
        if frame.data.len() < need {
            return Err(Error::InvalidInput(format!(
                "frame buffer holds {} bytes, {need} needed",
                frame.data.len()
            )));
        }
        Ok(())
    }

    /// `rect` clipped to the frame and widened to even corners; `None` when nothing is left.
    fn even_clip(&self, rect: &Rect) -> Option<Rect> {
        if rect.x >= self.width || rect.y >= self.height {
            return None;
        }
        let (x0, y0) = (rect.x & !1, rect.y & !1);
        let x1 = round_up_even(rect.x.saturating_add(rect.width), self.width);
        let y1 = round_up_even(rect.y.saturating_add(rect.height), self.height);
        (x1 > x0 && y1 > y0).then_some(Rect {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        })
    }

    /// Converts one rectangle whose top-left corner is even. Rows of the source that lie
    /// entirely in the buffer are read in place; when the frame's last row is not padded to the
    /// full stride, the final one or two rows go through a small copy first.
    fn convert_rect(&mut self, frame: &Frame<'_>, r: Rect) -> Result<(), Error> {
        let stride = frame.stride;
        let start = r.y as usize * stride + r.x as usize * BGRA;
        let whole_rows = (frame.data.len() - start) / stride;
        let h = r.height as usize;
        if whole_rows >= h {
            return self.convert_rows(&frame.data[start..start + h * stride], stride, r);
        }
        // check() guarantees the last row's pixels, so at most the last row is short.
        let body = whole_rows.min(h) & !1;
        if body > 0 {
            let top = Rect {
                height: body as u32,
                ..r
            };
            self.convert_rows(&frame.data[start..start + body * stride], stride, top)?;
        }
        let row = r.width as usize * BGRA;
        let rest = h - body;
        let mut tail = std::mem::take(&mut self.tail);
        for i in 0..rest {
            let from = start + (body + i) * stride;
            tail[i * row..(i + 1) * row].copy_from_slice(&frame.data[from..from + row]);
        }
        let bottom = Rect {
            y: r.y + body as u32,
            height: rest as u32,
            ..r
        };
        let result = self.convert_rows(&tail[..rest * row], row, bottom);
        self.tail = tail;
        result
    }

    /// Runs the SIMD kernel over `rows` (exactly `r.height` rows of `stride` bytes, the first
    /// one at the rectangle's top-left pixel) into the matching part of the planes.
    ///
    /// The kernel walks its planes in chunks of whole rows, so each plane slice handed to it
    /// spans whole strides; the spare row after every plane keeps that in bounds at the frame's
    /// right-hand side.
    fn convert_rows(&mut self, rows: &[u8], stride: usize, r: Rect) -> Result<(), Error> {
        let (x, y, h) = (r.x as usize, r.y as usize, r.height as usize);
        let (ys, cs) = (self.y_stride, self.c_stride);
        let y_from = self.y_at + y * ys + x;
        let c_off = (y / 2) * cs + x / 2;
        let c_len = h.div_ceil(2) * cs;
        let (head, v_plane) = self.buf.split_at_mut(self.v_at);
        let (y_plane, u_plane) = head.split_at_mut(self.u_at);
        let mut image = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(&mut y_plane[y_from..y_from + h * ys]),
            y_stride: ys as u32,
            u_plane: BufferStoreMut::Borrowed(&mut u_plane[c_off..c_off + c_len]),
            u_stride: cs as u32,
            v_plane: BufferStoreMut::Borrowed(&mut v_plane[c_off..c_off + c_len]),
            v_stride: cs as u32,
            width: r.width,
            height: r.height,
        };
        bgra_to_yuv420(
            &mut image,
            rows,
            stride as u32,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| Error::InvalidInput(format!("colour conversion refused the frame: {e}")))
    }
}

/// True when `outer` covers all of `inner`.
fn contains(outer: &Rect, inner: &Rect) -> bool {
    let end = |r: &Rect| (r.x.saturating_add(r.width), r.y.saturating_add(r.height));
    let (ox, oy) = end(outer);
    let (ix, iy) = end(inner);
    outer.x <= inner.x && outer.y <= inner.y && ox >= ix && oy >= iy
}

/// `v` clamped to `max`, then rounded up to even unless that passes `max` (an odd frame edge).
fn round_up_even(v: u32, max: u32) -> u32 {
    let v = v.min(max);
    (v + (v & 1)).min(max)
}

#[cfg(test)]
mod tests;
