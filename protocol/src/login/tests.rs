//! Tests of login: hashes against Python's hashlib, tokens, error strings, the lockout
//! policy and the PeerInfo builder.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::test_util::{Vectors, seeded};

const SALT: &str = "2345678abcdefghijkmnpqrstuvwxyz2";
const CHALLENGE: &str = "x7k2mq";
const PASSWORD: &str = "correct horse";

fn start() -> Instant {
    crate::test_util::base_instant()
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn request(password: &[u8]) -> LoginRequest {
    LoginRequest {
        username: "123456789".into(),
        password: password.to_vec(),
        ..LoginRequest::default()
    }
}

#[test]
fn hashes_match_an_independent_sha256() {
    let v = Vectors::load();
    assert_eq!(h1(PASSWORD, SALT).to_vec(), v.get("login_h1"));
    assert_eq!(
        client_response(PASSWORD, SALT, CHALLENGE).to_vec(),
        v.get("login_response")
    );
    let stored = StoredPassword::new(PASSWORD, SALT);
    assert!(stored.matches(CHALLENGE, &v.get("login_response")));
}

#[test]
fn verification_fails_for_wrong_passwords_challenges_and_lengths() {
    let stored = StoredPassword::new(PASSWORD, SALT);
    let good = client_response(PASSWORD, SALT, CHALLENGE);
    assert!(!stored.matches("other1", &good));
    assert!(!stored.matches(CHALLENGE, &client_response("wrong", SALT, CHALLENGE)));
    assert!(!stored.matches(CHALLENGE, &good[..31]));
    assert!(!stored.matches(CHALLENGE, &[]));
}

#[test]
fn stored_form_round_trips_and_rejects_other_forms() {
    let stored = StoredPassword::new(PASSWORD, SALT);
    let text = stored.to_storage();
    assert!(text.starts_with("00"));
    let again = StoredPassword::from_storage(&text).expect("parses");
    assert!(again.matches(CHALLENGE, &client_response(PASSWORD, SALT, CHALLENGE)));
    assert!(StoredPassword::from_storage(&text[2..]).is_err());
    assert!(StoredPassword::from_storage("00!!").is_err());
    assert!(StoredPassword::from_storage("00AAAA").is_err());
}

#[test]
fn tokens_use_the_32_symbol_alphabet_uniformly() {
    let mut rng = seeded(3);
    assert_eq!(generate_salt(&mut rng).len(), SALT_LEN);
    assert_eq!(generate_challenge(&mut rng).len(), CHALLENGE_LEN);
    let many = random_token(&mut rng, 20_000);
    for forbidden in ['0', '1', 'l', 'o'] {
        assert!(!many.contains(forbidden), "{forbidden} must not appear");
    }
    for symbol in TOKEN_ALPHABET {
        let count = many.bytes().filter(|b| b == symbol).count();
        // 625 expected per symbol; a fair draw stays well inside this band.
        assert!(
            (450..800).contains(&count),
            "{} drawn {count} times",
            char::from(*symbol)
        );
    }
}

#[test]
fn error_strings_are_the_ones_clients_know() {
    let cases = [
        (LoginError::EmptyPassword, "Empty Password"),
        (LoginError::WrongPassword, "Wrong Password"),
        (LoginError::TwoFactorRequired, "2FA Required"),
        (LoginError::WrongTwoFactorCode, "Wrong 2FA Code"),
        (LoginError::NoPasswordAccess, "No Password Access"),
        (LoginError::Offline, "Offline"),
        (LoginError::TooManyAttempts, "Too many wrong attempts"),
        (LoginError::TryLater, "Please try 1 minute later"),
        (LoginError::ConnectionNotAllowed, "Connection not allowed"),
    ];
    for (error, text) in cases {
        assert_eq!(error.as_str(), text);
        assert_eq!(LoginError::from_wire(text), error);
        let message = error.to_message();
        let Some(message::Union::LoginResponse(response)) = message.union else {
            panic!("not a LoginResponse");
        };
        assert_eq!(
            response.union,
            Some(login_response::Union::Error(text.into()))
        );
    }
    assert_eq!(
        LoginError::from_wire("x11 expected"),
        LoginError::Other("x11 expected".into())
    );
}

#[test]
fn check_login_accepts_the_right_password_only() {
    let now = start();
    let passwords = [
        StoredPassword::new("temporary", SALT),
        StoredPassword::new(PASSWORD, SALT),
    ];
    let check = LoginCheck {
        own_id: Some("123456789"),
        challenge: CHALLENGE,
        passwords: &passwords,
    };
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let good = client_response(PASSWORD, SALT, CHALLENGE);
    let bad = client_response("guess", SALT, CHALLENGE);
    assert_eq!(
        check_login(&request(&bad), &check, &mut lockout, now, ip(1)),
        Err(LoginError::WrongPassword)
    );
    assert_eq!(
        check_login(&request(&[]), &check, &mut lockout, now, ip(1)),
        Err(LoginError::EmptyPassword)
    );
    let mut other_id = request(&good);
    other_id.username = "555555555".into();
    assert_eq!(
        check_login(&other_id, &check, &mut lockout, now, ip(1)),
        Err(LoginError::Offline)
    );
    assert_eq!(
        check_login(&request(&good), &check, &mut lockout, now, ip(1)),
        Ok(())
    );
    assert_eq!(lockout.tracked_peers(), 0, "success forgets the failures");

    let direct = LoginCheck {
        own_id: None,
        ..check
    };
    assert_eq!(
        check_login(&other_id, &direct, &mut lockout, now, ip(1)),
        Ok(())
    );
}

#[test]
fn too_many_failures_in_a_window_lock_the_peer_out_for_the_window() {
    let now = start();
    let passwords = [StoredPassword::new(PASSWORD, SALT)];
    let check = LoginCheck {
        own_id: None,
        challenge: CHALLENGE,
        passwords: &passwords,
    };
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let bad = request(&client_response("guess", SALT, CHALLENGE));
    for i in 0..6 {
        let at = now + Duration::from_secs(i);
        assert_eq!(
            check_login(&bad, &check, &mut lockout, at, ip(1)),
            Err(LoginError::WrongPassword)
        );
    }
    let good = request(&client_response(PASSWORD, SALT, CHALLENGE));
    let later = now + Duration::from_secs(10);
    assert_eq!(
        check_login(&good, &check, &mut lockout, later, ip(1)),
        Err(LoginError::TryLater)
    );
    assert_eq!(
        check_login(&good, &check, &mut lockout, later, ip(2)),
        Ok(()),
        "others unaffected"
    );
    let after_window = now + Duration::from_secs(61);
    assert_eq!(
        check_login(&good, &check, &mut lockout, after_window, ip(1)),
        Ok(())
    );
}

#[test]
fn too_many_failures_in_total_lock_the_peer_out() {
    let now = start();
    let mut lockout = Lockout::new(LockoutPolicy::default());
    for minute in 0..5 {
        for i in 0..6 {
            let at = now + Duration::from_secs(minute * 61 + i);
            assert_eq!(lockout.check(at, ip(1)), Ok(()));
            lockout.record_failure(at, ip(1));
        }
    }
    // 30 failures, never more than 6 a minute: the total limit now holds for good.
    let at = now + Duration::from_secs(5 * 61);
    assert_eq!(lockout.check(at, ip(1)), Err(LoginError::TooManyAttempts));
    assert_eq!(
        lockout.check(at + Duration::from_secs(86_400), ip(1)),
        Err(LoginError::TooManyAttempts)
    );
    assert_eq!(lockout.check(at, ip(2)), Ok(()));
    lockout.record_success(ip(1));
    assert_eq!(lockout.check(at, ip(1)), Ok(()));
}

#[test]
fn the_global_window_limit_spans_peers() {
    let now = start();
    let mut lockout = Lockout::new(LockoutPolicy::default());
    for i in 0..60u8 {
        lockout.record_failure(now, ip(i));
    }
    assert_eq!(lockout.check(now, ip(200)), Err(LoginError::TryLater));
    assert_eq!(
        lockout.check(now + Duration::from_secs(60), ip(200)),
        Ok(())
    );
}

#[test]
fn ipv6_peers_share_their_slash_64() {
    let now = start();
    let mut lockout = Lockout::new(LockoutPolicy::default());
    for i in 0..6u16 {
        let addr: IpAddr = format!("2001:db8:1:2::{i:x}").parse().expect("address");
        lockout.record_failure(now, addr);
    }
    let sibling: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("address");
    let stranger: IpAddr = "2001:db8:1:3::1".parse().expect("address");
    assert_eq!(lockout.check(now, sibling), Err(LoginError::TryLater));
    assert_eq!(lockout.check(now, stranger), Ok(()));
}

#[test]
fn remembered_peers_are_bounded() {
    let now = start();
    let policy = LockoutPolicy {
        max_tracked_peers: 10,
        global_in_window: u32::MAX,
        ..LockoutPolicy::default()
    };
    let mut lockout = Lockout::new(policy);
    for i in 0..100u8 {
        lockout.record_failure(now + Duration::from_millis(u64::from(i)), ip(i));
    }
    assert_eq!(lockout.tracked_peers(), 10);
}

#[test]
fn hash_message_carries_salt_and_challenge() {
    let message = hash_message(SALT, CHALLENGE);
    assert_eq!(
        message.union,
        Some(message::Union::Hash(Hash {
            salt: SALT.into(),
            challenge: CHALLENGE.into()
        }))
    );
}

#[test]
fn peer_info_builder_enforces_what_clients_need() {
    let error = PeerInfoBuilder::new("1.4.9", PLATFORM_LINUX)
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::ApiMisuse(ApiMisuse::NoDisplays)));
    let error = PeerInfoBuilder::new("1.4.9", PLATFORM_LINUX)
        .display(DisplayInfo::at(0, 0, 1920, 1080, ":0"))
        .current_display(1)
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        Error::ApiMisuse(ApiMisuse::InvalidConfig(_))
    ));
    assert!(
        PeerInfoBuilder::new("", PLATFORM_LINUX)
            .display(DisplayInfo::at(0, 0, 1920, 1080, ":0"))
            .build()
            .is_err()
    );

    let info = PeerInfoBuilder::new("1.4.9", PLATFORM_LINUX)
        .username("alice")
        .hostname("desk")
        .display(DisplayInfo::at(0, 0, 1920, 1080, ":0"))
        .display(DisplayInfo::at(1920, -200, 1280, 1024, ":0.1"))
        .current_display(1)
        .encoding(SupportedEncoding {
            vp8: true,
            ..SupportedEncoding::default()
        })
        .build()
        .expect("valid");
    assert_eq!(info.displays.len(), 2);
    assert_eq!(info.displays[1].y, -200);
    assert!(info.displays.iter().all(|d| d.online && d.scale == 1.0));
    let message = login_success(info.clone());
    let bytes = prost::Message::encode_to_vec(&message);
    let decoded = crate::message::decode_message(&bytes).expect("decodes");
    assert_eq!(
        decoded.union,
        Some(message::Union::LoginResponse(LoginResponse {
            union: Some(login_response::Union::PeerInfo(info)),
            enable_trusted_devices: false,
        }))
    );
}
