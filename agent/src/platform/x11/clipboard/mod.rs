//! The text clipboard on a connection and thread of its own: owning CLIPBOARD and serving it
//! (UTF8_STRING, STRING, TEXT, TARGETS, TIMESTAMP; INCR for large texts), and reading what other
//! clients put there (XFIXES selection events, ConvertSelection, INCR), all within a size cap.
//!
//! The clipboard thread loops on [`Clipboard::wait`]; other threads hand it text through a
//! [`ClipboardSetter`], which wakes the loop.

mod transfer;

use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use x11rb::connection::Connection as _;
use x11rb::protocol::Event;
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, CreateWindowAux, EventMask,
    GetPropertyReply, PropMode, Property, SelectionNotifyEvent, SelectionRequestEvent, Timestamp,
    Window, WindowClass,
};
use x11rb::wrapper::ConnectionExt as _;

use super::connection::{ConnectOptions, Connection, Readiness};
use super::error::{Context as _, Error};
use transfer::{Incoming, Outgoing, from_latin1, to_latin1};

x11rb::atom_manager! {
    /// The atoms the clipboard speaks.
    Atoms: AtomsCookie {
        CLIPBOARD,
        UTF8_STRING,
        TEXT,
        TARGETS,
        TIMESTAMP,
        INCR,
        DESKCAST_CLIPBOARD,
        DESKCAST_TIME,
    }
}

/// Limits of the clipboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipboardConfig {
    /// The largest text set or read, in bytes; larger texts are refused.
    pub max_bytes: usize,
    /// Texts above this size go to requestors in INCR chunks of this size.
    pub incr_chunk: usize,
    /// A transfer that makes no progress for this long is dropped.
    pub stall_timeout: Duration,
    /// At most this many INCR transfers run at once; further requests are refused.
    pub max_transfers: usize,
}

impl Default for ClipboardConfig {
    fn default() -> Self {
        Self {
            max_bytes: 16 << 20,
            incr_chunk: 256 << 10,
            stall_timeout: Duration::from_secs(5),
            max_transfers: 8,
        }
    }
}

/// What [`Clipboard::wait`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClipboardEvent {
    /// Another client put this text on the clipboard.
    Text(String),
    /// Another client put more text on the clipboard than the cap allows; it was dropped.
    TooLarge {
        /// The size seen before giving up.
        size: usize,
    },
}

/// Hands text to the clipboard thread from anywhere; cheap to clone.
#[derive(Debug, Clone)]
pub struct ClipboardSetter {
    pending: Arc<Mutex<Option<String>>>,
    wake: Arc<UnixStream>,
    max_bytes: usize,
}

impl ClipboardSetter {
    /// Makes `text` the clipboard's contents (the clipboard thread takes ownership of CLIPBOARD
    /// on its next turn).
    pub fn set_text(&self, text: String) -> Result<(), Error> {
        if text.len() > self.max_bytes {
            return Err(Error::ClipboardTooLarge {
                size: text.len(),
                cap: self.max_bytes,
            });
        }
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
        // A full socket already holds a wake-up, so a failed write loses nothing.
        let _ = (&*self.wake).write(&[1]);
        Ok(())
    }
}

/// The CLIPBOARD selection, owned and read. See the module documentation.
#[derive(Debug)]
pub struct Clipboard {
    x: Connection,
    window: Window,
    atoms: Atoms,
    config: ClipboardConfig,
    /// The text we own, and since when.
    owned: Option<(Arc<[u8]>, Timestamp)>,
    outgoing: Vec<Outgoing>,
    incoming: Option<Incoming>,
    /// Events read while waiting for a timestamp, handled next.
    backlog: Vec<Event>,
    pending: Arc<Mutex<Option<String>>>,
    wake_rx: UnixStream,
    wake_tx: Arc<UnixStream>,
}

