//! The tasks that bring viewers in: registration with hbbs (one UDP socket, the protocol's
//! `Mediator`), relay connections for each client it announces, and the direct-IP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deskcast_protocol::rendezvous::agent::{
    Event, Mediator, MediatorConfig, RegisterRejection, RelayInstructions,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Agent, PEER_VERSION, RegistrarCommand};
use crate::error::{Error, IoContext};
use crate::service::config::DEFAULT_RENDEZVOUS_PORT;
use crate::session::{self, Transport};

/// How long connecting to hbbs or hbbr may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most sessions at once, logged in or not: more are refused at once, so a flood of
/// connections cannot exhaust the agent.
const MAX_SESSIONS: usize = 64;
/// Registration interval: shorter than RustDesk's 15 s so that a restarted hbbs knows the
/// agent again within seconds (one small datagram each time).
const REG_INTERVAL: Duration = Duration::from_secs(5);

/// What the running agent reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// hbbs has recorded our address.
    pub registered: bool,
    /// The direct-IP listener's address, when it runs.
    pub direct: Option<SocketAddr>,
    /// Viewers connected now.
    pub viewers: usize,
    /// The last registration problem, for the user.
    pub problem: Option<String>,
}

/// A running agent; dropping it (or [`AgentHandle::shutdown`]) stops every task.
#[derive(Debug)]
pub struct AgentHandle {
    /// The shared state.
    pub agent: Arc<Agent>,
    /// Status updates.
    pub status: watch::Receiver<Status>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl AgentHandle {
    /// Closes every session with a reason and stops the tasks.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Starts registration (when a rendezvous server is configured) and the direct-IP listener
/// (when enabled). Must run inside a tokio runtime.
pub async fn start(agent: Arc<Agent>) -> Result<AgentHandle, Error> {
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (status_tx, status) = watch::channel(Status::default());
    let status_tx = Arc::new(status_tx);
    let viewers = Arc::new(AtomicUsize::new(0));
    let spawner = Spawner {
        agent: Arc::clone(&agent),
        shutdown: shutdown_rx.clone(),
        status: Arc::clone(&status_tx),
        viewers,
    };
    let mut tasks = Vec::new();
    if agent.config.direct.enabled(&agent.config.server) {
        let port = agent.config.direct.port;
        let listener = match TcpListener::bind(("::", port)).await {
            Ok(l) => l,
            Err(_) => TcpListener::bind(("0.0.0.0", port))
                .await
                .context(&format!("listening for direct-IP viewers on port {port}"))?,
        };
        let addr = listener
            .local_addr()
            .context("reading the listener's address")?;
        status_tx.send_modify(|s| s.direct = Some(addr));
        tracing::info!(%addr, "listening for direct-IP viewers (unencrypted; for trusted networks)");
        tasks.push(tokio::spawn(spawner.clone().direct(listener)));
    }
    if let Some(server) = agent.config.server.rendezvous.clone() {
        let (tx, rx) = mpsc::unbounded_channel();
        agent.set_registrar(tx);
        tasks.push(tokio::spawn(spawner.clone().register(server, rx)));
    }
    Ok(AgentHandle {
        agent,
        status,
        shutdown,
        tasks,
    })
}

#[derive(Clone)]
struct Spawner {
    agent: Arc<Agent>,
    shutdown: watch::Receiver<bool>,
    status: Arc<watch::Sender<Status>>,
    viewers: Arc<AtomicUsize>,
}

impl Spawner {
    fn session(&self, stream: TcpStream, peer: SocketAddr, transport: Transport) {
        if self.viewers.load(Ordering::Relaxed) >= MAX_SESSIONS {
            tracing::warn!(%peer, "refusing a connection: {MAX_SESSIONS} sessions are open");
            drop(stream);
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let n = this.viewers.fetch_add(1, Ordering::Relaxed) + 1;
            this.status.send_modify(|s| s.viewers = n);
            let result = session::run(
                Arc::clone(&this.agent),
                stream,
                peer,
                transport,
                this.shutdown.clone(),
            )
            .await;
            if let Err(e) = &result
                && !matches!(e, Error::PeerClosed)
            {
                tracing::info!(%peer, error = %e, "session ended");
            }
            let n = this.viewers.fetch_sub(1, Ordering::Relaxed) - 1;
            this.status.send_modify(|s| s.viewers = n);
        });
    }

    async fn direct(self, listener: TcpListener) {
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => self.session(stream, peer, Transport::Direct),
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a direct-IP viewer failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn register(
        self,
        server: String,
        mut commands: mpsc::UnboundedReceiver<RegistrarCommand>,
    ) {
        let config = &self.agent.config;
        let mut mediator_config = MediatorConfig::new(
            &config.id,
            &config.uuid,
            self.agent.identity.public_key(),
            &server,
            PEER_VERSION,
        );
        mediator_config.relay_server = config.server.relay.clone();
        mediator_config.licence_key = config.server.key.clone().unwrap_or_default();
        mediator_config.timing.reg_interval = REG_INTERVAL;
        let mut mediator = Mediator::new(mediator_config, rand::rngs::OsRng, Instant::now());
        let mut shutdown = self.shutdown.clone();
        let mut buf = vec![0u8; 64 << 10];
        let mut hbbs: Option<SocketAddr> = None;
        let mut socket: Option<UdpSocket> = None;
        let mut reported: Option<String> = None;
        loop {
            if hbbs.is_none() || socket.is_none() {
                match resolve(&server).await {
                    Ok(addr) => {
                        let bind = if addr.is_ipv4() {
                            "0.0.0.0:0"
                        } else {
                            "[::]:0"
                        };
                        match UdpSocket::bind(bind).await {
                            Ok(s) => {
                                socket = Some(s);
                                hbbs = Some(addr);
                            }
                            Err(e) => self
                                .problem(&mut reported, format!("cannot open a UDP socket: {e}")),
                        }
                    }
                    Err(e) => self.problem(
                        &mut reported,
                        format!("cannot resolve the rendezvous server `{server}`: {e}"),
                    ),
                }
                if socket.is_none() {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(5)) => continue,
                        _ = shutdown.changed() => return,
                    }
                }
            }
            let (Some(udp), Some(server_addr)) = (socket.as_ref(), hbbs) else {
                continue;
            };
            let wake = mediator
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                received = udp.recv_from(&mut buf) => match received {
                    Ok((n, from)) if from == server_addr => {
                        if let Err(e) = mediator.handle_datagram(Instant::now(), &buf[..n]) {
                            tracing::debug!(error = %e, "bad datagram from the rendezvous server");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "UDP receive failed"),
                },
                () = tokio::time::sleep_until(wake.into()) => mediator.handle_timeout(Instant::now()),
                Some(command) = commands.recv() => match command {
                    RegistrarCommand::ForceRegisterPk => mediator.force_register_pk(),
                },
                _ = shutdown.changed() => return,
            }
            while let Some(datagram) = mediator.poll_transmit() {
                if let Err(e) = udp.send_to(&datagram, server_addr).await {
                    tracing::debug!(error = %e, "UDP send failed");
                }
            }
            while let Some(event) = mediator.poll_event() {
                match event {
                    Event::Registered => {
                        tracing::info!(id = %self.agent.config.id, %server, "registered with the rendezvous server");
                        reported = None;
                        self.status.send_modify(|s| {
                            s.registered = true;
                            s.problem = None;
                        });
                    }
                    Event::Unreachable { timeouts } => {
                        self.status.send_modify(|s| s.registered = false);
                        self.problem(
                            &mut reported,
                            format!(
                                "the rendezvous server {server} does not answer ({timeouts} tries)"
                            ),
                        );
                        // It may have moved: look the name up again.
                        hbbs = None;
                    }
                    Event::Reachable => {
                        tracing::info!(%server, "the rendezvous server answers again");
                    }
                    Event::Rejected(why) => {
                        self.problem(&mut reported, rejection(why, &self.agent.config.id));
                    }
                    Event::Relay(instructions) => self.relay(server_addr, instructions),
                    Event::LocalAddrRequested(lan) => self.relay(server_addr, lan.fallback),
                    other => tracing::debug!(event = ?other, "rendezvous event"),
                }
            }
        }
    }

