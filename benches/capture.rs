//! Capture cost on a real Xvfb: a whole-frame grab on each path at 1920×1080 and 3840×2160, next
//! to a plain memcpy of the same bytes in the same run; a grab after a small change (partial
//! fetch); and what one wait for damage costs on a static screen.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deskcast::platform::x11::{CaptureConfig, CapturePath, Capturer, ConnectOptions, Paths};
use deskcast_testkit::Xvfb;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{ChangeGCAux, ConnectionExt as _, ImageFormat, Rectangle};
use x11rb::rust_connection::RustConnection;

const SIZES: [(u32, u32); 2] = [(1920, 1080), (3840, 2160)];

/// A connection that draws on the root window.
struct Painter {
    conn: RustConnection,
    root: u32,
    gc: u32,
}

impl Painter {
    fn new(server: &Xvfb) -> Self {
        let (conn, screen) = RustConnection::connect(Some(server.display())).unwrap();
        let root = conn.setup().roots[screen].root;
        let gc = conn.generate_id().unwrap();
        conn.create_gc(gc, root, &Default::default()).unwrap();
        Self { conn, root, gc }
    }

    /// Fills the screen with noise, so no path can profit from uniform pixels.
    fn noise(&self, width: u32, height: u32) {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let rows = 32u32;
        let mut strip = vec![0u8; (width * rows * 4) as usize];
        for top in (0..height).step_by(rows as usize) {
            for b in strip.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            let h = rows.min(height - top);
            self.conn
                .put_image(
                    ImageFormat::Z_PIXMAP,
                    self.root,
                    self.gc,
                    width as u16,
                    h as u16,
                    0,
                    top as i16,
                    0,
                    24,
                    &strip[..(width * h * 4) as usize],
                )
                .unwrap();
        }
        self.conn.get_input_focus().unwrap().reply().unwrap();
    }

    fn fill(&self, x: i16, y: i16, size: u16, rgb: u32) {
        self.conn
            .change_gc(self.gc, &ChangeGCAux::new().foreground(rgb))
            .unwrap();
        let r = Rectangle {
            x,
            y,
            width: size,
            height: size,
        };
        self.conn
            .poly_fill_rectangle(self.root, self.gc, &[r])
            .unwrap();
        self.conn.flush().unwrap();
    }
}

fn only(path: CapturePath, partial_grabs: bool) -> CaptureConfig {
    CaptureConfig {
        paths: Paths {
            shm_fd: path == CapturePath::ShmFd,
            shm_sysv: path == CapturePath::ShmSysv,
            get_image: path == CapturePath::GetImage,
        },
        partial_grabs,
        ..CaptureConfig::default()
    }
}

fn capture(c: &mut Criterion) {
    for (w, h) in SIZES {
        let server = Xvfb::start(w, h);
        let options = ConnectOptions {
            display: Some(server.display().to_owned()),
            xauthority: None,
        };
        let painter = Painter::new(&server);
        painter.noise(w, h);
        let bytes = u64::from(w) * u64::from(h) * 4;
        let label = format!("{w}x{h}");

        let mut group = c.benchmark_group("capture_full_frame");
        group.throughput(Throughput::Bytes(bytes));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(4));
        let src = vec![7u8; bytes as usize];
        let mut dst = vec![0u8; bytes as usize];
        group.bench_function(BenchmarkId::new("memcpy", &label), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&dst);
            });
        });
        for path in [
            CapturePath::ShmFd,
            CapturePath::ShmSysv,
            CapturePath::GetImage,
        ] {
            let mut capturer = Capturer::new(&options, only(path, false)).unwrap();
            let name = format!("{path:?}");
            group.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter(|| black_box(capturer.capture().unwrap().data()[0]));
            });
        }
        group.finish();

        // A 64×64 change, then the grab that fetches only the rows it touched (the drawing
        // request is part of each iteration).
        let mut group = c.benchmark_group("capture_small_change");
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(3));
        let mut capturer = Capturer::new(&options, only(CapturePath::ShmFd, true)).unwrap();
        drop(capturer.capture().unwrap());
        let mut colour = 0u32;
        group.bench_function(BenchmarkId::new("ShmFd", &label), |b| {
            b.iter(|| {
                colour = colour.wrapping_add(0x010203);
                painter.fill(100, 100, 64, colour);
                let frame = capturer
                    .next_frame(Instant::now() + Duration::from_secs(5))
                    .unwrap()
                    .expect("a frame");
                black_box(frame.damage().len())
            });
        });
        group.finish();
    }
}

/// One `wait` on a static screen whose deadline has come: the cost per pacing tick when nothing
/// changes (drain events, flush, one `poll`).
fn wait_static(c: &mut Criterion) {
    let server = Xvfb::start(1920, 1080);
    let options = ConnectOptions {
        display: Some(server.display().to_owned()),
        xauthority: None,
    };
    let mut capturer = Capturer::new(&options, CaptureConfig::default()).unwrap();
    drop(capturer.capture().unwrap());
    c.bench_function("wait_for_damage_static_screen", |b| {
        b.iter(|| black_box(capturer.wait(Instant::now()).unwrap()));
    });
}

criterion_group!(benches, capture, wait_static);
criterion_main!(benches);
