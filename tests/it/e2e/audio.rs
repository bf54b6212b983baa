//! Desktop audio end to end: a private PulseAudio server with a null sink (testkit), the real
//! agent capturing its monitor (`DESKCAST_AUDIO_SERVER`), Opus through the relay, and the
//! probe's Opus decoder. Sound is played into the sink with `pacat`.
//!
//! - a tone comes out of the probe's decoder at its frequency;
//! - the capture→decoded delay: tone bursts are written to `pacat` at known CLOCK_MONOTONIC
//!   instants and their onsets found in the decoded audio; the median is printed (run with
//!   `--nocapture`, or written as JSON to `$DESKCAST_AUDIO_DELAYS_OUT`, which is how
//!   `cargo xtask bench` reports it), after silence and during playback;
//! - without a sound server the agent streams video and says so in one line;
//! - a viewer that turns audio off stops getting it, and capture stops when nobody listens;
//! - with `DESKCAST_LONG_TESTS=1`, five minutes of playback: the delay does not grow.

// The measured figures are this file's output.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use deskcast::probe::{AUDIO_RATE, AudioFormat, AudioPacket, Probe, monotonic_ms};
use deskcast_testkit::tone::{left, onset, sine_stereo, tone_share, zero_crossing_frequency};
use deskcast_testkit::{Player, PulseServer, require_tool};

use super::{Desk, PASSWORD, eventually};

/// Where [`the_capture_to_decoded_delay_is_measured`] writes its delays as JSON, when set.
const DELAYS_OUT: &str = "DESKCAST_AUDIO_DELAYS_OUT";
/// How long a test waits for one thing.
const WAIT: Duration = Duration::from_secs(10);
/// A decoded sample above this belongs to a burst (amplitude 0.5), not to the background
/// (amplitude 0.02).
const ONSET_THRESHOLD: f32 = 0.2;
/// The quiet tone that keeps the stream going between bursts, and its amplitude.
const BACKGROUND_HZ: f64 = 220.0;
const BACKGROUND_LEVEL: f32 = 0.02;

/// A desk whose agent captures desktop audio from `pulse`.
async fn desk(pulse: &PulseServer) -> Desk {
    Desk::start_with(320, 240, &[("DESKCAST_AUDIO_SERVER", &pulse.address())]).await
}