    /// Answers hbbs on a new TCP connection and meets the client at the relay.
    /// Meets the client at the relay, then tells hbbs (which lets the client in).
    ///
    /// The order matters: our `RequestRelay` must reach hbbr before the client's, because real
    /// hbbr (1.1.17) can fail to pair two connections that arrive at nearly the same moment.
    fn relay(&self, hbbs: SocketAddr, instructions: RelayInstructions) {
        let this = self.clone();
        tokio::spawn(async move {
            let (stream, relay) = match connect_relay(&instructions).await {
                Ok(connected) => connected,
                Err(e) => {
                    tracing::warn!(relay = %instructions.relay, error = %e, "could not reach the relay");
                    return;
                }
            };
            let peer = instructions.client_addr.unwrap_or(relay);
            tracing::debug!(%relay, %peer, secure = instructions.secure, "relay connected");
            this.session(
                stream,
                peer,
                Transport::Relay {
                    secure: instructions.secure,
                },
            );
            if let Err(e) = tell_hbbs(hbbs, &instructions.to_rendezvous).await {
                tracing::warn!(error = %e, "could not answer the rendezvous server");
            }
        });
    }

    fn problem(&self, reported: &mut Option<String>, text: String) {
        if reported.as_deref() != Some(text.as_str()) {
            tracing::warn!("{text}");
            self.status.send_modify(|s| s.problem = Some(text.clone()));
            *reported = Some(text);
        }
    }
}

