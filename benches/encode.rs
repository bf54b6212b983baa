//! Criterion: software encode time per frame (BGRA in, packet out: conversion included) for
//! each codec at 1080p and 4K, on a static desktop, scrolling text and full motion. Also counts
//! the heap allocations one steady-state frame makes through `send_frame` + `receive_packet`
//! (Rust allocations only; what libvpx and OpenH264 do inside C is not seen).

#[path = "../codec/tests/support/scene.rs"]
mod scene;

use std::alloc::System;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use deskcast_codec::software::default_bitrate_kbps;
use deskcast_codec::{Backend, Codec, Encoder, EncoderConfig};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use scene::{Desktop, Motion};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SIZES: [(&str, u32, u32); 2] = [("1080p", 1920, 1080), ("4k", 3840, 2160)];
const CODECS: [Codec; 3] = [Codec::Vp9, Codec::Vp8, Codec::H264];
const SCENES: [(&str, Motion); 3] = [
    ("static", Motion::Static),
    ("scroll", Motion::Scroll),
    ("motion", Motion::Video),
];

fn open(codec: Codec, w: u32, h: u32) -> Box<dyn Encoder> {
    let config = EncoderConfig {
        codec,
        width: w,
        height: h,
        fps: 30,
        bitrate_kbps: default_bitrate_kbps(w, h, 30),
        threads: 0,
    };
    deskcast_codec::open(Backend::Software, &config).expect("open encoder")
}

/// Encodes frame `i` of `scene` and drains its packets; returns the bytes produced.
fn step(enc: &mut dyn Encoder, scene: &mut Desktop, i: u32) -> usize {
    enc.send_frame(&scene.render(i)).expect("send_frame");
    let mut bytes = 0;
    while let Some(p) = enc.receive_packet().expect("receive_packet") {
        bytes += p.data.len();
    }
    bytes
}

/// Times only the encoder: rendering the next scene frame happens outside the clock.
fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (size, w, h) in SIZES {
        for codec in CODECS {
            for (name, motion) in SCENES {
                let mut enc = open(codec, w, h);
                let mut scene = Desktop::new(w, h, motion);
                let mut i = 0;
                step(enc.as_mut(), &mut scene, i); // The keyframe is not the steady state.
                group.bench_function(format!("{codec}/{size}/{name}"), |b| {
                    b.iter_custom(|iters| {
                        let mut spent = Duration::ZERO;
                        for _ in 0..iters {
                            i += 1;
                            let frame = scene.render(i);
                            let start = Instant::now();
                            enc.send_frame(&frame).expect("send_frame");
                            while enc.receive_packet().expect("receive_packet").is_some() {}
                            spent += start.elapsed();
                        }
                        spent
                    });
                });
            }
        }
    }
    group.finish();
    count_allocations();
}

/// Heap allocations per steady-state frame, per codec and scene, at 1080p.
#[allow(clippy::print_stderr)] // A bench reports on stderr; there is no subscriber here.
fn count_allocations() {
    for codec in CODECS {
        for (name, motion) in SCENES {
            let mut enc = open(codec, 1920, 1080);
            let mut scene = Desktop::new(1920, 1080, motion);
            for i in 0..20 {
                step(enc.as_mut(), &mut scene, i);
            }
            let mut allocations = 0;
            for i in 20..40 {
                let frame = scene.render(i);
                let region = Region::new(GLOBAL);
                enc.send_frame(&frame).expect("send_frame");
                while enc.receive_packet().expect("receive_packet").is_some() {}
                allocations += region.change().allocations;
            }
            eprintln!(
                "allocations per frame: {codec}/1080p/{name}: {:.2}",
                allocations as f64 / 20.0
            );
        }
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
