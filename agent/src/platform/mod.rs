//! Operating-system interfaces: the X11 display (capture, damage, cursor, input, clipboard).

pub mod socket;
pub mod x11;
