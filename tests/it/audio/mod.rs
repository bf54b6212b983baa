//! Desktop audio capture against a real, private PulseAudio server per test: tones played into
//! its null sink with `pacat` come back as frames at the right frequency; a missing server, a
//! stalled consumer, silence and a server that dies are each handled as documented.

use std::time::{Duration, Instant};

use deskcast::audio::{
    AudioCapture, AudioConfig, AudioError, AudioFrame, FRAME_LEN, Frames, RecvError, SAMPLE_RATE,
    ServerAddress, probe,
};
use deskcast_testkit::tone::{left, sine_stereo, tone_share, zero_crossing_frequency};
use deskcast_testkit::{Player, PulseOptions, PulseServer};

/// How long any single wait in these tests may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

fn config(server: &PulseServer) -> AudioConfig {
    AudioConfig::new(ServerAddress::new(server.address()))
}

/// The next frame, failing the test if none comes within [`PATIENCE`].
fn next(frames: &Frames) -> AudioFrame {
    frames
        .recv_timeout(PATIENCE)
        .expect("capture ended")
        .expect("no frame within the patience")
}

/// Collects `count` consecutive loud frames, skipping silence and restarting after a gap.
fn loud_run(frames: &Frames, count: usize) -> Vec<AudioFrame> {
    let mut run: Vec<AudioFrame> = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while run.len() < count {
        assert!(Instant::now() < deadline, "no {count} loud frames in a row");
        let frame = next(frames);
        let follows = run
            .last()
            .is_none_or(|last| last.sequence() + 1 == frame.sequence());
        if frame.is_silent() || !follows {
            run.clear();
        }
        if !frame.is_silent() {
            run.push(frame);
        }
    }
    run
}

/// Plays a tone of `frequency` into a sink running at `sink_rate` and checks what capture gets.
fn check_tone(sink_rate: u32, frequency: f64) {
    let server = PulseServer::start_with(&PulseOptions {
        sink_rate,
        ..PulseOptions::default()
    });
    let capture = AudioCapture::start(config(&server)).expect("start capture");
    assert_eq!(capture.source(), "deskcast_null.monitor");
    let frames = capture.frames();
    let mut player = Player::start(&server, Duration::from_millis(50));
    player.write(&sine_stereo(
        frequency,
        0.5,
        SAMPLE_RATE,
        SAMPLE_RATE as usize * 3,
    ));
    // Skip the first loud frames (the tone's onset may fall mid-frame), then analyse half a
    // second.
    let run = loud_run(&frames, 60);
    let samples: Vec<f32> = run[10..]
        .iter()
        .flat_map(|f| f.samples().iter().copied())
        .collect();
    assert!(run.iter().all(|f| f.samples().len() == FRAME_LEN));
    let mono = left(&samples);
    let measured = zero_crossing_frequency(&mono, SAMPLE_RATE).expect("a periodic signal");
    assert!(
        (measured / frequency - 1.0).abs() < 0.02,
        "{measured:.1} Hz captured for a {frequency} Hz tone (sink at {sink_rate} Hz)"
    );
    let share = tone_share(&mono, SAMPLE_RATE, frequency);
    assert!(
        share > 0.9,
        "only {share:.3} of the energy is at {frequency} Hz"
    );
    let peak = run.iter().map(AudioFrame::peak).fold(0.0, f32::max);
    assert!(
        (0.45..0.55).contains(&peak),
        "peak {peak} for an amplitude of 0.5"
    );
    assert_eq!(capture.stop(), Ok(()));
}

#[test]
fn a_tone_comes_back_at_its_frequency() {
    check_tone(48_000, 1000.0);
}

#[test]
fn a_tone_through_a_44100_hz_sink_comes_back_resampled_at_its_frequency() {
    check_tone(44_100, 440.0);
}

#[test]
fn probe_names_the_default_sinks_monitor() {
    let server = PulseServer::start();
    let report = probe(&ServerAddress::new(server.address()), PATIENCE).expect("probe");
    assert_eq!(report.default_sink, "deskcast_null");
    assert_eq!(report.monitor_source, "deskcast_null.monitor");
    assert_eq!(report.sink_format, "s16le 2ch 48000Hz");
    assert_eq!(report.server_name, "pulseaudio");
    assert!(
        report
            .server
            .contains(&server.socket().display().to_string())
    );
}

#[test]
fn without_a_server_start_and_probe_fail_with_no_server() {
    let dir = tempfile::tempdir().unwrap();
    // No socket at all, and a socket file nobody listens on.
    let missing = ServerAddress::unix(dir.path().join("native"));
    let stale_path = dir.path().join("stale");
    drop(std::os::unix::net::UnixListener::bind(&stale_path).unwrap());
    let stale = ServerAddress::unix(&stale_path);
    for server in [missing, stale] {
        let started = AudioCapture::start(AudioConfig::new(server.clone()));
        assert!(
            matches!(started, Err(AudioError::NoServer { .. })),
            "{server}: {started:?}"
        );
        let probed = probe(&server, PATIENCE);
        assert!(
            matches!(probed, Err(AudioError::NoServer { .. })),
            "{server}: {probed:?}"
        );
    }
}

#[test]
fn a_missing_source_is_reported_as_such() {
    let server = PulseServer::start();
    let mut config = config(&server);
    config.source = Some("no_such_source".into());
    let started = AudioCapture::start(config);
    assert!(
        matches!(started, Err(AudioError::NoSource { .. })),
        "{started:?}"
    );
}

