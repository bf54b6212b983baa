//! The cursor: XFIXES shape-change notifications, the shape as straight RGBA (what RustDesk's
//! CursorData carries before compression) with its hotspot and serial, and the position.

use std::time::Instant;

use x11rb::protocol::Event;
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::ConnectionExt as _;

use super::connection::{ConnectOptions, Connection, Readiness};
use super::error::{Context as _, Error};

/// Cursors larger than this on either side are refused as odd replies.
const MAX_CURSOR_SIDE: u16 = 1024;

/// A cursor shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorImage {
    /// The XFIXES cursor serial: the same shape keeps its serial, so it is a stable id.
    pub serial: u32,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Hotspot, from the left.
    pub hot_x: u16,
    /// Hotspot, from the top.
    pub hot_y: u16,
    /// Straight (not premultiplied) R, G, B, A bytes, row by row; fully transparent pixels are
    /// all zero.
    pub rgba: Vec<u8>,
}

/// Follows the cursor on a connection of its own.
#[derive(Debug)]
pub struct CursorWatcher {
    x: Connection,
}

impl CursorWatcher {
    /// Connects and subscribes to cursor-shape changes. Needs XFIXES 2.0.
    pub fn new(options: &ConnectOptions) -> Result<Self, Error> {
        let x = Connection::open(options)?;
        let missing = Error::MissingExtension {
            name: "XFIXES 2.0",
            needed_for: "the cursor shape",
        };
        if !x.has_extension(xfixes::X11_EXTENSION_NAME)? {
            return Err(missing);
        }
        let version = x
            .conn
            .xfixes_query_version(5, 0)
            .ctx("XFixesQueryVersion")?
            .reply()
            .ctx("XFixesQueryVersion")?;
        if version.major_version < 2 {
            return Err(missing);
        }
        x.conn
            .xfixes_select_cursor_input(x.root(), xfixes::CursorNotifyMask::DISPLAY_CURSOR)
            .ctx("XFixesSelectCursorInput")?
            .check()
            .ctx("XFixesSelectCursorInput")?;
        Ok(Self { x })
    }

    /// Waits until the cursor shape changes or `deadline` passes; returns the new shape's
    /// serial (fetch the shape with [`image`](Self::image) only for serials not seen before).
    pub fn wait_change(&mut self, deadline: Instant) -> Result<Option<u32>, Error> {
        loop {
            let mut latest = None;
            while let Some(event) = self.x.poll_event()? {
                if let Event::XfixesCursorNotify(e) = event {
                    latest = Some(e.cursor_serial);
                }
            }
            if latest.is_some() {
                return Ok(latest);
            }
            if self.x.wait_readable(deadline, None)? == Readiness::TimedOut {
                return Ok(None);
            }
        }
    }

    /// The current cursor shape.
    pub fn image(&self) -> Result<CursorImage, Error> {
        let reply = self
            .x
            .conn
            .xfixes_get_cursor_image()
            .ctx("XFixesGetCursorImage")?
            .reply()
            .ctx("XFixesGetCursorImage")?;
        let pixels = usize::from(reply.width) * usize::from(reply.height);
        if reply.width > MAX_CURSOR_SIDE
            || reply.height > MAX_CURSOR_SIDE
            || reply.cursor_image.len() != pixels
        {
            return Err(Error::odd(
                "XFixesGetCursorImage",
                format!(
                    "{}x{} cursor with {} pixels",
                    reply.width,
                    reply.height,
                    reply.cursor_image.len()
                ),
            ));
        }
        let mut rgba = Vec::with_capacity(pixels * 4);
        premultiplied_argb_to_rgba(&reply.cursor_image, &mut rgba);
        Ok(CursorImage {
            serial: reply.cursor_serial,
            width: reply.width,
            height: reply.height,
            hot_x: reply.xhot,
            hot_y: reply.yhot,
            rgba,
        })
    }

    /// The pointer position in root coordinates.
    pub fn position(&self) -> Result<(i32, i32), Error> {
        let p = self
            .x
            .conn
            .query_pointer(self.x.root())
            .ctx("QueryPointer")?
            .reply()
            .ctx("QueryPointer")?;
        Ok((p.root_x.into(), p.root_y.into()))
    }
}

/// Appends premultiplied 0xAARRGGBB pixels to `out` as straight R, G, B, A bytes, rounding to
/// the nearest value; pixels with alpha 0 become all zero.
pub fn premultiplied_argb_to_rgba(argb: &[u32], out: &mut Vec<u8>) {
    out.reserve(argb.len() * 4);
    for &p in argb {
        let a = p >> 24;
        if a == 0 {
            out.extend_from_slice(&[0; 4]);
            continue;
        }
        let straight = |c: u32| ((c * 255 + a / 2) / a).min(255) as u8;
        out.extend_from_slice(&[
            straight((p >> 16) & 0xff),
            straight((p >> 8) & 0xff),
            straight(p & 0xff),
            a as u8,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premultiplied_pixels_become_straight_rgba() {
        let mut out = Vec::new();
        premultiplied_argb_to_rgba(
            &[
                0xff_10_20_30, // opaque: unchanged
                0x80_40_20_00, // half alpha: channels doubled (64·255/128 = 127.5 → 128)
                0x00_12_34_56, // transparent: all zero, whatever the channels say
                0x01_01_00_02, // alpha 1 with out-of-range channels: clamped
            ],
            &mut out,
        );
        assert_eq!(
            out,
            [
                0x10, 0x20, 0x30, 0xff, //
                0x80, 0x40, 0x00, 0x80, //
                0, 0, 0, 0, //
                0xff, 0x00, 0xff, 0x01,
            ]
        );
    }
}
