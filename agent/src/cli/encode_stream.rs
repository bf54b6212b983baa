//! `deskcast encode-stream` (hidden): the agent's capture and encode pipeline with nothing after
//! it, for benchmarks.
//!
//! It subscribes one viewer to a real [`Display`] — damage-driven MIT-SHM capture, the shared
//! encoder group, latest frame wins — and writes each encoded frame to standard output as it is
//! taken from the viewer's slot: VP8/VP9 in IVF, H.264 as an Annex B byte stream. So
//! `cargo xtask bench` measures deskcast exactly like `ffmpeg -f x11grab … pipe:1`.
//!
//! What only deskcast can tell comes out on the side: with `--stats FILE`, one JSON line per frame
//! (`{"frame":0,"captured_us":…,"taken_us":…,"bytes":…,"keyframe":true,"allocs":…}`), written as
//! the frame is taken so a reader that kills the process still has every line; and at the end (on
//! `--seconds`, or when standard output closes) one JSON summary line on standard error. Times are
//! CLOCK_MONOTONIC microseconds: `captured_us` is the capture thread's stamp
//! ([`EncodedFrame::captured_us`]), `taken_us` the moment this side took the packet. `allocs`
//! counts heap allocations (and reallocations) of the whole process so far when the binary is
//! built with the `alloc-count` feature, and is `null` otherwise.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deskcast_codec::{self as codec, Backend, Codec};
use serde::Serialize;
use tokio::sync::mpsc::unbounded_channel;

use super::probe::CodecArg;
use crate::error::{Error, IoContext};
use crate::pipeline::display::{
    Display, DisplayConfig, DisplayEvent, NvencBudget, Route, Subscription, monotonic_us,
};
use crate::pipeline::pool::EncodedFrame;
use crate::pipeline::slot::Slot;
use crate::platform::x11::{CaptureArea, ConnectOptions, Paths, Screen};
use crate::probe::Percentiles;

/// Latency samples kept for the closing summary (the `--stats` file has every frame).
const MAX_SAMPLES: usize = 1 << 16;

/// Options of `deskcast encode-stream`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The X display to capture [default: $DISPLAY].
    #[arg(long, value_name = "NAME")]
    pub display: Option<String>,
    /// The codec.
    #[arg(long, value_enum, default_value = "vp9")]
    pub codec: CodecArg,
    /// The encoder backend (NVENC falls back to software when it cannot open, as in a session).
    #[arg(long, value_enum, default_value = "software")]
    pub backend: BackendArg,
    /// The viewer's frame rate (the pipeline never encodes faster, and only on damage).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: u32,
    /// The target bitrate, kbit/s.
    #[arg(long, value_name = "KBPS", default_value_t = 4000,
          value_parser = clap::value_parser!(u32).range(50..))]
    pub bitrate: u32,
    /// Stop after this many seconds [default: when standard output closes].
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Leave the first S seconds out of the summary's allocations per frame.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub warmup: f64,
    /// Write one JSON line per frame into FILE.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Print which encoders this machine has, as JSON lines, and exit.
    #[arg(long)]
    pub list_encoders: bool,
}

/// An encoder backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// libvpx and OpenH264 on the CPU.
    Software,
    /// NVIDIA NVENC.
    Nvenc,
}

impl From<BackendArg> for Backend {
    fn from(backend: BackendArg) -> Self {
        match backend {
            BackendArg::Software => Self::Software,
            BackendArg::Nvenc => Self::Nvenc,
        }
    }
}

/// Counts the process's heap allocations so far (the `alloc-count` build passes one in).
pub type AllocationCounter = fn() -> u64;

