//! Tests of the NVENC backend.
//!
//! Run everywhere: the no-driver behaviour of `probe`/`open` (on machines without libcuda),
//! the struct layouts against a C compiler, and the pure logic. Gated by environment
//! variables, because they need what this machine lacks: `DESKCAST_NVIDIA_LIB_DIR` (a
//! directory holding NVIDIA's `libcuda.so.1` and `libnvidia-encode.so.1`, e.g. extracted from
//! Debian's non-free packages, on a machine without a GPU) and `DESKCAST_GPU_TESTS=1` (a machine
//! with an NVIDIA GPU). A gated test that does not run says so on stderr (`--nocapture` shows
//! it) instead of passing silently.

mod driver;
mod gpu;
mod layout;
mod logic;

/// Records that a gated test did not run, and why.
#[allow(clippy::print_stderr)] // The point is to be seen in the test output.
fn not_run(test: &str, why: &str) {
    eprintln!("NOT RUN: {test}: {why}");
}

/// An H.264 configuration small enough for any GPU.
fn h264_config() -> crate::EncoderConfig {
    crate::EncoderConfig {
        codec: crate::Codec::H264,
        width: 640,
        height: 480,
        fps: 30,
        bitrate_kbps: 4000,
        threads: 0,
    }
}
