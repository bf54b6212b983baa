//! Command-line subcommands.

pub mod lxc_config;
pub mod probe;
pub mod service;
pub mod settings;
