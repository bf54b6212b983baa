//! Input injection through XTEST on a connection of its own: absolute and relative pointer
//! motion, buttons, both wheels, and keys in RustDesk's three keyboard modes.
//!
//! Keys are found in the current keymap (Shift and AltGr pressed as the key's level needs,
//! other held modifiers left alone); a keysym the layout lacks is put on a spare keycode for as
//! long as the injector lives. Everything pressed is tracked and released by
//! [`Injector::release_all`], which also runs on drop: no key stays down after a session.
//!
//! RustDesk's keyboard modes map onto the methods like this:
//! - map mode (`chr` is the peer's X keycode): [`Injector::keycode`] with the event's `down`;
//! - legacy mode: `control_key` → [`Injector::control_key`]; `chr`/`unicode` on key down →
//!   [`Injector::type_char`] (the character is final, so the key is tapped with the level it
//!   needs, and nothing happens on key up); lock keys listed among the `modifiers` →
//!   [`Injector::sync_locks`] first;
//! - translate mode: `seq` → [`Injector::type_text`], everything else as in map mode.

mod keymap;
mod keysyms;

use std::collections::VecDeque;

use x11rb::connection::Connection as _;
use x11rb::protocol::Event;
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, Mapping, ModMask};
use x11rb::protocol::xtest::{self, ConnectionExt as _};

use super::connection::{ConnectOptions, Connection};
use super::error::{Context as _, Error};
use keymap::{Keymap, keysym_for_char, sym};

pub use keysyms::control_key_keysyms;

/// A pointer button (RustDesk's mouse mask bits, as X buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Button {
    /// Button 1.
    Left,
    /// Button 2.
    Middle,
    /// Button 3.
    Right,
    /// Button 8.
    Back,
    /// Button 9.
    Forward,
}

impl Button {
    fn x_button(self) -> u8 {
        match self {
            Self::Left => 1,
            Self::Middle => 2,
            Self::Right => 3,
            Self::Back => 8,
            Self::Forward => 9,
        }
    }
}

/// The lock keys a client reports (RustDesk lists CapsLock/NumLock among a key event's
/// modifiers when they are on); `None` leaves a lock as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockState {
    /// Caps Lock on or off.
    pub caps: Option<bool>,
    /// Num Lock on or off.
    pub num: Option<bool>,
}

/// At most this many wheel clicks are injected per call, whatever the client asks for.
const MAX_WHEEL_CLICKS: u32 = 50;

/// Injects pointer and keyboard input with XTEST. See the module documentation.
#[derive(Debug)]
pub struct Injector {
    x: Connection,
    keymap: Keymap,
    xkb: bool,
    /// Keycodes and buttons we pressed and have not released, oldest first.
    keys_down: Vec<u8>,
    buttons_down: Vec<u8>,
    /// Keycodes borrowed for keysyms the layout lacks, least recently used first.
    remapped: VecDeque<(u8, u32)>,
}

/// The keyboard state the injector acts on.
#[derive(Debug, Clone, Copy)]
struct KeyState {
    mods: u16,
    locked: u16,
    latched: u16,
    group: u8,
}

impl Injector {
    /// Connects and loads the keymap. Needs XTEST; uses XKB for the keyboard state when present.
    pub fn new(options: &ConnectOptions) -> Result<Self, Error> {
        let x = Connection::open(options)?;
        if !x.has_extension(xtest::X11_EXTENSION_NAME)? {
            return Err(Error::MissingExtension {
                name: "XTEST 2.2",
                needed_for: "input injection",
            });
        }
        x.conn
            .xtest_get_version(2, 2)
            .ctx("XTestGetVersion")?
            .reply()
            .ctx("XTestGetVersion")?;
        let xkb = x.has_extension(xkb::X11_EXTENSION_NAME)?
            && x.conn
                .xkb_use_extension(1, 0)
                .ctx("XkbUseExtension")?
                .reply()
                .ctx("XkbUseExtension")?
                .supported;
        if xkb {
            // An XKB client gets no core MappingNotify: ask for XKB's own notifications.
            let parts =
                xkb::MapPart::KEY_TYPES | xkb::MapPart::KEY_SYMS | xkb::MapPart::MODIFIER_MAP;
            x.conn
                .xkb_select_events(
                    xkb::ID::USE_CORE_KBD.into(),
                    xkb::EventType::from(0u16),
                    xkb::EventType::MAP_NOTIFY | xkb::EventType::NEW_KEYBOARD_NOTIFY,
                    parts,
                    parts,
                    &xkb::SelectEventsAux::new(),
                )
                .ctx("XkbSelectEvents")?;
        }
        let keymap = load_keymap(&x)?;
        Ok(Self {
            x,
            keymap,
            xkb,
            keys_down: Vec::new(),
            buttons_down: Vec::new(),
            remapped: VecDeque::new(),
        })
    }

