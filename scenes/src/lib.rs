//! Deterministic desktop scenes for deskcast's benchmark.
//!
//! A [`Scene`] renders frame `i` of one kind of screen content ([`SceneKind`]: static desktop,
//! typing, scrolling, dragging a window, a video-like region, full-screen motion) into a BGRA
//! [`Image`], always to the same bytes, and says which rectangles changed since frame `i - 1`
//! ([`Scene::damage`]). Benchmarks in memory and the X client ([`Player`], feature `x11`, and the
//! `deskcast-scene` binary) use the same frames.
//!
//! Every frame carries a [`Marker`] in its top-left corner: the frame's number in large black and
//! white cells that survive lossy coding. A frame that went through a capture and an encoder
//! reads its number back with [`Marker::read`], the reference is re-rendered from that number,
//! and [`quality::mse`] / [`quality::psnr`] compare the two.
//!
//! The renderer uses integer arithmetic only, so the bytes are the same on every platform.

#![forbid(unsafe_code)]

mod desktop;
mod geometry;
mod glyph;
mod image;
pub mod marker;
mod motion;
pub mod quality;
mod scene;

#[cfg(feature = "x11")]
pub mod player;

pub use geometry::{Rect, Size};
pub use image::{Color, Image};
pub use marker::{Marker, MarkerError};
#[cfg(feature = "x11")]
pub use player::Player;
pub use scene::{FRAMES_PER_KEYSTROKE, MIN_SIZE, Scene, SceneKind};

/// What can go wrong when laying out or rendering a scene.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scene name that is not one of [`SceneKind::ALL`].
    #[error("unknown scene `{0}` (known: static, typing, scrolling, dragging, video, fullscreen)")]
    UnknownScene(String),
    /// A size string that is not `WIDTHxHEIGHT`.
    #[error("bad size `{0}`: expected WIDTHxHEIGHT, e.g. 1920x1080")]
    BadSize(String),
    /// The screen is too small for the layout.
    #[error("{size} is too small for the scenes (at least {min})")]
    TooSmall {
        /// The size asked for.
        size: Size,
        /// The smallest size the scenes support.
        min: Size,
    },
    /// An image of the wrong size was passed.
    #[error("image is {actual}, expected {expected}")]
    SizeMismatch {
        /// The size expected.
        expected: Size,
        /// The size passed.
        actual: Size,
    },
    /// A byte buffer does not hold exactly one BGRA image.
    #[error("a {size} BGRA image needs {expected} bytes, got {actual}")]
    BufferLength {
        /// The image size.
        size: Size,
        /// The bytes it needs.
        expected: usize,
        /// The bytes given.
        actual: usize,
    },
}
