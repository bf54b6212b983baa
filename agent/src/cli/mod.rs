//! Command-line subcommands.

pub mod lxc_config;
pub mod service;
pub mod settings;
