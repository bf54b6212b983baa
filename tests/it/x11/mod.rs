//! The X11 platform layer against real Xvfb servers: capture, damage, monitors, cursor, input and
//! clipboard. Test X clients are written with x11rb here; xclip, xev, setxkbmap and xrandr act
//! as the real counterparts where they are.

mod capture;
mod clipboard;
mod connection;
mod cursor;
mod input;
mod screen;

use std::time::{Duration, Instant};

use deskcast::platform::x11::ConnectOptions;
use deskcast_testkit::{Xvfb, XvfbOptions};
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{
    ChangeGCAux, ConnectionExt as _, CreateGCAux, Gcontext, ImageFormat, Rectangle, SubwindowMode,
    Window,
};
use x11rb::rust_connection::RustConnection;

/// Starts an Xvfb of `width`×`height`.
pub(crate) fn xvfb(width: u32, height: u32) -> Xvfb {
    Xvfb::start_with(&XvfbOptions {
        width,
        height,
        ..XvfbOptions::default()
    })
}

/// Options that reach `server`.
pub(crate) fn options(server: &Xvfb) -> ConnectOptions {
    ConnectOptions {
        display: Some(server.display().to_owned()),
        xauthority: None,
    }
}

/// A deadline `ms` milliseconds from now.
fn after_ms(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

/// A plain X client that draws on the root window and reads it back, independent of the code
/// under test.
pub(crate) struct Painter {
    conn: RustConnection,
    root: Window,
    gc: Gcontext,
}

impl Painter {
    pub(crate) fn new(server: &Xvfb) -> Self {
        let (conn, screen) = RustConnection::connect(Some(server.display())).expect("connect");
        let root = conn.setup().roots[screen].root;
        let gc = conn.generate_id().unwrap();
        conn.create_gc(
            gc,
            root,
            &CreateGCAux::new().subwindow_mode(SubwindowMode::INCLUDE_INFERIORS),
        )
        .unwrap()
        .check()
        .unwrap();
        Self { conn, root, gc }
    }

    /// Fills a rectangle with a 0xRRGGBB colour.
    pub(crate) fn fill(&self, x: i16, y: i16, width: u16, height: u16, rgb: u32) {
        self.conn
            .change_gc(self.gc, &ChangeGCAux::new().foreground(rgb))
            .unwrap();
        self.conn
            .poly_fill_rectangle(
                self.root,
                self.gc,
                &[Rectangle {
                    x,
                    y,
                    width,
                    height,
                }],
            )
            .unwrap();
        self.sync();
    }

    /// Puts BGRX pixels (`width` per row) at (x, y), in strips that fit any request size.
    fn put(&self, x: i16, y: i16, width: u16, bgrx: &[u8]) {
        let stride = usize::from(width) * 4;
        let rows_per_strip = (200_000 / stride).max(1);
        for (i, strip) in bgrx.chunks(stride * rows_per_strip).enumerate() {
            let rows = u16::try_from(strip.len() / stride).unwrap();
            let top = y + i16::try_from(i * rows_per_strip).unwrap();
            self.conn
                .put_image(
                    ImageFormat::Z_PIXMAP,
                    self.root,
                    self.gc,
                    width,
                    rows,
                    x,
                    top,
                    0,
                    24,
                    strip,
                )
                .unwrap();
        }
        self.sync();
    }

    /// Reads a rectangle of the root window with a plain GetImage, as BGRX rows.
    pub(crate) fn read(&self, x: i16, y: i16, width: u16, height: u16) -> Vec<u8> {
        self.conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, width, height, !0)
            .unwrap()
            .reply()
            .unwrap()
            .data
    }

    pub(crate) fn sync(&self) {
        self.conn.get_input_focus().unwrap().reply().unwrap();
    }
}

/// Pseudo-random BGRX pixels with the X byte zero, from a fixed seed.
fn pattern(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(width as usize * height as usize * 4);
    for _ in 0..width * height {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&[state as u8, (state >> 8) as u8, (state >> 16) as u8, 0]);
    }
    out
}

/// Compares the B, G and R bytes of two BGRX images (`stride` bytes per row in `got`).
fn assert_same_pixels(got: &[u8], stride: usize, want: &[u8], width: u32, height: u32) {
    let row = width as usize * 4;
    for y in 0..height as usize {
        let g = &got[y * stride..y * stride + row];
        let w = &want[y * row..(y + 1) * row];
        for x in 0..width as usize {
            assert_eq!(
                g[x * 4..x * 4 + 3],
                w[x * 4..x * 4 + 3],
                "pixel ({x}, {y}) differs"
            );
        }
    }
}
