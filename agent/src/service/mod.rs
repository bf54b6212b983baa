//! Running as a service: configuration, systemd notification.

pub mod config;
