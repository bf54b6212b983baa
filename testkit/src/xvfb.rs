//! One Xvfb per test, on a display number the server picks itself (`-displayfd`), killed on drop.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How to start Xvfb.
#[derive(Debug, Clone)]
pub struct XvfbOptions {
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Colour depth (24 gives 32-bit BGRX pixels).
    pub depth: u32,
    /// Run the server in its own IPC namespace (`unshare --ipc`), as when it lives in another
    /// container: SysV shared memory of ours is then invisible to it.
    pub separate_ipc: bool,
    /// Extra server arguments (e.g. `-extension MIT-SHM` to turn an extension off).
    pub extra_args: Vec<String>,
}

impl Default for XvfbOptions {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            depth: 24,
            separate_ipc: false,
            extra_args: Vec::new(),
        }
    }
}

/// A running Xvfb. Dropping it kills the server.
#[derive(Debug)]
pub struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts Xvfb with a `width`×`height`×24 screen.
    pub fn start(width: u32, height: u32) -> Self {
        Self::start_with(&XvfbOptions {
            width,
            height,
            ..XvfbOptions::default()
        })
    }

    /// Starts Xvfb with `options`; panics with the reason when it cannot.
    pub fn start_with(options: &XvfbOptions) -> Self {
        let xvfb = crate::require_tool("Xvfb", "xvfb");
        // The write end must survive exec, so it is made without CLOEXEC; the server writes its
        // display number there once it accepts connections.
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe for -displayfd");
        nix::fcntl::fcntl(
            &write_end,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .expect("clear CLOEXEC on the -displayfd pipe");
        let screen = format!("{}x{}x{}", options.width, options.height, options.depth);
        let mut command = if options.separate_ipc {
            let mut c = Command::new(crate::require_tool("unshare", "util-linux"));
            c.arg("--ipc").arg(xvfb);
            c
        } else {
            Command::new(xvfb)
        };
        command
            .args(["-displayfd", &write_end.as_raw_fd().to_string()])
            .args(["-screen", "0", &screen, "-nolisten", "tcp", "-noreset"])
            .args(&options.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().expect("spawn Xvfb");
        drop(write_end);

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(File::from(read_end)).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Self {
            child,
            display: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if !line.trim().is_empty() => server.display = format!(":{}", line.trim()),
            other => panic!("Xvfb did not report a display number: {other:?}"),
        }
        server
    }

    /// The display name, e.g. `:7`, for `DISPLAY`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// A command with `DISPLAY` set to this server.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display);
        c
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server now (to test what happens when the X server goes away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_servers_get_distinct_displays_and_answer_clients() {
        let a = Xvfb::start(320, 200);
        let b = Xvfb::start(640, 480);
        assert_ne!(a.display(), b.display());
        let out = b
            .command("xdpyinfo")
            .output()
            .expect("run xdpyinfo (x11-utils)");
        assert!(out.status.success(), "xdpyinfo failed on {}", b.display());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("640x480 pixels"), "unexpected screen: {text}");
    }
}
