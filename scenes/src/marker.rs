//! The frame marker: a frame number drawn as large black and white cells in two corners, so a
//! frame that went through a lossy encoder and back can say which frame it was.
//!
//! Layout: 2 rows of 16 square cells (16 px each at 1080p, 32 px at 4K, aligned to the 16×16
//! macroblock grid), once in the top-left corner and once in the bottom-right one, each with a
//! black quiet zone of one cell towards the picture. The 32 bits are a 24-bit value, most
//! significant bit first, then a CRC-8 of its three bytes; white is 1, black is 0. Reading
//! averages the inner half of each cell and refuses cells too close to mid-grey.
//!
//! Why two copies that must agree: an encoder short of bits may leave a region unchanged (skip
//! it) while it updates the rest. A skipped marker still reads as a valid, older number; the
//! second copy, far away in another slice, catches most such frames, which then read as
//! inconsistent rather than as the wrong frame.

use crate::desktop::scale_for;
use crate::geometry::{Rect, Size};
use crate::image::{Color, Image};

/// The largest value a marker carries; values wrap modulo `MAX + 1`.
pub const MAX: u32 = (1 << 24) - 1;

const COLS: u32 = 16;
const ROWS: u32 = 2;
/// A cell mean at or below this is a 0.
const DARK: u32 = 123;
/// A cell mean at or above this is a 1.
const LIGHT: u32 = 133;

/// Why a marker could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MarkerError {
    /// A cell was mid-grey (smeared, or caught half drawn).
    #[error("marker cell {cell} has mean luma {level}, neither dark nor light")]
    Ambiguous {
        /// The cell, counted row by row from the top-left of its copy.
        cell: u32,
        /// Its mean luma.
        level: u32,
    },
    /// Every cell was clear but the checksum did not match.
    #[error("marker checksum mismatch (read {value:#08x})")]
    Checksum {
        /// The 24-bit value that was read.
        value: u32,
    },
    /// Both copies read, but to different values: part of the frame is older than the rest.
    #[error("the two marker copies disagree ({first} and {second})")]
    Disagree {
        /// The top-left copy's value.
        first: u32,
        /// The bottom-right copy's value.
        second: u32,
    },
    /// The image is not the size the marker was laid out for.
    #[error("image is {actual}, the marker was laid out for {expected}")]
    WrongSize {
        /// The size the marker expects.
        expected: Size,
        /// The image's size.
        actual: Size,
    },
}

/// The marker's geometry for one screen size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    size: Size,
    cell: u32,
    /// Top-left corners of the two copies' cell grids.
    origins: [(u32, u32); 2],
}

impl Marker {
    /// The marker for frames of `size` (at least [`crate::MIN_SIZE`]).
    pub fn for_size(size: Size) -> Self {
        let cell = 16 * scale_for(size);
        let align = |free: u32| free / cell * cell;
        let second = (
            align(size.width.saturating_sub(COLS * cell)),
            align(size.height.saturating_sub(ROWS * cell)),
        );
        Self {
            size,
            cell,
            origins: [(0, 0), second],
        }
    }

    /// The areas the two copies cover, quiet zones included.
    pub fn rects(&self) -> [Rect; 2] {
        let (w, h) = (COLS * self.cell, ROWS * self.cell);
        let (x, y) = self.origins[1];
        let (qx, qy) = (x.saturating_sub(self.cell), y.saturating_sub(self.cell));
        [
            Rect::new(0, 0, w + self.cell, h + self.cell).clip(self.size),
            Rect::new(qx, qy, self.size.width - qx, self.size.height - qy),
        ]
    }

    /// Draws `value` (modulo `MAX + 1`) in both corners, quiet zones first: their still blocks
    /// keep an encoder from predicting the cells' motion from moving content next to them.
    pub fn draw(&self, img: &mut Image, value: u32) {
        for rect in self.rects() {
            img.fill(rect, Color::BLACK);
        }
        let bits = encode(value & MAX);
        for origin in self.origins {
            for i in 0..COLS * ROWS {
                let on = bits & (1 << (31 - i)) != 0;
                let color = if on { Color::WHITE } else { Color::BLACK };
                img.fill(self.cell_rect(origin, i), color);
            }
        }
    }

    /// Reads the value from a BGRA image; both copies must read and agree.
    pub fn read(&self, img: &Image) -> Result<u32, MarkerError> {
        if img.size() != self.size {
            return Err(MarkerError::WrongSize {
                expected: self.size,
                actual: img.size(),
            });
        }
        let first = self.read_copy(img, self.origins[0])?;
        let second = self.read_copy(img, self.origins[1])?;
        if first != second {
            return Err(MarkerError::Disagree { first, second });
        }
        Ok(first)
    }

    fn read_copy(&self, img: &Image, origin: (u32, u32)) -> Result<u32, MarkerError> {
        let mut bits = 0u32;
        for i in 0..COLS * ROWS {
            let level = self.mean_luma(img, self.cell_rect(origin, i));
            let bit = if level <= DARK {
                0
            } else if level >= LIGHT {
                1
            } else {
                return Err(MarkerError::Ambiguous { cell: i, level });
            };
            bits |= bit << (31 - i);
        }
        let value = bits >> 8;
        if encode(value) != bits {
            return Err(MarkerError::Checksum { value });
        }
        Ok(value)
    }

    fn cell_rect(&self, (x, y): (u32, u32), i: u32) -> Rect {
        Rect::new(
            x + (i % COLS) * self.cell,
            y + (i / COLS) * self.cell,
            self.cell,
            self.cell,
        )
    }

    /// The mean BT.601 luma of the inner half of `cell`.
    fn mean_luma(&self, img: &Image, cell: Rect) -> u32 {
        let inner = cell.deflate(self.cell / 4);
        let mut sum = 0u32;
        for y in inner.y..inner.bottom() {
            for x in inner.x..inner.right() {
                let [b, g, r, _] = img.pixel(x, y);
                sum += (77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8;
            }
        }
        sum / (inner.width * inner.height).max(1)
    }
}

/// The 32 marker bits of a 24-bit value: the value, then its CRC-8.
fn encode(value: u32) -> u32 {
    let bytes = [(value >> 16) as u8, (value >> 8) as u8, value as u8];
    (value << 8) | u32::from(crc8(&bytes))
}

/// CRC-8 with polynomial x⁸ + x² + x + 1 (0x07), initial value 0.
fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests;
