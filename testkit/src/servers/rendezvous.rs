//! The test rendezvous server: hbbs's model behind one UDP socket and one TCP listener that
//! share a port, as hbbs's 21116 does.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::framing::FrameDecoder;
use deskcast_protocol::rendezvous::server::{ConnId, Hbbs, HbbsConfig, Output};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::thread::ServerThread;

/// Rendezvous messages are small; a frame above this closes the connection.
const MAX_FRAME: usize = 64 << 10;
/// Frames from all connections waiting for the server loop.
const EVENT_QUEUE: usize = 1024;

/// How to run a [`TestRendezvous`].
#[derive(Debug, Clone)]
pub struct RendezvousOptions {
    /// Where to listen (UDP and TCP); port 0 picks a free port.
    pub bind: SocketAddr,
    /// The server key; `None` generates one.
    pub key: Option<IdentityKey>,
    /// The relays handed out (hbbs `-r`), `host:port`.
    pub relays: Vec<String>,
    /// Require clients to present the key (hbbs `-k _`, the default).
    pub require_key: bool,
}

impl Default for RendezvousOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            key: None,
            relays: Vec::new(),
            require_key: true,
        }
    }
}

impl RendezvousOptions {
    /// Hands out `relay` (hbbs `-r`).
    #[must_use]
    pub fn relay(mut self, relay: SocketAddr) -> Self {
        self.relays.push(relay.to_string());
        self
    }
}

/// A running test rendezvous server; stops on drop.
#[derive(Debug)]
pub struct TestRendezvous {
    addr: SocketAddr,
    key: IdentityKey,
    options: RendezvousOptions,
    thread: Option<ServerThread>,
    queries: Option<mpsc::UnboundedSender<Query>>,
}

/// Questions to the server loop.
#[derive(Debug)]
enum Query {
    Online(String, std::sync::mpsc::SyncSender<bool>),
}

impl TestRendezvous {
    /// Starts a server on a free loopback port with a fresh key, handing out no relay. Panics
    /// with the reason when it cannot.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(RendezvousOptions::default())
    }

    /// Starts a server with `options`; panics with the reason when it cannot.
    #[must_use]
    pub fn start_with(options: RendezvousOptions) -> Self {
        Self::bind(options).unwrap_or_else(|e| panic!("test rendezvous server: {e}"))
    }

    /// Starts a server with `options`.
    ///
    /// # Errors
    /// When the UDP and TCP sockets cannot be bound on one port, or the thread cannot start.
    pub fn bind(mut options: RendezvousOptions) -> io::Result<Self> {
        let key = options
            .key
            .take()
            .unwrap_or_else(|| IdentityKey::generate(&mut rand::rngs::OsRng));
        let mut server = Self {
            addr: options.bind,
            key,
            options,
            thread: None,
            queries: None,
        };
        server.addr = server.launch(server.options.bind)?;
        Ok(server)
    }

    /// Where clients and agents reach it (UDP and TCP).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server key, as clients and agents are given it (`id_ed25519.pub`).
    #[must_use]
    pub fn key_base64(&self) -> String {
        self.key.public_key().to_base64()
    }

    /// The signing key itself.
    #[must_use]
    pub fn key(&self) -> &IdentityKey {
        &self.key
    }

    /// Stops the server and starts a fresh one on the same port, with the same key and no
    /// memory of registrations: what an hbbs restart looks like to its peers.
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.launch(self.addr).map(drop)
    }

    /// Stops the server, closing its sockets. A stopped server can be restarted.
    pub fn stop(&mut self) {
        self.queries = None;
        if let Some(mut thread) = self.thread.take() {
            thread.stop();
        }
    }

    /// Whether `id` registered within the last 30 s (`false` when stopped). Blocks briefly;
    /// callable from async code too.
    #[must_use]
    pub fn is_online(&self, id: &str) -> bool {
        let Some(queries) = &self.queries else {
            return false;
        };
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if queries.send(Query::Online(id.to_owned(), reply)).is_err() {
            return false;
        }
        answer.recv_timeout(Duration::from_secs(5)).unwrap_or(false)
    }

    fn launch(&mut self, bind: SocketAddr) -> io::Result<SocketAddr> {
        let (listener, udp) = bind_pair(bind)?;
        let addr = listener.local_addr()?;
        let mut config = HbbsConfig::with_key(self.key.clone());
        if !self.options.require_key {
            config.licence_key = None;
        }
        config.relay_servers.clone_from(&self.options.relays);
        let (queries, queried) = mpsc::unbounded_channel();
        let thread = ServerThread::spawn("test-hbbs", move || async move {
            match (TcpListener::from_std(listener), UdpSocket::from_std(udp)) {
                (Ok(listener), Ok(udp)) => serve(listener, udp, config, queried).await,
                (Err(e), _) | (_, Err(e)) => tracing::error!(%e, "test hbbs sockets"),
            }
        })?;
        self.thread = Some(thread);
        self.queries = Some(queries);
        tracing::debug!(%addr, "test hbbs listening");
        Ok(addr)
    }
}

