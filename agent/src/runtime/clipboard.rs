//! The text clipboard shared by the desktop and every viewer.
//!
//! One thread owns the X CLIPBOARD selection. Text copied on the desktop goes to every viewer;
//! text a viewer sends becomes the desktop's clipboard and goes to the *other* viewers (each
//! update carries its origin, so nobody gets its own text echoed back).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::pipeline::display::ViewerId;
use crate::platform::x11::{
    Clipboard, ClipboardConfig, ClipboardEvent, ClipboardSetter, ConnectOptions,
};

/// How often a lost X connection is retried.
const RECONNECT: Duration = Duration::from_secs(2);

/// A clipboard change.
#[derive(Debug, Clone)]
pub struct ClipboardText {
    /// The viewer that set it; `None` when it was copied on the desktop.
    pub origin: Option<ViewerId>,
    /// The text.
    pub text: Arc<str>,
}

/// What sessions use.
#[derive(Debug, Clone)]
pub struct ClipboardHub {
    /// The setter of the current X connection (replaced when the thread reconnects).
    setter: Arc<Mutex<ClipboardSetter>>,
    updates: broadcast::Sender<ClipboardText>,
    max_bytes: usize,
}

impl ClipboardHub {
    /// Changes to watch.
    pub fn subscribe(&self) -> broadcast::Receiver<ClipboardText> {
        self.updates.subscribe()
    }

    /// Makes `text`, sent by `viewer`, the desktop's clipboard.
    pub fn set_from_viewer(&self, viewer: ViewerId, text: String) {
        if text.len() > self.max_bytes {
            tracing::info!(
                viewer,
                bytes = text.len(),
                "clipboard text over the cap dropped"
            );
            return;
        }
        let shared: Arc<str> = Arc::from(text.as_str());
        let setter = self
            .setter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Err(e) = setter.set_text(text) {
            tracing::info!(viewer, error = %e, "clipboard text not taken");
            return;
        }
        let _ = self.updates.send(ClipboardText {
            origin: Some(viewer),
            text: shared,
        });
    }
}

/// Starts the clipboard thread; `None` (with one log line) when the X server cannot do it.
pub fn spawn(options: ConnectOptions) -> Option<ClipboardHub> {
    let config = ClipboardConfig::default();
    let max_bytes = config.max_bytes;
    let mut clipboard = match Clipboard::new(&options, config) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no clipboard sharing");
            return None;
        }
    };
    let setter = Arc::new(Mutex::new(clipboard.setter()));
    let (updates, _) = broadcast::channel(16);
    let tx = updates.clone();
    let current = Arc::clone(&setter);
    let spawned = std::thread::Builder::new()
        .name("deskcast-clipboard".into())
        .spawn(move || {
            loop {
                match clipboard.wait(Instant::now() + Duration::from_secs(1)) {
                    Ok(Some(ClipboardEvent::Text(text))) => {
                        let _ = tx.send(ClipboardText {
                            origin: None,
                            text: Arc::from(text),
                        });
                    }
                    Ok(Some(ClipboardEvent::TooLarge { size })) => {
                        tracing::info!(bytes = size, "desktop clipboard too large to share");
                    }
                    Ok(None) => {}
                    Err(e) if e.is_disconnected() => {
                        tracing::warn!(error = %e, "clipboard lost its X connection; reconnecting");
                        loop {
                            std::thread::sleep(RECONNECT);
                            if let Ok(c) = Clipboard::new(&options, config) {
                                *current.lock().unwrap_or_else(PoisonError::into_inner) =
                                    c.setter();
                                clipboard = c;
                                break;
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "clipboard event failed"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the clipboard thread");
        return None;
    }
    Some(ClipboardHub {
        setter,
        updates,
        max_bytes,
    })
}
