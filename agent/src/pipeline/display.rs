//! One display's capture thread: damage → capture → encode → offer, shared by every viewer.
//!
//! Viewers subscribe with the (backend, codec, quality) they negotiated; subscribers that agree
//! share one encoder (a `Group`), so a second viewer costs no second encode. Each group keeps
//! its own pace (the slowest member's frame rate) and bitrate (the lowest member's), and is
//! encoded only when every member's [`Slot`] is empty: the encoder's reference chain must reach
//! every member, so a frame is never dropped for one member only. Instead, damage accumulates and
//! the next capture shows the latest screen (latest frame wins). A member whose slot stays full
//! longer than [`LAG_GRACE`] is set aside, so it cannot stall the others; when it drains, it
//! rejoins with a keyframe.
//!
//! With no subscriber the thread sleeps on its command channel and the X server is not touched.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use deskcast_codec::{self as codec, Backend, Codec, Encoder, EncoderConfig, Frame, Rect};
use tokio::sync::mpsc::UnboundedSender;

use super::pool::{EncodedFrame, FramePool};
use super::slot::{Refused, Slot};
use crate::platform::x11::{
    CaptureArea, CaptureConfig, CaptureWaker, CapturedFrame, Capturer, ConnectOptions, Paths, Wake,
    merge_rects,
};

/// How long a member's slot may stay full before the group stops waiting for it.
pub const LAG_GRACE: Duration = Duration::from_millis(1500);
/// How often a lost X server is retried.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);
/// The most damage rectangles a group carries between its encodes.
const MAX_GROUP_DAMAGE: usize = 16;

/// Identifies one viewer (one session) across the agent.
pub type ViewerId = u64;

/// How many NVENC sessions this agent may hold (GeForce cards allow 8 per system, across every
/// container); shared by all displays.
#[derive(Debug, Clone, Default)]
pub struct NvencBudget {
    used: Arc<std::sync::atomic::AtomicU32>,
    /// The cap; 0 means none of our own.
    pub cap: u32,
}

impl NvencBudget {
    /// A budget of `cap` sessions (0: no cap of our own).
    pub fn new(cap: u32) -> Self {
        Self {
            used: Arc::default(),
            cap,
        }
    }

    /// Sessions held now.
    pub fn used(&self) -> u32 {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether another session may be opened.
    pub fn available(&self) -> bool {
        self.cap == 0 || self.used() < self.cap
    }

    /// Takes one session, if the cap allows; it is returned when the lease drops.
    fn lease(&self) -> Option<NvencLease> {
        use std::sync::atomic::Ordering;
        let cap = self.cap;
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (cap == 0 || n < cap).then_some(n + 1)
            })
            .ok()
            .map(|_| NvencLease(Arc::clone(&self.used)))
    }
}

/// One NVENC session counted against the [`NvencBudget`].
#[derive(Debug)]
struct NvencLease(Arc<std::sync::atomic::AtomicU32>);

impl Drop for NvencLease {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What a display captures and how.
#[derive(Debug, Clone)]
pub struct DisplayConfig {
    /// The X server.
    pub connect: ConnectOptions,
    /// The part of the screen this display is.
    pub area: CaptureArea,
    /// Which capture paths may be used.
    pub paths: Paths,
    /// Encoder threads (0: the backend decides).
    pub threads: u32,
    /// The agent's NVENC sessions.
    pub nvenc: NvencBudget,
}

/// Where a viewer's frames come from: the encoder it shares with viewers that agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The encoder backend.
    pub backend: Backend,
    /// The codec.
    pub codec: Codec,
    /// The viewer's quality choice, in hundredths of the base bitrate (groups share only
    /// between equal choices).
    pub quality: u32,
}

/// A viewer's request to receive this display.
#[derive(Debug)]
pub struct Subscription {
    /// The viewer.
    pub viewer: ViewerId,
    /// The encoder it wants.
    pub route: Route,
    /// Its frame rate.
    pub fps: u32,
    /// Its bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Where its frames go.
    pub frames: Arc<Slot<Arc<EncodedFrame>>>,
    /// Where it hears about resizes and encoder changes.
    pub events: UnboundedSender<DisplayEvent>,
}

