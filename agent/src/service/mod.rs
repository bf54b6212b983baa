//! Running as a service: configuration, systemd notification.
