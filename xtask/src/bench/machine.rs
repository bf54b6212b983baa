//! The machine and the tool versions, for the top of the report.

use std::process::Command;

/// What the report says about where it ran.
#[derive(Debug, Clone, Default)]
pub(crate) struct Machine {
    pub(crate) date: String,
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) memory: String,
    pub(crate) os: String,
    pub(crate) kernel: String,
    pub(crate) load_before: String,
    pub(crate) load_after: String,
    /// (tool, version), in report order.
    pub(crate) versions: Vec<(String, String)>,
}

impl Machine {
    /// Reads /proc, /etc/os-release and the tools' own version output.
    pub(crate) fn describe() -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        let os_release = read("/etc/os-release");
        Self {
            date: first_line(&output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
            cpu: field(&cpuinfo, "model name", ':').unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            memory: field(&meminfo, "MemTotal", ':')
                .map_or_else(|| "unknown".into(), |kb| kib_to_gib(&kb)),
            os: field(&os_release, "PRETTY_NAME", '=')
                .map_or_else(|| "unknown".into(), |s| s.trim_matches('"').to_owned()),
            kernel: first_line(&read("/proc/sys/kernel/osrelease")),
            load_before: load_average(),
            load_after: String::new(),
            versions: versions(),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn versions() -> Vec<(String, String)> {
    let ffmpeg = first_line(&output("ffmpeg", &["-hide_banner", "-version"]));
    let gst = output("gst-launch-1.0", &["--version"])
        .lines()
        .find(|l| l.starts_with("GStreamer"))
        .unwrap_or("not found")
        .to_owned();
    vec![
        (
            "ffmpeg".into(),
            ffmpeg
                .strip_prefix("ffmpeg version ")
                .map_or(ffmpeg.clone(), |v| {
                    v.split(" Copyright").next().unwrap_or(v).to_owned()
                }),
        ),
        (
            "GStreamer".into(),
            gst.trim_start_matches("GStreamer ").to_owned(),
        ),
        ("libx264".into(), packages("libx264-*")),
        ("libvpx".into(), packages("libvpx[0-9]*")),
        ("gst x264enc".into(), packages("gstreamer1.0-plugins-ugly")),
        ("Xvfb".into(), packages("xvfb")),
        ("rustc".into(), first_line(&output("rustc", &["--version"]))),
    ]
}

/// Installed Debian packages matching `pattern`, as `name version` pairs.
fn packages(pattern: &str) -> String {
    let text = output(
        "dpkg-query",
        &[
            "-W",
            "-f",
            "${Package} ${Version} ${db:Status-Abbrev}\\n",
            pattern,
        ],
    );
    let found: Vec<String> = text
        .lines()
        .filter(|l| l.trim_end().ends_with("ii"))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    if found.is_empty() {
        "not found".into()
    } else {
        found.join(", ")
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("unknown").trim().to_owned()
}

/// The value of the first `key<sep>value` line.
fn field(text: &str, key: &str, sep: char) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(sep)?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

fn kib_to_gib(value: &str) -> String {
    let kib: f64 = value
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    format!("{:.1} GiB", kib / (1024.0 * 1024.0))
}
