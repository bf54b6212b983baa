//! Reaching the agent: by ID through the rendezvous server and a relay (spec §3.2, §3.3,
//! §3.10), or directly by address (§3.8).
//!
//! Flow A is the usual one: hbbs pushes our `PunchHoleRequest` to the agent, the agent
//! answers with a relay, and hbbs forwards that as a `RelayResponse` carrying the agent's key,
//! signed. When the agent answers with an address instead (a `PunchHoleResponse`), the probe
//! asks for a relay itself (Flow B) rather than trying a direct connection.

use std::time::Duration;

use deskcast_protocol::crypto::IdentityPublicKey;
use deskcast_protocol::framing::FrameDecoder;
use deskcast_protocol::handshake::client::PeerIdentity;
use deskcast_protocol::rendezvous::client::{self as client, DialConfig, DialResponse};
use deskcast_protocol::rendezvous::{
    RELAY_PORT, RENDEZVOUS_PORT, fallback_relay, generate_uuid, with_default_port,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::{Error, PROBE_VERSION, Route};

/// How long each `PunchHoleRequest` waits before it is sent again (RustDesk: 3, 6 and 9 s).
const PUNCH_WAITS: [Duration; 3] = [
    Duration::from_secs(3),
    Duration::from_secs(6),
    Duration::from_secs(9),
];
/// How long the agent's go-ahead may take in Flow B.
const GO_AHEAD_WAIT: Duration = Duration::from_secs(18);
/// How long the probe lets the agent join the relay first.
const RELAY_JOIN_DELAY: Duration = Duration::from_millis(25);
/// Rendezvous messages are small.
const MAX_RENDEZVOUS_FRAME: usize = 64 << 10;
/// How long a TCP connection may take.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// A stream to the agent through a relay, with what is known about the agent's key.
#[derive(Debug)]
pub(super) struct Dialled {
    pub(super) stream: TcpStream,
    /// The agent's key as hbbs vouched for it, or why there is none.
    pub(super) peer: Result<PeerIdentity, String>,
    pub(super) route: Route,
}

/// Dials `id` through the rendezvous server `server` (`host[:port]`) with the server `key`.
pub(super) async fn by_id(server: &str, key: &str, id: &str) -> Result<Dialled, Error> {
    let hbbs = with_default_port(server, RENDEZVOUS_PORT);
    let dial = DialConfig::new(id, key, PROBE_VERSION);
    let mut conn = connect("rendezvous server", &hbbs).await?;
    let request = client::punch_hole_request_frame(&dial)?;
    let mut decoder = FrameDecoder::with_max_frame_len(MAX_RENDEZVOUS_FRAME);
    let mut answer = None;
    for wait in PUNCH_WAITS {
        write(&mut conn, &request).await?;
        if let Some(frame) = read_frame(&mut conn, &mut decoder, wait).await? {
            answer = Some(client::handle_response(&frame)?);
            break;
        }
    }
    drop(conn);
    let answer = answer.ok_or(Error::Timeout("the rendezvous server's answer"))?;
    let (uuid, relay, signed_pk, route) = match answer {
        DialResponse::Relay {
            uuid,
            relay_server,
            signed_pk,
        } if !uuid.is_empty() => {
            let relay = if relay_server.is_empty() {
                fallback_relay(&hbbs)
            } else {
                relay_server
            };
            let route = Route::RelayedByAgent {
                relay: relay.clone(),
                uuid: uuid.clone(),
            };
            (uuid, relay, signed_pk, route)
        }
        DialResponse::Direct {
            relay_server,
            signed_pk,
            ..
        } => {
            if relay_server.is_empty() {
                return Err(Error::NoRoute(
                    "the agent offered a direct connection and no relay".into(),
                ));
            }
            let uuid = generate_uuid(&mut rand::rngs::OsRng);
            let secure = !signed_pk.is_empty();
            ask_for_relay(&hbbs, &dial, &uuid, &relay_server, secure).await?;
            let route = Route::RelayedByProbe {
                relay: relay_server.clone(),
                uuid: uuid.clone(),
            };
            (uuid, relay_server, signed_pk, route)
        }
        // A go-ahead (no uuid) only answers a `RequestRelay`, which was not sent.
        DialResponse::Relay { .. } => {
            return Err(Error::NoRoute(
                "the rendezvous server answered with a relay without a uuid".into(),
            ));
        }
        _ => {
            return Err(Error::NoRoute(
                "unknown answer from the rendezvous server".into(),
            ));
        }
    };
    let relay_addr = with_default_port(&relay, RELAY_PORT);
    // The agent may join the relay only after it has answered hbbs, i.e. at about the moment
    // hbbs's answer reaches us; hbbr 1.1.17 was seen to leave two halves of a pair that arrive
    // within microseconds of each other both waiting, so let the agent go first.
    tokio::time::sleep(RELAY_JOIN_DELAY).await;
    let mut stream = connect("relay", &relay_addr).await?;
    write(&mut stream, &client::relay_request_to_relay(&dial, &uuid)?).await?;
    Ok(Dialled {
        stream,
        peer: verify(key, &signed_pk, id),
        route,
    })
}

/// Connects to an agent's direct-access port (`host:port`).
pub(super) async fn direct(addr: &str) -> Result<TcpStream, Error> {
    connect("agent", addr).await
}

/// Flow B: asks hbbs to push a `RequestRelay` to the agent and waits for its go-ahead.
async fn ask_for_relay(
    hbbs: &str,
    dial: &DialConfig,
    uuid: &str,
    relay: &str,
    secure: bool,
) -> Result<(), Error> {
    let mut conn = connect("rendezvous server", hbbs).await?;
    write(
        &mut conn,
        &client::relay_request_to_rendezvous(dial, uuid, relay, secure)?,
    )
    .await?;
    let mut decoder = FrameDecoder::with_max_frame_len(MAX_RENDEZVOUS_FRAME);
    let frame = read_frame(&mut conn, &mut decoder, GO_AHEAD_WAIT)
        .await?
        .ok_or(Error::Timeout("the agent's go-ahead for a relay"))?;
    // A refusal comes back as an error here; anything but a go-ahead is unexpected.
    match client::handle_response(&frame)? {
        DialResponse::Relay { uuid, .. } if uuid.is_empty() => Ok(()),
        other => Err(Error::NoRoute(format!(
            "expected the agent's go-ahead, got {other:?}"
        ))),
    }
}

/// Checks hbbs's signature over the agent's key with the server key.
fn verify(key: &str, signed_pk: &[u8], id: &str) -> Result<PeerIdentity, String> {
    if key.trim().is_empty() {
        return Err("no server key was given, so the agent's key cannot be checked".into());
    }
    let server_key = IdentityPublicKey::from_base64(key).map_err(|e| e.to_string())?;
    client::verify_peer_key(&server_key, signed_pk, id).map_err(|e| e.to_string())
}

async fn connect(what: &'static str, addr: &str) -> Result<TcpStream, Error> {
    let stream = tokio::time::timeout(CONNECT_WAIT, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout(what))?
        .map_err(|source| Error::Connect {
            what,
            addr: addr.to_owned(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), Error> {
    stream.write_all(bytes).await.map_err(|source| Error::Io {
        what: "sending to the rendezvous server",
        source,
    })
}

/// One frame from hbbs, or `None` when `wait` passes first (a partial frame stays in
/// `decoder` for the next call).
async fn read_frame(
    stream: &mut TcpStream,
    decoder: &mut FrameDecoder,
    wait: Duration,
) -> Result<Option<Vec<u8>>, Error> {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(Some(frame.to_vec()));
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await;
        let Ok(read) = read else {
            return Ok(None);
        };
        let len = read.map_err(|source| Error::Io {
            what: "reading from the rendezvous server",
            source,
        })?;
        if len == 0 {
            return Err(Error::NoRoute(
                "the rendezvous server closed the connection without answering".into(),
            ));
        }
        decoder.feed(&buf[..len]);
    }
}
