//! Compiles the `.proto` files in `proto/` into Rust with prost, parsing them with protox so
//! no `protoc` binary is needed.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/message.proto", "proto/rendezvous.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, [Path::new("proto")])?;
    prost_build::Config::new()
        // Video payloads are written in place by `message::video`; everything else is small.
        .compile_fds(descriptors)?;
    Ok(())
}
