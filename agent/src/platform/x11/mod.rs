//! The X11 platform layer: screen capture into shared memory, damage, monitors, cursor, input
//! injection and the text clipboard, all on x11rb's pure-Rust connection.
//!
//! Each concern owns its own X connection, so that no thread ever has to hand another thread's
//! events along: [`Capturer`] (pixels, damage and screen changes; the capture thread),
//! [`Injector`] (XTEST pointer and keyboard; the session task), [`Clipboard`] (selection owner and
//! reader; its own thread), [`CursorWatcher`] (shape and position) and [`Screen`] (monitors and
//! resolution changes). Every one of them is built from the same [`ConnectOptions`], and every
//! one reports a lost server as [`Error::Disconnected`]: drop the value and connect again.
//!
//! Capture prefers MIT-SHM 1.2 with file-descriptor passing (a sealed memfd given to the server
//! with `ShmAttachFd`, or a segment the server makes with `ShmCreateSegment`), which works when
//! the X server lives in another IPC namespace; it falls back to SysV segments and then to plain
//! `GetImage`. [`Capturer::path`] says which path was taken and why.
//!
//! The capture thread, in outline (the encoder runs on another thread):
//!
//! ```ignore
//! let mut capturer = Capturer::new(&options, CaptureConfig::default())?;
//! loop {
//!     match capturer.wait(next_tick)? {
//!         Wake::TimedOut | Wake::Woken => continue, // static screen: no frame at all
//!         Wake::ScreenChanged => { /* re-read capturer.monitors(), tell the peer */ }
//!         Wake::Damaged => {}
//!     }
//!     let frame = capturer.capture()?; // owned, Send: the buffer returns when dropped
//!     to_encoder.send(frame)?;         // there: encoder.send_frame(frame.as_frame(pts))
//! }
//! ```

mod capture;
mod clipboard;
mod connection;
mod cursor;
pub mod diagnose;
mod error;
mod input;
mod region;
mod screen;
mod shm;

pub use capture::{
    BufferBacking, BufferInfo, CaptureArea, CaptureConfig, CapturePath, CaptureWaker,
    CapturedFrame, Capturer, PathAttempt, PathChoice, Paths, Wake,
};
pub use clipboard::{Clipboard, ClipboardConfig, ClipboardEvent, ClipboardSetter};
pub use connection::ConnectOptions;
pub use cursor::{CursorImage, CursorWatcher, premultiplied_argb_to_rgba};
pub use error::{Error, Fault};
pub use input::{Button, Injector, LockState, control_key_keysyms};
pub use region::merge_rects;
pub use screen::{Monitor, Screen};

/// A rectangle in pixels (frame-relative for damage, root-relative for areas): the codec's type.
pub use deskcast_codec::Rect;

/// The handles the agent moves to threads of their own must stay `Send` (frames and setters
/// also `Sync`); this fails to compile otherwise.
#[allow(dead_code)]
fn handles_move_between_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Capturer>();
    send::<CapturedFrame>();
    sync::<CapturedFrame>();
    send::<Injector>();
    send::<Clipboard>();
    send::<ClipboardSetter>();
    sync::<ClipboardSetter>();
    send::<CursorWatcher>();
    send::<Screen>();
}
