//! The hand-written requests against x11rb's generated serialisers, and the region reader
//! against x11rb's reply parser.

use x11rb::protocol::xproto::{ImageFormat, Rectangle};
use x11rb::protocol::{damage, shm, xfixes};
use x11rb::x11_utils::TryParse as _;

use super::*;

fn flat(bufs: &[std::borrow::Cow<'static, [u8]>]) -> Vec<u8> {
    bufs.iter().flat_map(|b| b.iter().copied()).collect()
}

#[test]
fn shm_get_image_matches_x11rb() {
    let (bufs, fds) = shm::GetImageRequest {
        drawable: 0x0040_0123,
        x: -7,
        y: 1043,
        width: 1920,
        height: 37,
        plane_mask: !0,
        format: ImageFormat::Z_PIXMAP.into(),
        shmseg: 0x0120_0005,
        offset: 8_294_400 - 7680,
    }
    .serialize(131);
    assert!(fds.is_empty());
    let ours = shm_get_image_bytes(
        131,
        0x0040_0123,
        (-7, 1043),
        (1920, 37),
        0x0120_0005,
        8_294_400 - 7680,
    );
    assert_eq!(ours.as_slice(), flat(&bufs).as_slice());
}

#[test]
fn damage_subtract_matches_x11rb() {
    let (bufs, _) = damage::SubtractRequest {
        damage: 0x0060_0001,
        repair: x11rb::NONE,
        parts: 0x0060_0002,
    }
    .serialize(140);
    assert_eq!(
        damage_subtract_bytes(140, 0x0060_0001, 0x0060_0002).as_slice(),
        flat(&bufs).as_slice()
    );
}

#[test]
fn fetch_region_matches_x11rb() {
    let (bufs, _) = xfixes::FetchRegionRequest {
        region: 0x0060_0002,
    }
    .serialize(138);
    assert_eq!(
        fetch_region_bytes(138, 0x0060_0002).as_slice(),
        flat(&bufs).as_slice()
    );
}

/// A FetchRegion reply as the server sends it (native byte order).
fn reply_bytes(rects: &[(i16, i16, u16, u16)], extra_words: u32) -> Vec<u8> {
    let length = rects.len() as u32 * 2 + extra_words;
    let mut out = vec![1u8, 0];
    out.extend_from_slice(&77u16.to_ne_bytes());
    out.extend_from_slice(&length.to_ne_bytes());
    // Extents, then 16 bytes of padding.
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&[0u8; 16]);
    for &(x, y, w, h) in rects {
        out.extend_from_slice(&x.to_ne_bytes());
        out.extend_from_slice(&y.to_ne_bytes());
        out.extend_from_slice(&w.to_ne_bytes());
        out.extend_from_slice(&h.to_ne_bytes());
    }
    out.extend(std::iter::repeat_n(0u8, extra_words as usize * 4));
    out
}

#[test]
fn region_rects_read_what_x11rb_parses() {
    let rects = [(0, 0, 1920, 1080), (-5, 7, 3, 4), (100, 200, 1, 1)];
    let bytes = reply_bytes(&rects, 0);
    let (parsed, rest) = xfixes::FetchRegionReply::try_parse(&bytes).unwrap();
    assert!(rest.is_empty());
    let theirs: Vec<_> = parsed
        .rectangles
        .iter()
        .map(|r: &Rectangle| (r.x, r.y, r.width, r.height))
        .collect();
    let ours: Vec<_> = region_rects(&bytes).collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours, rects);
}

#[test]
fn region_rects_of_an_empty_or_truncated_reply_are_bounded() {
    assert_eq!(region_rects(&reply_bytes(&[], 0)).count(), 0);
    assert_eq!(region_rects(&[]).count(), 0);
    // A length field claiming more rectangles than the bytes hold yields only those present.
    let mut bytes = reply_bytes(&[(1, 2, 3, 4)], 0);
    bytes[4..8].copy_from_slice(&1000u32.to_ne_bytes());
    assert_eq!(region_rects(&bytes).collect::<Vec<_>>(), [(1, 2, 3, 4)]);
}