/// Runs the command: the stream goes to `out`, the closing summary (or the encoder list) to
/// `err` as JSON.
pub fn run(
    args: &Args,
    allocations: Option<AllocationCounter>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    if args.list_encoders {
        return list_encoders(out);
    }
    let codec = Codec::from(args.codec);
    let container = Container::for_codec(codec).ok_or_else(|| {
        Error::Refused(format!(
            "encode-stream writes VP8, VP9 or H.264, not {codec}"
        ))
    })?;
    let connect = ConnectOptions {
        display: args.display.clone(),
        xauthority: None,
    };
    let (width, height) = Screen::connect(&connect)?.size()?;
    let stats = match &args.stats {
        Some(path) => Some(
            std::fs::File::create(path)
                .context(&format!("creating the stats file {}", path.display()))?,
        ),
        None => None,
    };
    let config = DisplayConfig {
        connect,
        area: CaptureArea::Screen,
        paths: Paths::default(),
        // As the agent: the encoder backend picks its thread count.
        threads: 0,
        nvenc: NvencBudget::new(0),
    };
    let (display, _thread) = Display::spawn(config).context("starting the capture thread")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting the runtime")?;
    let mut sink = Sink {
        out,
        container: container.with_size(width, height),
        stats,
        buffer: Vec::with_capacity(1 << 20),
        line: Vec::with_capacity(256),
    };
    let route = Route {
        backend: args.backend.into(),
        codec,
        quality: 100,
    };
    let summary = runtime.block_on(pump(args, route, &display, &mut sink, allocations))?;
    let json = serde_json::to_string(&summary).map_err(|e| Error::io("summary", e.into()))?;
    writeln!(err, "{json}").context("writing the summary")?;
    Ok(())
}

/// Subscribes and writes frames until the time is up or standard output closes.
async fn pump(
    args: &Args,
    route: Route,
    display: &Display,
    sink: &mut Sink<'_>,
    allocations: Option<AllocationCounter>,
) -> Result<Summary, Error> {
    let slot = Arc::new(Slot::<Arc<EncodedFrame>>::new());
    let (events_tx, mut events) = unbounded_channel();
    display.subscribe(Subscription {
        viewer: 1,
        route,
        fps: args.fps,
        bitrate_kbps: args.bitrate,
        frames: Arc::clone(&slot),
        events: events_tx,
    });
    let started = tokio::time::Instant::now();
    let limit = args
        .seconds
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64);
    let deadline = tokio::time::sleep(limit.unwrap_or(Duration::from_secs(365 * 86_400)));
    tokio::pin!(deadline);
    let warmup_end = started + Duration::from_secs_f64(args.warmup.max(0.0));
    let mut tally = Tally::new();
    sink.header()?;
    loop {
        tokio::select! {
            biased;
            () = &mut deadline => break,
            event = events.recv() => match event {
                Some(DisplayEvent::CaptureLost(error)) => tracing::warn!(%error, "capture lost"),
                Some(event) => tracing::warn!(?event, "the display changed under the stream"),
                None => break,
            },
            frame = slot.take() => {
                let Some(frame) = frame else { break };
                let taken_us = monotonic_us();
                display.frame_taken();
                let steady = tokio::time::Instant::now() >= warmup_end;
                let record = tally.frame(&frame, taken_us, steady, allocations.map(|count| count()));
                match sink.frame(&frame, &record) {
                    Ok(()) => {}
                    // The reader went away: the stream is over.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                    Err(e) => return Err(Error::io("writing the stream", e)),
                }
            }
        }
    }
    display.unsubscribe(1);
    slot.close();
    Ok(tally.summary(route, started.elapsed().as_secs_f64()))
}

fn list_encoders(out: &mut dyn Write) -> Result<(), Error> {
    #[derive(Serialize)]
    struct Entry {
        backend: String,
        codec: &'static str,
        available: bool,
        reason: Option<String>,
    }
    for capability in codec::probe().entries {
        let entry = Entry {
            backend: capability.backend.to_string(),
            codec: capability.codec.name(),
            available: capability.status.is_ok(),
            reason: capability.status.err().map(|e| e.to_string()),
        };
        let json =
            serde_json::to_string(&entry).map_err(|e| Error::io("encoder list", e.into()))?;
        writeln!(out, "{json}").context("writing the encoder list")?;
    }
    Ok(())
}

