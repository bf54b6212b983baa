//! Damage-driven capture of the screen (or one monitor, or a rectangle) into a small pool of
//! buffers, on a connection of its own.
//!
//! The capture thread calls [`Capturer::wait`] (or [`Capturer::next_frame`]) with a pacing
//! deadline and [`Capturer::capture`] when it is time for a frame; frames go to the encoder as
//! owned [`CapturedFrame`]s and come back when dropped. Only the rows that changed are fetched
//! again into a buffer that already holds an earlier frame.

mod buffer;
mod path;
mod requests;

use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use x11rb::connection::Connection as _;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder};
use x11rb::protocol::{Event, shm, shm::Seg};

use super::connection::{ConnectOptions, Connection, Readiness};
use super::error::{Context as _, Error};
use super::region::{Rows, clip_to, merge_rects};
use super::screen::{Monitor, query_monitors, randr_version, root_size, select_screen_changes};
use buffer::{Buffer, Memory};
use deskcast_codec::{BufferId, Rect};
use path::{Backend, Segment, candidates, make_segment};
use requests::Opcodes;

pub use buffer::CapturedFrame;
pub use path::{BufferBacking, CapturePath, PathAttempt, PathChoice, Paths};

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CaptureArea {
    /// The whole root window.
    #[default]
    Screen,
    /// The monitor with this RandR name; followed when monitors change.
    Monitor(String),
    /// A fixed rectangle of the root window (clipped to the screen).
    Rect(Rect),
}

/// How a [`Capturer`] works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// What to capture.
    pub area: CaptureArea,
    /// The capture paths that may be tried.
    pub paths: Paths,
    /// How many buffers to grab into (at least 2): one being encoded, one queued, one being
    /// grabbed is the usual pipeline, hence 3 by default.
    pub buffers: usize,
    /// The most damage rectangles reported per frame; more are merged into a tight cover.
    pub max_damage_rects: usize,
    /// Fetch only the damaged rows into a buffer that already holds an earlier frame
    /// (otherwise every grab fetches the whole area).
    pub partial_grabs: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            area: CaptureArea::Screen,
            paths: Paths::default(),
            buffers: 3,
            max_damage_rects: 16,
            partial_grabs: true,
        }
    }
}

/// Why [`Capturer::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wake {
    /// Part of the captured area changed: a [`Capturer::capture`] will have damage.
    Damaged,
    /// The screen or the monitors changed (the captured area may have a new size); re-read
    /// [`Capturer::monitors`]. The next capture is a full frame.
    ScreenChanged,
    /// The deadline passed with nothing new.
    TimedOut,
    /// Another thread called [`CaptureWaker::wake`].
    Woken,
}

/// Interrupts a [`Capturer::wait`] from another thread (a viewer joined, asked for a keyframe,
/// or left), so the capture thread never sleeps through a command.
#[derive(Debug, Clone)]
pub struct CaptureWaker(Arc<UnixStream>);

impl CaptureWaker {
    /// Makes the current or the next [`Capturer::wait`] return [`Wake::Woken`].
    pub fn wake(&self) {
        // A full socket already holds a wake-up, so a failed write loses nothing.
        let _ = (&*self.0).write(&[1]);
    }
}

/// A capture buffer, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferInfo {
    /// The buffer's id (as in [`CapturedFrame::buffer_id`]).
    pub id: BufferId,
    /// What backs it.
    pub backing: BufferBacking,
    /// Its size in bytes.
    pub len: usize,
}

/// One buffer slot: the capturer's bookkeeping for a buffer, which may be out on loan.
#[derive(Debug)]
struct Slot {
    info: BufferInfo,
    seg: Option<Seg>,
    /// Whether the buffer holds a whole frame of the current geometry.
    valid: bool,
    /// Rows that changed on screen since the buffer was last filled.
    stale: Rows,
    /// The buffer, when it is home.
    buffer: Option<Buffer>,
}

