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

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// stderr, but for the tests.
    sink: Mutex<Box<dyn Write + Send>>,
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

    /// Taken only after `state` or without it, never the other way round.
    fn sink(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.sink.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `MakeWriter` for the subscriber: every writer appends to the shared buffer. Each `write`
/// call stays whole; tracing-subscriber hands over a formatted line in one call.
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
    start_to(Box::new(io::stderr()))
}

fn start_to(sink: Box<dyn Write + Send>) -> Option<(BatchedStderr, Flusher)> {
    let shared = Arc::new(Shared {
        state: Mutex::default(),
        wake: Condvar::new(),
        sink: Mutex::new(sink),
    });
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
        let mut sink = shared.sink();
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
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
            let mut sink = self.shared.sink();
            sink.write_all(&state.pending)?;
            state.pending.clear();
            sink.write_all(line)?;
            sink.flush()?;
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

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn text(c: &Captured) -> String {
        String::from_utf8(c.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_by_the_time_the_flusher_drops() {
        let out = Captured::default();
        let (w, flusher) = start_to(Box::new(out.clone())).unwrap();
        let expected: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        // Two threads, like two workers; each one's lines stay in its own order.
        let mut a = w.clone();
        let mut b = w.clone();
        // One write_all per line, as the subscriber does (`writeln!` would write in pieces).
        let t = std::thread::spawn(move || {
            for i in 0..5000 {
                a.write_all(format!("a {i}\n").as_bytes()).unwrap();
            }
        });
        for i in 0..5000 {
            b.write_all(format!("b {i}\n").as_bytes()).unwrap();
        }
        t.join().unwrap();
        drop(flusher);
        let got = text(&out);
        for who in ["a", "b"] {
            let mine: String = got
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{who} ")))
                .map(|n| format!("line {n}\n"))
                .collect();
            assert_eq!(mine, expected, "{who}'s lines");
        }
        assert_eq!(got.lines().count(), 10_000);
    }

    #[test]
    fn a_line_reaches_the_sink_without_a_flush_after_a_pause() {
        let out = Captured::default();
        let (mut w, _flusher) = start_to(Box::new(out.clone())).unwrap();
        writeln!(w, "quiet line").unwrap();
        // Generous: the thread writes GATHER (20 ms) after the first line.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while text(&out).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(text(&out), "quiet line\n");
    }

    #[test]
    fn after_close_a_line_is_written_at_once() {
        let out = Captured::default();
        let (mut w, flusher) = start_to(Box::new(out.clone())).unwrap();
        writeln!(w, "before").unwrap();
        drop(flusher);
        writeln!(w, "late line").unwrap();
        assert_eq!(text(&out), "before\nlate line\n");
    }
}