/// How frames are framed on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// IVF with this FourCC, frame size and a millisecond time base.
    Ivf {
        /// `VP80` or `VP90`.
        fourcc: [u8; 4],
        /// Frame width (informative: decoders read the bitstream's).
        width: u16,
        /// Frame height.
        height: u16,
    },
    /// An H.264 Annex B byte stream: access units back to back.
    AnnexB,
}

impl Container {
    /// The container for `codec`, if encode-stream writes it.
    pub fn for_codec(codec: Codec) -> Option<Self> {
        let ivf = |fourcc: &[u8; 4]| Self::Ivf {
            fourcc: *fourcc,
            width: 0,
            height: 0,
        };
        match codec {
            Codec::Vp8 => Some(ivf(b"VP80")),
            Codec::Vp9 => Some(ivf(b"VP90")),
            Codec::H264 => Some(Self::AnnexB),
            _ => None,
        }
    }

    /// The same container announcing a `width`×`height` picture (clamped to IVF's 16 bits).
    #[must_use]
    pub fn with_size(self, width: u32, height: u32) -> Self {
        match self {
            Self::Ivf { fourcc, .. } => Self::Ivf {
                fourcc,
                width: u16::try_from(width).unwrap_or(u16::MAX),
                height: u16::try_from(height).unwrap_or(u16::MAX),
            },
            Self::AnnexB => Self::AnnexB,
        }
    }

    /// Appends the stream header (IVF's 32 bytes; nothing for Annex B).
    pub fn header(&self, out: &mut Vec<u8>) {
        if let Self::Ivf {
            fourcc,
            width,
            height,
        } = self
        {
            out.extend_from_slice(b"DKIF");
            out.extend_from_slice(&0u16.to_le_bytes()); // version
            out.extend_from_slice(&32u16.to_le_bytes()); // header length
            out.extend_from_slice(fourcc);
            out.extend_from_slice(&width.to_le_bytes());
            out.extend_from_slice(&height.to_le_bytes());
            out.extend_from_slice(&1000u32.to_le_bytes()); // time base denominator: ms
            out.extend_from_slice(&1u32.to_le_bytes()); // time base numerator
            out.extend_from_slice(&0u32.to_le_bytes()); // frame count: unknown while streaming
            out.extend_from_slice(&0u32.to_le_bytes()); // unused
        }
    }

    /// Appends one frame: IVF's 12-byte frame header and the data, or the access unit as is.
    pub fn frame(&self, data: &[u8], pts_ms: i64, out: &mut Vec<u8>) {
        if let Self::Ivf { .. } = self {
            let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&pts_ms.max(0).to_le_bytes());
        }
        out.extend_from_slice(data);
    }
}

/// One line of the `--stats` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameRecord {
    /// The frame's number in the stream, from 0.
    pub frame: u64,
    /// CLOCK_MONOTONIC µs when the capture thread took the picture.
    pub captured_us: u64,
    /// CLOCK_MONOTONIC µs when this side took the packet from the viewer's slot.
    pub taken_us: u64,
    /// Encoded bytes.
    pub bytes: usize,
    /// A decoder can start here.
    pub keyframe: bool,
    /// Heap allocations of the process so far (`null` without the `alloc-count` feature).
    pub allocs: Option<u64>,
}

/// The closing summary, one JSON line on standard error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `software` or `nvenc`, as asked (a failed NVENC falls back to software, logged).
    pub backend: String,
    /// The codec.
    pub codec: &'static str,
    /// Frames written.
    pub frames: u64,
    /// Of those, keyframes.
    pub keyframes: u64,
    /// Encoded bytes written (container headers excluded).
    pub bytes: u64,
    /// Seconds streamed.
    pub seconds: f64,
    /// Capture → packet taken, over the frames kept.
    pub stage_latency: Option<Percentiles>,
    /// Heap allocations per frame after the warm-up (`null` without `alloc-count`, or with
    /// fewer than two frames after the warm-up).
    pub allocs_per_frame: Option<f64>,
}

