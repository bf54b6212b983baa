//! Mouse and keyboard from a viewer, injected through XTEST on a thread of the session's own.
//!
//! The thread owns an [`Injector`] (its own X connection), so slow X round trips never block the
//! session's task. When the session ends the handle is dropped, the thread sees its channel close
//! and releases every key and button it pressed: nothing stays pressed after a viewer leaves.
//!
//! Mapping (spec §7):
//! - mouse: `type = mask & 7`, `buttons = mask >> 3`; absolute moves in root coordinates; wheel
//!   signs as RustDesk's (positive y = up); relative moves clamped to ±10 000;
//! - keys, by mode: **map** injects the X keycode in `chr`; **translate** types `seq` as text and
//!   treats the rest as map; **legacy** turns `control_key` into keysyms and types `chr`/`unicode`
//!   characters, holding Ctrl/Alt/Meta from `modifiers` around them for shortcuts. Lock keys
//!   listed in `modifiers` are brought in step before non-lock keys.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use deskcast_protocol::message::{KeyEvent, MouseEvent, key_event};

use super::login::Active;
use crate::platform::x11::{Button, Error as X11Error, Injector, LockState};
use crate::runtime::Agent;

/// ControlKey values used here (spec §7.2).
mod key {
    pub(super) const ALT: i32 = 1;
    pub(super) const CAPS_LOCK: i32 = 3;
    pub(super) const CONTROL: i32 = 4;
    pub(super) const META: i32 = 23;
    pub(super) const NUM_LOCK: i32 = 63;
    pub(super) const RCONTROL: i32 = 74;
    pub(super) const RALT: i32 = 75;
    pub(super) const RWIN: i32 = 64;
}
/// X keycodes of the lock keys in map mode (evdev + 8).
const KEYCODE_CAPS_LOCK: u32 = 66;
const KEYCODE_NUM_LOCK: u32 = 77;
/// Keyboard modes (spec §7.2).
const MODE_LEGACY: i32 = 0;
const MODE_TRANSLATE: i32 = 2;
/// Input events waiting for the X server; a viewer that sends faster than XTEST takes them
/// loses the excess instead of growing memory.
const QUEUE: usize = 1024;
/// The largest relative move honoured (spec §7.1).
const MAX_RELATIVE: i32 = 10_000;

/// Commands to the input thread.
#[derive(Debug)]
enum Command {
    Mouse(MouseEvent),
    Key(KeyEvent),
}

/// The session's end of its input thread.
#[derive(Debug)]
pub struct InputHandle {
    tx: SyncSender<Command>,
}

impl InputHandle {
    /// Connects an injector and starts the thread.
    pub fn spawn(agent: &Agent) -> Result<Self, X11Error> {
        let injector = Injector::new(&agent.x)?;
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("deskcast-input".into())
            .spawn(move || run(injector, &rx))
            .map_err(|e| X11Error::os("spawning the input thread", e))?;
        Ok(Self { tx })
    }
}

impl InputHandle {
    fn send(&self, command: Command) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(command) {
            tracing::debug!("input queue full: event dropped");
        }
    }
}

impl Active {
    /// A mouse event from the viewer.
    pub(crate) fn input_mouse(&mut self, event: MouseEvent) {
        if let Some(input) = &self.input {
            self.last_input = Some(Instant::now());
            input.send(Command::Mouse(event));
        }
    }

    /// A key event from the viewer.
    pub(crate) fn input_key(&mut self, event: KeyEvent) {
        if let Some(input) = &self.input {
            input.send(Command::Key(event));
        }
    }
}

fn run(mut injector: Injector, rx: &Receiver<Command>) {
    let mut locks: Option<LockState> = None;
    while let Ok(command) = rx.recv() {
        let result = match command {
            Command::Mouse(event) => mouse(&mut injector, &event),
            Command::Key(event) => key(&mut injector, &event, &mut locks),
        };
        if let Err(e) = result {
            if e.is_disconnected() {
                tracing::warn!(error = %e, "input lost its X connection");
                return;
            }
            tracing::debug!(error = %e, "input event not injected");
        }
    }
    // The session ended: release everything this viewer pressed.
    if let Err(e) = injector.release_all() {
        tracing::debug!(error = %e, "releasing keys at session end");
    }
}

