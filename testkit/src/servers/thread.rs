//! A server's thread: one single-threaded tokio runtime running one future until told to stop.
//! Stopping drops the runtime, and with it every task and socket the server owns.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A running server thread; stops (and joins) on drop.
#[derive(Debug)]
pub(super) struct ServerThread {
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Runs the future `make` returns on a new thread named `name`. `make` is called inside
    /// the runtime, so it may turn std sockets into tokio ones.
    pub(super) fn spawn<F, Fut>(name: &str, make: F) -> io::Result<Self>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let join = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let server = make();
                    tokio::select! {
                        () = server => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels every task and closes every socket.
                drop(runtime);
            })?;
        Ok(Self {
            stop: Some(stop),
            join: Some(join),
        })
    }

    /// Stops the server and waits until its sockets are closed.
    pub(super) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(join) = self.join.take()
            && join.join().is_err()
        {
            tracing::warn!("a test server thread panicked");
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop();
    }
}
