//! The SIMD converter against a scalar floating-point reference written from the BT.601 formulas.

use super::I420;
use crate::{Frame, Rect};

/// BT.601 luma weights.
const KR: f64 = 0.299;
const KB: f64 = 0.114;
const KG: f64 = 1.0 - KR - KB;

/// Limited-range Y for one pixel, unrounded.
fn luma(r: f64, g: f64, b: f64) -> f64 {
    16.0 + 219.0 * (KR * r + KG * g + KB * b) / 255.0
}

/// Limited-range (Cb, Cr) for one (averaged) pixel, unrounded.
fn chroma(r: f64, g: f64, b: f64) -> (f64, f64) {
    let y = KR * r + KG * g + KB * b;
    let cb = 128.0 + 224.0 * (b - y) / (2.0 * (1.0 - KB)) / 255.0;
    let cr = 128.0 + 224.0 * (r - y) / (2.0 * (1.0 - KR)) / 255.0;
    (cb, cr)
}

/// Planes as the reference computes them: Y per pixel, U and V from the mean colour of each
/// 2×2 block (fewer pixels at odd right and bottom edges).
struct Reference {
    y: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
}

fn reference(data: &[u8], w: usize, h: usize, stride: usize) -> Reference {
    let px = |x: usize, y: usize| {
        let p = &data[y * stride + x * 4..];
        (f64::from(p[2]), f64::from(p[1]), f64::from(p[0]))
    };
    let mut out = Reference {
        y: Vec::new(),
        u: Vec::new(),
        v: Vec::new(),
    };
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            out.y.push(luma(r, g, b));
        }
    }
    for cy in 0..h.div_ceil(2) {
        for cx in 0..w.div_ceil(2) {
            let (mut sr, mut sg, mut sb, mut n) = (0.0, 0.0, 0.0, 0.0);
            for y in 2 * cy..(2 * cy + 2).min(h) {
                for x in 2 * cx..(2 * cx + 2).min(w) {
                    let (r, g, b) = px(x, y);
                    sr += r;
                    sg += g;
                    sb += b;
                    n += 1.0;
                }
            }
            let (u, v) = chroma(sr / n, sg / n, sb / n);
            out.u.push(u);
            out.v.push(v);
        }
    }
    out
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// Noise mixed with flat runs and extremes, so saturation and smooth areas are both covered.
fn picture(w: usize, h: usize, stride: usize, seed: u64) -> Vec<u8> {
    let mut data = noise(stride * h, seed);
    for y in 0..h {
        for x in 0..w {
            let p = &mut data[y * stride + x * 4..y * stride + x * 4 + 4];
            match (x / 7 + y / 5) % 4 {
                0 => p[..3].copy_from_slice(&[255, 255, 255]),
                1 => p[..3].copy_from_slice(&[0, 0, 0]),
                2 => p[..3].copy_from_slice(&[0, 0, 255]),
                _ => {}
            }
        }
    }
    data
}

fn frame<'a>(data: &'a [u8], w: usize, h: usize, stride: usize, damage: &'a [Rect]) -> Frame<'a> {
    Frame {
        data,
        width: w as u32,
        height: h as u32,
        stride,
        damage,
        pts_ms: 0,
        buffer: None,
    }
}

/// The largest difference between a plane and its reference, per sample.
fn worst(plane: &[u8], stride: usize, w: usize, h: usize, want: &[f64]) -> f64 {
    let mut worst: f64 = 0.0;
    for y in 0..h {
        for x in 0..w {
            let got = f64::from(plane[y * stride + x]);
            worst = worst.max((got - want[y * w + x]).abs());
        }
    }
    worst
}

fn assert_matches_reference(w: usize, h: usize, stride: usize, data: &[u8]) {
    let mut yuv = I420::new(w as u32, h as u32).unwrap();
    yuv.convert(&frame(data, w, h, stride, &[])).unwrap();
    assert_planes_match(&yuv, w, h, stride, data);
}

fn assert_planes_match(yuv: &I420, w: usize, h: usize, stride: usize, data: &[u8]) {
    let want = reference(data, w, h, stride);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let dy = worst(yuv.y(), yuv.y_stride(), w, h, &want.y);
    let du = worst(yuv.u(), yuv.uv_stride(), cw, ch, &want.u);
    let dv = worst(yuv.v(), yuv.uv_stride(), cw, ch, &want.v);
    // ±1 after rounding means the unrounded reference is less than 1.5 away.
    assert!(
        dy < 1.5 && du < 1.5 && dv < 1.5,
        "{w}x{h} stride {stride}: worst |Δ| Y {dy:.2} U {du:.2} V {dv:.2}"
    );
}

