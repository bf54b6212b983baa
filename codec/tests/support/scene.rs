//! A deterministic, desktop-like test scene rendered in memory as BGRA: a gradient wallpaper,
//! a taskbar, windows with borders, title bars and rows of text-like glyphs, and one kind of
//! motion per [`Motion`]. Shared by the codec tests and the criterion benches (which include
//! this file by path), so both measure the same pictures.

#![allow(dead_code)] // Each includer uses a different part.

use deskcast_codec::{Frame, Rect};

/// What changes from frame to frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    /// Nothing but a blinking text cursor.
    Static,
    /// A window (text and a colourful picture) slides across the desktop, 6 px per frame.
    Window,
    /// A terminal's text scrolls up 4 px per frame.
    Scroll,
    /// A large "video" region changes everywhere, every frame.
    Video,
}

/// Glyph cell size (pixels); glyphs are 5×9 inside it.
const CELL_W: usize = 8;
const CELL_H: usize = 14;
const TITLE_H: usize = 24;

/// A desktop scene of one size and one kind of motion.
#[derive(Debug)]
pub struct Desktop {
    width: usize,
    height: usize,
    stride: usize,
    motion: Motion,
    /// The desktop without the moving part.
    background: Vec<u8>,
    /// The frame handed out.
    frame: Vec<u8>,
    /// The moving window's pixels, or the scrolling terminal's tall text strip.
    sprite: Vec<u8>,
    sprite_w: usize,
    sprite_h: usize,
    /// Where the moving part was in the previous frame (for damage).
    last: Option<Rect>,
    damage: Vec<Rect>,
}

impl Desktop {
    /// A scene of `width` × `height` (at least 64 × 64) with rows padded to `stride` bytes.
    pub fn with_stride(width: u32, height: u32, stride: usize, motion: Motion) -> Self {
        let (w, h) = (width as usize, height as usize);
        assert!(w >= 64 && h >= 64 && stride >= w * 4);
        let mut background = vec![0u8; stride * h];
        paint_desktop(&mut background, w, h, stride);
        let (sprite_w, sprite_h) = match motion {
            Motion::Window => (w * 2 / 5, h * 2 / 5),
            Motion::Scroll => (w * 3 / 5, h * 3),
            Motion::Static | Motion::Video => (0, 0),
        };
        let mut sprite = vec![0u8; sprite_w * sprite_h * 4];
        match motion {
            Motion::Window => paint_window(&mut sprite, sprite_w, sprite_h, 99),
            Motion::Scroll => {
                let r = rect(0, 0, sprite_w, sprite_h);
                fill(&mut sprite, sprite_w * 4, r, [30, 30, 36]);
                paint_text(&mut sprite, sprite_w, 0, sprite_h, 7, [210, 210, 200]);
            }
            Motion::Static | Motion::Video => {}
        }
        Self {
            width: w,
            height: h,
            stride,
            motion,
            frame: background.clone(),
            background,
            sprite,
            sprite_w,
            sprite_h,
            last: None,
            damage: Vec::with_capacity(4),
        }
    }

    /// A scene with unpadded rows.
    pub fn new(width: u32, height: u32, motion: Motion) -> Self {
        Self::with_stride(width, height, width as usize * 4, motion)
    }