/// Recording streams on `pulse` now (the agent's capture is one), by `pactl`.
fn source_outputs(pulse: &PulseServer) -> usize {
    let out = pulse
        .command(require_tool("pactl", "pulseaudio-utils"))
        .args(["list", "short", "source-outputs"])
        .output()
        .expect("run pactl");
    assert!(out.status.success(), "pactl failed:\n{}", pulse.log());
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Waits for the agent's `AudioFormat`.
async fn audio_format(probe: &Probe) -> AudioFormat {
    assert!(
        eventually(WAIT, || probe.audio_format().is_some()).await,
        "no AudioFormat from the agent"
    );
    probe.audio_format().expect("checked")
}

/// A sound that plays on until dropped: a tone fed to its own `pacat` by a thread.
struct Backdrop {
    playing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backdrop {
    fn start(pulse: &PulseServer, frequency: f64, level: f32) -> Self {
        let mut player = Player::start(pulse, Duration::from_millis(100));
        let playing = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&playing);
        // A whole number of periods per chunk, so chunks join without a click.
        let chunk = sine_stereo(frequency, level, AUDIO_RATE, AUDIO_RATE as usize / 10);
        let thread = std::thread::spawn(move || {
            while flag.load(Ordering::Relaxed) {
                // Blocks while pacat has enough queued: the sink's clock paces the loop.
                player.write(&chunk);
            }
        });
        Self {
            playing,
            thread: Some(thread),
        }
    }
}

impl Drop for Backdrop {
    fn drop(&mut self) {
        self.playing.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Takes decoded packets until `count` loud ones (peak above [`ONSET_THRESHOLD`]) in a row.
async fn loud_run(probe: &mut Probe, count: usize) -> Vec<AudioPacket> {
    let deadline = Instant::now() + WAIT;
    let mut run = Vec::new();
    while run.len() < count {
        assert!(
            Instant::now() < deadline,
            "no {count} loud packets in a row"
        );
        let packet = probe.next_audio(WAIT).await.expect("audio");
        if packet.peak() > ONSET_THRESHOLD {
            run.push(packet);
        } else {
            run.clear();
        }
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tone_reaches_the_probe_at_its_frequency() {
    let pulse = PulseServer::start();
    let desk = desk(&pulse).await;
    let mut probe = desk.probe().await;
    let format = audio_format(&probe).await;
    assert_eq!((format.sample_rate, format.channels), (48_000, 2));
    assert_eq!(source_outputs(&pulse), 1, "the agent records the monitor");

    let frequency = 1000.0;
    let mut player = Player::start(&pulse, Duration::from_millis(50));
    player.write(&sine_stereo(
        frequency,
        0.5,
        AUDIO_RATE,
        AUDIO_RATE as usize * 2,
    ));
    // The first packets may hold the onset mid-way: skip them, then analyse half a second.
    let run = loud_run(&mut probe, 60).await;
    assert!(
        run.iter()
            .all(|p| p.duration() == Duration::from_millis(10)),
        "10 ms packets"
    );
    let samples: Vec<f32> = run[10..]
        .iter()
        .flat_map(|p| p.samples.iter().copied())
        .collect();
    let mono = left(&samples);
    let measured = zero_crossing_frequency(&mono, AUDIO_RATE).expect("a periodic signal");
    let error = measured / frequency - 1.0;
    eprintln!(
        "audio e2e: a {frequency} Hz tone decoded at {measured:.2} Hz ({:+.3} %)",
        error * 100.0
    );
    assert!(
        error.abs() < 0.02,
        "{measured:.1} Hz decoded for a {frequency} Hz tone"
    );
    let share = tone_share(&mono, AUDIO_RATE, frequency);
    assert!(
        share > 0.9,
        "only {share:.3} of the energy is at {frequency} Hz"
    );
    let peak = run[10..].iter().map(AudioPacket::peak).fold(0.0, f32::max);
    assert!(
        (0.4..0.6).contains(&peak),
        "peak {peak} for an amplitude of 0.5"
    );

    let stats = probe.close().await;
    assert!(stats.audio.packets >= 60, "{:?}", stats.audio);
    assert_eq!(stats.audio.decode_errors, 0, "{:?}", stats.errors);
    assert!(stats.audio.kbps > 0.0, "{:?}", stats.audio);
}

/// Plays `count` 50 ms bursts, about `spacing` apart, and returns each one's delay in ms: from
/// just before it was written to `pacat` to when the probe had decoded the packet holding its
/// onset. The spacing varies by fractions of a 10 ms frame, so the onsets fall at every phase of
/// the capture's frames rather than at one (which would make every delay alike).
async fn burst_delays(
    probe: &mut Probe,
    pulse: &PulseServer,
    count: usize,
    spacing: Duration,
) -> Vec<f64> {
    // A 10 ms playback buffer: a burst written to an idle pacat plays at once.
    let mut player = Player::start(pulse, Duration::from_millis(10));
    let burst = sine_stereo(1000.0, 0.5, AUDIO_RATE, AUDIO_RATE as usize / 20);
    let mut delays = Vec::with_capacity(count);
    let mut next = Instant::now() + spacing;
    for i in 0..count {
        tokio::time::sleep_until(next.into()).await;
        next += spacing + Duration::from_micros((i as u64 * 3_700) % 10_000);
        // What came before (the last burst's tail, the background) is not this burst.
        probe.take_audio();
        let written = monotonic_ms();
        player.write(&burst);
        let deadline = Instant::now() + WAIT;
        let heard = loop {
            assert!(Instant::now() < deadline, "a burst never arrived");
            let packet = probe.next_audio(WAIT).await.expect("audio");
            if onset(&packet.samples, ONSET_THRESHOLD).is_some() {
                break packet;
            }
        };
        let delay = heard.decoded_ms - written;
        assert!(delay > 0.0, "decoded {delay:.1} ms before it was played");
        delays.push(delay);
    }
    delays
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median, extremes and count of `values`, as text.
fn spread(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    let median = median(&mut sorted);
    format!(
        "median {median:.1} ms (min {:.1}, max {:.1}, {} bursts)",
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_to_decoded_delay_is_measured() {
    let pulse = PulseServer::start();
    let desk = desk(&pulse).await;
    let mut probe = desk.probe().await;
    audio_format(&probe).await;
    // After silence: the agent sends nothing after half a second of it, so each burst restarts
    // the stream.
    let after_silence = burst_delays(&mut probe, &pulse, 11, Duration::from_millis(800)).await;
    // During playback: a quiet tone keeps the stream going.
    let backdrop = Backdrop::start(&pulse, BACKGROUND_HZ, BACKGROUND_LEVEL);
    let playing = burst_delays(&mut probe, &pulse, 11, Duration::from_millis(500)).await;
    drop(backdrop);
    eprintln!(
        "audio e2e: pacat write → probe decoded, after silence: {}",
        spread(&after_silence)
    );
    eprintln!(
        "audio e2e: pacat write → probe decoded, during playback: {}",
        spread(&playing)
    );
    // `cargo xtask bench` runs this test and puts the delays in its report.
    if let Some(path) = std::env::var_os(DELAYS_OUT) {
        let json = serde_json::json!({ "after_silence": after_silence, "playing": playing });
        std::fs::write(&path, json.to_string()).expect("writing the delays");
    }
    let stats = probe.close().await;
    assert_eq!(stats.audio.decode_errors, 0, "{:?}", stats.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_minutes_of_playback_do_not_add_delay() {
    if std::env::var_os("DESKCAST_LONG_TESTS").is_none() {
        eprintln!("five minutes of audio: set DESKCAST_LONG_TESTS=1 to run");
        return;
    }
    let minutes = 5;
    let pulse = PulseServer::start();
    let desk = desk(&pulse).await;
    let mut probe = desk.probe().await;
    audio_format(&probe).await;
    let _backdrop = Backdrop::start(&pulse, BACKGROUND_HZ, BACKGROUND_LEVEL);
    let mut medians = Vec::new();
    for minute in 0..minutes {
        let mut delays = burst_delays(&mut probe, &pulse, 60, Duration::from_secs(1)).await;
        eprintln!("audio e2e, minute {minute}: {}", spread(&delays));
        medians.push(median(&mut delays));
    }
    let stats = probe.close().await;
    eprintln!(
        "audio e2e, {minutes} minutes: {} packets, {:.0} kbit/s, {} dropped by the probe, {} \
         undecodable",
        stats.audio.packets, stats.audio.kbps, stats.audio.dropped, stats.audio.decode_errors
    );
    assert_eq!(stats.audio.decode_errors, 0, "{:?}", stats.errors);
    // Delay that builds up (as in RustDesk's own Linux host) grows minute by minute; two Opus
    // packets of slack allow for the machine's noise.
    let first = medians[0];
    for (minute, median) in medians.iter().enumerate() {
        assert!(
            *median < first + 20.0,
            "minute {minute}: median {median:.1} ms, minute 0: {first:.1} ms"
        );
    }
}

/// A `tracing` writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

#[test]
fn without_a_sound_server_video_streams_and_one_line_says_so() {
    // The agent's log, from every thread of this test's runtime (and only this test's).
    let lines = Lines::default();
    let writer = lines.clone();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    let for_threads = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // For the thread's whole life.
            std::mem::forget(tracing::dispatcher::set_default(&for_threads));
        })
        .build()
        .expect("runtime");
    tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            // Desk's default: a sound server address where nothing listens.
            let desk = Desk::start(320, 240).await;
            let mut probes = Vec::new();
            for _ in 0..2 {
                let mut probe = desk.probe().await;
                assert!(
                    probe.next_frame(WAIT).await.expect("video").keyframe,
                    "video streams without audio"
                );
                probes.push(probe);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            for probe in probes {
                assert_eq!(probe.audio_format(), None, "no AudioFormat");
                let stats = probe.close().await;
                assert_eq!(stats.audio.packets, 0);
            }
        });
    });
    let text = lines.text();
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sound server") || l.contains("audio"))
        .collect();
    assert_eq!(said.len(), 1, "one line about audio:\n{text}");
    eprintln!(
        "audio e2e: without a sound server the agent says: {}",
        said[0]
    );
    assert!(
        said[0].contains("no sound server") && said[0].contains("/nonexistent/pulse/native"),
        "the line says what is missing and where: {}",
        said[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_stops_for_a_viewer_that_turns_it_off_and_capture_stops_when_nobody_listens() {
    let pulse = PulseServer::start();
    let desk = desk(&pulse).await;
    // A tone plays throughout, so silence never explains missing packets.
    let _backdrop = Backdrop::start(&pulse, 1000.0, 0.3);
    let mut a = desk.probe().await;
    let mut b = desk.probe().await;
    audio_format(&a).await;
    audio_format(&b).await;
    a.next_audio(WAIT).await.expect("a hears");
    b.next_audio(WAIT).await.expect("b hears");
    assert_eq!(source_outputs(&pulse), 1, "one capture for both viewers");

    // A viewer that logs in with audio off gets none.
    let mut config = desk.probe_config().password(PASSWORD);
    config.audio = false;
    let mut muted = Probe::connect(config).await.expect("login");

    a.set_audio(false).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.take_audio();
    b.take_audio();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(a.take_audio().is_empty(), "a turned audio off");
    assert!(!b.take_audio().is_empty(), "b still hears");
    assert_eq!(muted.audio_format(), None);
    assert!(muted.take_audio().is_empty());
    assert!(muted.next_frame(WAIT).await.is_ok(), "video all the same");
    assert_eq!(source_outputs(&pulse), 1, "b still listens");

    // The last listener leaves: capture stops, though a and the muted viewer stay connected.
    b.close().await;
    assert!(
        eventually(WAIT, || source_outputs(&pulse) == 0).await,
        "the agent still records with nobody listening"
    );
    // Turned on again, audio comes back from a fresh capture.
    a.set_audio(true).unwrap();
    a.next_audio(WAIT).await.expect("a hears again");
    assert_eq!(source_outputs(&pulse), 1);
    a.close().await;
    assert!(eventually(WAIT, || source_outputs(&pulse) == 0).await);
    muted.close().await;
}