/// What a display tells its viewers besides frames.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisplayEvent {
    /// The captured area has a new size (a keyframe follows).
    Resized {
        /// New width.
        width: u32,
        /// New height.
        height: u32,
    },
    /// The viewer's encoder changed (a failure fell back to another one; a keyframe follows).
    EncoderChanged {
        /// The route the viewer now gets.
        route: Route,
        /// Why.
        reason: String,
    },
    /// Capturing failed; the display keeps retrying.
    CaptureLost(String),
}

/// Commands to a display's thread.
#[derive(Debug)]
enum Command {
    Subscribe(Subscription),
    Unsubscribe(ViewerId),
    Rate {
        viewer: ViewerId,
        fps: u32,
        bitrate_kbps: u32,
    },
    Keyframe(ViewerId),
    /// A viewer took a frame: a group waiting for its slot may go on.
    Taken,
}

/// The waker of the capturer currently in use, if any (it changes on reconnection).
type SharedWaker = Arc<Mutex<Option<CaptureWaker>>>;

/// The handle sessions hold: sends commands and wakes the thread.
#[derive(Debug, Clone)]
pub struct Display {
    commands: Sender<Command>,
    waker: SharedWaker,
}

impl Display {
    /// Starts the display's thread. The X connection is made there when the first viewer
    /// subscribes, so this returns at once; failures reach subscribers as
    /// [`DisplayEvent::CaptureLost`]. The thread ends when every handle is dropped.
    pub fn spawn(config: DisplayConfig) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (commands, rx) = channel();
        let waker = SharedWaker::default();
        let worker = Worker::new(config, rx, Arc::clone(&waker));
        let thread = std::thread::Builder::new()
            .name("deskcast-capture".into())
            .spawn(move || worker.run())?;
        Ok((Self { commands, waker }, thread))
    }

    /// Subscribes a viewer; its first frame is a keyframe.
    pub fn subscribe(&self, subscription: Subscription) {
        self.send(Command::Subscribe(subscription));
    }

    /// Removes a viewer.
    pub fn unsubscribe(&self, viewer: ViewerId) {
        self.send(Command::Unsubscribe(viewer));
    }

    /// Changes a viewer's frame rate and bitrate.
    pub fn set_rate(&self, viewer: ViewerId, fps: u32, bitrate_kbps: u32) {
        self.send(Command::Rate {
            viewer,
            fps,
            bitrate_kbps,
        });
    }

    /// Asks for a keyframe for the viewer's group.
    pub fn request_keyframe(&self, viewer: ViewerId) {
        self.send(Command::Keyframe(viewer));
    }

    /// Tells the thread a viewer took a frame from its slot.
    pub fn frame_taken(&self) {
        // Waiting for a slot happens on the channel, so no X wake-up is needed.
        let _ = self.commands.send(Command::Taken);
    }

    fn send(&self, command: Command) {
        if self.commands.send(command).is_ok()
            && let Some(waker) = &*self.waker.lock().unwrap_or_else(PoisonError::into_inner)
        {
            waker.wake();
        }
    }
}

/// One viewer inside a group.
#[derive(Debug)]
struct Member {
    sub: Subscription,
    /// Since when its slot has been full, if it is.
    full_since: Option<Instant>,
    /// Set aside for lagging; rejoins with a keyframe once its slot is empty.
    lagging: bool,
}

/// Viewers sharing one encoder.
struct Group {
    route: Route,
    members: Vec<Member>,
    encoder: Option<Box<dyn Encoder>>,
    /// Held while `encoder` is an NVENC session.
    lease: Option<NvencLease>,
    size: (u32, u32),
    next_at: Instant,
    keyframe: bool,
    /// Damage since this group's last encode (captures it skipped).
    damage: Vec<Rect>,
    pool: FramePool,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("route", &self.route)
            .field("members", &self.members.len())
            .finish()
    }
}

impl Group {
    fn fps(&self) -> u32 {
        self.members
            .iter()
            .filter(|m| !m.lagging)
            .map(|m| m.sub.fps)
            .min()
            .unwrap_or(30)
            .max(1)
    }

    fn bitrate(&self) -> u32 {
        self.members
            .iter()
            .filter(|m| !m.lagging)
            .map(|m| m.sub.bitrate_kbps)
            .min()
            .unwrap_or(1000)
    }

    /// True when the group must encode the next capture whatever the damage: its encoder is
    /// new, or a keyframe was asked for.
    fn wants_frame(&self) -> bool {
        self.encoder.is_none() || self.keyframe
    }