impl Clipboard {
    /// Connects, makes a hidden window and subscribes to CLIPBOARD owner changes.
    pub fn new(options: &ConnectOptions, config: ClipboardConfig) -> Result<Self, Error> {
        let x = Connection::open(options)?;
        if !x.has_extension(xfixes::X11_EXTENSION_NAME)? {
            return Err(Error::MissingExtension {
                name: "XFIXES 1.0",
                needed_for: "clipboard change notifications",
            });
        }
        x.conn
            .xfixes_query_version(5, 0)
            .ctx("XFixesQueryVersion")?
            .reply()
            .ctx("XFixesQueryVersion")?;
        let atoms = Atoms::new(&x.conn)
            .ctx("InternAtom")?
            .reply()
            .ctx("InternAtom")?;
        let window = x.conn.generate_id().ctx("CreateWindow")?;
        x.conn
            .create_window(
                0,
                window,
                x.root(),
                -10,
                -10,
                1,
                1,
                0,
                WindowClass::INPUT_ONLY,
                0,
                &CreateWindowAux::new()
                    .override_redirect(1)
                    .event_mask(EventMask::PROPERTY_CHANGE),
            )
            .ctx("CreateWindow")?;
        let mask = xfixes::SelectionEventMask::SET_SELECTION_OWNER
            | xfixes::SelectionEventMask::SELECTION_WINDOW_DESTROY
            | xfixes::SelectionEventMask::SELECTION_CLIENT_CLOSE;
        x.conn
            .xfixes_select_selection_input(window, atoms.CLIPBOARD, mask)
            .ctx("XFixesSelectSelectionInput")?
            .check()
            .ctx("XFixesSelectSelectionInput")?;
        let (wake_rx, wake_tx) = UnixStream::pair().map_err(|e| Error::os("socketpair", e))?;
        for end in [&wake_rx, &wake_tx] {
            end.set_nonblocking(true)
                .map_err(|e| Error::os("socketpair", e))?;
        }
        Ok(Self {
            x,
            window,
            atoms,
            config,
            owned: None,
            outgoing: Vec::new(),
            incoming: None,
            backlog: Vec::new(),
            pending: Arc::new(Mutex::new(None)),
            wake_rx,
            wake_tx: Arc::new(wake_tx),
        })
    }

    /// A handle for other threads to set the clipboard's text.
    pub fn setter(&self) -> ClipboardSetter {
        ClipboardSetter {
            pending: Arc::clone(&self.pending),
            wake: Arc::clone(&self.wake_tx),
            max_bytes: self.config.max_bytes,
        }
    }

    /// Takes ownership of CLIPBOARD with `text`; other clients read it from us while
    /// [`wait`](Self::wait) runs.
    pub fn set_text(&mut self, text: &str) -> Result<(), Error> {
        if text.len() > self.config.max_bytes {
            return Err(Error::ClipboardTooLarge {
                size: text.len(),
                cap: self.config.max_bytes,
            });
        }
        let time = self.server_time()?;
        self.x
            .conn
            .set_selection_owner(self.window, self.atoms.CLIPBOARD, time)
            .ctx("SetSelectionOwner")?;
        let owner = self
            .x
            .conn
            .get_selection_owner(self.atoms.CLIPBOARD)
            .ctx("GetSelectionOwner")?
            .reply()
            .ctx("GetSelectionOwner")?
            .owner;
        if owner != self.window {
            return Err(Error::Unsupported(
                "take the CLIPBOARD selection".to_owned(),
            ));
        }
        self.owned = Some((Arc::from(text.as_bytes()), time));
        Ok(())
    }

    /// True while we own CLIPBOARD.
    pub fn is_owner(&self) -> bool {
        self.owned.is_some()
    }

    /// Serves requests and follows other owners until another client's text has been read, or
    /// `deadline` passes (`None`). Text handed to a [`ClipboardSetter`] is taken on the way.
    pub fn wait(&mut self, deadline: Instant) -> Result<Option<ClipboardEvent>, Error> {
        loop {
            self.take_pending()?;
            while let Some(event) = self.next_event()? {
                if let Some(out) = self.handle(event)? {
                    self.x.flush()?;
                    return Ok(Some(out));
                }
            }
            self.expire(Instant::now());
            let wake = Some(self.wake_rx.as_raw_fd());
            match self.x.wait_readable(deadline, wake)? {
                Readiness::TimedOut => return Ok(None),
                Readiness::Woken => {
                    let mut sink = [0u8; 64];
                    while matches!((&self.wake_rx).read(&mut sink), Ok(n) if n > 0) {}
                }
                Readiness::Readable => {}
            }
        }
    }

