//! The agent's rendezvous machine under arbitrary datagrams and timer ticks.

#![no_main]

use std::time::{Duration, Instant};

use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::rendezvous::agent::{Mediator, MediatorConfig};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    // The fuzzer has no clock; one base instant is enough.
    let mut now = Instant::now();
    let key = IdentityKey::from_seed(&[1; 32]);
    let config = MediatorConfig::new("123456789", b"uuid", key.public_key(), "hbbs.test", "1.4.9");
    let mut mediator = Mediator::new(config, rand::rngs::StdRng::seed_from_u64(3), now);
    // Records: [advance in 10 ms units] [length] [datagram bytes].
    let mut rest = data;
    while let [advance, len, tail @ ..] = rest {
        now += Duration::from_millis(u64::from(*advance) * 10);
        if mediator.poll_timeout().is_some_and(|t| t <= now) {
            mediator.handle_timeout(now);
        }
        let len = usize::from(*len).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        let _ = mediator.handle_datagram(now, datagram);
        let mut transmits = 0;
        while mediator.poll_transmit().is_some() {
            transmits += 1;
        }
        assert!(
            transmits <= 8,
            "one input never triggers a burst of datagrams"
        );
        while mediator.poll_event().is_some() {}
        rest = tail;
    }
});