fn rejection(why: RegisterRejection, id: &str) -> String {
    match why {
        RegisterRejection::UuidMismatch => format!(
            "the rendezvous server holds ID {id} for another machine (UUID mismatch); choose a new ID with `deskcast id set NEW`"
        ),
        RegisterRejection::TooFrequent => {
            "the rendezvous server says we register too often; retrying".into()
        }
        other => format!("the rendezvous server refused our key: {other:?}"),
    }
}

async fn tell_hbbs(hbbs: SocketAddr, frame: &[u8]) -> Result<(), Error> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(hbbs))
        .await
        .map_err(|_| Error::Timeout("connecting to the rendezvous server"))?
        .context("connecting to the rendezvous server")?;
    stream
        .write_all(frame)
        .await
        .context("answering the rendezvous server")?;
    // hbbs closes the connection once it has routed the answer.
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 64];
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut stream, &mut sink),
    )
    .await;
    Ok(())
}

async fn connect_relay(instructions: &RelayInstructions) -> Result<(TcpStream, SocketAddr), Error> {
    let addr = resolve_with_port(
        &instructions.relay,
        deskcast_protocol::rendezvous::RELAY_PORT,
    )
    .await?;
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout("connecting to the relay"))?
        .context("connecting to the relay")?;
    let _ = stream.set_nodelay(true);
    stream
        .write_all(&instructions.to_relay)
        .await
        .context("sending RequestRelay")?;
    Ok((stream, addr))
}

async fn resolve(server: &str) -> Result<SocketAddr, Error> {
    resolve_with_port(server, DEFAULT_RENDEZVOUS_PORT).await
}

async fn resolve_with_port(host: &str, default_port: u16) -> Result<SocketAddr, Error> {
    let with_port = deskcast_protocol::rendezvous::with_default_port(host, default_port);
    tokio::net::lookup_host(with_port.as_str())
        .await
        .context(&format!("resolving {with_port}"))?
        .next()
        .ok_or_else(|| Error::Refused(format!("{with_port} has no address")))
}
