//! The requests the capture loop sends every frame, written into stack arrays, and the damage
//! reply read in place. x11rb's generated request functions serialise each request into a fresh
//! `Vec` and parse a region reply into another; the capture loop is meant not to allocate.
//!
//! Requests go out in the client's native byte order, as x11rb's `RustConnection` announces in
//! its connection setup.

use std::io::IoSlice;

use x11rb::connection::RequestConnection as _;
pub(super) use x11rb::cookie::Cookie;
use x11rb::cookie::VoidCookie;
use x11rb::protocol::{damage, shm, xfixes};
use x11rb::rust_connection::RustConnection;

use super::super::error::{Context as _, Error};

/// The major opcodes of the extensions the loop talks to, looked up once.
#[derive(Debug, Clone, Copy)]
pub(super) struct Opcodes {
    /// `None` when the server has no MIT-SHM (the GetImage path).
    pub(super) shm: Option<u8>,
    pub(super) damage: u8,
    pub(super) xfixes: u8,
}

impl Opcodes {
    pub(super) fn query(conn: &RustConnection) -> Result<Self, Error> {
        let major = |name: &'static str| -> Result<Option<u8>, Error> {
            Ok(conn
                .extension_information(name)
                .ctx("QueryExtension")?
                .map(|info| info.major_opcode))
        };
        let missing = |name: &str| Error::odd("QueryExtension", format!("{name} went away"));
        Ok(Self {
            shm: major(shm::X11_EXTENSION_NAME)?,
            damage: major(damage::X11_EXTENSION_NAME)?
                .ok_or_else(|| missing(damage::X11_EXTENSION_NAME))?,
            xfixes: major(xfixes::X11_EXTENSION_NAME)?
                .ok_or_else(|| missing(xfixes::X11_EXTENSION_NAME))?,
        })
    }
}

/// One request's bytes: the header (major, minor, length in 4-byte units), then `body`.
fn request<const N: usize>(major: u8, minor: u8, body: &[&[u8]]) -> [u8; N] {
    debug_assert_eq!(N % 4, 0);
    let mut out = [0u8; N];
    out[0] = major;
    out[1] = minor;
    // N is a small constant (at most 32), so the length always fits.
    out[2..4].copy_from_slice(&((N / 4) as u16).to_ne_bytes());
    let mut at = 4;
    for part in body {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    out
}

/// MIT-SHM GetImage of a Z-pixmap with every plane.
pub(super) fn shm_get_image_bytes(
    major: u8,
    drawable: u32,
    (x, y): (i16, i16),
    (width, height): (u16, u16),
    seg: u32,
    offset: u32,
) -> [u8; 32] {
    let format = [
        u8::from(x11rb::protocol::xproto::ImageFormat::Z_PIXMAP),
        0,
        0,
        0,
    ];
    request(
        major,
        shm::GET_IMAGE_REQUEST,
        &[
            &drawable.to_ne_bytes(),
            &x.to_ne_bytes(),
            &y.to_ne_bytes(),
            &width.to_ne_bytes(),
            &height.to_ne_bytes(),
            &u32::MAX.to_ne_bytes(),
            &format,
            &seg.to_ne_bytes(),
            &offset.to_ne_bytes(),
        ],
    )
}

/// DAMAGE Subtract with no repair region: moves the damage into `parts` and clears it.
pub(super) fn damage_subtract_bytes(major: u8, damage: u32, parts: u32) -> [u8; 16] {
    request(
        major,
        damage::SUBTRACT_REQUEST,
        &[
            &damage.to_ne_bytes(),
            &x11rb::NONE.to_ne_bytes(),
            &parts.to_ne_bytes(),
        ],
    )
}

/// XFIXES FetchRegion.
pub(super) fn fetch_region_bytes(major: u8, region: u32) -> [u8; 8] {
    request(
        major,
        xfixes::FETCH_REGION_REQUEST,
        &[&region.to_ne_bytes()],
    )
}

/// The rectangles of a FetchRegion reply, `(x, y, width, height)`, read from its bytes.
pub(super) fn region_rects(reply: &[u8]) -> impl Iterator<Item = (i16, i16, u16, u16)> + '_ {
    // 32 bytes of header (with the extents), then 8 bytes per rectangle.
    let count = reply.get(4..8).map_or(0, |b| {
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize / 2
    });
    let body = reply.get(32..).unwrap_or_default();
    body.chunks_exact(8).take(count).map(|r| {
        (
            i16::from_ne_bytes([r[0], r[1]]),
            i16::from_ne_bytes([r[2], r[3]]),
            u16::from_ne_bytes([r[4], r[5]]),
            u16::from_ne_bytes([r[6], r[7]]),
        )
    })
}

/// Sends `bytes` as a request that has a reply of type `R`.
pub(super) fn send_with_reply<'c, R>(
    conn: &'c RustConnection,
    bytes: &[u8],
    what: &'static str,
) -> Result<Cookie<'c, RustConnection, R>, Error>
where
    R: x11rb::x11_utils::TryParse,
{
    conn.send_request_with_reply(&[IoSlice::new(bytes)], Vec::new())
        .ctx(what)
}

/// Sends `bytes` as a request without a reply.
pub(super) fn send_without_reply<'c>(
    conn: &'c RustConnection,
    bytes: &[u8],
    what: &'static str,
) -> Result<VoidCookie<'c, RustConnection>, Error> {
    conn.send_request_without_reply(&[IoSlice::new(bytes)], Vec::new())
        .ctx(what)
}

#[cfg(test)]
mod tests;
