//! Tests of the messages: field numbers from the spec, tolerance of unknown fields and
//! union members, and the borrowed video-frame encoder.

use prost::Message as _;

use super::video::{EncodedFrameRef, VideoCodec, VideoFrameRef};
use super::*;
use crate::error::PeerMisbehaved;
use crate::framing::Payload;

fn encode(message: &impl prost::Message) -> Vec<u8> {
    message.encode_to_vec()
}

#[test]
fn field_numbers_and_wire_types_follow_the_spec() {
    // Message.hash = 9 (key 0x4a); Hash.salt = 1, Hash.challenge = 2.
    let hash: Message = message::Union::Hash(Hash {
        salt: "s".into(),
        challenge: "c".into(),
    })
    .into();
    assert_eq!(encode(&hash), [0x4a, 6, 0x0a, 1, b's', 0x12, 1, b'c']);
    // Message.signed_id = 3, Message.public_key = 4.
    let signed: Message = message::Union::SignedId(SignedId { id: vec![7] }).into();
    assert_eq!(encode(&signed), [0x1a, 3, 0x0a, 1, 7]);
    let pk: Message = message::Union::PublicKey(PublicKey {
        asymmetric_value: vec![1],
        symmetric_value: vec![2],
    })
    .into();
    assert_eq!(encode(&pk), [0x22, 6, 0x0a, 1, 1, 0x12, 1, 2]);
    // DisplayInfo.x is sint32 (zigzag: -1 → 1); width is int32.
    let display = DisplayInfo {
        x: -1,
        width: 3,
        ..DisplayInfo::default()
    };
    assert_eq!(encode(&display), [0x08, 0x01, 0x18, 0x03]);
    // MouseEvent: mask int32 = 1, x sint32 = 2.
    let mouse = MouseEvent {
        mask: 9,
        x: -2,
        ..MouseEvent::default()
    };
    assert_eq!(encode(&mouse), [0x08, 9, 0x10, 3]);
    // Message.cursor_id = 14 (uint64).
    let cursor: Message = message::Union::CursorId(5).into();
    assert_eq!(encode(&cursor), [0x70, 5]);
    // Misc (19) { close_reason = 9 }.
    let close: Message = misc::Union::CloseReason("x".into()).into();
    assert_eq!(encode(&close), [0x9a, 0x01, 3, 0x4a, 1, b'x']);
    // RendezvousMessage.register_peer = 6 { id = 1, serial = 2 }.
    let register: RendezvousMessage = rendezvous_message::Union::RegisterPeer(RegisterPeer {
        id: "a".into(),
        serial: 3,
    })
    .into();
    assert_eq!(encode(&register), [0x32, 5, 0x0a, 1, b'a', 0x10, 3]);
    // RelayResponse.pk = 5 inside the union, RendezvousMessage.relay_response = 19.
    let relay: RendezvousMessage = rendezvous_message::Union::RelayResponse(RelayResponse {
        union: Some(relay_response::Union::Pk(vec![1])),
        ..RelayResponse::default()
    })
    .into();
    assert_eq!(encode(&relay), [0x9a, 0x01, 3, 0x2a, 1, 1]);
    // ControlKey values: CtrlAltDel = 100, NumpadEnter = 72.
    assert_eq!(ControlKey::CtrlAltDel as i32, 100);
    assert_eq!(ControlKey::NumpadEnter as i32, 72);
    assert_eq!(permission_info::Permission::PrivacyMode as i32, 8);
    assert_eq!(register_pk_response::Result::NotDeployed as i32, 8);
}

#[test]
fn unknown_fields_are_skipped() {
    let login = LoginRequest {
        username: "123456789".into(),
        password: vec![1; 32],
        version: "1.4.9".into(),
        ..LoginRequest::default()
    };
    let message: Message = message::Union::LoginRequest(login).into();
    let mut bytes = encode(&message);
    // A future top-level field 200 (varint) and a future LoginRequest field 99 (bytes).
    bytes.extend_from_slice(&[0xc0, 0x0c, 0x2a]);
    let mut inner = encode(&match &message.union {
        Some(message::Union::LoginRequest(l)) => l.clone(),
        _ => unreachable!(),
    });
    inner.extend_from_slice(&[0x9a, 0x06, 2, 0xAA, 0xBB]);
    let mut with_inner = vec![0x3a, inner.len() as u8];
    with_inner.extend_from_slice(&inner);
    assert_eq!(decode_message(&bytes).expect("decodes"), message);
    assert_eq!(decode_message(&with_inner).expect("decodes"), message);
}

