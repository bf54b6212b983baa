//! The parts that need no driver: error classification and damage handling.

use crate::nvenc::api::{ApiVersion, NvencError, REQUIRED_VERSION};
use crate::nvenc::session_unavailable;
use crate::nvenc::sys::NVENCSTATUS;
use crate::nvenc::upload::damaged_rects;
use crate::{Frame, Rect, Unavailable};

fn failed(status: NVENCSTATUS) -> NvencError {
    NvencError {
        call: "nvEncOpenEncodeSessionEx",
        status,
        detail: String::new(),
    }
}

#[test]
fn session_open_failures_map_to_the_reasons_the_agent_falls_back_on() {
    let have = ApiVersion(REQUIRED_VERSION);
    let reason = |s| session_unavailable(&failed(s), "NVIDIA H100 80GB HBM3", have);
    // GeForce's per-system session cap shows up as either of these two on open.
    for s in [
        NVENCSTATUS::NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY,
        NVENCSTATUS::NV_ENC_ERR_OUT_OF_MEMORY,
    ] {
        assert!(matches!(reason(s), Unavailable::SessionLimit(_)), "{s:?}");
    }
    for s in [
        NVENCSTATUS::NV_ENC_ERR_NO_ENCODE_DEVICE,
        NVENCSTATUS::NV_ENC_ERR_UNSUPPORTED_DEVICE,
        NVENCSTATUS::NV_ENC_ERR_DEVICE_NOT_EXIST,
    ] {
        match reason(s) {
            Unavailable::NoEncoder(why) => {
                assert!(why.contains("H100"), "names the device: {why}");
                assert!(why.contains("NV_ENC_ERR_"), "names the status: {why}");
            }
            other => panic!("{s:?} gave {other:?}"),
        }
    }
    assert!(matches!(
        reason(NVENCSTATUS::NV_ENC_ERR_INVALID_VERSION),
        Unavailable::ApiTooOld { .. }
    ));
}

#[test]
fn the_api_version_prints_as_major_dot_minor() {
    // NvEncodeAPIGetMaxSupportedVersion encodes 12.1 as 0xc1.
    assert_eq!(ApiVersion(0xc1).to_string(), "12.1");
    assert!(ApiVersion(0xb1) < ApiVersion(REQUIRED_VERSION));
}

fn frame<'a>(data: &'a [u8], damage: &'a [Rect]) -> Frame<'a> {
    Frame {
        data,
        width: 100,
        height: 50,
        stride: 400,
        damage,
        pts_ms: 0,
        buffer: None,
    }
}

const fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
    Rect {
        x,
        y,
        width,
        height,
    }
}

#[test]
fn damage_is_clamped_to_the_frame_and_unknown_damage_means_everything() {
    let data = vec![0u8; 400 * 50];
    let mut out = Vec::new();
    damaged_rects(&frame(&data, &[]), false, &mut out);
    assert_eq!(out, [rect(0, 0, 100, 50)], "empty damage is unknown damage");
    let damage = [rect(90, 40, 50, 50), rect(200, 0, 5, 5), rect(3, 4, 5, 6)];
    damaged_rects(&frame(&data, &damage), true, &mut out);
    assert_eq!(out, [rect(0, 0, 100, 50)], "a whole upload ignores damage");
    damaged_rects(&frame(&data, &damage), false, &mut out);
    assert_eq!(
        out,
        [rect(90, 40, 10, 10), rect(3, 4, 5, 6)],
        "clamped; the outside one dropped"
    );
}

#[test]
fn many_damage_rectangles_become_one_bounding_box() {
    let data = vec![0u8; 400 * 50];
    let damage: Vec<Rect> = (0..40).map(|i| rect(i * 2, i, 1, 1)).collect();
    let mut out = Vec::new();
    damaged_rects(&frame(&data, &damage), false, &mut out);
    assert_eq!(out, [rect(0, 0, 79, 40)]);
}
