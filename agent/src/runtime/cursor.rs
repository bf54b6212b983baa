//! The pointer's shape and position, watched on a thread of its own and shared with every
//! session through `watch` channels (latest value wins).
//!
//! Shapes arrive as XFIXES notifications; the position is polled (X11 reports pointer motion
//! only to windows under it) every 33 ms while anyone watches, and once a second otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deskcast_protocol::message::CursorData;
use tokio::sync::watch;

use crate::platform::x11::{ConnectOptions, CursorWatcher};

/// Position polling interval while a viewer watches.
const POLL: Duration = Duration::from_millis(33);
/// Interval while nobody watches (shape changes still wake the thread at once).
const IDLE: Duration = Duration::from_secs(1);
/// zstd level for cursor images (spec §8.1; the level does not matter to decoders).
const ZSTD_LEVEL: i32 = 3;

/// What sessions subscribe to.
#[derive(Debug, Clone)]
pub struct CursorHub {
    /// The current shape, ready to send (colours already compressed).
    pub shape: watch::Receiver<Option<Arc<CursorData>>>,
    /// The current position in root coordinates.
    pub position: watch::Receiver<(i32, i32)>,
}

/// Starts the cursor thread; `None` (with one log line) when the X server has no XFIXES.
pub fn spawn(options: ConnectOptions) -> Option<CursorHub> {
    let mut watcher = match CursorWatcher::new(&options) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "no cursor shapes or positions for viewers");
            return None;
        }
    };
    let (shape_tx, shape) = watch::channel(None);
    let (pos_tx, position) = watch::channel(watcher.position().unwrap_or((0, 0)));
    if let Ok(image) = watcher.image() {
        shape_tx.send_replace(Some(Arc::new(cursor_data(&image))));
    }
    let spawned = std::thread::Builder::new()
        .name("deskcast-cursor".into())
        .spawn(move || {
            loop {
                // The hub keeps one receiver of each; more means sessions are watching.
                let watched = pos_tx.receiver_count() > 1;
                let deadline = Instant::now() + if watched { POLL } else { IDLE };
                let changed = match watcher.wait_change(deadline) {
                    Ok(changed) => changed,
                    Err(e) => {
                        tracing::warn!(error = %e, "cursor watcher stopped");
                        return;
                    }
                };
                if changed.is_some() {
                    match watcher.image() {
                        Ok(image) => {
                            shape_tx.send_replace(Some(Arc::new(cursor_data(&image))));
                        }
                        Err(e) => tracing::debug!(error = %e, "cursor image unavailable"),
                    }
                }
                if watched && let Ok(p) = watcher.position() {
                    pos_tx.send_if_modified(|old| std::mem::replace(old, p) != p);
                }
                if pos_tx.is_closed() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the cursor thread");
        return None;
    }
    Some(CursorHub { shape, position })
}

/// The `CursorData` message for an image: straight RGBA, zstd-compressed.
pub fn cursor_data(image: &crate::platform::x11::CursorImage) -> CursorData {
    CursorData {
        id: u64::from(image.serial),
        hotx: i32::from(image.hot_x),
        hoty: i32::from(image.hot_y),
        width: i32::from(image.width),
        height: i32::from(image.height),
        colors: zstd::bulk::compress(&image.rgba, ZSTD_LEVEL).unwrap_or_default(),
    }
}

/// One session's view of the cursor: wakes on changes, hands out what it has not sent yet.
#[derive(Debug)]
pub struct CursorWatch {
    shape: watch::Receiver<Option<Arc<CursorData>>>,
    position: watch::Receiver<(i32, i32)>,
    sent_shape: Option<u64>,
    sent_position: Option<(i32, i32)>,
}

impl CursorWatch {
    /// A watch that first reports the current shape and position.
    pub fn new(hub: &CursorHub) -> Self {
        Self {
            shape: hub.shape.clone(),
            position: hub.position.clone(),
            sent_shape: None,
            sent_position: None,
        }
    }

    /// Waits until the shape or the position changes.
    pub async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        tokio::select! {
            r = self.shape.changed() => r,
            r = self.position.changed() => r,
        }
    }

    /// The shape and position not sent yet (each `None` when unchanged).
    pub fn take_changes(&mut self) -> (Option<Arc<CursorData>>, Option<(i32, i32)>) {
        let shape = self
            .shape
            .borrow_and_update()
            .clone()
            .filter(|s| self.sent_shape != Some(s.id));
        if let Some(s) = &shape {
            self.sent_shape = Some(s.id);
        }
        let position = *self.position.borrow_and_update();
        let position = (self.sent_position != Some(position)).then_some(position);
        if position.is_some() {
            self.sent_position = position;
        }
        (shape, position)
    }
}
