//! Command-line subcommands.

pub mod doctor;
pub mod lxc_config;
pub mod probe;
pub mod run;
pub mod service;
pub mod settings;
