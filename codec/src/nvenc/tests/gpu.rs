//! Tests on a real NVIDIA GPU, run only with `DESKCAST_GPU_TESTS=1`.
//!
//! The CUDA half (context, page-locked SysV segment, asynchronous upload, staging fallback)
//! runs on any NVIDIA GPU, data-centre parts included. The NVENC half encodes H.264 on a GPU
//! with an encoder and, on one without (H100/H200), must end in the clean "no NVENC on this
//! GPU" outcome.

use std::sync::Arc;

use super::{h264_config, not_run};
use crate::nvenc::cuda::{Context, DeviceSurface, Driver};
use crate::nvenc::upload::{Route, Uploader};
use crate::{BufferId, Error, Frame, Rect, Unavailable};

const GPU_VAR: &str = "DESKCAST_GPU_TESTS";

fn gpu_enabled(test: &str) -> bool {
    let on = std::env::var(GPU_VAR).is_ok_and(|v| v == "1");
    if !on {
        not_run(
            test,
            "set DESKCAST_GPU_TESTS=1 on a machine with an NVIDIA GPU",
        );
    }
    on
}

fn context() -> Arc<Context> {
    let driver = Driver::open().expect("CUDA driver");
    let device = driver.device(0).expect("CUDA device 0");
    Context::primary(&driver, &device).expect("primary context")
}

/// A SysV shared-memory segment, as the X server's MIT-SHM capture uses; removed on drop.
struct Segment {
    id: i32,
    ptr: *mut u8,
    len: usize,
}