/// Captures one area of an X screen, driven by XDAMAGE. See the module documentation.
#[derive(Debug)]
pub struct Capturer {
    x: Connection,
    config: CaptureConfig,
    randr: Option<(u32, u32)>,
    backend: Backend,
    choice: PathChoice,
    /// The captured area in root coordinates.
    area: Rect,
    damage: damage::Damage,
    region: xfixes::Region,
    opcodes: Opcodes,
    damage_notified: bool,
    screen_changed: bool,
    /// Damage gathered since the last capture, frame-relative, bounded.
    pending: Vec<Rect>,
    /// The next frame reports the whole area as damaged (first frame, resize, failed grab).
    fresh: bool,
    slots: Vec<Slot>,
    generation: u64,
    next_id: u64,
    home_tx: Sender<Buffer>,
    home_rx: Receiver<Buffer>,
    wake_rx: UnixStream,
    wake_tx: Arc<UnixStream>,
}

impl Capturer {
    /// Connects, checks the screen format, subscribes to damage and screen changes, and picks a
    /// capture path (logging the choice once).
    pub fn new(options: &ConnectOptions, config: CaptureConfig) -> Result<Self, Error> {
        let x = Connection::open(options)?;
        check_format(&x)?;
        require_damage(&x)?;
        let randr = randr_version(&x)?;
        select_screen_changes(&x, x.root(), randr)?;
        let area = resolve_area(&x, randr, &config.area)?;
        let damage = x.conn.generate_id().ctx("DamageCreate")?;
        x.conn
            .damage_create(damage, x.root(), damage::ReportLevel::NON_EMPTY)
            .ctx("DamageCreate")?;
        let region = x.conn.generate_id().ctx("CreateRegion")?;
        x.conn
            .xfixes_create_region(region, &[])
            .ctx("CreateRegion")?;
        let opcodes = Opcodes::query(&x.conn)?;
        let (home_tx, home_rx) = channel();
        let (wake_rx, wake_tx) = UnixStream::pair().map_err(|e| Error::os("socketpair", e))?;
        for end in [&wake_rx, &wake_tx] {
            end.set_nonblocking(true)
                .map_err(|e| Error::os("socketpair", e))?;
        }
        let mut capturer = Self {
            x,
            config,
            randr,
            backend: Backend::GetImage,
            choice: PathChoice {
                path: CapturePath::GetImage,
                method: Backend::GetImage.method(),
                attempts: Vec::new(),
            },
            area,
            damage,
            region,
            opcodes,
            damage_notified: false,
            screen_changed: false,
            pending: Vec::new(),
            fresh: true,
            slots: Vec::new(),
            generation: 0,
            next_id: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
            home_tx,
            home_rx,
            wake_rx,
            wake_tx: Arc::new(wake_tx),
        };
        capturer.choose_path()?;
        capturer.fill_slots()?;
        Ok(capturer)
    }

    /// A handle other threads use to interrupt [`wait`](Self::wait).
    pub fn waker(&self) -> CaptureWaker {
        CaptureWaker(Arc::clone(&self.wake_tx))
    }

    /// The capture path in use and why.
    pub fn path(&self) -> &PathChoice {
        &self.choice
    }

    /// The captured area in root coordinates.
    pub fn area(&self) -> Rect {
        self.area
    }

    /// The buffers of the current geometry.
    pub fn buffers(&self) -> Vec<BufferInfo> {
        self.slots.iter().map(|s| s.info).collect()
    }

    /// The damage gathered since the last capture, frame-relative and bounded (what the next
    /// frame will report, unless more arrives first).
    pub fn pending_damage(&self) -> &[Rect] {
        &self.pending
    }

    /// The monitors, as RandR lists them now.
    pub fn monitors(&self) -> Result<Vec<Monitor>, Error> {
        query_monitors(&self.x, self.randr)
    }

