//! The core keyboard mapping as data: which key and shift level produce a keysym, which keys
//! are modifiers, which keycodes are spare. No I/O; the injector fetches the tables.
//!
//! Servers with XKB present group 1 in columns 0, 1 (levels 1–2) and 4, 5 (levels 3–4) of the
//! core mapping, and group 2 in columns 2, 3 (levels 1–2).

/// Keysyms this module refers to by value.
pub(crate) mod sym {
    pub(crate) const NO_SYMBOL: u32 = 0;
    pub(crate) const SHIFT_L: u32 = 0xffe1;
    pub(crate) const SHIFT_R: u32 = 0xffe2;
    pub(crate) const CAPS_LOCK: u32 = 0xffe5;
    pub(crate) const NUM_LOCK: u32 = 0xff7f;
    pub(crate) const ISO_LEVEL3_SHIFT: u32 = 0xfe03;
}

/// A snapshot of the keyboard mapping and the modifier mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keymap {
    min: u8,
    max: u8,
    per: usize,
    syms: Vec<u32>,
    /// For each of the eight modifiers, the keycodes that set it.
    modifiers: [Vec<u8>; 8],
}

/// Where a keysym is: the key and the shift level (0–3) of the current group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) keycode: u8,
    pub(crate) level: u8,
}

impl Keymap {
    /// Builds the model from `GetKeyboardMapping` (all keycodes from `min`) and
    /// `GetModifierMapping` replies. Returns `None` when the tables disagree in size.
    pub(crate) fn new(
        min: u8,
        max: u8,
        per: u8,
        syms: Vec<u32>,
        modifier_keycodes: &[u8],
    ) -> Option<Self> {
        let per = usize::from(per);
        let count = usize::from(max.checked_sub(min)?) + 1;
        if per == 0 || syms.len() != count * per || !modifier_keycodes.len().is_multiple_of(8) {
            return None;
        }
        let per_modifier = modifier_keycodes.len() / 8;
        let mut modifiers: [Vec<u8>; 8] = Default::default();
        for (i, keys) in modifiers.iter_mut().enumerate() {
            let row = modifier_keycodes.get(i * per_modifier..(i + 1) * per_modifier)?;
            keys.extend(row.iter().copied().filter(|&k| k != 0));
        }
        Some(Self {
            min,
            max,
            per,
            syms,
            modifiers,
        })
    }

    /// The smallest keycode.
    pub(crate) fn min(&self) -> u8 {
        self.min
    }

    /// The largest keycode.
    pub(crate) fn max(&self) -> u8 {
        self.max
    }

    /// The keysyms of a key (empty outside the range).
    pub(crate) fn syms(&self, keycode: u8) -> &[u32] {
        if keycode < self.min || keycode > self.max {
            return &[];
        }
        let start = usize::from(keycode - self.min) * self.per;
        &self.syms[start..start + self.per]
    }

    /// The keysym at `level` (0–3) of `group` (0 or 1), following the core rule that an empty
    /// second column repeats the first.
    fn sym_at(&self, keycode: u8, group: u8, level: u8) -> u32 {
        let syms = self.syms(keycode);
        let column = match (group, level) {
            (0, 0) => 0,
            (0, 1) => 1,
            (0, 2) => 4,
            (0, 3) => 5,
            (1, 0) => 2,
            (1, 1) => 3,
            _ => return sym::NO_SYMBOL,
        };
        let at = |c: usize| syms.get(c).copied().unwrap_or(sym::NO_SYMBOL);
        match at(column) {
            sym::NO_SYMBOL if column % 2 == 1 => at(column - 1),
            s => s,
        }
    }

