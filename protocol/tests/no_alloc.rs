//! Sealing and framing video into a reused buffer, and receiving and opening frames in place,
//! allocate nothing once the buffers have grown: the agent does this for every video frame.
//!
//! A plain `main` (harness = false) so that no test-runner thread allocates while counting.

use std::alloc::System;

use deskcast_protocol::crypto::Cipher;
use deskcast_protocol::framing::FrameDecoder;
use deskcast_protocol::message::video::{EncodedFrameRef, VideoCodec, VideoFrameRef};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let bitstream = vec![0x5Au8; 1 << 20];
    let mut sender = Cipher::new(&[7; 32]);
    let mut receiver = Cipher::new(&[7; 32]);
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::with_capacity(2 << 20);

    let mut round = |len: usize| {
        let frames = [EncodedFrameRef {
            data: &bitstream[..len],
            key: len.is_multiple_of(2),
            pts: len as i64,
        }];
        let video = VideoFrameRef {
            codec: VideoCodec::Vp9,
            display: 0,
            frames: &frames,
        };
        out.clear();
        sender.seal_message(&video, &mut out).expect("seals");
        decoder.feed(&out);
        let frame = decoder.next_frame().expect("valid").expect("whole frame");
        let plain = receiver.open(frame).expect("opens");
        assert!(plain.len() > len);
    };

    // Warm-up: buffers grow to their steady size.
    for len in [1 << 20, 100_000, 1 << 20] {
        round(len);
    }
    let region = Region::new(GLOBAL);
    for i in 0..200 {
        round(if i % 2 == 0 { 100_000 } else { (1 << 20) - i });
    }
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "steady-state seal, frame, receive and open must not allocate: {stats:?}"
    );
}