    /// Waits until the captured area is damaged, the screen changes, or `deadline` passes.
    /// Returns at once when damage is already pending. A static screen sleeps here until the
    /// deadline, costing one `poll`.
    pub fn wait(&mut self, deadline: Instant) -> Result<Wake, Error> {
        loop {
            self.drain_events()?;
            if self.screen_changed {
                self.screen_changed = false;
                self.follow_screen()?;
                return Ok(Wake::ScreenChanged);
            }
            if self.damage_notified {
                self.collect_damage()?;
            }
            if !self.pending.is_empty() {
                return Ok(Wake::Damaged);
            }
            match self
                .x
                .wait_readable(deadline, Some(self.wake_rx.as_raw_fd()))?
            {
                Readiness::TimedOut => return Ok(Wake::TimedOut),
                Readiness::Woken => {
                    let mut sink = [0u8; 64];
                    while matches!((&self.wake_rx).read(&mut sink), Ok(n) if n > 0) {}
                    return Ok(Wake::Woken);
                }
                Readiness::Readable => {}
            }
        }
    }

    /// Waits as [`wait`](Self::wait) does and captures when something changed; `None` when
    /// the deadline passed with nothing new.
    pub fn next_frame(&mut self, deadline: Instant) -> Result<Option<CapturedFrame>, Error> {
        match self.wait(deadline)? {
            Wake::TimedOut | Wake::Woken => Ok(None),
            Wake::Damaged | Wake::ScreenChanged => self.capture().map(Some),
        }
    }

    /// Grabs a frame now into a free buffer, fetching only what changed since that buffer was
    /// last filled. Fails with [`Error::BuffersExhausted`] when every buffer is out on loan.
    pub fn capture(&mut self) -> Result<CapturedFrame, Error> {
        self.drain_events()?;
        if self.screen_changed {
            self.screen_changed = false;
            self.follow_screen()?;
        }
        self.reclaim();
        let Some(index) = self.free_slot() else {
            return Err(Error::BuffersExhausted(self.slots.len()));
        };
        if self.damage_notified {
            self.collect_damage()?;
        }
        let full = Rect {
            x: 0,
            y: 0,
            width: self.area.width,
            height: self.area.height,
        };
        let slot_valid = self.slots[index].valid;
        let mut buffer = self.slots[index]
            .buffer
            .take()
            .ok_or_else(|| Error::odd("capture", "a free slot without its buffer"))?;
        let mut rows = Rows::default();
        if slot_valid && self.config.partial_grabs {
            rows = self.slots[index].stale;
            rows.add_rects(&self.pending);
        } else {
            rows.add(0, self.area.height);
        }
        // Mostly-damaged buffers are cheaper to fetch whole, in one request.
        if rows.count() * 10 > self.area.height * 6 {
            rows.clear();
            rows.add(0, self.area.height);
        }
        let seg = self.slots[index].seg;
        if let Err(e) = self.fetch(&mut buffer, seg, &rows) {
            // The damage taken from the server is not in any buffer: start over with whole
            // frames.
            self.slots[index].buffer = Some(buffer);
            for slot in &mut self.slots {
                slot.valid = false;
            }
            self.fresh = true;
            return Err(e);
        }
        buffer.damage.clear();
        if self.fresh || self.pending.is_empty() {
            // A first frame, or one grabbed with nothing pending, reports everything.
            buffer.damage.push(full);
        } else {
            buffer.damage.extend_from_slice(&self.pending);
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if i == index {
                slot.valid = true;
                slot.stale.clear();
            } else {
                slot.stale.add_rects(&buffer.damage);
            }
        }
        self.pending.clear();
        self.fresh = false;
        Ok(CapturedFrame::new(buffer, self.home_tx.clone()))
    }