    /// Renders frame number `index` and returns it with the rectangles that changed since the
    /// previous call (the first call reports no damage: "everything").
    pub fn render(&mut self, index: u32) -> Frame<'_> {
        self.damage.clear();
        let now = match self.motion {
            Motion::Static => self.blink(index),
            Motion::Window => self.slide(index),
            Motion::Scroll => self.scroll(index),
            Motion::Video => self.video(index),
        };
        if let Some(last) = self.last {
            self.damage.push(last);
        }
        self.damage.push(now);
        if index == 0 || self.last.is_none() {
            self.damage.clear();
        }
        self.last = Some(now);
        Frame {
            data: &self.frame,
            width: self.width as u32,
            height: self.height as u32,
            stride: self.stride,
            damage: &self.damage,
            pts_ms: i64::from(index) * 1000 / 30,
            buffer: None,
        }
    }

    /// A text cursor in the first window, on for 15 frames, off for 15.
    fn blink(&mut self, index: u32) -> Rect {
        let r = Rect {
            x: (self.width / 10 + 40 * CELL_W) as u32,
            y: (self.height / 12 + TITLE_H + 2 * CELL_H) as u32,
            width: 2,
            height: CELL_H as u32,
        };
        let colour = if (index / 15).is_multiple_of(2) {
            [0, 0, 0]
        } else {
            [255, 255, 255]
        };
        fill(&mut self.frame, self.stride, r, colour);
        r
    }

    /// The window at its position for `index`, bouncing between the desktop's edges.
    fn slide(&mut self, index: u32) -> Rect {
        if let Some(last) = self.last {
            self.restore(last);
        }
        let span = (self.width - self.sprite_w).max(1);
        let travel = (index as usize * 6) % (2 * span);
        let x = if travel < span {
            travel
        } else {
            2 * span - travel
        };
        let y = self.height / 3;
        let r = Rect {
            x: x as u32,
            y: y as u32,
            width: self.sprite_w as u32,
            height: self.sprite_h as u32,
        };
        self.blit(r, 0);
        r
    }

    /// The terminal's viewport into the text strip, 4 px further down each frame.
    fn scroll(&mut self, index: u32) -> Rect {
        let view_h = self.height / 2;
        let offset = (index as usize * 4) % (self.sprite_h - view_h);
        let r = Rect {
            x: (self.width / 5) as u32,
            y: (self.height / 4) as u32,
            width: self.sprite_w as u32,
            height: view_h as u32,
        };
        self.blit(r, offset);
        r
    }

    /// A moving plasma over 60 % of the screen.
    fn video(&mut self, index: u32) -> Rect {
        let r = Rect {
            x: (self.width / 10) as u32,
            y: (self.height / 10) as u32,
            width: (self.width * 3 / 4) as u32,
            height: (self.height * 4 / 5) as u32,
        };
        let t = index as usize;
        for y in 0..r.height as usize {
            let row = (r.y as usize + y) * self.stride + r.x as usize * 4;
            let a = wave(y * 2 + t * 3);
            let b = wave(y + t * 7);
            for (x, px) in self.frame[row..row + r.width as usize * 4]
                .chunks_exact_mut(4)
                .enumerate()
            {
                let c = wave(x * 3 + t * 5);
                let d = wave(x + y + t * 2);
                px[0] = ((a + c) / 2) as u8;
                px[1] = ((b + d) / 2) as u8;
                px[2] = ((a + d + c) / 3) as u8;
            }
        }
        r
    }

    /// Copies `r`'s rows of the sprite (starting `first_row` rows in) into the frame.
    fn blit(&mut self, r: Rect, first_row: usize) {
        let n = r.width as usize * 4;
        for y in 0..r.height as usize {
            let to = (r.y as usize + y) * self.stride + r.x as usize * 4;
            let from = (first_row + y) * self.sprite_w * 4;
            self.frame[to..to + n].copy_from_slice(&self.sprite[from..from + n]);
        }
    }

    /// Puts the background back under `r`.
    fn restore(&mut self, r: Rect) {
        let n = r.width as usize * 4;
        for y in r.y as usize..(r.y + r.height) as usize {
            let at = y * self.stride + r.x as usize * 4;
            self.frame[at..at + n].copy_from_slice(&self.background[at..at + n]);
        }
    }
}

/// A smooth 0..=255 wave, period 256.
fn wave(v: usize) -> usize {
    let phase = (v % 256) as f32 / 256.0 * std::f32::consts::TAU;
    (127.5 + 127.5 * phase.sin()) as usize
}