impl Segment {
    fn new(len: usize) -> Self {
        // SAFETY: plain syscalls; the result is checked before use.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, len, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        // SAFETY: `id` is our new segment; attach it anywhere, read-write.
        let ptr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        assert_ne!(
            ptr as isize,
            -1,
            "shmat: {}",
            std::io::Error::last_os_error()
        );
        Self {
            id,
            ptr: ptr.cast(),
            len,
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes are attached at `ptr` until Drop, and only this value reaches them.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: detaches our own segment; nothing uses the mapping afterwards.
        unsafe { libc::shmdt(self.ptr.cast()) };
        // SAFETY: marks our own segment for removal; a null buffer is allowed for IPC_RMID.
        unsafe { libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

/// Fills `data` with a pattern that differs in every byte position within a row.
fn fill(data: &mut [u8], seed: u8) {
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i as u8)
            .wrapping_mul(31)
            .wrapping_add((i / 4093) as u8)
            .wrapping_add(seed);
    }
}

/// Reads the surface back and compares it row by row with the BGRA image in `src`.
fn assert_surface_equals(uploader: &Uploader, surface: &DeviceSurface, src: &[u8], stride: usize) {
    let r = surface.full_rect();
    let row = r.width as usize * 4;
    let mut back = vec![0u8; row * r.height as usize];
    uploader
        .stream()
        .download(surface, &mut back, row)
        .expect("download");
    for y in 0..r.height as usize {
        assert!(
            back[y * row..(y + 1) * row] == src[y * stride..y * stride + row],
            "row {y} differs after the round trip"
        );
    }
}

#[test]
fn gpu_uploads_a_page_locked_sysv_segment_byte_exact() {
    if !gpu_enabled("gpu_uploads_a_page_locked_sysv_segment_byte_exact") {
        return;
    }
    let ctx = context();
    // An odd width and a stride wider than the row, as a segment sized for a larger screen.
    let (width, height, stride) = (1001u32, 301u32, 1001 * 4 + 256);
    let mut segment = Segment::new(stride * height as usize);
    fill(segment.bytes(), 1);
    let mut surface = DeviceSurface::new(&ctx, width, height).expect("device surface");
    let mut uploader = Uploader::new(&ctx).expect("uploader");
    let expected = if ctx.can_register_host_memory() {
        Route::Registered
    } else {
        Route::Staged
    };
    let damage = [Rect {
        x: 17,
        y: 33,
        width: 200,
        height: 100,
    }];
    for (round, whole) in [(0u8, true), (1, false), (2, false)] {
        if round > 0 {
            // Change only the damaged rectangle, as the X server would.
            let data = segment.bytes();
            for y in 33..133 {
                fill(
                    &mut data[y * stride + 17 * 4..y * stride + 217 * 4],
                    round * 50,
                );
            }
        }
        let data: &[u8] = segment.bytes();
        let frame = Frame {
            data,
            width,
            height,
            stride,
            damage: &damage,
            pts_ms: i64::from(round),
            buffer: Some(BufferId(7)),
        };
        let route = uploader
            .upload(&frame, whole, &mut surface)
            .expect("upload");
        assert_eq!(route, expected, "round {round}");
        assert_surface_equals(&uploader, &surface, data, stride);
    }
    uploader.release();
}

#[test]
fn gpu_staging_fallback_is_byte_exact() {
    if !gpu_enabled("gpu_staging_fallback_is_byte_exact") {
        return;
    }
    let ctx = context();
    let (width, height) = (640u32, 360u32);
    let stride = width as usize * 4 + 64;
    let mut data = vec![0u8; stride * height as usize];
    fill(&mut data, 9);
    let mut surface = DeviceSurface::new(&ctx, width, height).expect("device surface");
    let mut uploader = Uploader::new(&ctx).expect("uploader");
    let frame = Frame {
        data: &data,
        width,
        height,
        stride,
        damage: &[],
        pts_ms: 0,
        buffer: None,
    };
    let route = uploader.upload(&frame, true, &mut surface).expect("upload");
    assert_eq!(
        route,
        Route::Staged,
        "a frame without a buffer id is staged"
    );
    assert_surface_equals(&uploader, &surface, &data, stride);
}

/// NAL unit types of an Annex B H.264 stream, in order.
fn nal_types(stream: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            types.push(stream[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

#[test]
fn gpu_nvenc_encodes_h264_or_reports_no_encoder() {
    if !gpu_enabled("gpu_nvenc_encodes_h264_or_reports_no_encoder") {
        return;
    }
    let config = h264_config();
    let device = {
        let driver = Driver::open().expect("CUDA driver");
        driver.device(0).expect("device 0").name().to_owned()
    };
    let report = |line: String| {
        #[allow(clippy::print_stderr)] // What the GPU said belongs in the test log.
        {
            eprintln!("GPU ({device}): {line}");
        }
    };
    let mut encoder = match crate::nvenc::open(&config) {
        Ok(e) => e,
        Err(Error::Unavailable {
            reason: Unavailable::NoEncoder(why),
            ..
        }) => {
            report(format!(
                "no NVENC on this GPU, as expected for data-centre parts: {why}"
            ));
            let caps = crate::nvenc::probe();
            assert!(
                caps.iter().all(|c| c.status.is_err()),
                "probe agrees: {caps:?}"
            );
            return;
        }
        Err(Error::Unavailable {
            reason: Unavailable::NoDriver(why),
            ..
        }) if why.contains("libnvidia-encode") => {
            report(format!(
                "the encode library is not mapped in (NVIDIA_DRIVER_CAPABILITIES lacks video): {why}"
            ));
            return;
        }
        Err(other) => panic!("NVENC failed on {device}: {other}"),
    };
    let (w, h) = (config.width, config.height);
    let mut image = vec![0u8; w as usize * 4 * h as usize];
    for n in 0..6i64 {
        fill(&mut image, n as u8);
        if n == 4 {
            encoder.request_keyframe();
        }
        let frame = Frame {
            data: &image,
            width: w,
            height: h,
            stride: w as usize * 4,
            damage: &[],
            pts_ms: n * 33,
            buffer: None,
        };
        encoder.send_frame(&frame).expect("send_frame");
        let packet = encoder
            .receive_packet()
            .expect("receive")
            .expect("one packet per frame");
        assert_eq!(packet.pts_ms, n * 33);
        let types = nal_types(packet.data);
        report(format!(
            "frame {n}: {} bytes, NAL types {types:?}",
            packet.data.len()
        ));
        if n == 0 || n == 4 {
            assert!(packet.keyframe, "frame {n} is a keyframe");
            let sps = types.iter().position(|&t| t == 7).expect("SPS");
            let pps = types.iter().position(|&t| t == 8).expect("PPS");
            let idr = types.iter().position(|&t| t == 5).expect("IDR slice");
            assert!(sps < pps && pps < idr, "SPS, PPS, then IDR: {types:?}");
        } else {
            assert!(!packet.keyframe, "frame {n} is a P frame");
            assert!(!types.contains(&5), "no IDR without a request: {types:?}");
        }
        assert!(encoder.receive_packet().expect("receive").is_none());
    }
    encoder.set_bitrate(2000).expect("reconfigure the bitrate");
}
