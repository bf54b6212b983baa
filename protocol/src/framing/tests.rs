//! Tests of the length-prefix framing.

use super::*;
use crate::message::{Hash, Message, message};

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(payload, &mut out).expect("frame");
    out
}

#[test]
fn headers_match_the_spec_examples() {
    assert_eq!(framed(&[7; 5])[..1], [0x14]);
    assert_eq!(framed(&[7; 100])[..2], [0x91, 0x01]);
    assert_eq!(framed(&[]), [0x00]);
}

#[test]
fn header_length_grows_at_each_boundary() {
    for (len, header) in [
        (0x3F, 1),
        (0x40, 2),
        (0x3FFF, 2),
        (0x4000, 3),
        (0x3F_FFFF, 3),
        (0x40_0000, 4),
        (MAX_ENCODABLE_LEN, 4),
    ] {
        assert_eq!(header_len(len).expect("encodable"), header, "length {len}");
        let mut out = Vec::new();
        write_header(len, &mut out).expect("encodable");
        assert_eq!(out.len(), header);
        assert_eq!(usize::from(out[0] & 3) + 1, header);
        assert_eq!(parse_header(&out), Some((header, len as u64)));
    }
}

#[test]
fn payloads_above_one_gibibyte_cannot_be_framed() {
    let mut out = vec![9];
    let error = write_header(MAX_ENCODABLE_LEN + 1, &mut out).unwrap_err();
    assert!(matches!(
        error,
        Error::ApiMisuse(ApiMisuse::FrameTooLarge { len }) if len == MAX_ENCODABLE_LEN + 1
    ));
    assert_eq!(out, [9], "output untouched");
}

#[test]
fn decoder_reassembles_frames_over_every_split() {
    let lengths = [0usize, 1, 2, 63, 64, 65, 300, 0, 16_383, 16_384, 70_000, 0];
    let payloads: Vec<Vec<u8>> = lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| (0..len).map(|j| (i * 31 + j) as u8).collect())
        .collect();
    let mut stream = Vec::new();
    for payload in &payloads {
        encode_frame(payload, &mut stream).expect("frame");
    }
    for chunk in [1, 2, 3, 7, 64, 1000, 65_537, stream.len()] {
        let mut decoder = FrameDecoder::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            decoder.feed(piece);
            while let Some(frame) = decoder.next_frame().expect("valid stream") {
                got.push(frame.to_vec());
            }
        }
        assert_eq!(got, payloads, "chunk size {chunk}");
        decoder.finish().expect("nothing left over");
        assert_eq!(decoder.buffered(), 0);
    }
}

#[test]
fn zero_length_frames_come_out_as_empty_payloads() {
    let mut decoder = FrameDecoder::new();
    decoder.feed(&[0x00, 0x00, 0x04, 0xAB]);
    assert_eq!(
        decoder.next_frame().expect("ok").map(|f| f.to_vec()),
        Some(vec![])
    );
    assert_eq!(
        decoder.next_frame().expect("ok").map(|f| f.to_vec()),
        Some(vec![])
    );
    assert_eq!(
        decoder.next_frame().expect("ok").map(|f| f.to_vec()),
        Some(vec![0xAB])
    );
    assert!(decoder.next_frame().expect("ok").is_none());
}

#[test]
fn truncated_header_waits_then_reports_truncation_at_eof() {
    let mut decoder = FrameDecoder::new();
    // A 4-byte header of which only two bytes arrived.
    decoder.feed(&[0x03, 0x00]);
    assert!(decoder.next_frame().expect("incomplete is fine").is_none());
    let error = decoder.finish().unwrap_err();
    assert!(matches!(
        error,
        Error::PeerMisbehaved(PeerMisbehaved::TruncatedFrame { buffered: 2 })
    ));
}

#[test]
fn truncated_payload_reports_truncation_at_eof() {
    let mut decoder = FrameDecoder::new();
    let frame = framed(&[1; 10]);
    decoder.feed(&frame[..8]);
    assert!(decoder.next_frame().expect("incomplete is fine").is_none());
    assert!(matches!(
        decoder.finish(),
        Err(Error::PeerMisbehaved(PeerMisbehaved::TruncatedFrame {
            buffered: 8
        }))
    ));
}

#[test]
fn oversized_frame_is_rejected_and_the_decoder_stays_failed() {
    let mut decoder = FrameDecoder::with_max_frame_len(1000);
    let mut header = Vec::new();
    write_header(1001, &mut header).expect("encodable");
    decoder.feed(&header);
    for _ in 0..2 {
        let error = decoder.next_frame().unwrap_err();
        assert!(matches!(
            error,
            Error::PeerMisbehaved(PeerMisbehaved::FrameTooLarge {
                len: 1001,
                max: 1000
            })
        ));
        decoder.feed(&[0; 2000]);
    }
}

#[test]
fn largest_header_is_rejected_by_the_default_limit_before_any_payload() {
    let mut decoder = FrameDecoder::new();
    decoder.feed(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let error = decoder.next_frame().unwrap_err();
    assert!(matches!(
        error,
        Error::PeerMisbehaved(PeerMisbehaved::FrameTooLarge { len, max })
            if len == MAX_ENCODABLE_LEN as u64 && max == DEFAULT_MAX_FRAME_LEN
    ));
}

#[test]
fn a_huge_announced_frame_reserves_only_a_bounded_amount() {
    let mut decoder = FrameDecoder::new();
    let mut header = Vec::new();
    write_header(60 << 20, &mut header).expect("encodable");
    decoder.feed(&header);
    decoder.feed(&[0; 10]);
    assert!(decoder.next_frame().expect("within limit").is_none());
    assert!(
        decoder.buf.capacity() <= SPECULATIVE_RESERVE + 64,
        "reserved {} bytes",
        decoder.buf.capacity()
    );
}

#[test]
fn frames_can_be_modified_in_place() {
    let mut decoder = FrameDecoder::new();
    decoder.feed(&framed(b"abc"));
    let frame = decoder.next_frame().expect("ok").expect("frame");
    frame[0] = b'x';
    assert_eq!(frame, b"xbc");
}

#[test]
fn messages_are_framed_with_their_encoded_length() {
    let message: Message = message::Union::Hash(Hash {
        salt: "salt".into(),
        challenge: "chal".into(),
    })
    .into();
    let mut out = Vec::new();
    encode_message(&message, &mut out).expect("frame");
    let mut decoder = FrameDecoder::new();
    decoder.feed(&out);
    let payload = decoder.next_frame().expect("ok").expect("frame");
    assert_eq!(
        crate::message::decode_message(payload).expect("decodes"),
        message
    );
}
