//! The libpulse side: a connection driven by a standard mainloop on the capture thread, the
//! lookup of the default sink's monitor, and the record loop that feeds the queue.
//!
//! Everything here lives on one thread (libpulse's objects are not `Send`). The mainloop never
//! waits longer than [`WAKE_INTERVAL`], so a stop request is seen within that time even when the
//! server sends nothing; while audio flows it wakes once per fragment.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libpulse_binding::context::{self, Context};
use libpulse_binding::def::{BufferAttr, SinkState};
use libpulse_binding::error::PAErr;
use libpulse_binding::mainloop::standard::Mainloop;
use libpulse_binding::operation::{self, Operation};
use libpulse_binding::sample::{Format, Spec};
use libpulse_binding::stream::{self, PeekResult, Stream};
use libpulse_binding::time::MicroSeconds;

use super::frame::{self, Framer, SilenceGate};
use super::queue::{RecvError, Sender};
use super::{AudioConfig, AudioError, ProbeReport, ServerAddress};

/// The longest the capture thread sleeps before looking at its stop flag again.
const WAKE_INTERVAL: Duration = Duration::from_millis(50);
/// How much audio the server may hold for us when the thread is late. It is generous so that a
/// late thread still reads the newest audio (the server discards what no longer fits, which is
/// the newest); the frame queue then keeps only its last few frames, so this adds no delay.
const SERVER_BUFFER: Duration = Duration::from_millis(500);

/// What a started capture reports back to [`AudioCapture::start`](super::AudioCapture::start).
#[derive(Debug)]
pub(super) struct Started {
    pub(super) source: String,
    pub(super) fragment: Duration,
}

/// A connected libpulse context with the mainloop that drives it.
struct Connection {
    // Field order is drop order: the context goes before its mainloop.
    context: Context,
    mainloop: Mainloop,
}

impl Connection {
    /// Connects to `server`, giving up at `deadline`.
    fn open(server: &ServerAddress, deadline: Instant) -> Result<Self, AudioError> {
        if let Some(socket) = server.unix_socket().filter(|path| !path.exists()) {
            return Err(AudioError::NoServer {
                detail: format!("no socket at {}", socket.display()),
            });
        }
        let mainloop = Mainloop::new().ok_or_else(|| internal("pa_mainloop_new failed"))?;
        let mut context =
            Context::new(&mainloop, "deskcast").ok_or_else(|| internal("pa_context_new failed"))?;
        let no_server = |why: String| AudioError::NoServer {
            detail: format!("{server}: {why}"),
        };
        context
            .connect(Some(server.as_str()), context::FlagSet::NOAUTOSPAWN, None)
            .map_err(|e| no_server(describe(e)))?;
        let mut connection = Self { context, mainloop };
        loop {
            match connection.context.get_state() {
                context::State::Ready => return Ok(connection),
                context::State::Failed | context::State::Terminated => {
                    return Err(no_server(describe(connection.context.errno())));
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(no_server("no answer in time".into()));
            }
            connection.iterate(deadline)?;
        }
    }

    /// Waits for events until one arrives, `deadline` passes or [`WAKE_INTERVAL`] elapses, and
    /// dispatches them.
    fn iterate(&mut self, deadline: Instant) -> Result<(), AudioError> {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(WAKE_INTERVAL);
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.mainloop
            .prepare(Some(MicroSeconds(micros)))
            .map_err(|e| internal(format!("pa_mainloop_prepare: {}", describe(e))))?;
        self.mainloop
            .poll()
            .map_err(|e| internal(format!("pa_mainloop_poll: {}", describe(e))))?;
        self.mainloop
            .dispatch()
            .map_err(|e| internal(format!("pa_mainloop_dispatch: {}", describe(e))))?;
        Ok(())
    }

    /// Fails with [`AudioError::Disconnected`] once the server has gone.
    fn check_alive(&self) -> Result<(), AudioError> {
        match self.context.get_state() {
            context::State::Failed | context::State::Terminated => Err(AudioError::Disconnected {
                detail: describe(self.context.errno()),
            }),
            _ => Ok(()),
        }
    }

    /// Runs the mainloop until `slot` is filled by `operation`'s callback.
    fn finish<T, C: ?Sized>(
        &mut self,
        operation: &Operation<C>,
        slot: &Rc<RefCell<Option<T>>>,
        what: &str,
        deadline: Instant,
    ) -> Result<T, AudioError> {
        loop {
            if let Some(value) = slot.borrow_mut().take() {
                return Ok(value);
            }
            self.check_alive()?;
            if operation.get_state() == operation::State::Cancelled {
                return Err(AudioError::Refused {
                    detail: format!("the server cancelled the {what} query"),
                });
            }
            if Instant::now() >= deadline {
                return Err(AudioError::Refused {
                    detail: format!("no answer to the {what} query in time"),
                });
            }
            self.iterate(deadline)?;
        }
    }

    /// Asks the server for its identity, default sink and that sink's monitor source, and whether
    /// the sink is idle (nothing playing, nothing recording its monitor, not suspended).
    fn default_monitor(&mut self, deadline: Instant) -> Result<(ProbeReport, bool), AudioError> {
        let introspect = self.context.introspect();
        let server_slot = Rc::new(RefCell::new(None));
        let operation = introspect.get_server_info({
            let slot = Rc::clone(&server_slot);
            move |info| {
                let text = |s: &Option<std::borrow::Cow<'_, str>>| {
                    s.as_deref().unwrap_or_default().to_owned()
                };
                *slot.borrow_mut() = Some((
                    text(&info.server_name),
                    text(&info.server_version),
                    info.default_sink_name.as_deref().map(str::to_owned),
                ));
            }
        });
        let (server_name, server_version, default_sink) =
            self.finish(&operation, &server_slot, "server info", deadline)?;
        let sink = default_sink.ok_or_else(|| AudioError::NoSource {
            detail: "the server has no default sink".into(),
        })?;
        let sink_slot = Rc::new(RefCell::new(None));
        let operation = introspect.get_sink_info_by_name(&sink, {
            let slot = Rc::clone(&sink_slot);
            move |result| {
                let mut slot = slot.borrow_mut();
                match result {
                    libpulse_binding::callbacks::ListResult::Item(info) => {
                        *slot = Some(Some((
                            info.monitor_source_name.as_deref().map(str::to_owned),
                            info.sample_spec.print(),
                            info.state == SinkState::Idle,
                        )));
                    }
                    libpulse_binding::callbacks::ListResult::End => {
                        slot.get_or_insert(None);
                    }
                    libpulse_binding::callbacks::ListResult::Error => *slot = Some(None),
                }
            }
        });
        let found = self.finish(&operation, &sink_slot, "sink info", deadline)?;
        let (monitor, sink_format, idle) = found.ok_or_else(|| AudioError::NoSource {
            detail: format!("the default sink {sink} is not listed"),
        })?;
        let monitor_source = monitor.ok_or_else(|| AudioError::NoSource {
            detail: format!("the default sink {sink} has no monitor source"),
        })?;
        let report = ProbeReport {
            server: self.context.get_server().unwrap_or_default(),
            server_name,
            server_version,
            default_sink: sink,
            sink_format,
            monitor_source,
        };
        Ok((report, idle))
    }