    /// Updates lag state; true when every active member can take a frame now.
    fn ready(&mut self, now: Instant) -> bool {
        let mut ready = true;
        for m in &mut self.members {
            let full = m.sub.frames.is_full();
            match (full, m.full_since) {
                (true, None) => m.full_since = Some(now),
                (false, _) => m.full_since = None,
                _ => {}
            }
            if m.lagging && !full {
                m.lagging = false;
                self.keyframe = true;
            } else if !m.lagging && full && m.full_since.is_some_and(|t| now - t > LAG_GRACE) {
                tracing::debug!(
                    viewer = m.sub.viewer,
                    "viewer lags; the group stops waiting for it"
                );
                m.lagging = true;
            }
            ready &= m.lagging || !full;
        }
        ready && self.members.iter().any(|m| !m.lagging)
    }
}

struct Worker {
    config: DisplayConfig,
    rx: Receiver<Command>,
    waker: SharedWaker,
    groups: Vec<Group>,
    started: Instant,
    capturer: Option<Capturer>,
    last_error: Option<String>,
}

impl Worker {
    fn new(config: DisplayConfig, rx: Receiver<Command>, waker: SharedWaker) -> Self {
        Self {
            config,
            rx,
            waker,
            groups: Vec::new(),
            started: Instant::now(),
            capturer: None,
            last_error: None,
        }
    }

    fn run(mut self) {
        loop {
            if !self.drain_commands() {
                return;
            }
            if self.groups.is_empty() {
                // Nobody watches: no capture, no X traffic; sleep until a command arrives.
                match self.rx.recv() {
                    Ok(command) => self.apply(command),
                    Err(_) => return,
                }
                continue;
            }
            if self.capturer.is_none() {
                self.connect();
                if self.capturer.is_none() {
                    self.sleep_on_commands(RECONNECT_EVERY);
                    continue;
                }
            }
            if let Err(e) = self.turn() {
                self.lost(&e.to_string());
            }
        }
    }

    /// One turn: wait for damage or a command, then encode for the groups that are due.
    fn turn(&mut self) -> Result<(), crate::platform::x11::Error> {
        let now = Instant::now();
        let any_ready = self
            .groups
            .iter_mut()
            .fold(false, |acc, g| g.ready(now) | acc);
        if !any_ready {
            // Every group waits for a viewer to take its last frame.
            self.sleep_on_commands(LAG_GRACE / 4);
            return Ok(());
        }
        // A new encoder or a keyframe request needs a frame now, damage or not (a viewer that
        // joins or refreshes on a static screen must still see it).
        let forced = self
            .groups
            .iter_mut()
            .any(|g| g.ready(now) && g.wants_frame());
        let Some(capturer) = self.capturer.as_mut() else {
            return Ok(());
        };
        if !forced {
            // Sleep until damage arrives (or a command, via the waker).
            match capturer.wait(now + Duration::from_secs(1))? {
                Wake::TimedOut | Wake::Woken => return Ok(()),
                Wake::ScreenChanged | Wake::Damaged => {}
            }
        }
        let now = Instant::now();
        let due = self
            .groups
            .iter_mut()
            .filter_map(|g| g.ready(now).then_some(g.next_at))
            .min();
        match due {
            Some(at) if at > now => {
                // Paced: let commands in while waiting for the next frame time.
                self.sleep_on_commands(at - now);
                return Ok(());
            }
            Some(_) => {}
            None => return Ok(()),
        }
        let Some(capturer) = self.capturer.as_mut() else {
            return Ok(());
        };
        let frame = capturer.capture()?;
        self.encode(&frame, now);
        Ok(())
    }

