//! deskcast's one integration test binary: end-to-end tests over a real Xvfb and loopback sockets.

mod audio;
mod doctor;
mod e2e;
mod encode_stream;
mod pipeline;
mod probe;
mod x11;
