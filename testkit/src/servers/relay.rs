//! The test relay: hbbr's pairing model behind a TCP listener, and a raw byte pump for each
//! pair.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deskcast_protocol::rendezvous::server::{ConnId, Hbbr, HbbrConfig, RelayDecision};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::thread::ServerThread;

/// The first frame (a `RequestRelay`) is small; anything larger is refused.
const MAX_FIRST_FRAME: usize = 64 << 10;
/// How long a new connection has to send its first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes a parked connection may send before its partner arrives; beyond that the relay stops
/// reading (TCP pushes back).
const MAX_EARLY_BYTES: usize = 1 << 20;
/// A pair with no traffic either way for this long is torn down.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run a [`TestRelay`].
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The licence key connections must present (hbbr `-k`); `None` checks nothing (hbbr's
    /// default).
    pub licence_key: Option<String>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            licence_key: None,
        }
    }
}

/// What the relay has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Pairs made.
    pub paired: u64,
    /// Connections closed without pairing (bad first frame, wrong key, timeout).
    pub refused: u64,
}

/// A running test relay; killed on drop.
#[derive(Debug)]
pub struct TestRelay {
    addr: SocketAddr,
    options: RelayOptions,
    stats: Arc<Mutex<RelayStats>>,
    thread: Option<ServerThread>,
}

impl TestRelay {
    /// Starts a relay on a free loopback port that checks no key. Panics with the reason when
    /// it cannot.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(RelayOptions::default())
    }

    /// Starts a relay with `options`; panics with the reason when it cannot.
    #[must_use]
    pub fn start_with(options: RelayOptions) -> Self {
        Self::bind(options).unwrap_or_else(|e| panic!("test relay: {e}"))
    }

    /// Starts a relay with `options`.
    ///
    /// # Errors
    /// When the port cannot be bound or the thread cannot start.
    pub fn bind(options: RelayOptions) -> io::Result<Self> {
        let mut relay = Self {
            addr: options.bind,
            options,
            stats: Arc::default(),
            thread: None,
        };
        relay.addr = relay.launch(relay.options.bind)?;
        Ok(relay)
    }

    /// Where connections go.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the relay has done so far (across restarts).
    #[must_use]
    pub fn stats(&self) -> RelayStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Kills the relay: the listener and every connection, parked or paired, close at once.
    pub fn kill(&mut self) {
        if let Some(mut thread) = self.thread.take() {
            thread.stop();
        }
    }

    /// Starts a killed relay again on the same port (a no-op when it runs).
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.thread.is_none() {
            self.launch(self.addr)?;
        }
        Ok(())
    }

    fn launch(&mut self, bind: SocketAddr) -> io::Result<SocketAddr> {
        let listener = StdTcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let config = HbbrConfig::new(self.options.licence_key.clone());
        let stats = Arc::clone(&self.stats);
        let thread = ServerThread::spawn("test-hbbr", move || async move {
            match TcpListener::from_std(listener) {
                Ok(listener) => serve(listener, config, stats).await,
                Err(error) => tracing::error!(%error, "test hbbr listener"),
            }
        })?;
        self.thread = Some(thread);
        tracing::debug!(%addr, "test hbbr listening");
        Ok(addr)
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The model and the parked connections' mailboxes, shared by the connection tasks.
#[derive(Debug)]
struct Shared {
    hbbr: Hbbr,
    parked: HashMap<ConnId, oneshot::Sender<TcpStream>>,
    stats: Arc<Mutex<RelayStats>>,
}

impl Shared {
    fn count(&self, update: impl FnOnce(&mut RelayStats)) {
        update(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(shared: &SharedRef) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(listener: TcpListener, config: HbbrConfig, stats: Arc<Mutex<RelayStats>>) {
    let pairing_timeout = config.pairing_timeout;
    let shared = Arc::new(Mutex::new(Shared {
        hbbr: Hbbr::new(config),
        parked: HashMap::new(),
        stats,
    }));
    let mut next_conn = 0u64;
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        next_conn += 1;
        lock(&shared).count(|s| s.accepted += 1);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let conn = ConnId(next_conn);
            if !connection(stream, conn, &shared, pairing_timeout).await {
                tracing::debug!(%from, "test hbbr: connection refused");
                lock(&shared).count(|s| s.refused += 1);
            }
        });
    }
}

/// Handles one connection from its first frame on; `false` when it was refused.
async fn connection(
    mut stream: TcpStream,
    conn: ConnId,
    shared: &SharedRef,
    pairing_timeout: Duration,
) -> bool {
    let _ = stream.set_nodelay(true);
    let first = tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_frame(&mut stream)).await;
    let Ok(Ok(payload)) = first else {
        return false;
    };
    let decision = lock(shared)
        .hbbr
        .handle_first_frame(Instant::now(), conn, &payload);
    match decision {
        RelayDecision::Park => {
            let (mailbox, partner) = oneshot::channel();
            lock(shared).parked.insert(conn, mailbox);
            park(stream, conn, partner, shared, pairing_timeout).await
        }
        RelayDecision::Pair { with } => {
            let Some(mailbox) = lock(shared).parked.remove(&with) else {
                return false;
            };
            // The parked task pumps both ways from here.
            mailbox.send(stream).is_ok()
        }
        _ => false,
    }
}

