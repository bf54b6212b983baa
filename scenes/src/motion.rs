//! Video-like content: a moving colour field with film-grain texture and bouncing objects,
//! computed with integer arithmetic only so every platform renders the same bytes.

use crate::geometry::{Rect, Size};
use crate::glyph::mix;
use crate::image::{Color, Image};

const PERIOD: usize = 1024;
const GRAIN: usize = 64;
/// Film grain spans ± this many levels: texture an encoder has to spend bits on, but not noise
/// that no realistic bitrate could carry.
const GRAIN_AMPLITUDE: u64 = 5;

/// Tables shared by every frame.
#[derive(Clone)]
pub(crate) struct Motion {
    wave: [u8; PERIOD],
    palette: [[u8; 3]; PERIOD],
    grain: [u8; GRAIN * GRAIN],
}

impl std::fmt::Debug for Motion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Motion")
    }
}

impl Motion {
    pub(crate) fn new() -> Self {
        let mut wave = [0u8; PERIOD];
        for (p, w) in wave.iter_mut().enumerate() {
            // A parabolic approximation of a sine: a hump up, then a hump down.
            let half = (p % (PERIOD / 2)) as u32;
            let hump = half * (PERIOD as u32 / 2 - half) * 127 / (256 * 256);
            *w = if p < PERIOD / 2 {
                128 + hump
            } else {
                127 - hump
            } as u8;
        }
        let mut palette = [[0u8; 3]; PERIOD];
        for (i, c) in palette.iter_mut().enumerate() {
            *c = [
                wave[(i + 682) % PERIOD],
                wave[(i + 341) % PERIOD],
                wave[i % PERIOD],
            ];
        }
        let mut grain = [0u8; GRAIN * GRAIN];
        for (i, g) in grain.iter_mut().enumerate() {
            *g = (mix(i as u64 ^ 0x9a1) % (2 * GRAIN_AMPLITUDE + 1)) as u8;
        }
        Self {
            wave,
            palette,
            grain,
        }
    }

    /// Paints frame `t` of the moving field into `area` (clipped to the image), then `objects`
    /// bouncing shapes on top.
    pub(crate) fn paint(&self, img: &mut Image, area: Rect, t: u64, objects: u32, scale: u32) {
        self.field(img, area, t);
        self.objects(img, area, t, objects, scale);
    }

    /// Paints `count` bouncing objects of frame `t` into `area`.
    pub(crate) fn objects(&self, img: &mut Image, area: Rect, t: u64, count: u32, scale: u32) {
        let area = area.clip(img.size());
        for i in 0..count {
            self.object(img, area, t, u64::from(i), scale);
        }
    }

    /// Paints frame `t` of the colour field (no objects) into `area`.
    fn field(&self, img: &mut Image, area: Rect, t: u64) {
        let area = area.clip(img.size());
        if area.is_empty() {
            return;
        }
        let t = t as usize;
        let columns: Vec<usize> = (0..area.width as usize)
            .map(|x| usize::from(self.wave[(x * 3 + t * 11) % PERIOD]) + t * 3)
            .collect();
        let diagonals: Vec<usize> = (0..(area.width + area.height) as usize)
            .map(|d| usize::from(self.wave[(d * 2 + t * 5) % PERIOD]))
            .collect();
        for y in 0..area.height as usize {
            let row_term = usize::from(self.wave[(y * 4 + t * 7) % PERIOD]);
            let grain_row = &self.grain[((y + t * 2) % GRAIN) * GRAIN..][..GRAIN];
            let span = img.span_mut(area.x, area.y + y as u32, area.width);
            let lanes = span.chunks_exact_mut(4).zip(&columns).zip(&diagonals[y..]);
            for (x, ((px, &column), &diagonal)) in lanes.enumerate() {
                let [r, g, b] = self.palette[(column + row_term + diagonal) % PERIOD];
                let grain = i16::from(grain_row[(x + t * 3) % GRAIN]) - GRAIN_AMPLITUDE as i16;
                px.copy_from_slice(&[
                    clamp(i16::from(b) + grain),
                    clamp(i16::from(g) + grain),
                    clamp(i16::from(r) + grain),
                    255,
                ]);
            }
        }
    }

    /// One bouncing object: a disc or a framed box with its own speed and colour.
    fn object(&self, img: &mut Image, area: Rect, t: u64, i: u64, scale: u32) {
        let h = mix(i ^ 0x0b1ec7);
        let s = u64::from(scale);
        let radius = (area.height as u64 / 12).max(4) + h % (area.height as u64 / 10 + 1);
        let vx = (3 + h % 9) * s;
        let vy = (2 + (h >> 8) % 7) * s;
        let cx = bounce(
            (h >> 16) % 997 + t * vx,
            u64::from(area.width).saturating_sub(2 * radius),
        );
        let cy = bounce(
            (h >> 24) % 991 + t * vy,
            u64::from(area.height).saturating_sub(2 * radius),
        );
        let (x, y) = (
            u64::from(area.x) + cx + radius,
            u64::from(area.y) + cy + radius,
        );
        let color = Color::rgb((h >> 32) as u8, (h >> 40) as u8, (h >> 48) as u8);
        if h & 1 == 0 {
            img.disc(x as i64, y as i64, radius as i64, color, area);
        } else {
            let r = radius as u32;
            let outer = Rect::new(x as u32 - r, y as u32 - r, 2 * r, 2 * r * 2 / 3).intersect(area);
            img.fill(outer, Color::rgb(250, 250, 250));
            img.fill(outer.deflate(2 * scale).intersect(area), color);
        }
    }
}

/// A seamless square of the colour field (its pattern repeats every 1024 pixels both ways),
/// panned across the whole screen: full-screen motion at the cost of a copy per frame.
#[derive(Debug, Clone)]
pub(crate) struct Panorama {
    tile: Image,
}

impl Panorama {
    const TILE: u32 = PERIOD as u32;

    pub(crate) fn new(motion: &Motion) -> Self {
        let size = Size::new(Self::TILE, Self::TILE);
        let mut tile = Image::new(size);
        motion.field(&mut tile, size.rect(), 0);
        Self { tile }
    }

    /// Fills `img` with the field panned to its position in frame `t`: 7 px right and 3 px
    /// down per frame at 1080p (twice that at 4K).
    pub(crate) fn paint(&self, img: &mut Image, t: u64, scale: u32) {
        let n = u64::from(Self::TILE);
        let s = u64::from(scale);
        let (dx, dy) = ((t * 7 * s % n) as usize, (t * 3 * s % n) as usize);
        let tile_stride = self.tile.stride();
        let tile = self.tile.data();
        let size = img.size();
        for y in 0..size.height {
            let ty = (y as usize + dy) % Self::TILE as usize;
            let src = &tile[ty * tile_stride..(ty + 1) * tile_stride];
            let row = img.span_mut(0, y, size.width);
            let mut x = 0;
            let mut tx = dx;
            while x < row.len() {
                let run = (tile_stride - tx * 4).min(row.len() - x);
                row[x..x + run].copy_from_slice(&src[tx * 4..tx * 4 + run]);
                x += run;
                tx = 0;
            }
        }
    }
}

/// A triangle wave: `p` folded back and forth into `0..=range`.
pub(crate) fn bounce(p: u64, range: u64) -> u64 {
    if range == 0 {
        return 0;
    }
    let m = p % (2 * range);
    if m <= range { m } else { 2 * range - m }
}

fn clamp(v: i16) -> u8 {
    v.clamp(0, 255) as u8
}
