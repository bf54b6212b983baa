//! The X11 platform layer (placeholder until it lands).
