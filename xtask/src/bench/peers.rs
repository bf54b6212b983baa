//! The pipelines users would pick instead of deskcast, each at the same size, frame rate and
//! bitrate: ffmpeg x11grab with libx264 and with libvpx-vp9, GStreamer ximagesrc with x264enc as
//! Selkies configures it, and ffmpeg with h264_nvenc where an NVENC GPU exists.

use std::process::Command;

use super::pipeline::{Availability, Pipeline, Run, Target, run_process};
use super::stream::StreamFormat;

/// Every peer pipeline, in report order.
pub(crate) fn all() -> Vec<Box<dyn Pipeline>> {
    vec![
        Box::new(Ffmpeg {
            id: "ffmpeg-x264",
            label: "ffmpeg x11grab + libx264 ultrafast/zerolatency",
            format: StreamFormat::H264,
            args: x264_args,
        }),
        Box::new(Ffmpeg {
            id: "ffmpeg-vp9",
            label: "ffmpeg x11grab + libvpx-vp9 realtime",
            format: StreamFormat::Ivf,
            args: vp9_args,
        }),
        Box::new(GstX264),
        Box::new(FfmpegNvenc),
    ]
}

/// `ffmpeg … -f x11grab … -i DISPLAY` followed by `codec` and output to stdout as `muxer`.
fn ffmpeg_args(target: &Target<'_>, codec: &[String], muxer: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-f",
        "x11grab",
        "-draw_mouse",
        "0",
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "-framerate".into(),
        target.fps.to_string(),
        "-video_size".into(),
        target.size(),
    ]);
    args.extend(["-i".into(), target.display.into()]);
    args.extend(codec.iter().cloned());
    // Every grabbed frame is encoded once: a raw-stream muxer would otherwise make ffmpeg pad to
    // a constant frame rate with duplicates whenever a grab is late (what streaming muxers like
    // mpegts do not do), and write each packet out at once.
    args.extend(
        [
            "-fps_mode",
            "passthrough",
            "-flush_packets",
            "1",
            "-f",
            muxer,
            "pipe:1",
        ]
        .map(String::from),
    );
    args
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn tool_missing(tool: &str, package: &str) -> Option<String> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    (!found).then(|| format!("not measured: `{tool}` is not installed (Debian package {package})"))
}

fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_owned())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// ffmpeg x11grab + libx264, preset ultrafast, tune zerolatency.
fn x264_args(target: &Target<'_>) -> Vec<String> {
    let b = format!("{}k", target.bitrate_kbps);
    let mut codec = strings(&[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
    ]);
    codec.extend([
        "-b:v".into(),
        b.clone(),
        "-maxrate".into(),
        b,
        "-bufsize".into(),
        format!("{}k", target.vbv_kbit()),
    ]);
    codec.extend(strings(&["-x264-params", "keyint=infinite"]));
    ffmpeg_args(target, &codec, "h264")
}

/// ffmpeg x11grab + libvpx-vp9 in realtime mode.
fn vp9_args(target: &Target<'_>) -> Vec<String> {
    let b = format!("{}k", target.bitrate_kbps);
    let mut codec = strings(&[
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-row-mt",
        "1",
        "-lag-in-frames",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "1000000",
    ]);
    codec.extend([
        "-b:v".into(),
        b.clone(),
        "-minrate".into(),
        b.clone(),
        "-maxrate".into(),
        b,
    ]);
    codec.extend(["-bufsize".into(), format!("{}k", target.vbv_kbit())]);
    ffmpeg_args(target, &codec, "ivf")
}

