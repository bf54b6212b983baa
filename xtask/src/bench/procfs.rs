//! What a process costs, read from /proc: CPU time, context switches (wake-ups), peak memory.
//!
//! [`sample`] reads one process at one moment; two samples make a window ([`Usage`]).
//! [`measure_idle`] is the idle-cost probe: point it at any PID (an idle registered agent, a
//! viewer session on a static screen) and it reports CPU and wake-ups over a window.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ProcSample {
    /// User plus system CPU time of all its threads, living and exited, in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Voluntary context switches summed over its living threads (each is a sleep, so a later
    /// wake-up).
    pub(crate) voluntary: u64,
    /// Involuntary context switches (preemptions) summed over its living threads.
    pub(crate) involuntary: u64,
    /// Peak resident set size so far (VmHWM), KiB.
    pub(crate) peak_rss_kib: u64,
    /// Resident set size now (VmRSS), KiB.
    pub(crate) rss_kib: u64,
    /// Time on a CPU summed over its living threads (schedstat), ns: finer than `cpu_ticks`, but
    /// blind to threads that exited.
    pub(crate) run_ns: u64,
}

/// What a process used between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Usage {
    /// The window's length.
    pub(crate) seconds: f64,
    /// CPU seconds (user + system) spent in the window.
    pub(crate) cpu_seconds: f64,
    /// Voluntary context switches in the window.
    pub(crate) voluntary: u64,
    /// Involuntary context switches in the window.
    pub(crate) involuntary: u64,
    /// Peak RSS at the end of the window, KiB.
    pub(crate) peak_rss_kib: u64,
    /// RSS at the end of the window, KiB.
    pub(crate) rss_kib: u64,
    /// On-CPU seconds of the threads living at both ends of the window (ns resolution; for
    /// idle processes, whose few percent of a core the 10 ms ticks of `cpu_seconds` blur).
    pub(crate) run_seconds: f64,
}

impl Usage {
    /// The difference `after - before` over a window of `seconds`, with `ticks_per_second`.
    pub(crate) fn between(
        before: ProcSample,
        after: ProcSample,
        seconds: f64,
        ticks_per_second: u64,
    ) -> Self {
        Self {
            seconds,
            cpu_seconds: after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64
                / ticks_per_second.max(1) as f64,
            voluntary: after.voluntary.saturating_sub(before.voluntary),
            involuntary: after.involuntary.saturating_sub(before.involuntary),
            peak_rss_kib: after.peak_rss_kib,
            rss_kib: after.rss_kib,
            run_seconds: after.run_ns.saturating_sub(before.run_ns) as f64 / 1e9,
        }
    }

    /// CPU use as a percentage of one core.
    pub(crate) fn core_percent(&self) -> f64 {
        100.0 * self.cpu_seconds / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// CPU use as a percentage of one core, from the ns-resolution on-CPU time.
    pub(crate) fn precise_core_percent(&self) -> f64 {
        100.0 * self.run_seconds / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// Wake-ups (voluntary context switches) per second.
    pub(crate) fn wakeups_per_second(&self) -> f64 {
        self.voluntary as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// Reads `pid`'s CPU time, context switches and peak RSS now.
pub(crate) fn sample(pid: u32) -> anyhow::Result<ProcSample> {
    let base = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(base.join("stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(base.join("status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let (utime, stime) = parse_stat(&stat)?;
    let process = parse_status(&status);
    let mut sample = ProcSample {
        cpu_ticks: utime + stime,
        peak_rss_kib: process.peak_rss_kib.unwrap_or(0),
        rss_kib: process.rss_kib.unwrap_or(0),
        ..ProcSample::default()
    };
    // Each thread counts its own switches; a thread that already exited is lost (documented).
    let tasks = std::fs::read_dir(base.join("task"))
        .with_context(|| format!("listing /proc/{pid}/task"))?;
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("status")) {
            let t = parse_status(&text);
            sample.voluntary += t.voluntary.unwrap_or(0);
            sample.involuntary += t.involuntary.unwrap_or(0);
        }
        if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
            sample.run_ns += parse_schedstat(&text).unwrap_or(0);
        }
    }
    Ok(sample)
}

/// The fields of /proc/PID/status this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Status {
    pub(crate) peak_rss_kib: Option<u64>,
    pub(crate) rss_kib: Option<u64>,
    pub(crate) voluntary: Option<u64>,
    pub(crate) involuntary: Option<u64>,
}

/// `utime` and `stime` (clock ticks) from the text of /proc/PID/stat. The command name in
/// parentheses may hold spaces and parentheses itself, so fields are counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> anyhow::Result<(u64, u64)> {
    let Some(close) = text.rfind(')') else {
        bail!("no `)` in /proc stat line: {text:?}");
    };
    // After the name come field 3 (state), 4 (ppid), …; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        let raw = fields
            .get(n - 3)
            .with_context(|| format!("stat line has no field {n}"))?;
        raw.parse()
            .with_context(|| format!("stat field {n} is {raw:?}"))
    };
    Ok((field(14)?, field(15)?))
}

/// The fields of interest from the text of /proc/PID/status; absent ones are `None`.
pub(crate) fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = value.split_whitespace().next().and_then(|v| v.parse().ok());
        match key {
            "VmHWM" => status.peak_rss_kib = number,
            "VmRSS" => status.rss_kib = number,
            "voluntary_ctxt_switches" => status.voluntary = number,
            "nonvoluntary_ctxt_switches" => status.involuntary = number,
            _ => {}
        }
    }
    status
}

/// Time on a CPU, ns, from the text of /proc/PID/task/TID/schedstat (its first field).
pub(crate) fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Clock ticks per second for /proc times (`getconf CLK_TCK`; 100 where that fails, which is
/// the value on every Linux architecture deskcast targets).
pub(crate) fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Measures what `pid` costs over `window`: the idle-cost probe.
pub(crate) fn measure_idle(pid: u32, window: Duration) -> anyhow::Result<Usage> {
    let ticks = ticks_per_second();
    let before = sample(pid)?;
    let started = Instant::now();
    std::thread::sleep(window);
    let after =
        sample(pid).with_context(|| format!("process {pid} went away during the window"))?;
    Ok(Usage::between(
        before,
        after,
        started.elapsed().as_secs_f64(),
        ticks,
    ))
}

#[cfg(test)]
mod tests;