/// A small deterministic hash (splitmix64).
fn hash(mut v: u64) -> u64 {
    v = v.wrapping_add(0x9E37_79B9_7F4A_7C15);
    v = (v ^ (v >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    v = (v ^ (v >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    v ^ (v >> 31)
}

fn fill(buf: &mut [u8], stride: usize, r: Rect, [red, green, blue]: [u8; 3]) {
    for y in r.y as usize..(r.y + r.height) as usize {
        let row =
            &mut buf[y * stride + r.x as usize * 4..y * stride + (r.x + r.width) as usize * 4];
        for px in row.chunks_exact_mut(4) {
            px.copy_from_slice(&[blue, green, red, 0xff]);
        }
    }
}

/// Wallpaper, taskbar and two windows full of text.
fn paint_desktop(buf: &mut [u8], w: usize, h: usize, stride: usize) {
    for y in 0..h {
        let shade = (y * 60 / h) as u8;
        for px in buf[y * stride..y * stride + w * 4].chunks_exact_mut(4) {
            px.copy_from_slice(&[140 - shade, 90 - shade / 2, 30, 0xff]);
        }
    }
    let bar = 32.min(h / 8);
    fill(buf, stride, rect(0, h - bar, w, bar), [40, 40, 48]);
    for i in 0..(w / 48).min(12) {
        let c = hash(i as u64);
        let colour = [
            c as u8 | 0x40,
            (c >> 8) as u8 | 0x40,
            (c >> 16) as u8 | 0x40,
        ];
        fill(
            buf,
            stride,
            rect(8 + i * 44, h - bar + 4, bar - 8, bar - 8),
            colour,
        );
    }
    let mut window = |x: usize, y: usize, ww: usize, wh: usize, seed: u64| {
        let mut pixels = vec![0u8; ww * wh * 4];
        paint_window(&mut pixels, ww, wh, seed);
        for row in 0..wh {
            let to = (y + row) * stride + x * 4;
            buf[to..to + ww * 4].copy_from_slice(&pixels[row * ww * 4..(row + 1) * ww * 4]);
        }
    };
    window(w / 10, h / 12, w / 2, h / 2, 1);
    window(w / 2, h / 5, w * 2 / 5, h * 3 / 5, 2);
}

fn rect(x: usize, y: usize, w: usize, h: usize) -> Rect {
    Rect {
        x: x as u32,
        y: y as u32,
        width: w as u32,
        height: h as u32,
    }
}

/// A window: dark border, blue title bar with a caption, white body with text, and (for some
/// seeds) a colourful picture in the lower right.
fn paint_window(buf: &mut [u8], w: usize, h: usize, seed: u64) {
    let stride = w * 4;
    fill(buf, stride, rect(0, 0, w, h), [60, 60, 60]);
    fill(buf, stride, rect(1, 1, w - 2, h - 2), [250, 250, 250]);
    for y in 1..TITLE_H.min(h - 1) {
        let blue = 200 - (y * 3) as u8;
        fill(buf, stride, rect(1, y, w - 2, 1), [40, 90, blue]);
    }
    paint_text(buf, w, 4, TITLE_H.min(h), seed ^ 0xfeed, [255, 255, 255]);
    if TITLE_H + 8 < h {
        paint_text(buf, w, TITLE_H + 4, h - 4, seed, [20, 20, 20]);
    }
    if seed == 99 && w > 40 && h > TITLE_H + 40 {
        let (pw, ph) = (w / 3, (h - TITLE_H) / 3);
        let (px, py) = (w - pw - 8, h - ph - 8);
        for y in 0..ph {
            for x in 0..pw {
                let at = (py + y) * stride + (px + x) * 4;
                buf[at..at + 4].copy_from_slice(&[
                    (x * 255 / pw) as u8,
                    (y * 255 / ph) as u8,
                    wave(x * 4 + y * 2) as u8,
                    0xff,
                ]);
            }
        }
    }
}

/// Rows of words made of 5×9 pseudo-random glyphs, from row `top` to `bottom`, 6 px margins.
fn paint_text(buf: &mut [u8], w: usize, top: usize, bottom: usize, seed: u64, ink: [u8; 3]) {
    let stride = w * 4;
    let columns = w.saturating_sub(12) / CELL_W;
    let mut line = 0u64;
    let mut y = top + 2;
    while y + CELL_H <= bottom {
        let line_hash = hash(seed.wrapping_mul(31).wrapping_add(line));
        let len = columns * (40 + (line_hash % 60) as usize) / 100;
        let mut word_left = 0;
        for col in 0..len {
            let g = hash(line_hash ^ col as u64);
            if word_left == 0 {
                word_left = 2 + (g % 8) as usize;
                continue; // a space
            }
            word_left -= 1;
            let bits = g >> 8;
            for gy in 0..9 {
                for gx in 0..5 {
                    if bits >> (gy * 5 + gx) & 1 == 1 {
                        let at = (y + 2 + gy) * stride + (6 + col * CELL_W + gx) * 4;
                        buf[at..at + 3].copy_from_slice(&[ink[2], ink[1], ink[0]]);
                    }
                }
            }
        }
        line += 1;
        y += CELL_H;
    }
}
