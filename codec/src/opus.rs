//! Opus audio encoder (placeholder until the audio wrapper lands).
