//! Sealing and framing encoded video frames, as the agent does for every frame: encode the
//! `VideoFrame` message straight into a reused buffer, seal it in place, prefix the length.
//!
//! Before measuring, the bench counts heap allocations over many steady-state calls with a
//! counting global allocator and fails if there are any.

// A bench reports to the terminal.
#![allow(clippy::print_stdout)]

use std::alloc::System;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use deskcast_protocol::crypto::Cipher;
use deskcast_protocol::message::video::{EncodedFrameRef, VideoCodec, VideoFrameRef};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SIZES: [(&str, usize); 2] = [("100kB", 100_000), ("1MB", 1_000_000)];

/// Seals one frame of `data` into `out`, reusing its capacity.
fn seal(cipher: &mut Cipher, data: &[u8], out: &mut Vec<u8>) {
    let frames = [EncodedFrameRef {
        data,
        key: false,
        pts: 40,
    }];
    let video = VideoFrameRef {
        codec: VideoCodec::Vp9,
        display: 0,
        frames: &frames,
    };
    out.clear();
    cipher.seal_message(&video, out).expect("seals");
}

fn bitstream(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Fails unless sealing allocates nothing once the output buffer has grown.
fn assert_no_allocations() {
    for (name, len) in SIZES {
        let data = bitstream(len);
        let mut cipher = Cipher::new(&[7; 32]);
        let mut out = Vec::new();
        seal(&mut cipher, &data, &mut out);
        let calls = 1000;
        let region = Region::new(GLOBAL);
        for _ in 0..calls {
            seal(&mut cipher, black_box(&data), &mut out);
        }
        let stats = region.change();
        println!(
            "seal {name}: {} allocations, {} reallocations in {calls} steady-state calls",
            stats.allocations, stats.reallocations
        );
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "sealing must not allocate per call"
        );
    }
}

fn seal_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("seal_video_frame");
    for (name, len) in SIZES {
        let data = bitstream(len);
        let mut cipher = Cipher::new(&[7; 32]);
        let mut out = Vec::with_capacity(len + 64);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| seal(&mut cipher, black_box(data), &mut out));
        });
    }
    group.finish();
}

fn open_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_video_frame");
    for (name, len) in SIZES {
        let data = bitstream(len);
        let mut sealed = Vec::new();
        seal(&mut Cipher::new(&[7; 32]), &data, &mut sealed);
        let header = usize::from(sealed[0] & 3) + 1;
        let mut scratch = sealed.clone();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                // Each iteration opens the same frame with a fresh counter at 0.
                scratch.copy_from_slice(&sealed);
                let mut cipher = Cipher::new(&[7; 32]);
                black_box(cipher.open(&mut scratch[header..]).expect("opens").len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, seal_frames, open_frames);

fn main() {
    assert_no_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
