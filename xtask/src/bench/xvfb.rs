//! A private Xvfb for each scene, on a display number the server picks (`-displayfd`).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// A running Xvfb; dropping it kills the server.
#[derive(Debug)]
pub(crate) struct Xvfb {
    child: Child,
    display: String,
    /// Kept open so the server never writes into a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Xvfb {
    /// Starts a `width`×`height`×24 server with no screen saver, DPMS or cursor.
    pub(crate) fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let screen = format!("{width}x{height}x24");
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", &screen])
            .args([
                "-nolisten",
                "tcp",
                "-noreset",
                "-s",
                "0",
                "-dpms",
                "-nocursor",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (Debian package xvfb)")?;
        let stdout = child.stdout.take().context("Xvfb stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send((line, reader));
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok((line, reader)) if !line.trim().is_empty() => Ok(Self {
                child,
                display: format!(":{}", line.trim()),
                _stdout: Some(reader),
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("Xvfb did not report a display number within 20 s")
            }
        }
    }

    /// The display name, e.g. `:7`.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
