//! The /proc parsers on hostile names and on real processes.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;

#[test]
fn stat_fields_are_counted_after_the_last_parenthesis() {
    // A command name with spaces and a `)` inside, as a process may choose.
    let line = "4242 (we ird) (name) S 1 4242 4242 0 -1 4194560 300 0 0 0 1234 567 8 9 20 0 3 0 \
                100 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
    assert_eq!(parse_stat(line).unwrap(), (1234, 567));
    assert!(parse_stat("4242 no parenthesis here").is_err());
    assert!(parse_stat("4242 (short) S 1 2").is_err());
    assert!(parse_stat("4242 (bad) S 1 2 3 4 5 6 7 8 9 10 x 11 12").is_err());
}

#[test]
fn status_fields_are_found_and_missing_ones_are_none() {
    let text = "Name:\tffmpeg\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t4\n\
                voluntary_ctxt_switches:\t812\nnonvoluntary_ctxt_switches:\t31\n";
    let status = parse_status(text);
    assert_eq!(status.peak_rss_kib, Some(51_200));
    assert_eq!(status.rss_kib, Some(40_960));
    assert_eq!(status.voluntary, Some(812));
    assert_eq!(status.involuntary, Some(31));
    assert_eq!(parse_status("Name:\tkthreadd\n"), Status::default());
    assert_eq!(parse_schedstat("1234567 890 12\n"), Some(1_234_567));
    assert_eq!(parse_schedstat(""), None);
}

#[test]
fn a_busy_child_costs_cpu_and_a_sleeping_one_wakes_up_without_it() {
    // A shell loop that burns CPU, and one that sleeps in many short naps.
    let mut busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut napper = Command::new("sh")
        .args(["-c", "while :; do sleep 0.02; done"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let window = Duration::from_millis(600);
    let busy_usage = measure_idle(busy.id(), window);
    let napper_usage = measure_idle(napper.id(), window);
    for child in [&mut busy, &mut napper] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (busy_usage, napper_usage) = (busy_usage.unwrap(), napper_usage.unwrap());
    assert!(busy_usage.cpu_seconds > 0.0, "{busy_usage:?}");
    assert!(
        busy_usage.run_seconds > 0.1 && napper_usage.run_seconds < busy_usage.run_seconds,
        "{busy_usage:?} vs {napper_usage:?}"
    );
    assert!(busy_usage.peak_rss_kib > 0, "{busy_usage:?}");
    // The napping shell waits for each `sleep` child: one voluntary switch per nap at least.
    assert!(napper_usage.voluntary >= 5, "{napper_usage:?}");
    assert!(
        napper_usage.cpu_seconds < busy_usage.cpu_seconds,
        "{napper_usage:?} vs {busy_usage:?}"
    );
}

#[test]
fn a_process_that_is_gone_is_an_error() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(sample(pid).is_err());
}

#[test]
fn usage_rates_follow_from_the_window() {
    let before = ProcSample {
        cpu_ticks: 100,
        voluntary: 10,
        involuntary: 1,
        peak_rss_kib: 10,
        rss_kib: 9,
        run_ns: 1_000_000_000,
    };
    let after = ProcSample {
        cpu_ticks: 150,
        voluntary: 40,
        involuntary: 2,
        peak_rss_kib: 12,
        rss_kib: 11,
        run_ns: 1_300_000_000,
    };
    let usage = Usage::between(before, after, 2.0, 100);
    assert_eq!(usage.cpu_seconds, 0.5);
    assert_eq!(usage.core_percent(), 25.0);
    assert_eq!(usage.wakeups_per_second(), 15.0);
    assert_eq!((usage.peak_rss_kib, usage.rss_kib), (12, 11));
    assert!((usage.precise_core_percent() - 15.0).abs() < 1e-9);
}
