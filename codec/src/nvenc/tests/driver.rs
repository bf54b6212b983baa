//! `probe` and `open` on machines without an NVIDIA driver, and with NVIDIA's user-space
//! libraries but no GPU.

use std::process::Command;

use super::{h264_config, not_run};
use crate::nvenc::api::{ApiVersion, EncodeApi, REQUIRED_VERSION};
use crate::nvenc::cuda::{Driver, DriverError};
use crate::{Backend, Codec, Error, Unavailable};

const LIB_DIR_VAR: &str = "DESKCAST_NVIDIA_LIB_DIR";
const CHILD_VAR: &str = "DESKCAST_NVENC_CHILD";

/// Whether the dynamic loader finds libcuda here, asked independently of the code under test.
fn libcuda_loadable() -> bool {
    // SAFETY: loading NVIDIA's driver library runs only its own initialisers.
    unsafe { libloading::Library::new("libcuda.so.1") }.is_ok()
}

#[test]
fn without_a_driver_probe_says_no_driver_and_open_is_unavailable() {
    if libcuda_loadable() {
        not_run(
            "without_a_driver_probe_says_no_driver_and_open_is_unavailable",
            "libcuda.so.1 is loadable on this machine",
        );
        return;
    }
    let caps = crate::nvenc::probe();
    assert_eq!(
        caps.len(),
        Codec::ALL.len(),
        "one entry per codec: {caps:?}"
    );
    for cap in &caps {
        assert_eq!(cap.backend, Backend::Nvenc);
        match (cap.codec, &cap.status) {
            (Codec::H264 | Codec::H265 | Codec::Av1, Err(Unavailable::NoDriver(why))) => {
                assert!(
                    why.contains("libcuda"),
                    "the reason names the library: {why}"
                );
            }
            (Codec::Vp8 | Codec::Vp9, Err(Unavailable::Codec { .. })) => {}
            other => panic!("unexpected probe entry {other:?}"),
        }
    }
    match crate::nvenc::open(&h264_config()) {
        Err(Error::Unavailable {
            backend: Backend::Nvenc,
            reason: Unavailable::NoDriver(why),
        }) => assert!(why.contains("libcuda"), "{why}"),
        Err(other) => panic!("expected NoDriver, got {other}"),
        Ok(_) => panic!("an NVENC encoder opened without a driver"),
    }
    // The crate-level dispatch reaches the same answer.
    assert!(!crate::probe().can(Backend::Nvenc, Codec::H264));
}

#[test]
fn vp9_is_not_an_nvenc_codec() {
    let mut config = h264_config();
    config.codec = Codec::Vp9;
    match crate::nvenc::open(&config) {
        Err(Error::Unavailable {
            reason: Unavailable::Codec { codec, .. },
            ..
        }) => assert_eq!(codec, Codec::Vp9),
        Err(other) => panic!("expected a codec refusal, got {other}"),
        Ok(_) => panic!("NVENC opened a VP9 encoder"),
    }
}

/// Runs the probe in a child process whose loader path holds NVIDIA's user-space libraries
/// (the loader reads `LD_LIBRARY_PATH` only at start, hence the child).
#[test]
fn with_nvidia_libraries_but_no_gpu_probe_says_no_device() {
    let Some(dir) = std::env::var_os(LIB_DIR_VAR) else {
        not_run(
            "with_nvidia_libraries_but_no_gpu_probe_says_no_device",
            "set DESKCAST_NVIDIA_LIB_DIR to a directory with libcuda.so.1 and \
             libnvidia-encode.so.1 (machine without a GPU)",
        );
        return;
    };
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([
            "--exact",
            "nvenc::tests::driver::child_probe_with_nvidia_libraries",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LD_LIBRARY_PATH", &dir)
        .env(CHILD_VAR, "1")
        .output()
        .expect("run the child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child test ran:\n{text}");
    assert!(text.contains("CHILD:"), "the child reported:\n{text}");
    #[allow(clippy::print_stderr)] // What the real libraries said belongs in the test log.
    {
        eprintln!(
            "{}",
            text.lines()
                .filter(|l| l.starts_with("CHILD:"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// The child half of the test above; on its own it does nothing.
#[test]
fn child_probe_with_nvidia_libraries() {
    if std::env::var_os(CHILD_VAR).is_none() {
        not_run(
            "child_probe_with_nvidia_libraries",
            "runs only as the child of with_nvidia_libraries_but_no_gpu_probe_says_no_device",
        );
        return;
    }
    let report = |line: String| {
        #[allow(clippy::print_stderr)] // Read by the parent test.
        {
            eprintln!("CHILD: {line}");
        }
    };
    match Driver::open() {
        Err(DriverError::Call { library, source }) => {
            report(format!("{library}: {source}"));
            assert_eq!(
                source.code,
                crate::nvenc::cuda::code::NO_DEVICE,
                "a GPU-less machine gives CUDA_ERROR_NO_DEVICE"
            );
        }
        Err(other) => panic!("libcuda did not load from the given directory: {other}"),
        Ok(driver) => panic!(
            "CUDA came up ({}); this test is for machines without a GPU",
            driver.version()
        ),
    }
    let api = EncodeApi::load().expect("libnvidia-encode loads and fills its function list");
    report(format!(
        "libnvidia-encode.so.1: maximum NVENC API {} (bindings need {})",
        api.max_version(),
        ApiVersion(REQUIRED_VERSION)
    ));
    assert!(api.max_version() >= ApiVersion(REQUIRED_VERSION));
    let caps = crate::nvenc::probe();
    let h264 = caps
        .iter()
        .find(|c| c.codec == Codec::H264)
        .expect("an H.264 entry");
    report(format!("probe: h264 {:?}", h264.status));
    match &h264.status {
        Err(Unavailable::NoDevice(why)) => assert!(why.contains("CUDA_ERROR_NO_DEVICE"), "{why}"),
        other => panic!("expected NoDevice, got {other:?}"),
    }
}