    /// Suspends and resumes the idle `sink`, so it starts a fresh render cycle at the latency our
    /// record stream asked for.
    ///
    /// An idle timer-driven sink (a null sink with nothing playing) renders its largest block,
    /// up to 2 s, at once and sleeps until it is due; a stream that joins its monitor meanwhile
    /// gets nothing until then, and a player that starts in that window waits as long. Resuming
    /// restarts the sink's clock at once. A sink that is playing is never touched. Failure is not
    /// fatal: capture merely starts later.
    fn restart_idle_sink(&mut self, sink: &str, deadline: Instant) {
        let mut introspect = self.context.introspect();
        for suspend in [true, false] {
            let slot = Rc::new(RefCell::new(None));
            let operation = introspect.suspend_sink_by_name(
                sink,
                suspend,
                Some(Box::new({
                    let slot = Rc::clone(&slot);
                    move |ok| *slot.borrow_mut() = Some(ok)
                })),
            );
            match self.finish(&operation, &slot, "suspend sink", deadline) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(sink, suspend, "the server would not suspend or resume");
                    return;
                }
                Err(error) => {
                    tracing::debug!(sink, suspend, %error, "suspending or resuming failed");
                    return;
                }
            }
        }
    }
}

/// Connects to `server` and reports what [`super::probe`] says.
pub(super) fn probe(server: &ServerAddress, timeout: Duration) -> Result<ProbeReport, AudioError> {
    let deadline = Instant::now() + timeout;
    let mut connection = Connection::open(server, deadline)?;
    let report = connection.default_monitor(deadline);
    connection.context.disconnect();
    report.map(|(report, _)| report)
}

/// The capture thread's body: sets up, reports through `ready`, then records until `stop` is set
/// or the server fails. The queue is closed with the reason either way.
pub(super) fn run(
    config: &AudioConfig,
    sender: Sender,
    stop: &AtomicBool,
    ready: std::sync::mpsc::SyncSender<Result<Started, AudioError>>,
) -> Result<(), AudioError> {
    let deadline = Instant::now() + config.connect_timeout;
    let opened = Connection::open(&config.server, deadline).and_then(|mut connection| {
        let (stream, started) = open_stream(&mut connection, config, deadline)?;
        Ok((connection, stream, started))
    });
    let (mut connection, mut stream, started) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            // Nobody holds a receiver yet; the error goes back through `ready`.
            sender.close(RecvError::Failed(error.clone()));
            let _ = ready.send(Err(error.clone()));
            return Err(error);
        }
    };
    tracing::debug!(
        source = started.source,
        fragment = ?started.fragment,
        "audio capture started"
    );
    // `start` may have given up waiting; then nobody listens and capture stops at once.
    if ready.send(Ok(started)).is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    let result = record(&mut connection, &mut stream, config, &sender, stop);
    let _ = stream.disconnect();
    drop(stream);
    connection.context.disconnect();
    match &result {
        Ok(()) => sender.close(RecvError::Stopped),
        Err(error) => {
            tracing::debug!(%error, "audio capture ended");
            sender.close(RecvError::Failed(error.clone()));
        }
    }
    result
}

