//! Command-line subcommands.

pub mod doctor;
pub mod encode_stream;
pub mod lxc_config;
pub mod probe;
pub mod run;
pub mod service;
pub mod settings;