#[test]
fn matches_reference_on_even_sizes() {
    for (w, h) in [(2, 2), (64, 32), (1920, 8), (256, 130)] {
        let stride = w * 4;
        assert_matches_reference(w, h, stride, &picture(w, h, stride, 1));
    }
}

#[test]
fn matches_reference_on_odd_sizes_and_padded_strides() {
    for (w, h, pad) in [
        (1, 1, 0),
        (3, 5, 4),
        (33, 17, 12),
        (101, 77, 256),
        (1023, 9, 36),
    ] {
        let stride = w * 4 + pad;
        assert_matches_reference(
            w,
            h,
            stride,
            &picture(w, h, stride, w as u64 * 31 + h as u64),
        );
    }
}

#[test]
fn reads_a_buffer_whose_last_row_is_not_padded() {
    for (w, h) in [(37, 10), (37, 11)] {
        let stride = w * 4 + 20;
        let mut data = picture(w, h, stride, 7);
        data.truncate(stride * (h - 1) + w * 4);
        assert_matches_reference(w, h, stride, &data);
    }
}

#[test]
fn short_buffers_and_wrong_sizes_are_refused() {
    let mut yuv = I420::new(16, 16).unwrap();
    let data = vec![0u8; 16 * 4 * 16 - 1];
    assert!(yuv.convert(&frame(&data, 16, 16, 64, &[])).is_err());
    let data = vec![0u8; 16 * 4 * 16];
    assert!(yuv.convert(&frame(&data, 16, 16, 60, &[])).is_err());
    assert!(yuv.convert(&frame(&data, 8, 16, 64, &[])).is_err());
    assert!(I420::new(0, 16).is_err());
}

/// Converting only the damage of a frame that changed only there gives what a full conversion
/// gives, and the undamaged area really is left alone.
#[test]
fn damage_converts_only_what_changed() {
    let (w, h) = (99, 61);
    let stride = w * 4 + 8;
    let before = picture(w, h, stride, 11);
    let mut after = before.clone();
    let dirty = Rect {
        x: 13,
        y: 7,
        width: 30,
        height: 21,
    };
    let fresh = noise(stride * h, 99);
    for y in dirty.y as usize..(dirty.y + dirty.height) as usize {
        let at = y * stride + dirty.x as usize * 4;
        let n = dirty.width as usize * 4;
        after[at..at + n].copy_from_slice(&fresh[at..at + n]);
    }
    let mut partial = I420::new(w as u32, h as u32).unwrap();
    partial.convert(&frame(&before, w, h, stride, &[])).unwrap();
    partial
        .convert(&frame(&after, w, h, stride, &[dirty]))
        .unwrap();
    let mut full = I420::new(w as u32, h as u32).unwrap();
    full.convert(&frame(&after, w, h, stride, &[])).unwrap();
    assert_eq!(partial.y(), full.y());
    assert_eq!(partial.u(), full.u());
    assert_eq!(partial.v(), full.v());

    // A change outside the damage list is not looked at.
    let elsewhere = picture(w, h, stride, 12);
    partial
        .convert(&frame(&elsewhere, w, h, stride, &[dirty]))
        .unwrap();
    let row = 50 * partial.y_stride();
    assert_eq!(&partial.y()[row..row + w], &full.y()[row..row + w]);
}

#[test]
fn damage_at_odd_frame_edges_is_clipped() {
    let (w, h) = (31, 19);
    let stride = w * 4;
    let data = picture(w, h, stride, 5);
    let mut yuv = I420::new(w as u32, h as u32).unwrap();
    yuv.convert(&frame(&data, w, h, stride, &[])).unwrap();
    let edge = [
        Rect {
            x: 29,
            y: 17,
            width: 500,
            height: 500,
        },
        Rect {
            x: 400,
            y: 0,
            width: 3,
            height: 3,
        },
    ];
    let changed = picture(w, h, stride, 6);
    yuv.convert(&frame(&changed, w, h, stride, &edge)).unwrap();
    // The damaged corner (widened to x 28.., y 16..) now holds the new picture.
    let at = 18 * yuv.y_stride() + 30;
    let want = reference(&changed, w, h, stride).y[18 * w + 30];
    assert!((f64::from(yuv.y()[at]) - want).abs() < 1.5);
    yuv.convert(&frame(&changed, w, h, stride, &[])).unwrap();
    assert_planes_match(&yuv, w, h, stride, &changed);
}
