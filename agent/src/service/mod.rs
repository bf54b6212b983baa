//! Running as a service: configuration, systemd notification.

pub mod notify;
pub mod unit;
