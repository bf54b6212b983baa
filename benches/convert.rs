//! Criterion: BGRA → I420 colour conversion of whole desktop frames at 1080p and 4K, and of a
//! typical damage rectangle (a scrolling terminal, half the screen) at 4K.

#[path = "../codec/tests/support/scene.rs"]
mod scene;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use deskcast_codec::convert::I420;

use scene::{Desktop, Motion};

fn convert(c: &mut Criterion) {
    let mut group = c.benchmark_group("convert_bgra_to_i420");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for (name, w, h) in [("1080p", 1920, 1080), ("4k", 3840, 2160)] {
        let mut desktop = Desktop::new(w, h, Motion::Window);
        let frame = desktop.render(0);
        let mut yuv = I420::new(w, h).expect("planes");
        group.bench_function(format!("full/{name}"), |b| {
            b.iter(|| yuv.convert_all(black_box(&frame)).expect("convert"));
        });
    }
    let mut desktop = Desktop::new(3840, 2160, Motion::Scroll);
    let mut yuv = I420::new(3840, 2160).expect("planes");
    yuv.convert(&desktop.render(0)).expect("convert");
    let frame = desktop.render(1);
    group.bench_function("damage/4k_scroll", |b| {
        b.iter(|| yuv.convert(black_box(&frame)).expect("convert"));
    });
    group.finish();
}

criterion_group!(benches, convert);
criterion_main!(benches);
