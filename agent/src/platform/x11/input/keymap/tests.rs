//! Tests of the keymap model on a small German-like table.

use super::*;

/// Keycodes 10..=15 with 7 keysyms each, in the column order an XKB server reports.
fn german() -> Keymap {
    let rows: [[u32; 7]; 6] = [
        // 10: q Q q Q at Greek_OMEGA at
        [0x71, 0x51, 0x71, 0x51, 0x40, 0x7d9, 0x40],
        // 11: e E e E EuroSign E e
        [0x65, 0x45, 0x65, 0x45, 0x20ac, 0x45, 0x20ac],
        // 12: 7 slash 7 slash braceleft seveneighths braceleft
        [0x37, 0x2f, 0x37, 0x2f, 0x7b, 0xac6, 0x7b],
        // 13: Shift_L
        [sym::SHIFT_L, 0, sym::SHIFT_L, 0, 0, 0, 0],
        // 14: ISO_Level3_Shift
        [sym::ISO_LEVEL3_SHIFT, 0, sym::ISO_LEVEL3_SHIFT, 0, 0, 0, 0],
        // 15: nothing
        [0; 7],
    ];
    let syms = rows.iter().flatten().copied().collect();
    // Shift, Lock, Control, Mod1..Mod5, two keycodes each: Shift = 13, Mod5 = 14.
    let mut modifiers = [0u8; 16];
    modifiers[0] = 13;
    modifiers[14] = 14;
    Keymap::new(10, 15, 7, syms, &modifiers).unwrap()
}

fn at(keycode: u8, level: u8) -> Option<Position> {
    Some(Position { keycode, level })
}

#[test]
fn levels_come_from_the_xkb_column_order() {
    let map = german();
    assert_eq!(map.find(0x71, 0), at(10, 0)); // q
    assert_eq!(map.find(0x51, 0), at(10, 1)); // Q
    assert_eq!(map.find(0x40, 0), at(10, 2)); // @ needs AltGr
    assert_eq!(map.find(0x7b, 0), at(12, 2)); // {
    assert_eq!(map.find(0x2f, 0), at(12, 1)); // /
    assert_eq!(map.find(0x23, 0), None); // # is on no key here
}

#[test]
fn unicode_keysyms_find_their_legacy_twin() {
    let map = german();
    assert_eq!(map.find(0x0100_20ac, 0), at(11, 2)); // U+20AC finds EuroSign
    assert_eq!(keysym_for_char('€'), Some(0x20ac));
    assert_eq!(keysym_for_char('@'), Some(0x40));
    assert_eq!(keysym_for_char('\n'), Some(0xff0d));
    assert_eq!(keysym_for_char('☃'), Some(0x0100_2603));
    assert_eq!(keysym_for_char('\u{7}'), None);
}

#[test]
fn the_second_group_uses_columns_two_and_three() {
    let map = german();
    assert_eq!(map.find(0x51, 1), at(10, 1));
    assert_eq!(map.find(0x40, 1), None);
}

#[test]
fn modifier_keys_and_spare_keycodes() {
    let map = german();
    assert_eq!(map.modifier_key(sym::SHIFT_L), Some((13, 0)));
    assert_eq!(map.modifier_key(sym::ISO_LEVEL3_SHIFT), Some((14, 7)));
    assert_eq!(map.modifier_keys(7), [14]);
    assert_eq!(map.spare_keycodes(), [15]);
    assert!(map.is_alphabetic(10));
    assert!(!map.is_alphabetic(12));
}

#[test]
fn inconsistent_tables_are_rejected() {
    assert!(Keymap::new(10, 15, 7, vec![0; 41], &[0; 16]).is_none());
    assert!(Keymap::new(10, 9, 7, vec![], &[0; 16]).is_none());
    assert!(Keymap::new(10, 15, 7, vec![0; 42], &[0; 15]).is_none());
}
