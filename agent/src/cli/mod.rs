//! Command-line subcommands.

pub mod lxc_config;
pub mod run;
pub mod service;
pub mod settings;