    fn choose_path(&mut self) -> Result<(), Error> {
        let len = self.frame_len();
        let mut attempts = Vec::new();
        for (backend, known) in candidates(&self.x, self.config.paths)? {
            let outcome = match known {
                Some(why) => Err(why),
                None => self.probe(backend, len).map_err(|e| e.to_string()),
            };
            if let Err(error) = &outcome {
                tracing::debug!(method = backend.method(), %error, "capture path unusable");
            }
            let path = backend.path();
            let merged = attempts
                .iter_mut()
                .find(|a: &&mut PathAttempt| a.path == path && a.error.is_some());
            match (&outcome, merged) {
                // A second method of the same path that fails adds its reason to the first.
                (Err(e), Some(a)) => {
                    let text = a.error.get_or_insert_with(String::new);
                    if !text.contains(e.as_str()) {
                        text.push_str("; ");
                        text.push_str(e);
                    }
                }
                (Err(e), None) => attempts.push(PathAttempt {
                    path,
                    error: Some(e.clone()),
                }),
                (Ok(()), existing) => {
                    if let Some(a) = existing {
                        a.error = None;
                    } else {
                        attempts.push(PathAttempt { path, error: None });
                    }
                    self.backend = backend;
                    self.choice = PathChoice {
                        path,
                        method: backend.method(),
                        attempts,
                    };
                    tracing::info!(choice = %self.choice, "capture path chosen");
                    return Ok(());
                }
            }
        }
        let text = attempts
            .iter()
            .map(|a| format!("{}: {}", a.path, a.error.as_deref().unwrap_or("disabled")))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::NoCapturePath(if text.is_empty() {
            "every path is disabled".to_owned()
        } else {
            text
        }))
    }

    /// Makes one buffer on `backend` and grabs one row into it.
    fn probe(&mut self, backend: Backend, len: usize) -> Result<(), Error> {
        let segment = make_segment(&self.x, backend, len)?;
        let mut buffer = self.buffer_from(segment.memory, 0);
        let mut rows = Rows::default();
        rows.add(0, 1);
        let result = self.fetch_with(backend, &mut buffer, segment.seg, &rows);
        if let Some(seg) = segment.seg {
            let _ = self.x.conn.shm_detach(seg);
        }
        result
    }

    /// Drops every buffer of the old geometry (those on loan die when they come home) and makes
    /// `config.buffers` new ones.
    fn fill_slots(&mut self) -> Result<(), Error> {
        for slot in self.slots.drain(..) {
            if let Some(seg) = slot.seg {
                let _ = self.x.conn.shm_detach(seg);
            }
        }
        self.generation += 1;
        let len = self.frame_len();
        for index in 0..self.config.buffers.max(2) {
            let Segment {
                memory,
                seg,
                backing,
            } = make_segment(&self.x, self.backend, len)?;
            let buffer = self.buffer_from(memory, index);
            self.slots.push(Slot {
                info: BufferInfo {
                    id: buffer.id,
                    backing,
                    len,
                },
                seg,
                valid: false,
                stale: Rows::default(),
                buffer: Some(buffer),
            });
        }
        self.pending.clear();
        self.fresh = true;
        Ok(())
    }

    fn buffer_from(&mut self, memory: Memory, slot: usize) -> Buffer {
        self.next_id += 1;
        Buffer {
            slot,
            generation: self.generation,
            id: BufferId(self.next_id),
            memory,
            width: self.area.width,
            height: self.area.height,
            stride: self.area.width as usize * 4,
            damage: Vec::with_capacity(self.config.max_damage_rects.max(1) + 1),
            max_damage_rects: self.config.max_damage_rects,
        }
    }

    fn frame_len(&self) -> usize {
        // A zero-sized segment is refused by the server; keep at least one pixel.
        (self.area.width as usize * self.area.height as usize * 4).max(4)
    }

    fn reclaim(&mut self) {
        while let Ok(buffer) = self.home_rx.try_recv() {
            if buffer.generation == self.generation
                && let Some(slot) = self.slots.get_mut(buffer.slot)
            {
                slot.buffer = Some(buffer);
            }
        }
    }

    fn free_slot(&self) -> Option<usize> {
        // Prefer a buffer that needs the fewest rows fetched.
        (0..self.slots.len())
            .filter(|&i| self.slots[i].buffer.is_some())
            .min_by_key(|&i| {
                let s = &self.slots[i];
                if s.valid { s.stale.count() } else { u32::MAX }
            })
    }

    fn fetch(&self, buffer: &mut Buffer, seg: Option<Seg>, rows: &Rows) -> Result<(), Error> {
        self.fetch_with(self.backend, buffer, seg, rows)
    }

    /// Fetches the full-width row spans `rows` of the area into `buffer`.
    fn fetch_with(
        &self,
        backend: Backend,
        buffer: &mut Buffer,
        seg: Option<Seg>,
        rows: &Rows,
    ) -> Result<(), Error> {
        let area = self.area;
        let (x, w) = (coord(area.x)?, dim(area.width)?);
        let stride = buffer.stride;
        match (seg, &mut buffer.memory) {
            (Some(seg), Memory::Shared(_)) => {
                let major = self
                    .opcodes
                    .shm
                    .ok_or_else(|| Error::odd("ShmGetImage", "the server has no MIT-SHM"))?;
                // Every span's request goes out before the first reply is awaited; the cookies
                // live on the stack (a Rows holds at most MAX_SPANS spans).
                let mut cookies: [Option<requests::Cookie<'_, _, shm::GetImageReply>>;
                    Rows::MAX_SPANS] = std::array::from_fn(|_| None);
                for (slot, &(start, end)) in cookies.iter_mut().zip(rows.spans()) {
                    let offset = u32::try_from(start as usize * stride)
                        .map_err(|_| Error::Unsupported("grab beyond 4 GiB".to_owned()))?;
                    let bytes = requests::shm_get_image_bytes(
                        major,
                        self.x.root(),
                        (x, coord(area.y + start)?),
                        (w, dim(end - start)?),
                        seg,
                        offset,
                    );
                    *slot = Some(requests::send_with_reply(
                        &self.x.conn,
                        &bytes,
                        "ShmGetImage",
                    )?);
                }
                for (cookie, &(start, end)) in cookies.into_iter().flatten().zip(rows.spans()) {
                    let reply = cookie.reply().ctx("ShmGetImage")?;
                    if reply.size as usize != (end - start) as usize * stride {
                        return Err(Error::odd("ShmGetImage", format!("size {}", reply.size)));
                    }
                }
                Ok(())
            }
            (None, Memory::Heap(heap)) => {
                debug_assert_eq!(backend, Backend::GetImage);
                for &(start, end) in rows.spans() {
                    let reply = self
                        .x
                        .conn
                        .get_image(
                            ImageFormat::Z_PIXMAP,
                            self.x.root(),
                            x,
                            coord(area.y + start)?,
                            w,
                            dim(end - start)?,
                            !0,
                        )
                        .ctx("GetImage")?
                        .reply()
                        .ctx("GetImage")?;
                    let at = start as usize * stride;
                    let len = (end - start) as usize * stride;
                    if reply.data.len() != len || at + len > heap.len() {
                        let got = reply.data.len();
                        return Err(Error::odd(
                            "GetImage",
                            format!("{got} bytes, {len} expected"),
                        ));
                    }
                    if at == 0 && len == heap.len() {
                        // A whole frame: keep the reply's memory instead of copying it.
                        *heap = reply.data;
                    } else {
                        heap[at..at + len].copy_from_slice(&reply.data);
                    }
                }
                Ok(())
            }
            _ => Err(Error::odd(
                "capture",
                "a buffer that does not match its path",
            )),
        }
    }

    fn drain_events(&mut self) -> Result<(), Error> {
        while let Some(event) = self.x.poll_event()? {
            match event {
                Event::DamageNotify(e) if e.damage == self.damage => self.damage_notified = true,
                Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_) => {
                    self.screen_changed = true;
                }
                Event::Error(e) => tracing::warn!(error = ?e, "X error on the capture connection"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Moves the server's damage into `pending`, clipped to the area and bounded.
    fn collect_damage(&mut self) -> Result<(), Error> {
        self.damage_notified = false;
        // Hand-written requests and an in-place read of the reply: see `requests`.
        let subtract =
            requests::damage_subtract_bytes(self.opcodes.damage, self.damage, self.region);
        requests::send_without_reply(&self.x.conn, &subtract, "DamageSubtract")?;
        let fetch = requests::fetch_region_bytes(self.opcodes.xfixes, self.region);
        let reply = requests::send_with_reply::<xfixes::FetchRegionReply>(
            &self.x.conn,
            &fetch,
            "FetchRegion",
        )?
        .raw_reply()
        .ctx("FetchRegion")?;
        let area = self.area;
        self.pending.extend(
            requests::region_rects(&reply).filter_map(|(x, y, width, height)| {
                clip_to(x.into(), y.into(), width.into(), height.into(), area)
            }),
        );
        merge_rects(&mut self.pending, self.config.max_damage_rects);
        Ok(())
    }

    /// Re-reads the area after a screen change; makes new buffers when its size changed.
    fn follow_screen(&mut self) -> Result<(), Error> {
        let area = resolve_area(&self.x, self.randr, &self.config.area)?;
        let resized = (area.width, area.height) != (self.area.width, self.area.height);
        let moved = area != self.area;
        self.area = area;
        if resized {
            tracing::info!(
                width = area.width,
                height = area.height,
                "capture area resized"
            );
            self.fill_slots()?;
        } else if moved {
            for slot in &mut self.slots {
                slot.valid = false;
            }
            self.fresh = true;
        }
        Ok(())
    }
}

impl Drop for Capturer {
    fn drop(&mut self) {
        // Best effort: the server also forgets everything of ours when the connection closes.
        for seg in self.slots.iter().filter_map(|s| s.seg) {
            let _ = self.x.conn.shm_detach(seg);
        }
        let _ = self.x.conn.damage_destroy(self.damage);
        let _ = self.x.conn.xfixes_destroy_region(self.region);
        let _ = self.x.conn.flush();
    }
}

fn coord(v: u32) -> Result<i16, Error> {
    i16::try_from(v).map_err(|_| Error::Unsupported(format!("capture at coordinate {v}")))
}

fn dim(v: u32) -> Result<u16, Error> {
    u16::try_from(v).map_err(|_| Error::Unsupported(format!("capture {v} pixels")))
}

/// Only 32-bit little-endian ZPixmap pixels of depth 24 or 32 are read.
fn check_format(x: &Connection) -> Result<(), Error> {
    let setup = x.conn.setup();
    let depth = x.x_screen().root_depth;
    let bpp = setup
        .pixmap_formats
        .iter()
        .find(|f| f.depth == depth)
        .map(|f| f.bits_per_pixel);
    if !matches!(depth, 24 | 32)
        || bpp != Some(32)
        || setup.image_byte_order != ImageOrder::LSB_FIRST
    {
        return Err(Error::UnsupportedFormat(format!(
            "depth {depth}, {bpp:?} bits per pixel, byte order {:?}",
            setup.image_byte_order
        )));
    }
    Ok(())
}

fn require_damage(x: &Connection) -> Result<(), Error> {
    if !x.has_extension(damage::X11_EXTENSION_NAME)? {
        return Err(Error::MissingExtension {
            name: "DAMAGE 1.1",
            needed_for: "damage-driven capture",
        });
    }
    if !x.has_extension(xfixes::X11_EXTENSION_NAME)? {
        return Err(Error::MissingExtension {
            name: "XFIXES 2.0",
            needed_for: "damage regions",
        });
    }
    x.conn
        .xfixes_query_version(5, 0)
        .ctx("XFixesQueryVersion")?
        .reply()
        .ctx("XFixesQueryVersion")?;
    x.conn
        .damage_query_version(1, 1)
        .ctx("DamageQueryVersion")?
        .reply()
        .ctx("DamageQueryVersion")?;
    Ok(())
}

fn resolve_area(
    x: &Connection,
    randr: Option<(u32, u32)>,
    area: &CaptureArea,
) -> Result<Rect, Error> {
    let (width, height) = root_size(x)?;
    let screen = Rect {
        x: 0,
        y: 0,
        width,
        height,
    };
    let wanted = match area {
        CaptureArea::Screen => return Ok(screen),
        CaptureArea::Monitor(name) => query_monitors(x, randr)?
            .into_iter()
            .find(|m| &m.name == name)
            .ok_or_else(|| Error::NoSuchMonitor(name.clone()))?
            .rect(),
        CaptureArea::Rect(r) => *r,
    };
    let clipped = clip_to(
        i32::try_from(wanted.x).unwrap_or(i32::MAX),
        i32::try_from(wanted.y).unwrap_or(i32::MAX),
        wanted.width,
        wanted.height,
        screen,
    )
    .ok_or(Error::AreaOutsideScreen(wanted))?;
    Ok(clipped)
}