    fn encode(&mut self, frame: &CapturedFrame, now: Instant) {
        let pts = i64::try_from((now - self.started).as_millis()).unwrap_or(i64::MAX);
        let captured_us = monotonic_us();
        let size = (frame.width(), frame.height());
        let threads = self.config.threads;
        for group in &mut self.groups {
            if (group.next_at > now && !group.wants_frame()) || !group.ready(now) {
                group.damage.extend_from_slice(frame.damage());
                merge_rects(&mut group.damage, MAX_GROUP_DAMAGE);
                continue;
            }
            let interval = Duration::from_secs(1) / group.fps();
            group.next_at = if group.next_at + interval > now {
                group.next_at + interval
            } else {
                now + interval
            };
            if group.size != size && group.size != (0, 0) {
                for m in &group.members {
                    let _ = m.sub.events.send(DisplayEvent::Resized {
                        width: size.0,
                        height: size.1,
                    });
                }
            }
            if group.encoder.is_none() || group.size != size {
                group.size = size;
                group.encoder = None;
                group.lease = None;
                group.encoder = open_encoder(group, threads, &self.config.nvenc);
            }
            group.damage.extend_from_slice(frame.damage());
            merge_rects(&mut group.damage, MAX_GROUP_DAMAGE);
            // The damage since this group's last encode; the Vec goes back for reuse.
            let mut damage = std::mem::take(&mut group.damage);
            let mut view = frame.as_frame(pts);
            view.damage = &damage;
            if let Err(e) = encode_one(group, &view, captured_us) {
                fall_back(group, threads, &e);
                let _ = encode_one(group, &frame.as_frame(pts), captured_us);
            }
            damage.clear();
            group.damage = damage;
        }
    }

    fn connect(&mut self) {
        let config = CaptureConfig {
            area: self.config.area.clone(),
            paths: self.config.paths,
            ..CaptureConfig::default()
        };
        match Capturer::new(&self.config.connect, config) {
            Ok(c) => {
                tracing::info!(path = %c.path(), area = ?c.area(), "capturing");
                *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(c.waker());
                self.last_error = None;
                for g in &mut self.groups {
                    g.keyframe = true;
                }
                self.capturer = Some(c);
            }
            Err(e) => self.lost(&e.to_string()),
        }
    }

    fn lost(&mut self, error: &str) {
        if let Some(c) = self.capturer.take() {
            // Encoders may hold the capture buffers page-locked: release them before unmapping.
            for g in &mut self.groups {
                if let Some(enc) = &mut g.encoder {
                    enc.release_buffers();
                }
            }
            *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = None;
            drop(c);
        }
        if self.last_error.as_deref() != Some(error) {
            tracing::warn!(%error, "capture lost; retrying every second");
            for g in &self.groups {
                for m in &g.members {
                    let _ = m
                        .sub
                        .events
                        .send(DisplayEvent::CaptureLost(error.to_owned()));
                }
            }
            self.last_error = Some(error.to_owned());
        }
    }

    /// Applies queued commands; false when every handle is gone.
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(command) => self.apply(command),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn sleep_on_commands(&mut self, timeout: Duration) {
        match self.rx.recv_timeout(timeout) {
            Ok(command) => self.apply(command),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Subscribe(sub) => {
                self.remove(sub.viewer);
                let route = sub.route;
                let member = Member {
                    sub,
                    full_since: None,
                    lagging: false,
                };
                match self.groups.iter_mut().find(|g| g.route == route) {
                    Some(g) => {
                        g.members.push(member);
                        // A new viewer starts with a keyframe, so everyone in its group gets one.
                        g.keyframe = true;
                    }
                    None => self.groups.push(Group {
                        route,
                        members: vec![member],
                        encoder: None,
                        lease: None,
                        size: (0, 0),
                        next_at: Instant::now(),
                        keyframe: true,
                        damage: Vec::new(),
                        pool: FramePool::new(8),
                    }),
                }
            }
            Command::Unsubscribe(viewer) => self.remove(viewer),
            Command::Rate {
                viewer,
                fps,
                bitrate_kbps,
            } => {
                for g in &mut self.groups {
                    if let Some(m) = g.members.iter_mut().find(|m| m.sub.viewer == viewer) {
                        m.sub.fps = fps.max(1);
                        m.sub.bitrate_kbps = bitrate_kbps.max(50);
                        let (fps, kbps) = (g.fps(), g.bitrate());
                        if let Some(enc) = &mut g.encoder {
                            let _ = enc.set_fps(fps);
                            let _ = enc.set_bitrate(kbps);
                        }
                    }
                }
            }
            Command::Keyframe(viewer) => {
                for g in &mut self.groups {
                    if g.members.iter().any(|m| m.sub.viewer == viewer) {
                        g.keyframe = true;
                    }
                }
            }
            Command::Taken => {}
        }
    }

    fn remove(&mut self, viewer: ViewerId) {
        for g in &mut self.groups {
            g.members.retain(|m| m.sub.viewer != viewer);
        }
        // An empty group's encoder (and any NVENC session) is released at once.
        self.groups.retain(|g| !g.members.is_empty());
    }
}

