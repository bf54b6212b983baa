//! Nothing lives here: the root package exists to hold `tests/it` and `benches/`.
