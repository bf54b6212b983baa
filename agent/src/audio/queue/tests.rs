//! The drop-oldest queue: bounds, counters, endings, blocking and async receiving.

use std::time::{Duration, Instant};

use super::*;
use crate::audio::frame::{FRAME_LEN, Framer};

/// `count` frames numbered from 0.
fn frames(count: usize) -> Vec<AudioFrame> {
    let mut framer = Framer::new(1e-4);
    let mut out = Vec::new();
    let bytes: Vec<u8> = (0..FRAME_LEN * count)
        .flat_map(|i| (i as f32 / 1e6).to_le_bytes())
        .collect();
    framer.push(&bytes, Instant::now(), &mut out);
    out
}

#[test]
fn a_full_queue_drops_the_oldest() {
    let (sender, receiver) = channel(3);
    for frame in frames(10) {
        sender.push(frame);
    }
    let stats = receiver.stats();
    assert_eq!(
        (stats.len, stats.capacity, stats.high_water, stats.dropped),
        (3, 3, 3, 7)
    );
    let kept: Vec<u64> = (0..3)
        .map(|_| receiver.try_recv().unwrap().unwrap().sequence())
        .collect();
    assert_eq!(kept, [7, 8, 9]);
    assert_eq!(receiver.try_recv(), Ok(None));
}

#[test]
fn a_consumer_that_keeps_up_loses_nothing() {
    let (sender, receiver) = channel(2);
    for frame in frames(50) {
        let sequence = frame.sequence();
        sender.push(frame);
        assert_eq!(receiver.recv().unwrap().sequence(), sequence);
    }
    let stats = receiver.stats();
    assert_eq!((stats.dropped, stats.high_water), (0, 1));
}

#[test]
fn queued_frames_come_before_the_ending() {
    let (sender, receiver) = channel(4);
    for frame in frames(2) {
        sender.push(frame);
    }
    sender.close(RecvError::Stopped);
    assert_eq!(receiver.recv().unwrap().sequence(), 0);
    assert_eq!(receiver.recv().unwrap().sequence(), 1);
    assert_eq!(receiver.recv(), Err(RecvError::Stopped));
    assert_eq!(receiver.try_recv(), Err(RecvError::Stopped));
}

#[test]
fn a_vanished_sender_is_a_failure() {
    let (sender, receiver) = channel(4);
    drop(sender);
    assert!(matches!(
        receiver.recv_timeout(Duration::from_secs(5)),
        Err(RecvError::Failed(AudioError::Internal { .. }))
    ));
}

#[test]
fn recv_timeout_returns_none_when_nothing_comes() {
    let (_sender, receiver) = channel(4);
    assert_eq!(receiver.recv_timeout(Duration::from_millis(20)), Ok(None));
}

#[test]
fn a_blocked_receiver_wakes_for_a_frame_from_another_thread() {
    let (sender, receiver) = channel(4);
    let pusher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        for frame in frames(1) {
            sender.push(frame);
        }
        sender.close(RecvError::Stopped);
    });
    assert_eq!(receiver.recv().unwrap().sequence(), 0);
    assert_eq!(receiver.recv(), Err(RecvError::Stopped));
    pusher.join().unwrap();
}

#[tokio::test]
async fn async_receiving_sees_frames_and_the_ending() {
    let (sender, receiver) = channel(4);
    let pusher = std::thread::spawn(move || {
        for frame in frames(3) {
            std::thread::sleep(Duration::from_millis(5));
            sender.push(frame);
        }
        sender.close(RecvError::Failed(AudioError::Disconnected {
            detail: "test".into(),
        }));
    });
    for expected in 0..3 {
        assert_eq!(receiver.recv_async().await.unwrap().sequence(), expected);
    }
    assert!(matches!(
        receiver.recv_async().await,
        Err(RecvError::Failed(AudioError::Disconnected { .. }))
    ));
    pusher.join().unwrap();
}