/// Waits for the partner while buffering what this side sends early, then relays.
async fn park(
    mut stream: TcpStream,
    conn: ConnId,
    mut partner: oneshot::Receiver<TcpStream>,
    shared: &SharedRef,
    pairing_timeout: Duration,
) -> bool {
    let deadline = tokio::time::sleep(pairing_timeout);
    tokio::pin!(deadline);
    let mut early = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    let forget = || {
        let mut shared = lock(shared);
        shared.parked.remove(&conn);
        shared.hbbr.closed(conn);
    };
    loop {
        tokio::select! {
            other = &mut partner => {
                let Ok(other) = other else {
                    return false;
                };
                lock(shared).count(|s| s.paired += 1);
                pump(stream, early, other).await;
                return true;
            }
            read = stream.read(&mut buf), if early.len() < MAX_EARLY_BYTES => match read {
                Ok(0) | Err(_) => {
                    forget();
                    return true;
                }
                Ok(len) => early.extend_from_slice(&buf[..len]),
            },
            () = &mut deadline => {
                forget();
                return false;
            }
        }
    }
}

/// Reads exactly one frame (header and payload, nothing more) and returns its payload.
async fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header[..1]).await?;
    let len = usize::from(header[0] & 3) + 1;
    stream.read_exact(&mut header[1..len]).await?;
    let payload_len = (u32::from_le_bytes(header) >> 2) as usize;
    if payload_len > MAX_FIRST_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "first frame too large",
        ));
    }
    let mut payload = vec![0u8; payload_len];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Relays raw bytes both ways, starting with `early` from `a`, until one side closes (even
/// only its sending half, as hbbr does) or neither sends anything for [`IDLE_TIMEOUT`].
async fn pump(a: TcpStream, early: Vec<u8>, b: TcpStream) {
    let (a_read, mut a_write) = a.into_split();
    let (b_read, mut b_write) = b.into_split();
    let start = tokio::time::Instant::now();
    let last = AtomicU64::new(0);
    if b_write.write_all(&early).await.is_err() {
        return;
    }
    let a_to_b = copy(a_read, &mut b_write, &last, start);
    let b_to_a = copy(b_read, &mut a_write, &last, start);
    tokio::pin!(a_to_b, b_to_a);
    let idle = async {
        loop {
            let seen = start + Duration::from_millis(last.load(Ordering::Relaxed));
            if tokio::time::Instant::now() >= seen + IDLE_TIMEOUT {
                return;
            }
            tokio::time::sleep_until(seen + IDLE_TIMEOUT).await;
        }
    };
    tokio::pin!(idle);
    tokio::select! {
        () = &mut a_to_b => {}
        () = &mut b_to_a => {}
        () = &mut idle => tracing::debug!("test hbbr: idle pair closed"),
    }
}

/// Copies until end of stream or an error, then shuts the writer down (passing the FIN on).
async fn copy(
    mut from: impl AsyncRead + Unpin,
    to: &mut (impl AsyncWrite + Unpin),
    last: &AtomicU64,
    start: tokio::time::Instant,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(len) => {
                last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                if to.write_all(&buf[..len]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