    /// The key and level that produce `keysym` (or its Unicode twin) in `group`, preferring the
    /// lowest level, then keys that are no modifiers, then the lowest keycode.
    pub(crate) fn find(&self, keysym: u32, group: u8) -> Option<Position> {
        let twin = unicode_twin(keysym);
        let levels: &[u8] = if group == 0 { &[0, 1, 2, 3] } else { &[0, 1] };
        for &level in levels {
            let mut best: Option<u8> = None;
            for keycode in self.min..=self.max {
                let s = self.sym_at(keycode, group, level);
                if s == sym::NO_SYMBOL || (s != keysym && Some(s) != twin) {
                    continue;
                }
                let plain = self.modifier_of(keycode).is_none();
                match best {
                    Some(b) if self.modifier_of(b).is_none() || !plain => {}
                    _ => best = Some(keycode),
                }
            }
            if let Some(keycode) = best {
                return Some(Position { keycode, level });
            }
        }
        None
    }

    /// The modifier index (0–7) a key sets, if any.
    pub(crate) fn modifier_of(&self, keycode: u8) -> Option<usize> {
        self.modifiers
            .iter()
            .position(|keys| keys.contains(&keycode))
    }

    /// The keys that set modifier `index`.
    pub(crate) fn modifier_keys(&self, index: usize) -> &[u8] {
        self.modifiers.get(index).map_or(&[], Vec::as_slice)
    }

    /// A key that produces `keysym` at level 1 and sets a modifier, with that modifier's index:
    /// e.g. the Shift key, or the AltGr key (`ISO_Level3_Shift`, usually Mod5).
    pub(crate) fn modifier_key(&self, keysym: u32) -> Option<(u8, usize)> {
        (0..8).find_map(|index| {
            self.modifiers[index]
                .iter()
                .find(|&&k| self.syms(k).first() == Some(&keysym))
                .map(|&k| (k, index))
        })
    }

    /// True when level 2 of the key is the capital of level 1, so CapsLock shifts it.
    pub(crate) fn is_alphabetic(&self, keycode: u8) -> bool {
        let lower = xkeysym::Keysym::new(self.sym_at(keycode, 0, 0)).key_char();
        let upper = xkeysym::Keysym::new(self.sym_at(keycode, 0, 1)).key_char();
        match (lower, upper) {
            (Some(l), Some(u)) => l != u && l.is_lowercase() && l.to_uppercase().eq([u]),
            _ => false,
        }
    }

    /// Keycodes with no keysym at all: free to borrow for keysyms the layout lacks.
    pub(crate) fn spare_keycodes(&self) -> Vec<u8> {
        (self.min..=self.max)
            .filter(|&k| self.syms(k).iter().all(|&s| s == sym::NO_SYMBOL))
            .filter(|&k| self.modifier_of(k).is_none())
            .collect()
    }

    /// The number of keysyms per keycode.
    pub(crate) fn per(&self) -> u8 {
        u8::try_from(self.per).unwrap_or(u8::MAX)
    }
}

/// The other spelling of a keysym: legacy keysyms for characters have a Unicode twin
/// (`0x1000000 + code point`) and the other way round.
fn unicode_twin(keysym: u32) -> Option<u32> {
    let c = xkeysym::Keysym::new(keysym).key_char()?;
    if keysym >= 0x0100_0000 {
        let legacy = xkeysym::Keysym::from_char(c).raw();
        (legacy != keysym).then_some(legacy)
    } else if keysym > 0xff {
        Some(0x0100_0000 + c as u32)
    } else {
        None
    }
}

/// The keysym that types `c`: control characters map to their keys, everything else through
/// the Unicode tables. `None` for characters no key can type.
pub(crate) fn keysym_for_char(c: char) -> Option<u32> {
    match c {
        '\n' | '\r' => Some(0xff0d),
        '\t' => Some(0xff09),
        '\u{8}' => Some(0xff08),
        '\u{1b}' => Some(0xff1b),
        '\u{7f}' => Some(0xffff),
        c if c.is_control() => None,
        c => match xkeysym::Keysym::from_char(c).raw() {
            sym::NO_SYMBOL => None,
            s => Some(s),
        },
    }
}

#[cfg(test)]
mod tests;
