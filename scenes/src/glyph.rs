//! Text for the scenes: a deterministic stand-in font and a deterministic word generator.
//!
//! The glyphs are not a real typeface: each byte maps to a fixed pattern of stems, bars,
//! ascenders and descenders in an 8×16 cell, which gives an encoder the same kind of content as
//! desktop text (thin sharp strokes on flat backgrounds) without shipping a font.

use crate::geometry::Rect;
use crate::image::{Color, Image};

/// Width of a character cell at scale 1.
pub(crate) const CELL_W: u32 = 8;
/// Height of a character cell (and of a text line) at scale 1.
pub(crate) const CELL_H: u32 = 16;

/// A 64-bit mixing function (SplitMix64's finaliser): the one source of "randomness" here.
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 16 rows of the glyph for `byte`; bit 7 of a row is the cell's leftmost column.
pub(crate) fn glyph(byte: u8) -> [u8; 16] {
    let mut rows = [0u8; 16];
    if byte <= b' ' || byte >= 0x7f {
        return rows;
    }
    let h = mix(u64::from(byte) ^ 0x5eed_f0e7);
    const LEFT: u8 = 0b0100_0000;
    const MID: u8 = 0b0001_0000;
    const RIGHT: u8 = 0b0000_0100;
    const BAR: u8 = 0b0111_1100;
    let ascender = h & 1 != 0;
    let descender = !ascender && h & 2 != 0;
    let top = if ascender { 2 } else { 5 };
    let (left, right) = (h & 4 != 0, h & 8 != 0);
    for row in rows.iter_mut().take(12).skip(top) {
        if left || !right {
            *row |= if left { LEFT } else { MID };
        }
        if right {
            *row |= RIGHT;
        }
    }
    for (bit, row) in [(16, 5), (32, 8), (64, 11)] {
        if h & bit != 0 {
            rows[row] |= BAR;
        }
    }
    if descender {
        let stem = if right { RIGHT } else { LEFT };
        for row in &mut rows[12..15] {
            *row |= stem;
        }
        rows[14] |= BAR & (stem | (stem << 1) | (stem >> 1));
    }
    // Two dots anywhere in the x-height make otherwise equal skeletons differ.
    for shift in [8, 16] {
        let row = 5 + ((h >> shift) % 7) as usize;
        let col = 1 + ((h >> (shift + 4)) % 5) as u32;
        rows[row] |= 0x80 >> col;
    }
    rows
}

/// Draws `text` with its first cell's top-left at (`x`, `y`) (which may lie above the clip, for
/// scrolled text), at `scale`, clipped to `clip`. Returns the x after the last cell.
pub(crate) fn draw_text(
    img: &mut Image,
    x: i64,
    y: i64,
    text: &[u8],
    color: Color,
    scale: u32,
    clip: Rect,
) -> i64 {
    let cell_w = i64::from(CELL_W * scale);
    let mut cx = x;
    for &byte in text {
        if cx >= i64::from(clip.right()) {
            break;
        }
        if cx + cell_w > i64::from(clip.x) {
            draw_glyph(img, cx, y, byte, color, scale, clip);
        }
        cx += cell_w;
    }
    cx
}

fn draw_glyph(img: &mut Image, x: i64, y: i64, byte: u8, color: Color, scale: u32, clip: Rect) {
    let rows = glyph(byte);
    let s = i64::from(scale);
    for (r, bits) in rows.iter().enumerate() {
        if *bits == 0 {
            continue;
        }
        for c in 0..8 {
            if bits & (0x80 >> c) == 0 {
                continue;
            }
            for dy in 0..s {
                for dx in 0..s {
                    let px = x + c * s + dx;
                    let py = y + r as i64 * s + dy;
                    if px >= 0 && py >= 0 && px <= i64::from(u32::MAX) && py <= i64::from(u32::MAX)
                    {
                        img.put(px as u32, py as u32, color, clip);
                    }
                }
            }
        }
    }
}

/// Writes line number `n` of the document seeded by `seed` into `out` (cleared first): words of
/// lowercase letters with the odd capital, digit or punctuation, at most `max_cols` bytes long.
/// About one line in eight is empty, like paragraph breaks.
pub(crate) fn line(seed: u64, n: u64, max_cols: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut h = mix(seed ^ mix(n));
    if h.is_multiple_of(8) || max_cols < 2 {
        return;
    }
    let target = max_cols * (45 + (h % 55) as usize) / 100;
    let indent = if h.is_multiple_of(5) { 4 } else { 0 };
    out.resize(indent.min(max_cols), b' ');
    let mut word = 0u64;
    loop {
        h = mix(h ^ word);
        word += 1;
        let len = 1 + (h % 9) as usize;
        let needed = if out.len() > indent { len + 1 } else { len };
        if out.len() + needed > target.max(len) || out.len() + needed > max_cols {
            break;
        }
        if out.len() > indent {
            out.push(b' ');
        }
        for i in 0..len {
            let r = mix(h ^ i as u64);
            let byte = match r % 40 {
                0 if i == 0 => b'A' + (r >> 8) as u8 % 26,
                1 => b'0' + (r >> 8) as u8 % 10,
                _ => b'a' + (r >> 8) as u8 % 26,
            };
            out.push(byte);
        }
        if h.is_multiple_of(11) && out.len() < max_cols {
            out.push(if h.is_multiple_of(2) { b',' } else { b'.' });
        }
    }
}
