//! Desktop audio capture delay, CPU and drift, against a private PulseAudio server.
//!
//! - `audio/capture_onset_delay` (criterion): after a quiet spell, a 50 ms tone burst is written
//!   to `pacat` (10 ms playback buffer); the figure is the time from that write to the
//!   `captured_at` of the first frame holding the burst's onset, i.e. when a consumer could have
//!   it. It spans pacat's pipe and stream, the null sink's render block, the monitor source, our
//!   fragment and framing. Percentiles are printed after it, with the same figure for the onset
//!   sample itself (back-dated within its frame; near zero when a whole fragment arrives at once).
//! - `DESKCAST_AUDIO_CPU_SECS=N`: CPU of this process (capture thread and a consumer) and of the
//!   server, while capturing silence and then a tone, N seconds each.
//! - `DESKCAST_AUDIO_DRIFT_SECS=N`: N seconds of continuous playback, a 50 ms burst every second
//!   fed as fast as pacat takes it (so it never runs dry and the bursts play on a one-second grid
//!   of the sink's clock); prints per minute how far the captured onsets stray from that grid.
//!   Growing capture delay would show as a growing offset.

// The figures are the output; criterion prints its own to stdout as well.
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use deskcast::audio::{
    AudioCapture, AudioConfig, AudioFrame, FRAME_SAMPLES, Frames, SAMPLE_RATE, ServerAddress,
};
use deskcast_testkit::tone::{onset, sine_stereo};
use deskcast_testkit::{Player, PulseServer};

/// A sample above this belongs to the burst (its amplitude is 0.5).
const ONSET_THRESHOLD: f32 = 0.05;
/// Silent frames in a row that make a quiet spell before a burst.
const QUIET_FRAMES: u32 = 60;

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    onset_delay(&mut criterion);
    if let Some(secs) = env_secs("DESKCAST_AUDIO_CPU_SECS") {
        cpu(secs);
    }
    if let Some(secs) = env_secs("DESKCAST_AUDIO_DRIFT_SECS") {
        drift(secs);
    }
    criterion.final_summary();
}

fn env_secs(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn start(server: &PulseServer) -> AudioCapture {
    AudioCapture::start(AudioConfig::new(ServerAddress::new(server.address())))
        .expect("start capture")
}

fn next(frames: &Frames) -> AudioFrame {
    frames
        .recv_timeout(Duration::from_secs(5))
        .expect("capture ended")
        .expect("no frame in 5 s")
}

/// When the burst's onset reached us: the frame's `captured_at` (what a consumer sees) and the
/// onset sample's own arrival, back-dated by the samples after it in the frame.
struct Onset {
    frame: Instant,
    sample: Instant,
}

/// Looks at `frame` for a burst onset.
fn find_onset(frame: &AudioFrame) -> Option<Onset> {
    let index = onset(frame.samples(), ONSET_THRESHOLD)?;
    let after = (FRAME_SAMPLES - 1 - index / 2) as u64;
    let back = Duration::from_nanos(after * 1_000_000_000 / u64::from(SAMPLE_RATE));
    Some(Onset {
        frame: frame.captured_at(),
        sample: frame.captured_at() - back,
    })
}

/// Waits out a quiet spell, writes a burst, and returns how long after the write its onset came.
fn measure_burst(frames: &Frames, player: &mut Player, burst: &[f32]) -> (Duration, Duration) {
    // The quiet spell ends only after QUIET_FRAMES silent frames in a row, so the onset seen next
    // cannot be the tail of an earlier burst.
    let mut quiet = 0;
    while quiet < QUIET_FRAMES {
        quiet = if next(frames).peak() < ONSET_THRESHOLD {
            quiet + 1
        } else {
            0
        };
    }
    while frames.try_recv().expect("capture ended").is_some() {}
    let written = Instant::now();
    player.write(burst);
    loop {
        if let Some(found) = find_onset(&next(frames)) {
            return (
                found.frame.saturating_duration_since(written),
                found.sample.saturating_duration_since(written),
            );
        }
    }
}

fn onset_delay(criterion: &mut Criterion) {
    let server = PulseServer::start();
    let capture = start(&server);
    let frames = capture.frames();
    let mut player = Player::start(&server, Duration::from_millis(10));
    let burst = sine_stereo(1000.0, 0.5, SAMPLE_RATE, SAMPLE_RATE as usize / 20);
    // Criterion sizes its samples from the warm-up; one burst first keeps that estimate sane.
    measure_burst(&frames, &mut player, &burst);
    let mut frame_delays = Vec::new();
    let mut sample_delays = Vec::new();
    let mut group = criterion.benchmark_group("audio");
    group
        .sample_size(30)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(500));
    group.bench_function("capture_onset_delay", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (frame, sample) = measure_burst(&frames, &mut player, &burst);
                total += frame;
                frame_delays.push(frame);
                sample_delays.push(sample);
            }
            total
        });
    });
    group.finish();
    eprintln!(
        "audio capture onset delay over {} bursts, frame: {}; onset sample: {}; fragment {:?}",
        frame_delays.len(),
        spread(&mut frame_delays),
        spread(&mut sample_delays),
        capture.fragment(),
    );
}

