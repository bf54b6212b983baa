//! The frame decoder and the receive side of the cipher over arbitrary bytes, split at
//! arbitrary points.

#![no_main]

use deskcast_protocol::crypto::Cipher;
use deskcast_protocol::framing::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    // A small limit, so that the over-limit path is reachable.
    let mut decoder = FrameDecoder::with_max_frame_len(4096);
    let mut cipher = Cipher::new(&[0x42; 32]);
    let chunk = usize::from(split % 64) + 1;
    let mut fed = 0;
    let mut taken = 0;
    for piece in stream.chunks(chunk) {
        decoder.feed(piece);
        fed += piece.len();
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    taken += frame.len();
                    assert!(frame.len() <= 4096);
                    // Anything may fail to open; nothing may panic.
                    let _ = cipher.open(frame);
                }
                Ok(None) => break,
                Err(_) => {
                    assert!(
                        decoder.next_frame().is_err(),
                        "a failed decoder stays failed"
                    );
                    return;
                }
            }
        }
        assert!(decoder.buffered() <= fed - taken);
    }
    let _ = decoder.finish();
});
