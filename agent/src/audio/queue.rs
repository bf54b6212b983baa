//! The bounded queue between the capture thread and the consumer: when it is full the oldest
//! frame goes, so a consumer that falls behind resumes with recent audio and the delay never grows
//! past the queue's length.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{AudioError, AudioFrame};

/// Why no frame came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// Capture ended with an error, e.g. the sound server went away.
    #[error("audio capture failed: {0}")]
    Failed(AudioError),
    /// Capture was stopped and every frame has been taken.
    #[error("audio capture stopped")]
    Stopped,
}

/// Counters of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Frames waiting now.
    pub len: usize,
    /// The most frames that may wait.
    pub capacity: usize,
    /// The most frames that ever waited at once.
    pub high_water: usize,
    /// Frames discarded because the consumer fell behind.
    pub dropped: u64,
}

/// The receiving end: frames in capture order, the oldest dropped when the consumer falls behind.
///
/// Clones share one queue (each frame goes to one of them). Blocking and async receiving both
/// work; the capture thread never waits on a receiver.
#[derive(Debug, Clone)]
pub struct Frames {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    notify: Notify,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<AudioFrame>,
    capacity: usize,
    high_water: usize,
    dropped: u64,
    end: Option<RecvError>,
}

impl Frames {
    /// Waits for the next frame.
    pub fn recv(&self) -> Result<AudioFrame, RecvError> {
        let mut state = self.shared.lock();
        loop {
            if let Some(frame) = state.take()? {
                return Ok(frame);
            }
            state = self
                .shared
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits up to `timeout` for the next frame; `Ok(None)` when none came in time.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<AudioFrame>, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(frame) = state.take()? {
                return Ok(Some(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            state = self
                .shared
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The next frame if one is waiting.
    pub fn try_recv(&self) -> Result<Option<AudioFrame>, RecvError> {
        self.shared.lock().take()
    }

    /// Waits asynchronously for the next frame.
    pub async fn recv_async(&self) -> Result<AudioFrame, RecvError> {
        loop {
            // Register interest before looking, so a frame pushed in between is not missed.
            let notified = self.shared.notify.notified();
            if let Some(frame) = self.try_recv()? {
                return Ok(frame);
            }
            notified.await;
        }
    }

    /// The queue's counters now.
    pub fn stats(&self) -> QueueStats {
        let state = self.shared.lock();
        QueueStats {
            len: state.frames.len(),
            capacity: state.capacity,
            high_water: state.high_water,
            dropped: state.dropped,
        }
    }
}

impl State {
    /// The oldest frame; once the queue is empty, the reason capture ended if it has.
    fn take(&mut self) -> Result<Option<AudioFrame>, RecvError> {
        match (self.frames.pop_front(), &self.end) {
            (Some(frame), _) => Ok(Some(frame)),
            (None, Some(end)) => Err(end.clone()),
            (None, None) => Ok(None),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        self.ready.notify_all();
        self.notify.notify_waiters();
        self.notify.notify_one();
    }
}

/// The capture thread's end. Dropping it without [`close`](Self::close) tells the receivers that
/// capture ended unexpectedly.
#[derive(Debug)]
pub(crate) struct Sender {
    shared: Arc<Shared>,
}

/// A sender and its receiver around a queue of at most `capacity` frames (at least one).
pub(crate) fn channel(capacity: usize) -> (Sender, Frames) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::with_capacity(capacity),
            capacity,
            high_water: 0,
            dropped: 0,
            end: None,
        }),
        ready: Condvar::new(),
        notify: Notify::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Frames { shared },
    )
}

impl Sender {
    /// Queues `frame`, dropping the oldest one when the queue is full.
    pub(crate) fn push(&self, frame: AudioFrame) {
        let mut state = self.shared.lock();
        if state.frames.len() == state.capacity {
            state.frames.pop_front();
            state.dropped += 1;
        }
        state.frames.push_back(frame);
        state.high_water = state.high_water.max(state.frames.len());
        drop(state);
        // One waiter is enough for a frame; `close` wakes them all.
        self.shared.ready.notify_one();
        self.shared.notify.notify_one();
    }

    /// Ends the stream: receivers take what is queued, then get `end`.
    pub(crate) fn close(self, end: RecvError) {
        self.finish(end);
    }

    fn finish(&self, end: RecvError) {
        let mut state = self.shared.lock();
        if state.end.is_none() {
            state.end = Some(end);
        }
        drop(state);
        self.shared.wake();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.finish(RecvError::Failed(AudioError::Internal {
            detail: "the capture thread ended without saying why".into(),
        }));
    }
}

#[cfg(test)]
mod tests;
