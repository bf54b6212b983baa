//! RustDesk's `ControlKey` values (legacy keyboard mode) and the X keysyms that type them.

use xkeysym::key as k;

/// The keysyms for a RustDesk `ControlKey` value, best first: the injector uses the first one
/// the current layout has (e.g. right Alt is `Alt_R` on a US layout and `ISO_Level3_Shift` on a
/// German one). Empty for keys with no X equivalent (`Final`) and for the two actions that are
/// no keys (`CtrlAltDel` = 100, `LockScreen` = 101) or unknown values.
pub fn control_key_keysyms(value: i32) -> &'static [u32] {
    match value {
        1 | 24 | 45 => &[k::Alt_L],
        2 => &[k::BackSpace],
        3 => &[k::Caps_Lock],
        4 => &[k::Control_L],
        5 => &[k::Delete],
        6 => &[k::Down],
        7 => &[k::End],
        8 => &[k::Escape],
        9 => &[k::F1],
        10 => &[k::F10],
        11 => &[k::F11],
        12 => &[k::F12],
        13 => &[k::F2],
        14 => &[k::F3],
        15 => &[k::F4],
        16 => &[k::F5],
        17 => &[k::F6],
        18 => &[k::F7],
        19 => &[k::F8],
        20 => &[k::F9],
        21 => &[k::Home],
        22 => &[k::Left],
        23 => &[k::Super_L, k::Meta_L],
        25 => &[k::Next],
        26 => &[k::Prior],
        27 => &[k::Return],
        28 => &[k::Right],
        29 => &[k::Shift_L],
        30 => &[k::space],
        31 => &[k::Tab],
        32 => &[k::Up],
        33 => &[k::KP_0],
        34 => &[k::KP_1],
        35 => &[k::KP_2],
        36 => &[k::KP_3],
        37 => &[k::KP_4],
        38 => &[k::KP_5],
        39 => &[k::KP_6],
        40 => &[k::KP_7],
        41 => &[k::KP_8],
        42 => &[k::KP_9],
        43 => &[k::Cancel],
        44 => &[k::Clear],
        46 => &[k::Pause],
        47 => &[k::Hiragana_Katakana, k::Katakana],
        48 => &[k::Hangul],
        49 => &[k::Hangul_Jeonja],
        51 => &[k::Hangul_Hanja],
        52 => &[k::Kanji],
        53 => &[k::Henkan],
        54 => &[k::Select],
        55 | 57 => &[k::Print],
        56 => &[k::Execute],
        58 => &[k::Insert],
        59 => &[k::Help],
        60 => &[k::XF86_Sleep],
        61 => &[k::KP_Separator],
        62 => &[k::Scroll_Lock],
        63 => &[k::Num_Lock],
        64 => &[k::Super_R, k::Super_L],
        65 => &[k::Menu],
        66 => &[k::KP_Multiply],
        67 => &[k::KP_Add],
        68 => &[k::KP_Subtract],
        69 => &[k::KP_Decimal],
        70 => &[k::KP_Divide],
        71 => &[k::KP_Equal],
        72 => &[k::KP_Enter],
        73 => &[k::Shift_R, k::Shift_L],
        74 => &[k::Control_R, k::Control_L],
        75 => &[k::Alt_R, k::ISO_Level3_Shift, k::Alt_L],
        76 => &[k::XF86_AudioMute],
        77 => &[k::XF86_AudioRaiseVolume],
        78 => &[k::XF86_AudioLowerVolume],
        79 => &[k::XF86_PowerOff],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_key_but_final_has_a_keysym() {
        for value in 1..=79 {
            let syms = control_key_keysyms(value);
            assert_eq!(syms.is_empty(), value == 50, "ControlKey {value}");
        }
        assert!(control_key_keysyms(0).is_empty());
        assert!(control_key_keysyms(100).is_empty());
        assert!(control_key_keysyms(101).is_empty());
    }

    #[test]
    fn names_match_the_keysym_names() {
        let name = |v| xkeysym::Keysym::new(control_key_keysyms(v)[0]).name();
        assert_eq!(name(25), Some("XK_Next"));
        assert_eq!(name(42), Some("XK_KP_9"));
        assert_eq!(name(57), Some("XK_Print"));
        assert_eq!(name(75), Some("XK_Alt_R"));
    }
}
