//! A one-place mailbox between the capture thread and a viewer's writer task.
//!
//! The capture thread never queues behind a slow viewer: it offers a frame only when the slot is
//! empty (the previous frame has been taken for writing), and otherwise lets damage accumulate so
//! the next capture shows the latest screen. Values that may simply be superseded (cursor
//! positions) use [`Slot::replace`] instead. The writer side waits asynchronously.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// A mailbox holding at most one value.
#[derive(Debug, Default)]
pub struct Slot<T> {
    state: Mutex<State<T>>,
    notify: Notify,
}

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    closed: bool,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        Self {
            value: None,
            closed: false,
        }
    }
}

/// Why [`Slot::offer`] refused a value; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    /// The previous value has not been taken yet.
    Full(T),
    /// The receiving side is gone.
    Closed(T),
}

impl<T> Slot<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
        }
    }

    /// Puts `value` in the slot if it is empty and open.
    pub fn offer(&self, value: T) -> Result<(), Refused<T>> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed(value));
        }
        if state.value.is_some() {
            return Err(Refused::Full(value));
        }
        state.value = Some(value);
        drop(state);
        self.notify.notify_one();
        Ok(())
    }

    /// Puts `value` in the slot, handing back the value it displaced (latest wins).
    /// Returns `Err(value)` when the slot is closed.
    pub fn replace(&self, value: T) -> Result<Option<T>, T> {
        let mut state = self.lock();
        if state.closed {
            return Err(value);
        }
        let old = state.value.replace(value);
        drop(state);
        self.notify.notify_one();
        Ok(old)
    }

    /// True when a value waits to be taken.
    pub fn is_full(&self) -> bool {
        self.lock().value.is_some()
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes the value without waiting.
    pub fn try_take(&self) -> Option<T> {
        self.lock().value.take()
    }

    /// Waits for a value; `None` once the slot is closed and empty.
    pub async fn take(&self) -> Option<T> {
        loop {
            // Register interest before checking, so a value offered in between is not missed.
            let notified = self.notify.notified();
            {
                let mut state = self.lock();
                if let Some(v) = state.value.take() {
                    return Some(v);
                }
                if state.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Closes the slot: offers fail from now on, and a waiting `take` returns what is left.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state is two plain fields, valid after any panic; poisoning carries no meaning.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn offer_refuses_when_full_and_replace_supersedes() {
        let slot = Slot::new();
        assert_eq!(slot.offer(1), Ok(()));
        assert_eq!(slot.offer(2), Err(Refused::Full(2)));
        assert!(slot.is_full());
        assert_eq!(slot.replace(3), Ok(Some(1)));
        assert_eq!(slot.try_take(), Some(3));
        assert_eq!(slot.try_take(), None);
        slot.close();
        assert_eq!(slot.offer(4), Err(Refused::Closed(4)));
        assert_eq!(slot.replace(5), Err(5));
    }

    #[tokio::test]
    async fn take_waits_for_a_value_from_another_thread() {
        let slot = Arc::new(Slot::new());
        let producer = Arc::clone(&slot);
        let thread = std::thread::spawn(move || {
            for i in 0..100 {
                // Latest-frame-wins: the producer retries until the consumer took the last one.
                let mut v = i;
                while let Err(Refused::Full(back)) = producer.offer(v) {
                    v = back;
                    std::thread::yield_now();
                }
            }
            producer.close();
        });
        let mut seen = Vec::new();
        while let Some(v) = slot.take().await {
            seen.push(v);
        }
        thread.join().unwrap();
        assert_eq!(
            seen,
            (0..100).collect::<Vec<_>>(),
            "offer never drops or reorders"
        );
    }

    #[tokio::test]
    async fn close_wakes_a_waiting_taker() {
        let slot = Arc::new(Slot::<u8>::new());
        let waiter = tokio::spawn({
            let slot = Arc::clone(&slot);
            async move { slot.take().await }
        });
        tokio::task::yield_now().await;
        slot.close();
        assert_eq!(waiter.await.unwrap(), None);
    }
}