/// Sorts `values` and returns the middle one.
fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// Median, 10th and 90th percentiles and extremes of `values`, as text.
fn spread(values: &mut [Duration]) -> String {
    let median = median(values);
    let at = |q: usize| {
        values
            .get(values.len() * q / 100)
            .copied()
            .unwrap_or_default()
    };
    format!(
        "median {median:.1?} (p10 {:.1?}, p90 {:.1?}, min {:.1?}, max {:.1?})",
        at(10),
        at(90),
        at(0),
        values.last().copied().unwrap_or_default()
    )
}

/// CPU time so far of every thread of process `pid` (`self` for this one), from `schedstat`.
fn cpu_time(pid: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Receives every frame for `secs` seconds and returns (our CPU share, the server's CPU share).
fn cpu_while_receiving(frames: &Frames, server: &PulseServer, secs: u64) -> (f64, f64) {
    let server_pid = server.pid().to_string();
    let (ours, theirs, began) = (cpu_time("self"), cpu_time(&server_pid), Instant::now());
    while began.elapsed() < Duration::from_secs(secs) {
        next(frames);
    }
    let wall = began.elapsed().as_secs_f64();
    (
        (cpu_time("self") - ours).as_secs_f64() / wall,
        (cpu_time(&server_pid) - theirs).as_secs_f64() / wall,
    )
}

fn cpu(secs: u64) {
    let server = PulseServer::start();
    let capture = start(&server);
    let frames = capture.frames();
    let (ours, theirs) = cpu_while_receiving(&frames, &server, secs);
    eprintln!(
        "audio CPU, silence: deskcast {:.2} % of a core, pulseaudio {:.2} %",
        ours * 100.0,
        theirs * 100.0
    );
    let mut player = Player::start(&server, Duration::from_millis(50));
    let tone = sine_stereo(1000.0, 0.5, SAMPLE_RATE, SAMPLE_RATE as usize);
    for _ in 0..secs + 2 {
        player.write(&tone);
    }
    while next(&frames).is_silent() {}
    let (ours, theirs) = cpu_while_receiving(&frames, &server, secs);
    eprintln!(
        "audio CPU, tone: deskcast {:.2} % of a core, pulseaudio {:.2} % (incl. pacat's stream)",
        ours * 100.0,
        theirs * 100.0
    );
}

/// Writes `secs` seconds of a 50 ms burst opening every second, as fast as pacat takes it, so its
/// stream never runs dry and the bursts play exactly one second apart on the sink's clock.
fn write_bursts(mut player: Player, secs: u64) {
    let mut second = sine_stereo(1000.0, 0.5, SAMPLE_RATE, SAMPLE_RATE as usize / 20);
    second.resize(SAMPLE_RATE as usize * 2, 0.0);
    for _ in 0..secs {
        player.write(&second);
    }
    player.finish();
}

/// Plays bursts one second apart on the sink's clock for `secs` seconds and prints how far each
/// onset's capture time strays from that grid: if capture delay grew, the later onsets would come
/// later and later.
fn drift(secs: u64) {
    let server = PulseServer::start();
    let capture = start(&server);
    let frames = capture.frames();
    let player = Player::start(&server, Duration::from_millis(200));
    let writer = std::thread::spawn(move || write_bursts(player, secs));
    let mut onsets: Vec<Instant> = Vec::new();
    let mut quiet = 0_u32;
    let mut count = 0_u64;
    let mut sequences = None;
    let began = Instant::now();
    while let Ok(Some(frame)) = frames.recv_timeout(Duration::from_secs(3)) {
        count += 1;
        let first = sequences.map_or(frame.sequence(), |(first, _)| first);
        sequences = Some((first, frame.sequence()));
        if let Some(found) = find_onset(&frame).filter(|_| quiet >= 20) {
            onsets.push(found.sample);
        }
        quiet = if frame.peak() < ONSET_THRESHOLD {
            quiet + 1
        } else {
            0
        };
        if began.elapsed() > Duration::from_secs(secs + 10) {
            break;
        }
        if writer.is_finished() && quiet > 200 {
            break;
        }
    }
    writer.join().expect("writer thread");
    let Some(&first) = onsets.first() else {
        eprintln!("audio drift: no onset seen");
        return;
    };
    // Each onset's distance from the one-second grid started by the first, in milliseconds.
    let strays: Vec<(u64, f64)> = onsets
        .iter()
        .map(|onset| {
            let since = (*onset - first).as_secs_f64();
            let second = since.round();
            (second as u64, (since - second) * 1000.0)
        })
        .collect();
    let (first_sequence, last_sequence) = sequences.unwrap_or_default();
    eprintln!(
        "audio drift: {secs} s of bursts, {} onsets seen; {count} frames received in {:.1?} \
         (sequence {first_sequence}..={last_sequence}), {} dropped by the queue",
        onsets.len(),
        began.elapsed(),
        frames.stats().dropped
    );
    for minute in 0..secs.div_ceil(60) {
        let mut in_minute: Vec<f64> = strays
            .iter()
            .filter(|(second, _)| second / 60 == minute)
            .map(|(_, stray)| *stray)
            .collect();
        if in_minute.is_empty() {
            continue;
        }
        in_minute.sort_by(f64::total_cmp);
        let at = |q: usize| in_minute[(in_minute.len() - 1) * q / 100];
        eprintln!(
            "audio drift, minute {minute}, {} onsets: offset from the grid median {:+.2} ms \
             (min {:+.2}, max {:+.2})",
            in_minute.len(),
            at(50),
            at(0),
            at(100)
        );
    }
}
