//! Framing and silence decisions on hand-made byte streams.

use std::time::{Duration, Instant};

use super::*;

fn bytes_of(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn ramp(len: usize) -> Vec<f32> {
    (0..len).map(|i| (i % 1000) as f32 / 1000.0).collect()
}

#[test]
fn chunks_of_any_size_make_the_same_frames() {
    let samples = ramp(FRAME_LEN * 3 + 17);
    let bytes = bytes_of(&samples);
    let now = Instant::now();
    for chunk in [1, 3, 4, 7, 8, 1000, 3840, 5000, bytes.len()] {
        let mut framer = Framer::new(1e-4);
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            framer.push(piece, now, &mut out);
        }
        assert_eq!(out.len(), 3, "chunk size {chunk}");
        for (i, frame) in out.iter().enumerate() {
            assert_eq!(frame.sequence(), i as u64);
            assert_eq!(
                frame.samples(),
                &samples[i * FRAME_LEN..(i + 1) * FRAME_LEN]
            );
        }
    }
}

#[test]
fn frames_from_one_chunk_are_dated_ten_milliseconds_apart() {
    let now = Instant::now();
    let mut framer = Framer::new(1e-4);
    let mut out = Vec::new();
    // Two and a half frames in one chunk: the second frame ends 5 ms before the chunk's end.
    framer.push(&bytes_of(&ramp(FRAME_LEN * 5 / 2)), now, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(now - out[1].captured_at(), Duration::from_millis(5));
    assert_eq!(now - out[0].captured_at(), Duration::from_millis(15));
    // The rest of the third frame arrives later and is dated by its own chunk.
    let later = now + Duration::from_millis(20);
    framer.push(&bytes_of(&ramp(FRAME_LEN / 2)), later, &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].captured_at(), later);
}

#[test]
fn peak_and_silence_follow_the_threshold() {
    let now = Instant::now();
    let mut framer = Framer::new(0.01);
    let mut out = Vec::new();
    let mut quiet = vec![0.0_f32; FRAME_LEN];
    quiet[100] = -0.009;
    let mut loud = vec![0.0_f32; FRAME_LEN];
    loud[7] = -0.5;
    loud[8] = 0.25;
    framer.push(&bytes_of(&quiet), now, &mut out);
    framer.push(&bytes_of(&loud), now, &mut out);
    assert!(out[0].is_silent());
    assert_eq!(out[0].peak(), 0.009);
    assert!(!out[1].is_silent());
    assert_eq!(out[1].peak(), 0.5);
}

#[test]
fn non_finite_samples_become_silence() {
    let now = Instant::now();
    let mut framer = Framer::new(1e-4);
    let mut out = Vec::new();
    let mut samples = vec![0.0_f32; FRAME_LEN];
    samples[0] = f32::NAN;
    samples[1] = f32::INFINITY;
    samples[2] = f32::NEG_INFINITY;
    framer.push(&bytes_of(&samples), now, &mut out);
    assert!(out[0].samples().iter().all(|s| *s == 0.0));
    assert!(out[0].is_silent());
}

#[test]
fn byte_durations_round_trip() {
    assert_eq!(bytes_of_duration(FRAME_DURATION), FRAME_LEN * 4);
    assert_eq!(duration_of_bytes(FRAME_LEN * 4), FRAME_DURATION);
    // A part of a sample pair plays for no time.
    assert_eq!(duration_of_bytes(7), Duration::ZERO);
    assert_eq!(bytes_of_duration(Duration::from_millis(20)), 7680);
}

#[test]
fn the_gate_holds_back_long_silence_only() {
    let now = Instant::now();
    let mut framer = Framer::new(1e-4);
    let mut frames = Vec::new();
    let pattern = [true, true, true, true, false, true, true, true];
    for silent in pattern {
        let value = if silent { 0.0 } else { 0.5 };
        framer.push(&bytes_of(&vec![value; FRAME_LEN]), now, &mut frames);
    }
    let mut paused = SilenceGate::new(Some(2));
    let admitted: Vec<bool> = frames.iter().map(|f| paused.admit(f)).collect();
    assert_eq!(
        admitted,
        [true, true, false, false, true, true, true, false]
    );
    let mut always = SilenceGate::new(None);
    assert!(frames.iter().all(|f| always.admit(f)));
}