#[test]
fn unknown_union_members_leave_the_union_empty() {
    // Message field 40 (a future member), length-delimited, holding a nested message.
    let future = [0xc2, 0x02, 3, 0x0a, 1, b'z'];
    assert_eq!(
        decode_message(&future).expect("decodes"),
        Message::default()
    );
    // Misc field 99 inside Message.misc.
    let future_misc = [0x9a, 0x01, 3, 0x98, 0x06, 1];
    let decoded = decode_message(&future_misc).expect("decodes");
    assert_eq!(decoded, message::Union::Misc(Misc { union: None }).into());
    // RendezvousMessage field 22 (peer discovery, not modelled).
    let discovery = [0xb2, 0x01, 0];
    assert_eq!(
        decode_rendezvous(&discovery).expect("decodes"),
        RendezvousMessage::default()
    );
}

#[test]
fn garbage_and_truncation_are_typed_errors() {
    for bytes in [&[0xFF, 0xFF, 0xFF][..], &[0x4a, 10, 0x0a], &[0x0f], &[0x4a]] {
        assert!(
            matches!(
                decode_message(bytes),
                Err(Error::PeerMisbehaved(PeerMisbehaved::Malformed {
                    what: "Message",
                    ..
                }))
            ),
            "{bytes:?}"
        );
    }
    assert!(matches!(
        decode_rendezvous(&[0x32, 0x05]),
        Err(Error::PeerMisbehaved(PeerMisbehaved::Malformed {
            what: "RendezvousMessage",
            ..
        }))
    ));
}

#[test]
fn borrowed_video_frames_decode_as_the_equivalent_message() {
    let big = vec![0x5A; 300];
    let datas: [&[u8]; 4] = [b"", b"\x00\x00\x00\x01\x67", &big, &[1; 127]];
    for codec in [
        VideoCodec::Vp8,
        VideoCodec::Vp9,
        VideoCodec::Av1,
        VideoCodec::H264,
        VideoCodec::H265,
    ] {
        for display in [0, 1, 7, -1] {
            let frames: Vec<EncodedFrameRef<'_>> = datas
                .iter()
                .enumerate()
                .map(|(i, data)| EncodedFrameRef {
                    data,
                    key: i % 2 == 0,
                    pts: [0, 1, -5, i64::MAX][i],
                })
                .collect();
            for count in [0, 1, frames.len()] {
                let frame = VideoFrameRef {
                    codec,
                    display,
                    frames: &frames[..count],
                };
                let mut out = vec![0xEE];
                frame.write_payload(&mut out);
                assert_eq!(out.len() - 1, frame.payload_len());
                let decoded = decode_message(&out[1..]).expect("decodes");
                let owned = EncodedVideoFrames {
                    frames: frames[..count]
                        .iter()
                        .map(|f| EncodedVideoFrame {
                            data: f.data.to_vec(),
                            key: f.key,
                            pts: f.pts,
                        })
                        .collect(),
                };
                let union = match codec {
                    VideoCodec::Vp8 => video_frame::Union::Vp8s(owned),
                    VideoCodec::Vp9 => video_frame::Union::Vp9s(owned),
                    VideoCodec::Av1 => video_frame::Union::Av1s(owned),
                    VideoCodec::H264 => video_frame::Union::H264s(owned),
                    VideoCodec::H265 => video_frame::Union::H265s(owned),
                };
                let expected: Message = message::Union::VideoFrame(VideoFrame {
                    display,
                    union: Some(union),
                })
                .into();
                assert_eq!(
                    decoded, expected,
                    "{codec:?} display {display} frames {count}"
                );
                assert_eq!(
                    expected.encoded_len(),
                    frame.payload_len(),
                    "{codec:?} display {display} frames {count}: {:?} vs {:?}",
                    expected.encode_to_vec(),
                    &out[1..]
                );
            }
        }
    }
}

#[test]
fn kinds_name_the_union_member() {
    assert_eq!(message_kind(&Message::default()), "empty Message");
    assert_eq!(
        message_kind(&message::Union::CursorId(1).into()),
        "CursorId"
    );
    let relay: RendezvousMessage =
        rendezvous_message::Union::RequestRelay(RequestRelay::default()).into();
    assert_eq!(rendezvous_kind(&relay), "RequestRelay");
}