    fn next_event(&mut self) -> Result<Option<Event>, Error> {
        if !self.backlog.is_empty() {
            return Ok(Some(self.backlog.remove(0)));
        }
        self.x.poll_event()
    }

    fn take_pending(&mut self) -> Result<(), Error> {
        let text = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match text {
            Some(text) => self.set_text(&text),
            None => Ok(()),
        }
    }

    fn handle(&mut self, event: Event) -> Result<Option<ClipboardEvent>, Error> {
        match event {
            Event::SelectionRequest(e) => self.serve(&e).map(|()| None),
            Event::SelectionClear(e) if e.selection == self.atoms.CLIPBOARD => {
                self.owned = None;
                Ok(None)
            }
            Event::XfixesSelectionNotify(e) if e.selection == self.atoms.CLIPBOARD => {
                if e.owner != self.window && e.owner != x11rb::NONE {
                    self.owned = None;
                    self.request(self.atoms.UTF8_STRING, e.selection_timestamp)?;
                }
                Ok(None)
            }
            Event::SelectionNotify(e) if e.requestor == self.window => self.converted(&e),
            Event::PropertyNotify(e) if e.state == Property::NEW_VALUE => {
                if e.window == self.window && e.atom == self.atoms.DESKCAST_CLIPBOARD {
                    return self.chunk_arrived();
                }
                Ok(None)
            }
            Event::PropertyNotify(e) if e.state == Property::DELETE => {
                self.send_next_chunk(e.window, e.atom)?;
                Ok(None)
            }
            Event::Error(e) => {
                tracing::debug!(error = ?e, "X error on the clipboard connection");
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Answers one SelectionRequest.
    fn serve(&mut self, e: &SelectionRequestEvent) -> Result<(), Error> {
        let property = if e.property == x11rb::NONE {
            e.target
        } else {
            e.property
        };
        let a = &self.atoms;
        let served = match &self.owned {
            Some((data, time)) if e.selection == a.CLIPBOARD => {
                let (data, time) = (Arc::clone(data), *time);
                if e.target == a.TARGETS {
                    let targets = [
                        a.TARGETS,
                        a.TIMESTAMP,
                        a.UTF8_STRING,
                        AtomEnum::STRING.into(),
                        a.TEXT,
                    ];
                    self.x
                        .conn
                        .change_property32(
                            PropMode::REPLACE,
                            e.requestor,
                            property,
                            AtomEnum::ATOM,
                            &targets,
                        )
                        .ctx("ChangeProperty")?;
                    true
                } else if e.target == a.TIMESTAMP {
                    self.x
                        .conn
                        .change_property32(
                            PropMode::REPLACE,
                            e.requestor,
                            property,
                            AtomEnum::INTEGER,
                            &[time],
                        )
                        .ctx("ChangeProperty")?;
                    true
                } else if e.target == a.UTF8_STRING || e.target == a.TEXT {
                    self.send(e.requestor, property, a.UTF8_STRING, data)?
                } else if e.target == u32::from(AtomEnum::STRING) {
                    let latin1 = to_latin1(&String::from_utf8_lossy(&data));
                    self.send(
                        e.requestor,
                        property,
                        AtomEnum::STRING.into(),
                        latin1.into(),
                    )?
                } else {
                    false
                }
            }
            _ => false,
        };
        let notify = SelectionNotifyEvent {
            response_type: x11rb::protocol::xproto::SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: e.time,
            requestor: e.requestor,
            selection: e.selection,
            target: e.target,
            property: if served { property } else { x11rb::NONE },
        };
        self.x
            .conn
            .send_event(false, e.requestor, EventMask::NO_EVENT, notify)
            .ctx("SendEvent")?;
        Ok(())
    }

    /// Writes `data` to the requestor's property, or starts an INCR transfer when it is large.
    /// False when the transfer is refused (too many running).
    fn send(
        &mut self,
        requestor: Window,
        property: u32,
        kind: u32,
        data: Arc<[u8]>,
    ) -> Result<bool, Error> {
        if data.len() <= self.config.incr_chunk {
            self.x
                .conn
                .change_property8(PropMode::REPLACE, requestor, property, kind, &data)
                .ctx("ChangeProperty")?;
            return Ok(true);
        }
        self.outgoing
            .retain(|o| !(o.requestor == requestor && o.property == property));
        if self.outgoing.len() >= self.config.max_transfers {
            tracing::warn!("clipboard: too many INCR transfers at once, request refused");
            return Ok(false);
        }
        let transfer = Outgoing::new(requestor, property, kind, data, Instant::now());
        self.x
            .conn
            .change_window_attributes(
                requestor,
                &ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE),
            )
            .ctx("ChangeWindowAttributes")?;
        let len = u32::try_from(transfer.len()).unwrap_or(u32::MAX);
        self.x
            .conn
            .change_property32(
                PropMode::REPLACE,
                requestor,
                property,
                self.atoms.INCR,
                &[len],
            )
            .ctx("ChangeProperty")?;
        self.outgoing.push(transfer);
        Ok(true)
    }

    /// The requestor deleted the property: the next INCR chunk goes out.
    fn send_next_chunk(&mut self, requestor: Window, property: u32) -> Result<(), Error> {
        let chunk_size = self.config.incr_chunk;
        let Some(i) = self
            .outgoing
            .iter()
            .position(|o| o.requestor == requestor && o.property == property)
        else {
            return Ok(());
        };
        let transfer = &mut self.outgoing[i];
        let kind = transfer.kind;
        if let Some(chunk) = transfer.next_chunk(chunk_size, Instant::now()) {
            self.x
                .conn
                .change_property8(PropMode::REPLACE, requestor, property, kind, chunk)
                .ctx("ChangeProperty")?;
        }
        if self.outgoing[i].is_done() {
            self.outgoing.swap_remove(i);
            self.x
                .conn
                .change_window_attributes(
                    requestor,
                    &ChangeWindowAttributesAux::new().event_mask(EventMask::NO_EVENT),
                )
                .ctx("ChangeWindowAttributes")?;
        }
        Ok(())
    }

    /// Asks the owner to convert CLIPBOARD to `target` into our property.
    fn request(&mut self, target: u32, time: Timestamp) -> Result<(), Error> {
        self.x
            .conn
            .convert_selection(
                self.window,
                self.atoms.CLIPBOARD,
                target,
                self.atoms.DESKCAST_CLIPBOARD,
                time,
            )
            .ctx("ConvertSelection")?;
        self.incoming = Some(Incoming::Requested {
            target,
            since: Instant::now(),
        });
        Ok(())
    }

    /// The owner answered our ConvertSelection.
    fn converted(&mut self, e: &SelectionNotifyEvent) -> Result<Option<ClipboardEvent>, Error> {
        let Some(Incoming::Requested { target, .. }) = self.incoming else {
            return Ok(None);
        };
        if e.property == x11rb::NONE {
            self.incoming = None;
            // No UTF-8 text: try Latin-1 before giving up.
            if target == self.atoms.UTF8_STRING {
                self.request(AtomEnum::STRING.into(), e.time)?;
            }
            return Ok(None);
        }
        let reply = self.read_property(self.config.max_bytes)?;
        if reply.type_ == self.atoms.INCR {
            // Deleting the INCR property (done by the read) told the owner to start.
            self.incoming = Some(Incoming::Chunks {
                kind: target,
                data: Vec::new(),
                seen: 0,
                since: Instant::now(),
            });
            return Ok(None);
        }
        self.incoming = None;
        let size = reply.value.len() + reply.bytes_after as usize;
        if size > self.config.max_bytes {
            return Ok(Some(ClipboardEvent::TooLarge { size }));
        }
        Ok(Some(ClipboardEvent::Text(
            self.decode(reply.type_, &reply.value),
        )))
    }

    /// A new INCR chunk is in our property.
    fn chunk_arrived(&mut self) -> Result<Option<ClipboardEvent>, Error> {
        let cap = self.config.max_bytes;
        let room = match &self.incoming {
            Some(Incoming::Chunks { seen, .. }) => cap.saturating_sub(*seen),
            _ => return Ok(None),
        };
        let reply = self.read_property(room)?;
        let size = reply.value.len() + reply.bytes_after as usize;
        let Some(Incoming::Chunks {
            kind,
            data,
            seen,
            since,
        }) = self.incoming.as_mut()
        else {
            return Ok(None);
        };
        *since = Instant::now();
        if size > 0 {
            *seen = seen.saturating_add(size);
            if *seen > cap {
                // Keep draining so the owner finishes, but hold nothing.
                *data = Vec::new();
            } else {
                data.extend_from_slice(&reply.value);
            }
            return Ok(None);
        }
        let (kind, data, seen) = (*kind, std::mem::take(data), *seen);
        self.incoming = None;
        if seen > cap {
            return Ok(Some(ClipboardEvent::TooLarge { size: seen }));
        }
        Ok(Some(ClipboardEvent::Text(self.decode(kind, &data))))
    }

    /// Reads our property, at most `limit` bytes of it (rounded up to whole words), and deletes
    /// it: GetProperty deletes only what it read whole, so a longer value is deleted here, which
    /// keeps an INCR owner going.
    fn read_property(&self, limit: usize) -> Result<GetPropertyReply, Error> {
        let words = u32::try_from(limit / 4 + 1).unwrap_or(u32::MAX);
        let reply = self
            .x
            .conn
            .get_property(
                true,
                self.window,
                self.atoms.DESKCAST_CLIPBOARD,
                AtomEnum::ANY,
                0,
                words,
            )
            .ctx("GetProperty")?
            .reply()
            .ctx("GetProperty")?;
        if reply.bytes_after > 0 {
            self.x
                .conn
                .delete_property(self.window, self.atoms.DESKCAST_CLIPBOARD)
                .ctx("DeleteProperty")?;
        }
        Ok(reply)
    }

    fn decode(&self, kind: u32, bytes: &[u8]) -> String {
        if kind == u32::from(AtomEnum::STRING) {
            from_latin1(bytes)
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        }
    }

    /// Drops transfers that made no progress for too long.
    fn expire(&mut self, now: Instant) {
        let timeout = self.config.stall_timeout;
        self.outgoing.retain(|o| !o.is_stale(now, timeout));
        if self
            .incoming
            .as_ref()
            .is_some_and(|i| now.duration_since(i.since()) > timeout)
        {
            tracing::debug!("clipboard: the owner stopped sending, transfer dropped");
            self.incoming = None;
        }
    }

    /// A server timestamp: append nothing to a property of ours and read the notification's
    /// time, keeping other events for later.
    fn server_time(&mut self) -> Result<Timestamp, Error> {
        self.x
            .conn
            .change_property8(
                PropMode::APPEND,
                self.window,
                self.atoms.DESKCAST_TIME,
                AtomEnum::STRING,
                &[],
            )
            .ctx("ChangeProperty")?;
        self.x.flush()?;
        loop {
            let event = self.x.conn.wait_for_event().ctx("reading events")?;
            match event {
                Event::PropertyNotify(e)
                    if e.window == self.window && e.atom == self.atoms.DESKCAST_TIME =>
                {
                    return Ok(e.time);
                }
                other if self.backlog.len() < 1024 => self.backlog.push(other),
                _ => {
                    return Err(Error::odd(
                        "ChangeProperty",
                        "no PropertyNotify among 1024 events",
                    ));
                }
            }
        }
    }
}