fn open_encoder(group: &mut Group, threads: u32, nvenc: &NvencBudget) -> Option<Box<dyn Encoder>> {
    if group.route.backend == Backend::Nvenc {
        match nvenc.lease() {
            Some(lease) => group.lease = Some(lease),
            None => {
                let error = codec::Error::Unavailable {
                    backend: Backend::Nvenc,
                    reason: codec::Unavailable::SessionLimit(format!(
                        "this agent's cap of {} NVENC sessions is reached",
                        nvenc.cap
                    )),
                };
                fall_back(group, threads, &error);
                return group.encoder.take();
            }
        }
    }
    let (width, height) = group.size;
    let config = EncoderConfig {
        codec: group.route.codec,
        width,
        height,
        fps: group.fps(),
        bitrate_kbps: group.bitrate(),
        threads,
    };
    group.keyframe = false;
    match codec::open(group.route.backend, &config) {
        Ok(enc) => Some(enc),
        Err(e) => {
            // The GPU refused (e.g. GeForce's 8 sessions per system are in use): software.
            fall_back(group, threads, &e);
            group.encoder.take()
        }
    }
}

/// Replaces a failed encoder with a software one (VP9 when software lacks the codec) and tells
/// the members; the replacement starts with a keyframe.
fn fall_back(group: &mut Group, threads: u32, error: &codec::Error) {
    let codec = if codec::probe().can(Backend::Software, group.route.codec) {
        group.route.codec
    } else {
        Codec::Vp9
    };
    let route = Route {
        backend: Backend::Software,
        codec,
        ..group.route
    };
    let reason = format!(
        "{} {} failed: {error}; using software {codec}",
        group.route.backend, group.route.codec
    );
    tracing::warn!("{reason}");
    let (width, height) = group.size;
    let config = EncoderConfig {
        codec,
        width,
        height,
        fps: group.fps(),
        bitrate_kbps: group.bitrate(),
        threads,
    };
    group.encoder = codec::open(Backend::Software, &config)
        .inspect_err(|e| tracing::error!(error = %e, "software encoder failed too"))
        .ok();
    group.route = route;
    group.lease = None;
    group.keyframe = false;
    for m in &group.members {
        let _ = m.sub.events.send(DisplayEvent::EncoderChanged {
            route,
            reason: reason.clone(),
        });
    }
}

fn encode_one(group: &mut Group, frame: &Frame<'_>, captured_us: u64) -> Result<(), codec::Error> {
    let Some(encoder) = group.encoder.as_mut() else {
        return Ok(());
    };
    if std::mem::take(&mut group.keyframe) {
        encoder.request_keyframe();
    }
    encoder.send_frame(frame)?;
    while let Some(packet) = encoder.receive_packet()? {
        let shared = group.pool.fill(&packet, captured_us);
        for m in group.members.iter_mut().filter(|m| !m.lagging) {
            match m.sub.frames.offer(Arc::clone(&shared)) {
                Ok(()) => {}
                // `ready` checked the slot; a viewer that closed meanwhile is removed below.
                Err(Refused::Full(_)) => m.lagging = true,
                Err(Refused::Closed(_)) => {}
            }
        }
    }
    group.members.retain(|m| !m.sub.frames.is_closed());
    Ok(())
}

/// CLOCK_MONOTONIC in microseconds: the same clock a viewer on this machine reads.
pub fn monotonic_us() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nvenc_budget_caps_sessions_and_returns_them_on_drop() {
        let budget = NvencBudget::new(2);
        let a = budget.lease().expect("first");
        let b = budget.lease().expect("second");
        assert!(budget.lease().is_none(), "the cap holds");
        assert!(!budget.available());
        drop(a);
        assert_eq!(budget.used(), 1);
        let c = budget
            .lease()
            .expect("a returned session can be taken again");
        drop((b, c));
        assert_eq!(budget.used(), 0);

        let unlimited = NvencBudget::new(0);
        let leases: Vec<_> = (0..20).filter_map(|_| unlimited.lease()).collect();
        assert_eq!(leases.len(), 20);
        assert!(unlimited.available());
    }

    #[test]
    fn leases_taken_concurrently_never_exceed_the_cap() {
        let budget = NvencBudget::new(3);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let b = budget.clone();
                std::thread::spawn(move || b.lease())
            })
            .collect();
        let held: Vec<_> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(held.len(), 3);
        assert_eq!(budget.used(), 3);
    }
}
