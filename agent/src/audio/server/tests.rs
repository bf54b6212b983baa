//! Finding the server from environment values, and which addresses name a single local socket.

use std::ffi::OsStr;
use std::path::Path;

use super::*;

#[test]
fn pulse_server_wins_even_when_it_names_no_socket() {
    let found = ServerAddress::discover_from(
        Some(OsStr::new("tcp:audio.example:4713")),
        Some(OsStr::new("/nonexistent")),
        0,
    );
    assert_eq!(found, Ok(ServerAddress::new("tcp:audio.example:4713")));
}

#[test]
fn the_runtime_dir_socket_is_found_when_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pulse")).unwrap();
    std::fs::write(dir.path().join("pulse/native"), b"").unwrap();
    let found = ServerAddress::discover_from(Some(OsStr::new("")), Some(dir.path().as_os_str()), 0);
    assert_eq!(
        found,
        Ok(ServerAddress::new(format!(
            "unix:{}/pulse/native",
            dir.path().display()
        )))
    );
}

#[test]
fn no_socket_anywhere_names_every_place_looked_at() {
    let dir = tempfile::tempdir().unwrap();
    // A uid no session uses, so /run/user/<uid> does not exist on the test machine either.
    let Err(AudioError::NoServer { detail }) =
        ServerAddress::discover_from(None, Some(dir.path().as_os_str()), 4_000_000_000)
    else {
        // The system daemon's socket exists on this machine: nothing to check.
        assert!(Path::new("/run/pulse/native").exists());
        return;
    };
    assert!(detail.contains("PULSE_SERVER"), "{detail}");
    assert!(
        detail.contains(&dir.path().display().to_string()),
        "{detail}"
    );
    assert!(
        detail.contains("/run/user/4000000000/pulse/native"),
        "{detail}"
    );
}

#[test]
fn only_single_local_addresses_name_a_socket() {
    let check = |address: &str, socket: Option<&str>| {
        assert_eq!(
            ServerAddress::new(address).unix_socket(),
            socket.map(Path::new),
            "{address}"
        );
    };
    check(
        "unix:/run/user/0/pulse/native",
        Some("/run/user/0/pulse/native"),
    );
    check("/tmp/pulse/native", Some("/tmp/pulse/native"));
    check("tcp:localhost:4713", None);
    check("localhost", None);
    check("unix:/a/native tcp:host", None);
    check("{0123abcd}unix:/a/native", None);
    assert_eq!(ServerAddress::unix("/x/native").as_str(), "unix:/x/native");
}