/// Creates the record stream on `config.source`, or the default sink's monitor, and waits until
/// it runs.
fn open_stream(
    connection: &mut Connection,
    config: &AudioConfig,
    deadline: Instant,
) -> Result<(Stream, Started), AudioError> {
    let (source, idle_sink) = match &config.source {
        Some(source) => (source.clone(), None),
        None => {
            let (report, idle) = connection.default_monitor(deadline)?;
            (report.monitor_source, idle.then_some(report.default_sink))
        }
    };
    let spec = Spec {
        format: Format::F32le,
        rate: frame::SAMPLE_RATE,
        channels: frame::CHANNELS as u8,
    };
    let mut stream = Stream::new(&mut connection.context, "desktop audio", &spec, None)
        .ok_or_else(|| refused("the server refused a record stream", &connection.context))?;
    let fragment = frame::bytes_of_duration(config.fragment).max(frame::BYTES_PER_SAMPLE_PAIR);
    let fragment = u32::try_from(fragment).unwrap_or(u32::MAX);
    let attr = BufferAttr {
        maxlength: u32::try_from(frame::bytes_of_duration(SERVER_BUFFER))
            .unwrap_or(u32::MAX)
            .max(fragment),
        tlength: u32::MAX,
        prebuf: u32::MAX,
        minreq: u32::MAX,
        fragsize: fragment,
    };
    // ADJUST_LATENCY makes the server run the source (and the sink it monitors) with blocks of
    // about one fragment; DONT_MOVE ends the stream instead of silently moving it to another
    // source (a microphone) when the sink goes away.
    let flags = stream::FlagSet::ADJUST_LATENCY | stream::FlagSet::DONT_MOVE;
    stream
        .connect_record(Some(&source), Some(&attr), flags)
        .map_err(|e| AudioError::NoSource {
            detail: format!("cannot record from {source}: {}", describe(e)),
        })?;
    loop {
        match stream.get_state() {
            stream::State::Ready => break,
            stream::State::Failed | stream::State::Terminated => {
                connection.check_alive()?;
                return Err(AudioError::NoSource {
                    detail: format!(
                        "cannot record from {source}: {}",
                        describe(connection.context.errno())
                    ),
                });
            }
            _ => {}
        }
        connection.check_alive()?;
        if Instant::now() >= deadline {
            return Err(AudioError::Refused {
                detail: format!("the record stream on {source} did not start in time"),
            });
        }
        connection.iterate(deadline)?;
    }
    if let Some(sink) = idle_sink {
        connection.restart_idle_sink(&sink, deadline);
    }
    let granted = stream
        .get_buffer_attr()
        .map_or(fragment, |attr| attr.fragsize);
    let started = Started {
        source,
        fragment: frame::duration_of_bytes(granted as usize),
    };
    Ok((stream, started))
}

/// Reads until `stop` is set or the server fails.
fn record(
    connection: &mut Connection,
    stream: &mut Stream,
    config: &AudioConfig,
    sender: &Sender,
    stop: &AtomicBool,
) -> Result<(), AudioError> {
    let mut framer = Framer::new(config.silence_threshold);
    let mut gate = SilenceGate::new(config.pause_silence_after);
    let mut chunk = Vec::new();
    let mut frames = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        connection.iterate(Instant::now() + WAKE_INTERVAL)?;
        connection.check_alive()?;
        if matches!(
            stream.get_state(),
            stream::State::Failed | stream::State::Terminated
        ) {
            return Err(AudioError::Disconnected {
                detail: "the server ended the record stream (its source went away)".into(),
            });
        }
        drain(stream, &mut chunk)?;
        if chunk.is_empty() {
            continue;
        }
        framer.push(&chunk, Instant::now(), &mut frames);
        chunk.clear();
        for frame in frames.drain(..) {
            if gate.admit(&frame) {
                sender.push(frame);
            }
        }
    }
    Ok(())
}

/// Moves everything the server has delivered into `chunk`.
fn drain(stream: &mut Stream, chunk: &mut Vec<u8>) -> Result<(), AudioError> {
    let disconnected = |e: PAErr| AudioError::Disconnected {
        detail: format!("reading the record stream: {}", describe(e)),
    };
    loop {
        match stream.peek().map_err(disconnected)? {
            PeekResult::Empty => return Ok(()),
            PeekResult::Hole(len) => {
                tracing::debug!(len, "hole in the record stream");
            }
            PeekResult::Data(data) => chunk.extend_from_slice(data),
        }
        stream.discard().map_err(disconnected)?;
    }
}

fn describe(error: PAErr) -> String {
    error
        .to_string()
        .unwrap_or_else(|| format!("error {}", error.0))
}

fn refused(what: &str, context: &Context) -> AudioError {
    AudioError::Refused {
        detail: format!("{what}: {}", describe(context.errno())),
    }
}

fn internal(detail: impl Into<String>) -> AudioError {
    AudioError::Internal {
        detail: detail.into(),
    }
}