    /// Moves the pointer to (`x`, `y`) in root coordinates (use
    /// [`Monitor::to_global`](super::Monitor::to_global) for a monitor's coordinates).
    pub fn move_to(&mut self, x: i32, y: i32) -> Result<(), Error> {
        let clamp = |v: i32| i16::try_from(v.clamp(0, i32::from(i16::MAX))).unwrap_or(0);
        self.fake(xproto::MOTION_NOTIFY_EVENT, 0, clamp(x), clamp(y))?;
        self.x.flush()
    }

    /// Moves the pointer by (`dx`, `dy`).
    pub fn move_by(&mut self, dx: i32, dy: i32) -> Result<(), Error> {
        let clamp = |v: i32| i16::try_from(v.clamp(-10_000, 10_000)).unwrap_or(0);
        self.fake(xproto::MOTION_NOTIFY_EVENT, 1, clamp(dx), clamp(dy))?;
        self.x.flush()
    }

    /// Presses or releases a button where the pointer is.
    pub fn button(&mut self, button: Button, down: bool) -> Result<(), Error> {
        let b = button.x_button();
        self.button_raw(b, down)?;
        self.x.flush()
    }

    /// Scrolls by whole clicks with RustDesk's signs: positive `dy` scrolls up (button 4),
    /// negative down (5); positive `dx` scrolls left (6), negative right (7). At most 50 clicks
    /// per direction per call.
    pub fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), Error> {
        for (amount, positive, negative) in [(dy, 4, 5), (dx, 6, 7)] {
            let button = if amount > 0 { positive } else { negative };
            for _ in 0..amount.unsigned_abs().min(MAX_WHEEL_CLICKS) {
                self.button_raw(button, true)?;
                self.button_raw(button, false)?;
            }
        }
        self.x.flush()
    }

    /// Map mode: presses or releases the X keycode `keycode` as it is.
    pub fn keycode(&mut self, keycode: u32, down: bool) -> Result<(), Error> {
        self.refresh()?;
        let code = u8::try_from(keycode)
            .ok()
            .filter(|&k| k >= self.keymap.min() && k <= self.keymap.max())
            .ok_or(Error::InvalidKeycode(keycode))?;
        self.key_raw(code, down)?;
        self.x.flush()
    }

    /// Legacy mode, named keys: presses or releases the key for a RustDesk `ControlKey` value.
    /// Values with no key (see [`control_key_keysyms`]) are ignored.
    pub fn control_key(&mut self, value: i32, down: bool) -> Result<(), Error> {
        let candidates = control_key_keysyms(value);
        let Some(&first) = candidates.first() else {
            return Ok(());
        };
        self.refresh()?;
        let group = self.state()?.group;
        let found = candidates
            .iter()
            .find_map(|&s| self.keymap.find(s, group).map(|p| p.keycode));
        let keycode = match found {
            Some(k) => k,
            None => self.remap(first)?,
        };
        self.key_raw(keycode, down)?;
        self.x.flush()
    }

    /// Presses or releases the key of `keysym` without touching the shift level (for keys
    /// held down, such as modifiers); a keysym the layout lacks goes on a spare keycode.
    pub fn keysym(&mut self, keysym: u32, down: bool) -> Result<(), Error> {
        self.refresh()?;
        let group = self.state()?.group;
        let keycode = match self.keymap.find(keysym, group) {
            Some(p) => p.keycode,
            None => self.remap(keysym)?,
        };
        self.key_raw(keycode, down)?;
        self.x.flush()
    }

    /// Types one character (legacy mode `chr`/`unicode`, translate mode text): the key is
    /// pressed and released with exactly the Shift and AltGr state its level needs; held Control,
    /// Alt and Super stay held. Characters no key can type (other control characters) are skipped.
    pub fn type_char(&mut self, c: char) -> Result<(), Error> {
        self.refresh()?;
        if let Some(keysym) = keysym_for_char(c) {
            self.type_keysym(keysym)?;
        }
        self.x.flush()
    }

    /// Types a text (translate mode `seq`) character by character.
    pub fn type_text(&mut self, text: &str) -> Result<(), Error> {
        self.refresh()?;
        for c in text.chars() {
            if let Some(keysym) = keysym_for_char(c) {
                self.type_keysym(keysym)?;
            }
        }
        self.x.flush()
    }

    /// Brings Caps Lock and Num Lock in step with the client's, by tapping the lock keys.
    pub fn sync_locks(&mut self, locks: LockState) -> Result<(), Error> {
        self.refresh()?;
        let state = self.state()?;
        let num_mask = self
            .keymap
            .modifier_key(sym::NUM_LOCK)
            .map_or(0, |(_, index)| 1u16 << index);
        for (want, mask, keysym) in [
            (locks.caps, u16::from(ModMask::LOCK), sym::CAPS_LOCK),
            (locks.num, num_mask, sym::NUM_LOCK),
        ] {
            if let Some(want) = want
                && mask != 0
                && (state.locked & mask != 0) != want
                && let Some(p) = self.keymap.find(keysym, state.group)
            {
                self.fake(xproto::KEY_PRESS_EVENT, p.keycode, 0, 0)?;
                self.fake(xproto::KEY_RELEASE_EVENT, p.keycode, 0, 0)?;
            }
        }
        self.x.flush()
    }

    /// Releases every key and button this injector pressed, clears latched modifiers, and gives
    /// borrowed keycodes back their (empty) mapping.
    pub fn release_all(&mut self) -> Result<(), Error> {
        while let Some(b) = self.buttons_down.pop() {
            self.fake(xproto::BUTTON_RELEASE_EVENT, b, 0, 0)?;
        }
        while let Some(k) = self.keys_down.pop() {
            self.fake(xproto::KEY_RELEASE_EVENT, k, 0, 0)?;
        }
        if self.xkb && self.state()?.latched != 0 {
            self.x
                .conn
                .xkb_latch_lock_state(
                    xkb::ID::USE_CORE_KBD.into(),
                    ModMask::from(0u16),
                    ModMask::from(0u16),
                    false,
                    xkb::Group::M1,
                    ModMask::ANY,
                    false,
                    0,
                )
                .ctx("XkbLatchLockState")?;
        }
        let per = self.keymap.per();
        for (keycode, _) in self.remapped.drain(..) {
            let empty = vec![sym::NO_SYMBOL; usize::from(per)];
            self.x
                .conn
                .change_keyboard_mapping(1, keycode, per, &empty)
                .ctx("ChangeKeyboardMapping")?;
        }
        self.sync()
    }

    /// Waits until the server has acted on everything sent so far (the other methods only
    /// flush), e.g. before another client looks at the result.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.x
            .conn
            .get_input_focus()
            .ctx("GetInputFocus")?
            .reply()
            .ctx("GetInputFocus")?;
        Ok(())
    }

    /// Types `keysym` with the shift level its key needs.
    fn type_keysym(&mut self, keysym: u32) -> Result<(), Error> {
        let state = self.state()?;
        let (keycode, level) = match self.keymap.find(keysym, state.group) {
            Some(p) => (p.keycode, p.level),
            None => (self.remap(keysym)?, 0),
        };
        let caps =
            state.locked & u16::from(ModMask::LOCK) != 0 && self.keymap.is_alphabetic(keycode);
        let want_shift = (level & 1 == 1) != (caps && level < 2);
        let want_level3 = level >= 2;
        let down = self.pressed_keycodes()?;
        let mut pressed = Vec::new();
        let mut lifted = Vec::new();
        let shift = self
            .keymap
            .modifier_key(sym::SHIFT_L)
            .or_else(|| self.keymap.modifier_key(sym::SHIFT_R));
        let level3 = self.keymap.modifier_key(sym::ISO_LEVEL3_SHIFT);
        for (want, modifier) in [(want_shift, shift), (want_level3, level3)] {
            let Some((key, index)) = modifier else {
                continue;
            };
            let active = state.mods & (1 << index) != 0;
            if want && !active {
                pressed.push(key);
            } else if !want && active {
                lifted.extend(
                    self.keymap
                        .modifier_keys(index)
                        .iter()
                        .filter(|&&k| down[usize::from(k)]),
                );
            }
        }
        if want_level3 && level3.is_none() {
            // No AltGr key on this layout: type the keysym from a spare keycode instead.
            let spare = self.remap(keysym)?;
            return self.tap_with(spare, &[], &lifted);
        }
        self.tap_with(keycode, &pressed, &lifted)
    }

    /// Lifts `lifted`, presses `pressed`, taps `keycode`, and undoes both in reverse.
    fn tap_with(&mut self, keycode: u8, pressed: &[u8], lifted: &[u8]) -> Result<(), Error> {
        for &k in lifted {
            self.fake(xproto::KEY_RELEASE_EVENT, k, 0, 0)?;
        }
        for &k in pressed {
            self.fake(xproto::KEY_PRESS_EVENT, k, 0, 0)?;
        }
        self.fake(xproto::KEY_PRESS_EVENT, keycode, 0, 0)?;
        self.fake(xproto::KEY_RELEASE_EVENT, keycode, 0, 0)?;
        for &k in pressed.iter().rev() {
            self.fake(xproto::KEY_RELEASE_EVENT, k, 0, 0)?;
        }
        for &k in lifted.iter().rev() {
            self.fake(xproto::KEY_PRESS_EVENT, k, 0, 0)?;
        }
        Ok(())
    }

    /// Puts `keysym` on a spare keycode (reusing one that already has it), evicting the least
    /// recently used borrowed keycode when none is free.
    fn remap(&mut self, keysym: u32) -> Result<u8, Error> {
        if let Some(i) = self.remapped.iter().position(|&(_, s)| s == keysym) {
            let entry = self.remapped.remove(i).unwrap_or((0, keysym));
            self.remapped.push_back(entry);
            return Ok(entry.0);
        }
        let borrowed: Vec<u8> = self.remapped.iter().map(|&(k, _)| k).collect();
        let free = self
            .keymap
            .spare_keycodes()
            .into_iter()
            .find(|k| !borrowed.contains(k) && !self.keys_down.contains(k));
        let keycode = match free {
            Some(k) => k,
            None => {
                let i = self
                    .remapped
                    .iter()
                    .position(|(k, _)| !self.keys_down.contains(k))
                    .ok_or(Error::NoSpareKeycode(keysym))?;
                self.remapped.remove(i).map_or(0, |(k, _)| k)
            }
        };
        let per = usize::from(self.keymap.per()).max(2);
        let mut syms = vec![sym::NO_SYMBOL; per];
        syms[0] = keysym;
        syms[1] = keysym;
        self.x
            .conn
            .change_keyboard_mapping(1, keycode, u8::try_from(per).unwrap_or(2), &syms)
            .ctx("ChangeKeyboardMapping")?;
        self.remapped.push_back((keycode, keysym));
        Ok(keycode)
    }

    fn key_raw(&mut self, keycode: u8, down: bool) -> Result<(), Error> {
        if down {
            self.fake(xproto::KEY_PRESS_EVENT, keycode, 0, 0)?;
            if !self.keys_down.contains(&keycode) {
                self.keys_down.push(keycode);
            }
        } else {
            self.fake(xproto::KEY_RELEASE_EVENT, keycode, 0, 0)?;
            self.keys_down.retain(|&k| k != keycode);
        }
        Ok(())
    }

    fn button_raw(&mut self, button: u8, down: bool) -> Result<(), Error> {
        if down {
            self.fake(xproto::BUTTON_PRESS_EVENT, button, 0, 0)?;
            if !(4..=7).contains(&button) && !self.buttons_down.contains(&button) {
                self.buttons_down.push(button);
            }
        } else {
            self.fake(xproto::BUTTON_RELEASE_EVENT, button, 0, 0)?;
            self.buttons_down.retain(|&b| b != button);
        }
        Ok(())
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), Error> {
        self.x
            .conn
            .xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.x.root(), x, y, 0)
            .ctx("XTestFakeInput")?;
        Ok(())
    }

    /// Reloads the keymap when another client changed it; forgets borrowed keycodes that no
    /// longer carry our keysym (a new layout replaced them).
    fn refresh(&mut self) -> Result<(), Error> {
        let mut changed = false;
        while let Some(event) = self.x.poll_event()? {
            changed |= match event {
                Event::MappingNotify(e) => e.request != Mapping::POINTER,
                Event::XkbMapNotify(_) | Event::XkbNewKeyboardNotify(_) => true,
                _ => false,
            };
        }
        if changed {
            self.keymap = load_keymap(&self.x)?;
            let keymap = &self.keymap;
            self.remapped
                .retain(|&(k, s)| keymap.syms(k).first() == Some(&s));
        }
        Ok(())
    }

    fn state(&self) -> Result<KeyState, Error> {
        if self.xkb {
            let s = self
                .x
                .conn
                .xkb_get_state(xkb::ID::USE_CORE_KBD.into())
                .ctx("XkbGetState")?
                .reply()
                .ctx("XkbGetState")?;
            return Ok(KeyState {
                mods: s.mods.into(),
                locked: s.locked_mods.into(),
                latched: s.latched_mods.into(),
                group: u8::from(s.group),
            });
        }
        let p = self
            .x
            .conn
            .query_pointer(self.x.root())
            .ctx("QueryPointer")?
            .reply()
            .ctx("QueryPointer")?;
        let mask = u16::from(p.mask) & 0xff;
        Ok(KeyState {
            mods: mask,
            locked: mask & u16::from(ModMask::LOCK),
            latched: 0,
            group: 0,
        })
    }

    /// Which keycodes are down now, indexed by keycode.
    fn pressed_keycodes(&self) -> Result<[bool; 256], Error> {
        let reply = self
            .x
            .conn
            .query_keymap()
            .ctx("QueryKeymap")?
            .reply()
            .ctx("QueryKeymap")?;
        let mut down = [false; 256];
        for (i, d) in down.iter_mut().enumerate() {
            *d = reply.keys[i / 8] & (1 << (i % 8)) != 0;
        }
        Ok(down)
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        if let Err(e) = self.release_all() {
            tracing::debug!(error = %e, "releasing injected input on drop failed");
        }
    }
}

fn load_keymap(x: &Connection) -> Result<Keymap, Error> {
    let setup = x.conn.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let map = x
        .conn
        .get_keyboard_mapping(min, max - min + 1)
        .ctx("GetKeyboardMapping")?
        .reply()
        .ctx("GetKeyboardMapping")?;
    let modifiers = x
        .conn
        .get_modifier_mapping()
        .ctx("GetModifierMapping")?
        .reply()
        .ctx("GetModifierMapping")?;
    Keymap::new(
        min,
        max,
        map.keysyms_per_keycode,
        map.keysyms,
        &modifiers.keycodes,
    )
    .ok_or_else(|| Error::odd("GetKeyboardMapping", "tables of inconsistent sizes"))
}