/// The running count behind [`FrameRecord`]s and the [`Summary`].
#[derive(Debug)]
pub struct Tally {
    frames: u64,
    keyframes: u64,
    bytes: u64,
    latency_ms: Vec<f64>,
    /// (frames, allocations) at the first frame after the warm-up, and at the latest.
    steady: Option<((u64, u64), (u64, u64))>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        Self {
            frames: 0,
            keyframes: 0,
            bytes: 0,
            latency_ms: Vec::with_capacity(MAX_SAMPLES),
            steady: None,
        }
    }

    /// Counts `frame`, taken at `taken_us` with the process's allocation count `allocs` (if
    /// counted); `steady` once the warm-up is over.
    pub fn frame(
        &mut self,
        frame: &EncodedFrame,
        taken_us: u64,
        steady: bool,
        allocs: Option<u64>,
    ) -> FrameRecord {
        let record = FrameRecord {
            frame: self.frames,
            captured_us: frame.captured_us,
            taken_us,
            bytes: frame.data.len(),
            keyframe: frame.keyframe,
            allocs,
        };
        self.frames += 1;
        self.keyframes += u64::from(frame.keyframe);
        self.bytes += frame.data.len() as u64;
        if self.latency_ms.len() < MAX_SAMPLES {
            self.latency_ms
                .push(taken_us.saturating_sub(frame.captured_us) as f64 / 1000.0);
        }
        if let (true, Some(allocs)) = (steady, allocs) {
            let now = (record.frame, allocs);
            let first = self.steady.map_or(now, |(first, _)| first);
            self.steady = Some((first, now));
        }
        record
    }

    /// The summary after `seconds` of streaming on `route`.
    pub fn summary(&self, route: Route, seconds: f64) -> Summary {
        Summary {
            backend: route.backend.to_string(),
            codec: route.codec.name(),
            frames: self.frames,
            keyframes: self.keyframes,
            bytes: self.bytes,
            seconds,
            stage_latency: Percentiles::of(&self.latency_ms),
            allocs_per_frame: self.steady.and_then(|((f0, a0), (f1, a1))| {
                (f1 > f0).then(|| a1.saturating_sub(a0) as f64 / (f1 - f0) as f64)
            }),
        }
    }
}

/// Standard output and the stats file, with reused buffers (nothing allocates per frame).
struct Sink<'a> {
    out: &'a mut dyn Write,
    container: Container,
    stats: Option<std::fs::File>,
    buffer: Vec<u8>,
    line: Vec<u8>,
}

impl Sink<'_> {
    fn header(&mut self) -> Result<(), Error> {
        self.buffer.clear();
        self.container.header(&mut self.buffer);
        self.out
            .write_all(&self.buffer)
            .and_then(|()| self.out.flush())
            .context("writing the stream header")
    }

    fn frame(&mut self, frame: &EncodedFrame, record: &FrameRecord) -> std::io::Result<()> {
        self.buffer.clear();
        self.container
            .frame(&frame.data, frame.pts_ms, &mut self.buffer);
        self.out.write_all(&self.buffer)?;
        self.out.flush()?;
        if let Some(stats) = &mut self.stats {
            self.line.clear();
            record_line(record, &mut self.line);
            stats.write_all(&self.line)?;
        }
        Ok(())
    }
}

/// Appends `record` as one JSON line.
pub fn record_line(record: &FrameRecord, line: &mut Vec<u8>) {
    // Serialising plain numbers and booleans into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, record);
    line.push(b'\n');
}

#[cfg(test)]
mod tests;
