//! One private PulseAudio server per test, with a null sink as its default sink and a unix socket
//! in a temporary directory, killed on drop; and `pacat` players that feed it.
//!
//! Nothing here reads or changes the test process's environment: the server's address is a value
//! ([`PulseServer::address`]) and child commands get their variables explicitly, so tests can run
//! in parallel, each with its own server.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The default sink every [`PulseServer`] creates.
pub const NULL_SINK: &str = "deskcast_null";

/// How to start the server.
#[derive(Debug, Clone)]
pub struct PulseOptions {
    /// The null sink's sample rate.
    pub sink_rate: u32,
    /// The null sink's sample format, e.g. `s16le` or `float32le`.
    pub sink_format: String,
    /// The null sink's channel count.
    pub sink_channels: u32,
}

impl Default for PulseOptions {
    fn default() -> Self {
        Self {
            sink_rate: 48_000,
            sink_format: "s16le".into(),
            sink_channels: 2,
        }
    }
}

/// A running private PulseAudio server. Dropping it kills the server.
#[derive(Debug)]
pub struct PulseServer {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
}

impl PulseServer {
    /// Starts a server whose default sink is a 48 kHz stereo null sink.
    pub fn start() -> Self {
        Self::start_with(&PulseOptions::default())
    }

    /// Starts a server as `options` say; panics with the server's log when it cannot.
    pub fn start_with(options: &PulseOptions) -> Self {
        let pulseaudio = crate::require_tool("pulseaudio", "pulseaudio");
        let dir = tempfile::Builder::new()
            .prefix("deskcast-pulse-")
            .tempdir()
            .expect("temporary directory for pulseaudio");
        for sub in ["home", "run", "config"] {
            std::fs::create_dir(dir.path().join(sub)).expect("pulseaudio directories");
        }
        let socket = dir.path().join("run/native");
        let script = dir.path().join("default.pa");
        std::fs::write(
            &script,
            format!(
                "load-module module-null-sink sink_name={NULL_SINK} rate={} format={} \
                 channels={}\n\
                 set-default-sink {NULL_SINK}\n\
                 load-module module-native-protocol-unix socket={} auth-anonymous=1\n",
                options.sink_rate,
                options.sink_format,
                options.sink_channels,
                socket.display()
            ),
        )
        .expect("write the pulseaudio script");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("pulseaudio log");
        let mut command = Command::new(pulseaudio);
        command
            .args(["--daemonize=no", "--exit-idle-time=-1", "-n", "-F"])
            .arg(&script)
            // As root PulseAudio wants --system; these let it run as a per-test user daemon.
            .args(["--system=false", "--disallow-exit", "--use-pid-file=no"])
            .args(["--log-target=stderr", "--realtime=no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        private_env(&mut command, dir.path());
        let child = command.spawn().expect("spawn pulseaudio");
        let mut server = Self { child, dir, socket };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pulseaudio exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!("pulseaudio did not listen within 20 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's address in libpulse syntax, `unix:/…/native`.
    pub fn address(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// The server's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The default sink ([`NULL_SINK`]).
    pub fn sink(&self) -> &str {
        NULL_SINK
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A command whose environment points at this server and its private home, for `pactl`,
    /// `pacat` and friends.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        private_env(&mut command, self.dir.path());
        command.env("PULSE_SERVER", self.address());
        command
    }

    /// How many playback streams the server has now (by `pactl`).
    pub fn sink_inputs(&self) -> usize {
        let out = self
            .command(crate::require_tool("pactl", "pulseaudio-utils"))
            .args(["list", "short", "sink-inputs"])
            .output()
            .expect("run pactl");
        assert!(out.status.success(), "pactl failed:\n{}", self.log());
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.path().join("server.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Kills the server now (to test what happens when it goes away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PulseServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Gives `command` a private home and runtime directory under `dir` and no inherited server.
fn private_env(command: &mut Command, dir: &Path) {
    command
        .env("HOME", dir.join("home"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("PULSE_SERVER")
        .env_remove("PULSE_SINK")
        .env_remove("PULSE_SOURCE")
        .env_remove("PULSE_COOKIE")
        .env_remove("DISPLAY");
}

/// A `pacat` playing raw 48 kHz stereo `float32le` from its stdin into a sink. Writes go through
/// a feeder thread, so the caller blocks only when several writes are still waiting. Dropping the
/// player kills `pacat`.
#[derive(Debug)]
pub struct Player {
    child: Child,
    feeder: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Player {
    /// Starts `pacat` on `server`'s default sink with a playback buffer of `latency`, and waits
    /// until its stream exists, so what is written from then on is not held up by its start.
    pub fn start(server: &PulseServer, latency: Duration) -> Self {
        let pacat = crate::require_tool("pacat", "pulseaudio-utils");
        let streams_before = server.sink_inputs();
        let mut child = server
            .command(pacat)
            .args(["--playback", "--raw", "--format=float32le", "--rate=48000"])
            .args(["--channels=2", "--client-name=deskcast-test"])
            .arg(format!("--device={}", server.sink()))
            .arg(format!("--latency-msec={}", latency.as_millis().max(1)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pacat");
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.sink_inputs() <= streams_before {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("pacat exited ({status}) before playing:\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "pacat's stream did not appear within 20 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut stdin: ChildStdin = child.stdin.take().expect("pacat's stdin");
        let (feeder, chunks) = mpsc::sync_channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || {
            for chunk in chunks {
                if stdin.write_all(&chunk).is_err() {
                    return; // pacat is gone; the test notices the missing audio.
                }
            }
        });
        Self {
            child,
            feeder: Some(feeder),
            thread: Some(thread),
        }
    }

    /// Queues interleaved stereo samples for pacat; blocks only while four writes are waiting.
    pub fn write(&mut self, samples: &[f32]) {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.feeder
            .as_ref()
            .expect("the feeder lives until finish")
            .send(bytes)
            .expect("pacat's feeder thread ended");
    }

    /// Closes pacat's input and waits until it has played everything and exited.
    pub fn finish(mut self) {
        drop(self.feeder.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.feeder.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_servers_answer_pactl_on_their_own_sockets() {
        let a = PulseServer::start();
        let b = PulseServer::start_with(&PulseOptions {
            sink_rate: 44_100,
            ..PulseOptions::default()
        });
        assert_ne!(a.address(), b.address());
        let out = b
            .command(crate::require_tool("pactl", "pulseaudio-utils"))
            .args(["list", "short", "sinks"])
            .output()
            .expect("run pactl");
        assert!(out.status.success(), "pactl failed:\n{}", b.log());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(NULL_SINK), "{text}");
        assert!(text.contains("44100Hz"), "{text}");
    }
}
