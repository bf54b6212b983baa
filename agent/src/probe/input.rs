//! Input the probe can inject, as the messages a RustDesk client sends (spec §7.1, §7.2).

use deskcast_protocol::message::{
    self, Clipboard, ClipboardFormat, ControlKey, KeyEvent, KeyboardMode, Message, MouseEvent,
    key_event,
};

/// `MouseEvent.mask` types (the low three bits).
const MOUSE_MOVE: i32 = 0;
const MOUSE_DOWN: i32 = 1;
const MOUSE_UP: i32 = 2;
const MOUSE_WHEEL: i32 = 3;
const MOUSE_MOVE_RELATIVE: i32 = 5;

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MouseButton {
    /// The left button.
    Left,
    /// The right button.
    Right,
    /// The middle button (the wheel).
    Middle,
    /// The "back" side button.
    Back,
    /// The "forward" side button.
    Forward,
}

impl MouseButton {
    /// The button's bit in `MouseEvent.mask >> 3`.
    fn bit(self) -> i32 {
        match self {
            Self::Left => 0x01,
            Self::Right => 0x02,
            Self::Middle => 0x04,
            Self::Back => 0x08,
            Self::Forward => 0x10,
        }
    }
}

/// One mouse action, in the agent's global desktop coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mouse {
    /// Move the pointer to `(x, y)`.
    Move {
        /// Column.
        x: i32,
        /// Row.
        y: i32,
    },
    /// Move the pointer by `(dx, dy)`.
    MoveBy {
        /// Columns.
        dx: i32,
        /// Rows.
        dy: i32,
    },
    /// Press `button` at `(x, y)`.
    Down {
        /// The button.
        button: MouseButton,
        /// Column.
        x: i32,
        /// Row.
        y: i32,
    },
    /// Release `button` at `(x, y)`.
    Up {
        /// The button.
        button: MouseButton,
        /// Column.
        x: i32,
        /// Row.
        y: i32,
    },
    /// Scroll: positive `dy` scrolls up (away from the user), positive `dx` left.
    Wheel {
        /// Horizontal notches.
        dx: i32,
        /// Vertical notches.
        dy: i32,
    },
}

impl Mouse {
    /// The `MouseEvent` message.
    #[must_use]
    pub fn to_message(self, modifiers: &[ControlKey]) -> Message {
        let (kind, buttons, x, y) = match self {
            Self::Move { x, y } => (MOUSE_MOVE, 0, x, y),
            Self::MoveBy { dx, dy } => (MOUSE_MOVE_RELATIVE, 0, dx, dy),
            Self::Down { button, x, y } => (MOUSE_DOWN, button.bit(), x, y),
            Self::Up { button, x, y } => (MOUSE_UP, button.bit(), x, y),
            Self::Wheel { dx, dy } => (MOUSE_WHEEL, 0, dx, dy),
        };
        message::message::Union::MouseEvent(MouseEvent {
            mask: (buttons << 3) | kind,
            x,
            y,
            modifiers: modifiers.iter().map(|&m| m.into()).collect(),
        })
        .into()
    }
}

/// Whether a key goes down, comes up, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAction {
    /// Key down.
    Down,
    /// Key up.
    Up,
    /// A complete click (down and up), RustDesk's `press`.
    Press,
}

/// One key event in one of the client keyboard modes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    /// Map mode: a key position, as the agent platform's key code (an X11 keycode for a Linux
    /// agent: evdev code + 8).
    Map {
        /// The key code.
        code: u32,
        /// Down, up or press.
        action: KeyAction,
    },
    /// Legacy mode: a named key.
    Control {
        /// The key.
        key: ControlKey,
        /// Down, up or press.
        action: KeyAction,
    },
    /// Legacy mode: the character a key produced.
    Char {
        /// The character.
        chr: char,
        /// Down, up or press.
        action: KeyAction,
    },
    /// Translate mode: text to type.
    Text(String),
}

impl Key {
    /// The `KeyEvent` message, with `modifiers` held.
    #[must_use]
    pub fn to_message(&self, modifiers: &[ControlKey]) -> Message {
        let (union, mode, action) = match self {
            Self::Map { code, action } => {
                (key_event::Union::Chr(*code), KeyboardMode::Map, *action)
            }
            Self::Control { key, action } => (
                key_event::Union::ControlKey((*key).into()),
                KeyboardMode::Legacy,
                *action,
            ),
            Self::Char { chr, action } => (
                key_event::Union::Chr(u32::from(*chr)),
                KeyboardMode::Legacy,
                *action,
            ),
            // Translate mode sends printable text as a down event only (spec §7.2).
            Self::Text(text) => (
                key_event::Union::Seq(text.clone()),
                KeyboardMode::Translate,
                KeyAction::Down,
            ),
        };
        message::message::Union::KeyEvent(KeyEvent {
            down: action == KeyAction::Down,
            press: action == KeyAction::Press,
            union: Some(union),
            modifiers: modifiers.iter().map(|&m| m.into()).collect(),
            mode: mode.into(),
        })
        .into()
    }
}

/// `Clipboard { format: Text, content }`, uncompressed.
#[must_use]
pub fn clipboard_message(text: &str) -> Message {
    message::message::Union::Clipboard(Clipboard {
        compress: false,
        content: text.as_bytes().to_vec(),
        format: ClipboardFormat::Text.into(),
        ..Clipboard::default()
    })
    .into()
}
