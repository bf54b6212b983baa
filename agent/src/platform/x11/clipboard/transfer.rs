//! The state of selection transfers, free of I/O: text sent to a requestor in INCR chunks, and
//! text received from another owner, possibly in INCR chunks, never beyond a cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use x11rb::protocol::xproto::{Atom, Window};

/// Text we send to one requestor in chunks (ICCCM INCR), advanced by its property deletions.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) requestor: Window,
    pub(super) property: Atom,
    pub(super) kind: Atom,
    data: Arc<[u8]>,
    offset: usize,
    /// True once the empty closing chunk went out.
    done: bool,
    pub(super) last_activity: Instant,
}

impl Outgoing {
    pub(super) fn new(
        requestor: Window,
        property: Atom,
        kind: Atom,
        data: Arc<[u8]>,
        now: Instant,
    ) -> Self {
        Self {
            requestor,
            property,
            kind,
            data,
            offset: 0,
            done: false,
            last_activity: now,
        }
    }

    /// The total size announced in the INCR property.
    pub(super) fn len(&self) -> usize {
        self.data.len()
    }

    /// The next chunk to write after the requestor deleted the property: at most `chunk`
    /// bytes, an empty slice to close the transfer, `None` once closed.
    pub(super) fn next_chunk(&mut self, chunk: usize, now: Instant) -> Option<&[u8]> {
        if self.done {
            return None;
        }
        self.last_activity = now;
        let start = self.offset;
        let end = (start + chunk.max(1)).min(self.data.len());
        self.offset = end;
        if start == end {
            self.done = true;
        }
        Some(&self.data[start..end])
    }

    /// True once the closing chunk is out.
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// True when the requestor has not asked for more within `timeout`.
    pub(super) fn is_stale(&self, now: Instant, timeout: Duration) -> bool {
        now.duration_since(self.last_activity) > timeout
    }
}

/// Text we are receiving from another owner.
#[derive(Debug)]
pub(super) enum Incoming {
    /// We asked for `target` and wait for the owner's SelectionNotify.
    Requested { target: Atom, since: Instant },
    /// The owner sends INCR chunks of `kind`; `data` grows up to the cap, after which chunks
    /// are still drained (so the owner finishes) but dropped. `seen` counts every byte.
    Chunks {
        kind: Atom,
        data: Vec<u8>,
        seen: usize,
        since: Instant,
    },
}

impl Incoming {
    /// When the transfer last made progress.
    pub(super) fn since(&self) -> Instant {
        match self {
            Self::Requested { since, .. } | Self::Chunks { since, .. } => *since,
        }
    }
}

/// Latin-1 for the STRING target: characters beyond U+00FF become `?`.
pub(super) fn to_latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// Text from STRING (Latin-1) bytes.
pub(super) fn from_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_data_then_close_once() {
        let now = Instant::now();
        let data: Arc<[u8]> = (0..10u8).collect::<Vec<_>>().into();
        let mut out = Outgoing::new(1, 2, 3, data, now);
        let mut got = Vec::new();
        while let Some(chunk) = out.next_chunk(4, now) {
            if chunk.is_empty() {
                break;
            }
            got.extend_from_slice(chunk);
        }
        assert_eq!(got, (0..10u8).collect::<Vec<_>>());
        assert!(out.is_done());
        assert!(out.next_chunk(4, now).is_none());
    }

    #[test]
    fn stale_transfers_are_noticed() {
        let start = Instant::now();
        let out = Outgoing::new(1, 2, 3, Arc::from(&b"x"[..]), start);
        assert!(!out.is_stale(start + Duration::from_secs(1), Duration::from_secs(5)));
        assert!(out.is_stale(start + Duration::from_secs(6), Duration::from_secs(5)));
    }

    #[test]
    fn latin1_round_trips_and_replaces_the_rest() {
        assert_eq!(to_latin1("aé€"), b"a\xe9?");
        assert_eq!(from_latin1(b"a\xe9"), "aé");
    }
}
