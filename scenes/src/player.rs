//! The X client that puts a scene on an X screen at a steady frame rate.
//!
//! Each frame's changed rectangles are first uploaded into an off-screen pixmap (in bands that
//! fit the server's request size), then copied onto the root window with `CopyArea` under a
//! server grab, so a capture sees either the whole old frame or the whole new one. A round trip
//! after the copy makes the recorded time the moment the server has the new frame on screen.
//! Frames that do not change the picture (the static scene, typing between keystrokes) send
//! nothing at all, so a damage-driven capture sees an idle screen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::{ConnectError, ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

use crate::geometry::{Rect, Size};
use crate::image::Image;
use crate::scene::Scene;

/// Why the player could not put frames on the screen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlayerError {
    /// No X server at the display.
    #[error("cannot connect to the X display: {0}")]
    Connect(#[from] ConnectError),
    /// The connection broke.
    #[error("X connection failed: {0}")]
    Connection(#[from] ConnectionError),
    /// The server refused a request.
    #[error("X request failed: {0}")]
    Reply(#[from] ReplyError),
    /// The server refused a request or ran out of ids.
    #[error("X request failed: {0}")]
    ReplyOrId(#[from] ReplyOrIdError),
    /// The scene was laid out for another screen size.
    #[error("the scene is {scene} but the screen is {screen}")]
    ScreenSize {
        /// The scene's size.
        scene: Size,
        /// The screen's size.
        screen: Size,
    },
    /// The scene refused to render (a bug: the player sizes its buffer from the scene).
    #[error("rendering failed: {0}")]
    Scene(#[from] crate::Error),
    /// The screen's pixels are not 32-bit BGRX in little-endian order.
    #[error("unsupported screen format: {0} (need depth 24, 32 bits per pixel, LSB first)")]
    Format(String),
}

/// A connection to an X server that shows one scene on its root window.
#[derive(Debug)]
pub struct Player {
    conn: RustConnection,
    root: u32,
    pixmap: u32,
    gc: u32,
    scene: Scene,
    frame: Image,
    staging: Vec<u8>,
    max_request: usize,
    shown: Option<u64>,
}

/// A frame already uploaded off screen, waiting for [`Player::present`].
#[derive(Debug)]
#[must_use = "a prepared frame is not on screen until it is presented"]
pub struct Prepared {
    index: u64,
    rects: Vec<Rect>,
}

/// A frame that is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    /// The frame's index.
    pub index: u64,
    /// The value its marker carries ([`Scene::canonical`]).
    pub canonical: u64,
    /// When the server had it on screen, in nanoseconds since the Unix epoch.
    pub unix_ns: u128,
}

/// What [`play`] did.
#[derive(Debug, Clone, Default)]
pub struct PlayLog {
    /// Every frame put on screen, in order.
    pub shown: Vec<Shown>,
    /// Frames skipped because the player fell more than a frame behind.
    pub skipped: u64,
}

impl Player {
    /// Connects to `display` (or `$DISPLAY`) and checks the screen matches `scene`.
    pub fn connect(display: Option<&str>, scene: Scene) -> Result<Self, PlayerError> {
        let (conn, screen_num) = x11rb::connect(display)?;
        let setup = conn.setup();
        let screen = &setup.roots[screen_num];
        let size = Size::new(
            screen.width_in_pixels.into(),
            screen.height_in_pixels.into(),
        );
        if size != scene.size() {
            return Err(PlayerError::ScreenSize {
                scene: scene.size(),
                screen: size,
            });
        }
        let bpp = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == 24)
            .map(|f| f.bits_per_pixel);
        if screen.root_depth != 24
            || bpp != Some(32)
            || setup.image_byte_order != ImageOrder::LSB_FIRST
        {
            return Err(PlayerError::Format(format!(
                "depth {}, {bpp:?} bits per pixel, {:?}",
                screen.root_depth, setup.image_byte_order
            )));
        }
        let root = screen.root;
        let pixmap = conn.generate_id()?;
        conn.create_pixmap(24, pixmap, root, size.width as u16, size.height as u16)?;
        let gc = conn.generate_id()?;
        conn.create_gc(gc, pixmap, &CreateGCAux::new().graphics_exposures(0))?;
        let max_request = conn.maximum_request_bytes();
        Ok(Self {
            frame: Image::new(size),
            conn,
            root,
            pixmap,
            gc,
            scene,
            staging: Vec::new(),
            max_request,
            shown: None,
        })
    }

    /// The scene being shown.
    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// Renders frame `index` and uploads what changed since the frame on screen to the
    /// off-screen pixmap. Nothing is visible until [`Player::present`].
    pub fn prepare(&mut self, index: u64) -> Result<Prepared, PlayerError> {
        let rects = match self.shown {
            None => vec![self.scene.size().rect()],
            Some(prev) => self.scene.damage_between(prev, index),
        };
        if !rects.is_empty() {
            self.scene.render(index, &mut self.frame)?;
            for &rect in &rects {
                self.upload(rect)?;
            }
        }
        Ok(Prepared { index, rects })
    }

    /// Puts a prepared frame on screen at once and waits until the server has done it.
    pub fn present(&mut self, prepared: Prepared) -> Result<Shown, PlayerError> {
        let Prepared { index, rects } = prepared;
        if !rects.is_empty() {
            let grab = rects.len() > 1;
            if grab {
                self.conn.grab_server()?;
            }
            for r in &rects {
                let (x, y) = (r.x as i16, r.y as i16);
                let (w, h) = (r.width as u16, r.height as u16);
                self.conn
                    .copy_area(self.pixmap, self.root, self.gc, x, y, x, y, w, h)?;
            }
            if grab {
                self.conn.ungrab_server()?;
            }
            self.conn.get_input_focus()?.reply()?;
        }
        self.shown = Some(index);
        Ok(Shown {
            index,
            canonical: self.scene.canonical(index),
            unix_ns: unix_ns(),
        })
    }

    /// Prepares and presents frame `index` right away.
    pub fn show(&mut self, index: u64) -> Result<Shown, PlayerError> {
        let prepared = self.prepare(index)?;
        self.present(prepared)
    }

    /// Sends `rect` of the current frame to the pixmap in bands under the request size limit.
    fn upload(&mut self, rect: Rect) -> Result<(), PlayerError> {
        let row_bytes = rect.width as usize * 4;
        if row_bytes == 0 {
            return Ok(());
        }
        let rows_per_band = (self.max_request.saturating_sub(64) / row_bytes).max(1) as u32;
        let mut y = rect.y;
        while y < rect.bottom() {
            let band = Rect::new(rect.x, y, rect.width, rows_per_band.min(rect.bottom() - y));
            self.frame.extract(band, &mut self.staging);
            self.conn.put_image(
                ImageFormat::Z_PIXMAP,
                self.pixmap,
                self.gc,
                band.width as u16,
                band.height as u16,
                band.x as i16,
                band.y as i16,
                0,
                24,
                &self.staging,
            )?;
            y = band.bottom();
        }
        Ok(())
    }
}

/// Shows frames 0, 1, 2, … at `fps` until `stop` is set or `frames` frames have been shown.
/// Each frame is rendered and uploaded ahead, then presented when it is due; when the player
/// falls more than a frame behind it jumps to the frame due now and counts the ones it skipped.
pub fn play(
    player: &mut Player,
    fps: u32,
    frames: Option<u64>,
    stop: &AtomicBool,
) -> Result<PlayLog, PlayerError> {
    let interval_ns = u128::from(1_000_000_000 / fps.max(1));
    let due =
        |start: Instant, n: u64| start + Duration::from_nanos((u128::from(n) * interval_ns) as u64);
    let start = Instant::now();
    let mut log = PlayLog::default();
    let mut next = 0u64;
    while !stop.load(Ordering::Relaxed) && frames.is_none_or(|n| next < n) {
        let mut index = next;
        if Instant::now() > due(start, next + 1) {
            index = (start.elapsed().as_nanos() / interval_ns) as u64;
            if let Some(n) = frames {
                index = index.min(n - 1);
            }
            log.skipped += index - next;
        }
        let prepared = player.prepare(index)?;
        let now = Instant::now();
        let at = due(start, index);
        if at > now {
            std::thread::sleep(at - now);
        }
        log.shown.push(player.present(prepared)?);
        next = index + 1;
    }
    Ok(log)
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests;
