//! Running as a service: configuration, systemd notification.

pub mod config;
pub mod notify;
pub mod unit;
