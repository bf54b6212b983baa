//! Pixel geometry: screen sizes and rectangles.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A screen or image size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Size {
    /// 1920×1080.
    pub const HD: Self = Self::new(1920, 1080);
    /// 3840×2160.
    pub const UHD: Self = Self::new(3840, 2160);

    /// A size of `width`×`height`.
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// The number of bytes of one BGRA image of this size.
    pub const fn bgra_bytes(self) -> usize {
        self.width as usize * self.height as usize * 4
    }

    /// The whole area as a rectangle at the origin.
    pub const fn rect(self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for Size {
    type Err = Error;

    /// Parses `WIDTHxHEIGHT`, e.g. `1920x1080`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadSize(s.to_owned());
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let width = w.trim().parse().map_err(|_| bad())?;
        let height = h.trim().parse().map_err(|_| bad())?;
        Ok(Self::new(width, height))
    }
}

/// An axis-aligned rectangle of pixels; empty when either side is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rect {
    /// A rectangle with its top-left corner at (`x`, `y`).
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// One past the right edge.
    pub const fn right(self) -> u32 {
        self.x + self.width
    }

    /// One past the bottom edge.
    pub const fn bottom(self) -> u32 {
        self.y + self.height
    }

    /// Whether the rectangle covers no pixel.
    pub const fn is_empty(self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// Whether the pixel (`x`, `y`) lies inside.
    pub const fn contains(self, x: u32, y: u32) -> bool {
        x >= self.x && x < self.right() && y >= self.y && y < self.bottom()
    }

    /// The smallest rectangle covering both; an empty side is ignored.
    pub fn bounding(self, other: Self) -> Self {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        Self::new(
            x,
            y,
            self.right().max(other.right()) - x,
            self.bottom().max(other.bottom()) - y,
        )
    }

    /// The overlap of both, empty (at the origin) when they do not overlap.
    pub fn intersect(self, other: Self) -> Self {
        let x = self.x.max(other.x);
        let y = self.y.max(other.y);
        let right = self.right().min(other.right());
        let bottom = self.bottom().min(other.bottom());
        if right <= x || bottom <= y {
            return Self::default();
        }
        Self::new(x, y, right - x, bottom - y)
    }

    /// The part that lies on a screen of `size`.
    pub fn clip(self, size: Size) -> Self {
        self.intersect(size.rect())
    }

    /// This rectangle grown by `by` pixels on every side (clamped at the origin).
    pub fn inflate(self, by: u32) -> Self {
        let x = self.x.saturating_sub(by);
        let y = self.y.saturating_sub(by);
        Self::new(x, y, self.right() + by - x, self.bottom() + by - y)
    }

    /// This rectangle shrunk by `by` pixels on every side (empty when too small).
    pub fn deflate(self, by: u32) -> Self {
        if self.width <= 2 * by || self.height <= 2 * by {
            return Self::new(self.x + by, self.y + by, 0, 0);
        }
        Self::new(
            self.x + by,
            self.y + by,
            self.width - 2 * by,
            self.height - 2 * by,
        )
    }
}