#[test]
fn a_consumer_that_stalls_resumes_with_recent_audio() {
    let server = PulseServer::start();
    let capture = AudioCapture::start(config(&server)).expect("start capture");
    let frames = capture.frames();
    next(&frames);
    // Nobody reads for two seconds; the tone starts after the first.
    std::thread::sleep(Duration::from_secs(1));
    let mut player = Player::start(&server, Duration::from_millis(50));
    player.write(&sine_stereo(
        1000.0,
        0.5,
        SAMPLE_RATE,
        SAMPLE_RATE as usize * 3,
    ));
    std::thread::sleep(Duration::from_secs(1));
    let stats = frames.stats();
    assert_eq!(stats.capacity, 8);
    assert_eq!(stats.len, stats.capacity, "the queue should be full");
    assert!(stats.high_water <= stats.capacity, "{stats:?}");
    // Two seconds are 200 frames; all but the last eight went.
    assert!(stats.dropped > 150, "{stats:?}");
    let backlog: Vec<AudioFrame> = std::iter::from_fn(|| frames.try_recv().unwrap()).collect();
    assert!(backlog.len() <= stats.capacity + 1, "{}", backlog.len());
    assert!(
        backlog.iter().all(|f| !f.is_silent()),
        "the backlog holds old silence, not the recent tone"
    );
    assert!(
        backlog
            .windows(2)
            .all(|w| w[1].sequence() == w[0].sequence() + 1)
    );
    // What follows continues where the backlog ends.
    let after = next(&frames);
    assert!(after.sequence() > backlog.last().unwrap().sequence());
    assert!(frames.stats().high_water <= stats.capacity);
}

#[test]
fn silence_is_flagged_and_long_silence_can_be_paused() {
    let server = PulseServer::start();
    let mut config = config(&server);
    config.pause_silence_after = Some(5);
    let capture = AudioCapture::start(config).expect("start capture");
    let frames = capture.frames();
    for expected in 0..5 {
        let frame = next(&frames);
        assert_eq!(frame.sequence(), expected);
        assert!(frame.is_silent());
        assert_eq!(frame.peak(), 0.0);
    }
    // Nothing plays, so nothing more is delivered...
    assert_eq!(frames.recv_timeout(Duration::from_millis(300)), Ok(None));
    // ...until sound returns, after a gap in the sequence numbers.
    let mut player = Player::start(&server, Duration::from_millis(50));
    player.write(&sine_stereo(1000.0, 0.5, SAMPLE_RATE, SAMPLE_RATE as usize));
    let frame = next(&frames);
    assert!(!frame.is_silent());
    assert!(frame.sequence() > 30, "sequence {}", frame.sequence());
}

#[test]
fn capture_on_an_idle_null_sink_starts_with_the_present() {
    // An idle null sink renders up to 2 s ahead and sleeps; capture restarts its clock, so the
    // present silence is delivered at once, instead of nothing until a sound wakes the sink
    // (which then arrives late). The tone starts only after the first frame: started together,
    // a loaded machine may let the player win the race, and that says nothing about capture.
    let server = PulseServer::start();
    let capture = AudioCapture::start(config(&server)).expect("start capture");
    let frames = capture.frames();
    let first = next(&frames);
    assert!(
        first.is_silent(),
        "nothing plays yet, so the first frame is silence"
    );
    let mut player = Player::start(&server, Duration::from_millis(10));
    player.write(&sine_stereo(
        1000.0,
        0.5,
        SAMPLE_RATE,
        SAMPLE_RATE as usize / 2,
    ));
    let loud = std::iter::repeat_with(|| next(&frames))
        .find(|f| !f.is_silent())
        .expect("the tone");
    assert!(loud.sequence() > first.sequence());
}

#[test]
fn the_server_going_away_ends_capture_with_disconnected() {
    let mut server = PulseServer::start();
    let capture = AudioCapture::start(config(&server)).expect("start capture");
    let frames = capture.frames();
    next(&frames);
    server.kill();
    let deadline = Instant::now() + PATIENCE;
    let ending = loop {
        assert!(Instant::now() < deadline, "capture did not end");
        match frames.recv_timeout(PATIENCE) {
            Ok(_) => {}
            Err(ending) => break ending,
        }
    };
    assert!(
        matches!(ending, RecvError::Failed(AudioError::Disconnected { .. })),
        "{ending:?}"
    );
    assert!(matches!(
        capture.stop(),
        Err(AudioError::Disconnected { .. })
    ));
}

#[test]
fn the_sink_going_away_ends_capture_rather_than_moving_it() {
    let server = PulseServer::start();
    let capture = AudioCapture::start(config(&server)).expect("start capture");
    let frames = capture.frames();
    next(&frames);
    let unloaded = server
        .command("pactl")
        .args(["unload-module", "module-null-sink"])
        .status()
        .expect("run pactl");
    assert!(unloaded.success());
    let ending = loop {
        match frames.recv_timeout(PATIENCE) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("capture went on without its sink"),
            Err(ending) => break ending,
        }
    };
    assert!(
        matches!(ending, RecvError::Failed(AudioError::Disconnected { .. })),
        "{ending:?}"
    );
}

#[test]
fn stopping_ends_the_stream_and_capture_can_start_again() {
    let server = PulseServer::start();
    for _ in 0..2 {
        let capture = AudioCapture::start(config(&server)).expect("start capture");
        let frames = capture.frames();
        next(&frames);
        assert_eq!(capture.stop(), Ok(()));
        let ending = loop {
            match frames.recv_timeout(PATIENCE) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no ending after stop"),
                Err(ending) => break ending,
            }
        };
        assert_eq!(ending, RecvError::Stopped);
    }
    // Dropping the handle stops capture too.
    let frames = AudioCapture::start(config(&server))
        .expect("start capture")
        .frames();
    let ending = loop {
        match frames.recv_timeout(PATIENCE) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no ending after drop"),
            Err(ending) => break ending,
        }
    };
    assert_eq!(ending, RecvError::Stopped);
}