fn mouse(injector: &mut Injector, event: &MouseEvent) -> Result<(), X11Error> {
    let kind = event.mask & 7;
    let buttons = event.mask >> 3;
    match kind {
        0 => injector.move_to(event.x, event.y),
        1 | 2 => {
            // RustDesk's agent ignores x/y here; moving first is harmless and covers a client
            // that sent no MOVE before clicking.
            injector.move_to(event.x, event.y)?;
            match button(buttons) {
                Some(b) => injector.button(b, kind == 1),
                None => Ok(()),
            }
        }
        3 | 4 => injector.wheel(event.x, event.y),
        5 => injector.move_by(
            event.x.clamp(-MAX_RELATIVE, MAX_RELATIVE),
            event.y.clamp(-MAX_RELATIVE, MAX_RELATIVE),
        ),
        _ => Ok(()),
    }
}

/// The single button a `buttons` value names (several bits at once do nothing, as in RustDesk).
fn button(buttons: i32) -> Option<Button> {
    match buttons {
        0x01 => Some(Button::Left),
        0x02 => Some(Button::Right),
        0x04 => Some(Button::Middle),
        0x08 => Some(Button::Back),
        0x10 => Some(Button::Forward),
        _ => None,
    }
}

fn key(
    injector: &mut Injector,
    event: &KeyEvent,
    locks: &mut Option<LockState>,
) -> Result<(), X11Error> {
    let Some(union) = &event.union else {
        return Ok(());
    };
    let is_lock_key = match union {
        key_event::Union::ControlKey(k) => *k == key::CAPS_LOCK || *k == key::NUM_LOCK,
        key_event::Union::Chr(c) if event.mode != MODE_LEGACY => {
            *c == KEYCODE_CAPS_LOCK || *c == KEYCODE_NUM_LOCK
        }
        _ => false,
    };
    if !is_lock_key && (event.down || event.press) {
        let wanted = LockState {
            caps: Some(event.modifiers.contains(&key::CAPS_LOCK)),
            num: Some(event.modifiers.contains(&key::NUM_LOCK)),
        };
        if *locks != Some(wanted) {
            injector.sync_locks(wanted)?;
            *locks = Some(wanted);
        }
    }
    let transitions: &[bool] = if event.press {
        &[true, false]
    } else if event.down {
        &[true]
    } else {
        &[false]
    };
    match union {
        key_event::Union::Seq(text) => {
            if event.down || event.press {
                injector.type_text(text)?;
            }
        }
        key_event::Union::Chr(code) if event.mode != MODE_LEGACY => {
            for &down in transitions {
                injector.keycode(*code, down)?;
            }
        }
        key_event::Union::ControlKey(value) => {
            for &down in transitions {
                injector.control_key(*value, down)?;
            }
        }
        key_event::Union::Chr(c) | key_event::Union::Unicode(c) => {
            // Legacy (or unicode): a finished character, typed once on key down.
            if !(event.down || event.press) {
                return Ok(());
            }
            let Some(ch) = char::from_u32(*c) else {
                return Ok(());
            };
            let held: Vec<i32> = event
                .modifiers
                .iter()
                .copied()
                .filter(|m| {
                    matches!(
                        *m,
                        key::CONTROL | key::RCONTROL | key::ALT | key::RALT | key::META | key::RWIN
                    )
                })
                .collect();
            if held.is_empty() {
                injector.type_char(ch)?;
            } else {
                // A shortcut such as Ctrl+C: hold the modifiers around the key.
                for m in &held {
                    injector.control_key(*m, true)?;
                }
                let keysym = xkeysym::Keysym::from_char(ch.to_ascii_lowercase());
                let result = injector
                    .keysym(keysym.raw(), true)
                    .and_then(|()| injector.keysym(keysym.raw(), false));
                for m in held.iter().rev() {
                    injector.control_key(*m, false)?;
                }
                result?;
            }
        }
        key_event::Union::Win2winHotkey(_) => {}
    }
    if event.mode == MODE_TRANSLATE {
        injector.sync()?;
    }
    Ok(())
}