impl Drop for TestRendezvous {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds TCP and UDP on one port: the given one, or (for port 0) a free one for both.
fn bind_pair(bind: SocketAddr) -> io::Result<(StdTcpListener, StdUdpSocket)> {
    let mut last_error = None;
    for _ in 0..20 {
        // std sets SO_REUSEADDR on listeners, so a restart can take the port back at once.
        let listener = StdTcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        match StdUdpSocket::bind(addr) {
            Ok(udp) => {
                listener.set_nonblocking(true)?;
                udp.set_nonblocking(true)?;
                return Ok((listener, udp));
            }
            // Another process holds the UDP port: try another pair, unless one was asked for.
            Err(e) if bind.port() == 0 => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port pair")))
}

/// What connection tasks tell the server loop.
#[derive(Debug)]
enum ConnEvent {
    Frame {
        conn: ConnId,
        from: SocketAddr,
        payload: Vec<u8>,
    },
    Closed(ConnId),
}

/// What the server loop tells a connection task.
#[derive(Debug)]
enum Outgoing {
    Frame(Vec<u8>),
    Close,
}

/// The server loop: owns the model, the UDP socket and the connections' outboxes.
async fn serve(
    listener: TcpListener,
    udp: UdpSocket,
    config: HbbsConfig,
    mut queries: mpsc::UnboundedReceiver<Query>,
) {
    let mut hbbs = Hbbs::new(config, Instant::now());
    let (events, mut incoming) = mpsc::channel(EVENT_QUEUE);
    let mut outboxes: HashMap<ConnId, mpsc::UnboundedSender<Outgoing>> = HashMap::new();
    let mut next_conn = 0u64;
    let mut datagram = vec![0u8; 65_536];
    loop {
        let deadline = hbbs
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            received = udp.recv_from(&mut datagram) => match received {
                Ok((len, from)) => {
                    if let Err(error) = hbbs.handle_udp(Instant::now(), from, &datagram[..len]) {
                        tracing::debug!(%from, %error, "test hbbs: bad datagram");
                    }
                }
                Err(error) => tracing::debug!(%error, "test hbbs: UDP receive"),
            },
            accepted = listener.accept() => {
                if let Ok((stream, from)) = accepted {
                    next_conn += 1;
                    let conn = ConnId(next_conn);
                    let (outbox, outgoing) = mpsc::unbounded_channel();
                    outboxes.insert(conn, outbox);
                    tokio::spawn(connection(stream, from, conn, events.clone(), outgoing));
                }
            }
            Some(event) = incoming.recv() => match event {
                ConnEvent::Frame { conn, from, payload } => {
                    if let Err(error) = hbbs.handle_tcp(Instant::now(), conn, from, &payload) {
                        tracing::debug!(%from, %error, "test hbbs: bad frame");
                    }
                }
                ConnEvent::Closed(conn) => {
                    hbbs.tcp_closed(conn);
                    outboxes.remove(&conn);
                }
            },
            Some(query) = queries.recv() => match query {
                Query::Online(id, reply) => {
                    let _ = reply.send(hbbs.is_online(&id, Instant::now()));
                }
            },
            () = tokio::time::sleep_until(deadline) => hbbs.handle_timeout(Instant::now()),
        }
        while let Some(output) = hbbs.poll_output() {
            match output {
                Output::Udp { to, datagram } => {
                    if let Err(error) = udp.send_to(&datagram, to).await {
                        tracing::debug!(%to, %error, "test hbbs: UDP send");
                    }
                }
                Output::Tcp { conn, frame } => {
                    if let Some(outbox) = outboxes.get(&conn) {
                        let _ = outbox.send(Outgoing::Frame(frame));
                    }
                }
                Output::Close { conn } => {
                    if let Some(outbox) = outboxes.remove(&conn) {
                        let _ = outbox.send(Outgoing::Close);
                    }
                }
                _ => {}
            }
        }
    }
}

/// One TCP connection: frames in to the loop, frames out from it.
async fn connection(
    mut stream: TcpStream,
    from: SocketAddr,
    conn: ConnId,
    events: mpsc::Sender<ConnEvent>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let _ = stream.set_nodelay(true);
    let mut decoder = FrameDecoder::with_max_frame_len(MAX_FRAME);
    let mut buf = vec![0u8; 8192];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => {
                let len = match read {
                    Ok(0) | Err(_) => break,
                    Ok(len) => len,
                };
                decoder.feed(&buf[..len]);
                loop {
                    match decoder.next_frame() {
                        Ok(Some(payload)) => {
                            let event = ConnEvent::Frame { conn, from, payload: payload.to_vec() };
                            if events.send(event).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::debug!(%from, %error, "test hbbs: framing");
                            let _ = events.send(ConnEvent::Closed(conn)).await;
                            return;
                        }
                    }
                }
            }
            out = outgoing.recv() => match out {
                Some(Outgoing::Frame(frame)) => {
                    if stream.write_all(&frame).await.is_err() {
                        break;
                    }
                }
                // The loop forgot this connection: close it.
                Some(Outgoing::Close) | None => {
                    let _ = stream.shutdown().await;
                    return;
                }
            },
        }
    }
    let _ = events.send(ConnEvent::Closed(conn)).await;
}