/// An ffmpeg x11grab pipeline: its name, and the arguments for a target.
struct Ffmpeg {
    id: &'static str,
    label: &'static str,
    format: StreamFormat,
    args: fn(&Target<'_>) -> Vec<String>,
}

impl Pipeline for Ffmpeg {
    fn id(&self) -> &str {
        self.id
    }
    fn label(&self) -> &str {
        self.label
    }
    fn availability(&self) -> Availability {
        tool_missing("ffmpeg", "ffmpeg").map_or(Availability::Ready, Availability::Missing)
    }
    fn settings(&self, target: &Target<'_>) -> String {
        command_line("ffmpeg", &(self.args)(target))
    }
    fn run(&self, target: &Target<'_>) -> anyhow::Result<Run> {
        let mut command = Command::new("ffmpeg");
        command.args((self.args)(target));
        run_process(self.id(), command, self.format, target)
    }
}

/// GStreamer ximagesrc + x264enc with the element properties Selkies sets for its software
/// H.264 path (threads = cores − 1, at most 4; VBV 1.5 frames; sliced threads; no B-frames).
struct GstX264;

impl GstX264 {
    fn args(target: &Target<'_>) -> Vec<String> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = cores.saturating_sub(1).clamp(1, 4);
        // Selkies computes the VBV as ceil(1000 / fps) × 1.5 ms.
        let vbv_ms = (1000 + target.fps - 1) / target.fps.max(1) * 3 / 2;
        let pipeline = format!(
            "ximagesrc display-name={display} show-pointer=false remote=true blocksize=16384 use-damage=false \
             ! video/x-raw,framerate={fps}/1 \
             ! videoconvert n-threads={threads} qos=true ! video/x-raw,format=NV12 \
             ! x264enc threads={threads} aud=false b-adapt=false bframes=0 dct8x8=false insert-vui=true \
             key-int-max=2147483647 mb-tree=false rc-lookahead=0 sync-lookahead=0 vbv-buf-capacity={vbv_ms} \
             sliced-threads=true byte-stream=true pass=cbr speed-preset=ultrafast tune=zerolatency \
             bitrate={bitrate} \
             ! video/x-h264,profile=main,stream-format=byte-stream ! fdsink fd=1 sync=false",
            display = target.display,
            fps = target.fps,
            bitrate = target.bitrate_kbps,
        );
        let mut args = vec!["-q".to_owned()];
        args.extend(pipeline.split_whitespace().map(String::from));
        args
    }
}

impl Pipeline for GstX264 {
    fn id(&self) -> &str {
        "gst-x264"
    }
    fn label(&self) -> &str {
        "GStreamer ximagesrc + x264enc (Selkies settings)"
    }
    fn availability(&self) -> Availability {
        if let Some(missing) = tool_missing("gst-launch-1.0", "gstreamer1.0-tools") {
            return Availability::Missing(missing);
        }
        for (element, package) in [
            ("ximagesrc", "gstreamer1.0-x"),
            ("x264enc", "gstreamer1.0-plugins-ugly"),
        ] {
            let found = Command::new("gst-inspect-1.0")
                .arg(element)
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                return Availability::Missing(format!(
                    "not measured: GStreamer element {element} missing (Debian package {package})"
                ));
            }
        }
        Availability::Ready
    }
    fn settings(&self, target: &Target<'_>) -> String {
        command_line("gst-launch-1.0", &Self::args(target))
    }
    fn run(&self, target: &Target<'_>) -> anyhow::Result<Run> {
        let mut command = Command::new("gst-launch-1.0");
        command.args(Self::args(target));
        run_process(self.id(), command, StreamFormat::H264, target)
    }
}

/// ffmpeg x11grab + h264_nvenc at P1 with ultra-low-latency tuning, where NVENC exists.
struct FfmpegNvenc;

impl FfmpegNvenc {
    fn args(target: &Target<'_>) -> Vec<String> {
        let b = format!("{}k", target.bitrate_kbps);
        let mut codec = strings(&[
            "-c:v",
            "h264_nvenc",
            "-preset",
            "p1",
            "-tune",
            "ull",
            "-zerolatency",
            "1",
            "-delay",
            "0",
            "-rc",
            "cbr",
            "-bf",
            "0",
            "-g",
            "1000000",
            "-pix_fmt",
            "yuv420p",
        ]);
        codec.extend([
            "-b:v".into(),
            b.clone(),
            "-maxrate".into(),
            b,
            "-bufsize".into(),
            format!("{}k", target.vbv_kbit()),
        ]);
        ffmpeg_args(target, &codec, "h264")
    }
}

impl Pipeline for FfmpegNvenc {
    fn id(&self) -> &str {
        "ffmpeg-nvenc"
    }
    fn label(&self) -> &str {
        "ffmpeg x11grab + h264_nvenc p1/ull"
    }
    fn availability(&self) -> Availability {
        if let Some(missing) = tool_missing("ffmpeg", "ffmpeg") {
            return Availability::Missing(missing);
        }
        // Encode one frame: this fails without an NVIDIA driver or on GPUs without NVENC.
        let probe = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "color=s=256x256:d=0.1",
            ])
            .args(["-frames:v", "1", "-c:v", "h264_nvenc", "-f", "null", "-"])
            .output();
        match probe {
            Ok(out) if out.status.success() => Availability::Ready,
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let first = err
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no error text");
                // Drop ffmpeg's "[h264_nvenc @ 0x…] " prefix.
                let why = first
                    .rsplit_once("] ")
                    .map_or(first, |(_, msg)| msg)
                    .trim()
                    .to_owned();
                Availability::Missing(format!(
                    "not measured: no NVENC (ffmpeg h264_nvenc probe: {why})"
                ))
            }
            Err(e) => Availability::Missing(format!(
                "not measured: no NVENC (could not run the probe: {e})"
            )),
        }
    }
    fn settings(&self, target: &Target<'_>) -> String {
        command_line("ffmpeg", &Self::args(target))
    }
    fn run(&self, target: &Target<'_>) -> anyhow::Result<Run> {
        let mut command = Command::new("ffmpeg");
        command.args(Self::args(target));
        run_process(self.id(), command, StreamFormat::H264, target)
    }
}
