//! `serve`'s log writer: stderr, written in batches by a background thread.
//!
//! `serve` logs a line per request. Written straight to stderr that is one write(2) per request,
//! a twentieth of a read's CPU under load (docs/PERFORMANCE.md, "Where the time goes"). Here a
//! line is appended to a shared buffer, and a thread writes whatever gathered every
//! [`GATHER`], so under load one write carries hundreds of lines. The thread is woken only when
//! a line lands in an empty buffer, never per line: tracing-appender's non-blocking writer,
//! which wakes its thread for every line, cost more than the writes it saved.
//!
//! Nothing is dropped: should stderr stall until [`MAX_PENDING`] bytes wait, the logging
//! thread writes them itself, in order, and so waits like a plain stderr writer would. A line
//! reaches stderr at most about [`GATHER`] after it was logged; [`Flusher`] writes the rest
//! when dropped.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the thread lets lines gather after the first one before writing them.
const GATHER: Duration = Duration::from_millis(20);
/// Bytes waiting above which the logging thread writes them itself.
const MAX_PENDING: usize = 1 << 20;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole lines or none: the buffer is still fine.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `MakeWriter` for the subscriber: every writer appends to the shared buffer.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

/// Writes what is still buffered and stops the thread when dropped.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writing thread. `None` when no thread can be started; the caller then writes
/// to stderr directly.
pub fn start() -> Option<(BatchedStderr, Flusher)> {
    let shared = Arc::new(Shared::default());
    let theirs = shared.clone();
    let thread = std::thread::Builder::new()
        .name("scimd-log".into())
        .spawn(move || run(&theirs))
        .ok()?;
    Some((
        BatchedStderr {
            shared: shared.clone(),
        },
        Flusher {
            shared,
            thread: Some(thread),
        },
    ))
}

fn run(shared: &Shared) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.closed {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let closing = state.closed;
        if closing && state.pending.is_empty() {
            return;
        }
        if !closing {
            drop(state);
            std::thread::sleep(GATHER);
            state = shared.lock();
        }
        // Swapped, so the buffers are reused and lines keep arriving while this one is written.
        std::mem::swap(&mut batch, &mut state.pending);
        drop(state);
        // Nowhere to report a failed write to stderr; the next batch tries again.
        let _ = io::stderr().lock().write_all(&batch);
        batch.clear();
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Write for BatchedStderr {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if state.closed || state.pending.len() + line.len() > MAX_PENDING {
            // stderr is not keeping up (or the thread is gone): write here, behind what waits.
            let mut err = io::stderr().lock();
            err.write_all(&state.pending)?;
            state.pending.clear();
            err.write_all(line)?;
            return Ok(line.len());
        }
        let first = state.pending.is_empty();
        state.pending.extend_from_slice(line);
        drop(state);
        if first {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Lines are written by the thread; a flush per line would undo the batching.
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = BatchedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_written_before_the_flusher_drops_all_leave_the_buffer_in_order() {
        let (mut w, flusher) = start().unwrap();
        let shared = w.shared.clone();
        for i in 0..1000 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(flusher);
        let state = shared.lock();
        assert!(state.closed);
        assert!(state.pending.is_empty(), "every line was handed to stderr");
    }

    #[test]
    fn after_close_a_line_is_written_at_once() {
        let (mut w, flusher) = start().unwrap();
        drop(flusher);
        w.write_all(b"late line\n").unwrap();
        assert!(w.shared.lock().pending.is_empty());
    }
}
