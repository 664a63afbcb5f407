//! Group commit: one thread runs every write, as many as are waiting in one durable transaction.
//!
//! A durable commit costs an fsync, and an fsync costs the same for one record as for a
//! thousand. So writers do not each commit: they queue their operation on a bounded channel
//! and wait. The writer thread takes everything queued (up to [`MAX_BATCH`]), runs the
//! operations in order in one write transaction, commits once, and only then answers each of
//! them. While it commits, the next batch queues up, so the batch grows with the load and one
//! write alone still commits at once.
//!
//! Running the queued operations one after another in one transaction means they see each
//! other's writes, exactly as if each had committed alone. An operation that refuses (404,
//! 409, 412, a guard hold) must have written nothing: every operation validates before it
//! writes (see `write.rs`). The writer checks that promise with the transaction's mutation
//! count; if an operation broke it, or panicked, the whole batch is aborted and every operation
//! in it is told that nothing was stored, rather than committing half of one.
//!
//! An all-or-nothing operation that may discover a problem only after writing (an import of
//! many records) asks for a transaction of its own instead ([`Store::write_alone`]): its
//! refusal aborts just that transaction.
//!
//! [`Store::write_alone`]: super::Store::write_alone

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::Database;

use super::{StoreError, WriteTx};

/// The most operations one transaction takes. It bounds the memory of a batch and how long the
/// last operation of a batch waits behind the others; a commit of this many records still
/// costs a few milliseconds.
pub const MAX_BATCH: usize = 1024;

/// What the writer reports of each committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// From taking the first operation's work to the end of the commit, fsync included.
    pub took: Duration,
    /// Operations in the batch, refusals and writes that changed nothing included.
    pub operations: usize,
    /// Operations that wrote something. A write that changes nothing (re-adding a member,
    /// disabling a disabled user) only rides along: a batch of nothing else does not commit.
    pub changed: usize,
}

/// Called with each committed batch.
pub(super) type CommitObserver = Arc<dyn Fn(&Batch) + Send + Sync>;

/// How an operation submitted to the writer ended.
#[derive(Debug)]
pub enum Ended<T, E> {
    /// It ran and its transaction committed durably.
    Committed(T),
    /// It refused: it wrote nothing, whatever became of its batch.
    Refused(E),
    /// It was not stored: the queue was full, the writer has stopped, or its batch did not
    /// commit. `value` is what the operation returned when it ran, so that the caller can undo
    /// what it reserved for it (the guard's count).
    Failed { value: Option<T>, error: StoreError },
}

impl<T, E: From<StoreError>> Ended<T, E> {
    /// The value if the operation committed, else its refusal or the store's failure.
    pub fn into_result(self) -> Result<T, E> {
        match self {
            Ended::Committed(v) => Ok(v),
            Ended::Refused(e) => Err(e),
            Ended::Failed { error, .. } => Err(E::from(error)),
        }
    }
}

/// The writer thread and the queue in front of it.
pub(super) struct Writer {
    queue: Option<SyncSender<Box<dyn Work>>>,
    capacity: usize,
    /// Operations in the queue, not yet taken by the writer (the channel cannot say).
    /// Sent and not yet taken. Counted after the send, so a count a caller sees is of jobs
    /// really in the queue (the batching tests rely on it); the writer may take a job before
    /// its sender counts it, which makes the count -1 for a moment, read as 0.
    waiting: Arc<AtomicIsize>,
    /// Batches committed so far; counted before any of the batch's writes is answered.
    commits: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread for `db` with room for `capacity` waiting operations.
    pub(super) fn start(
        db: Arc<Database>,
        capacity: usize,
        observer: Arc<RwLock<Option<CommitObserver>>>,
    ) -> Result<Writer, StoreError> {
        let (queue, inbox) = mpsc::sync_channel::<Box<dyn Work>>(capacity);
        let waiting = Arc::new(AtomicIsize::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let (taken, counted) = (Arc::clone(&waiting), Arc::clone(&commits));
        let thread = std::thread::Builder::new()
            .name("scimd-writer".into())
            .spawn(move || run(&db, &inbox, &taken, &counted, &observer))
            .map_err(|e| StoreError::Db(Box::new(redb::Error::Io(e))))?;
        Ok(Writer {
            queue: Some(queue),
            capacity,
            waiting,
            commits,
            thread: Some(thread),
        })
    }

    /// Queues `f` and waits until its batch has ended. Never blocks on a full queue: that is
    /// [`StoreError::Busy`] at once, for the caller to turn into "retry later".
    pub(super) fn submit<T, E, F>(&self, alone: bool, f: F) -> Ended<T, E>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        if let Err(refused) = self.enqueue(alone, f, Reply::Blocking(reply)) {
            return refused;
        }
        // The writer answers every job it takes, and drops (disconnecting `answer`) any job it
        // never ran, so this cannot wait forever.
        answer.recv().unwrap_or(Ended::Failed {
            value: None,
            error: StoreError::WriterStopped,
        })
    }

    /// [`Writer::submit`] for async callers: the operation is queued at once (or refused at
    /// once), and the answer is awaited rather than waited for on a thread of its own, which
    /// saves a request the hand-offs to and from the blocking pool. Dropping the future does
    /// not withdraw the operation; a caller that must act on the outcome has to be polled to
    /// the end (the HTTP layer spawns it).
    pub(super) fn submit_async<T, E, F>(
        &self,
        alone: bool,
        f: F,
    ) -> impl std::future::Future<Output = Ended<T, E>> + Send + 'static
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = self.enqueue(alone, f, Reply::Waker(reply));
        async move {
            if let Err(refused) = queued {
                return refused;
            }
            answer.await.unwrap_or(Ended::Failed {
                value: None,
                error: StoreError::WriterStopped,
            })
        }
    }

    /// Puts `f` on the queue, to be answered through `reply`; the answer at once when the
    /// queue is full or the writer has stopped.
    fn enqueue<T, E, F>(&self, alone: bool, f: F, reply: Reply<T, E>) -> Result<(), Ended<T, E>>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let Some(queue) = &self.queue else {
            return Err(Ended::Failed {
                value: None,
                error: StoreError::WriterStopped,
            });
        };
        let job = Box::new(Job {
            alone,
            f: Some(f),
            outcome: None,
            reply,
        });
        match queue.try_send(job) {
            Ok(()) => {
                self.waiting.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(Ended::Failed {
                value: None,
                error: StoreError::Busy {
                    waiting: self.capacity,
                },
            }),
            Err(TrySendError::Disconnected(_)) => Err(Ended::Failed {
                value: None,
                error: StoreError::WriterStopped,
            }),
        }
    }

    /// How many batches have committed (see `Store::read`).
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// How many operations are queued and not yet taken by the writer.
    pub(super) fn waiting(&self) -> usize {
        usize::try_from(self.waiting.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// Whether the writer thread is still running.
    pub(super) fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Writer {
    /// Lets the writer finish what is queued, then waits for it: the database file must be
    /// closed (its lock released) when the store is dropped.
    fn drop(&mut self) {
        self.queue = None;
        if let Some(t) = self.thread.take() {
            // A job holding the last handle to the store would drop it on the writer thread
            // itself; joining there would wait forever. (Callers keep the store alive until
            // their answer arrives, so this is a guard, not a path taken today.)
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// One queued operation, with its result type erased so one queue carries every kind of write.
trait Work: Send {
    /// Whether the operation needs a transaction of its own, which its refusal aborts.
    fn alone(&self) -> bool;
    /// Runs the operation inside the batch's transaction. `false`: it refused (or panicked).
    fn run(&mut self, tx: &mut WriteTx<'_>) -> bool;
    /// The batch ended: `Ok` if it committed, otherwise why not. Sends the answer.
    fn finish(self: Box<Self>, batch: Result<(), &str>);
}

struct Job<F, T, E> {
    alone: bool,
    f: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: Reply<T, E>,
}

/// Where a job's answer goes: a thread waiting on a channel, or a task awaiting it.
enum Reply<T, E> {
    Blocking(SyncSender<Ended<T, E>>),
    Waker(tokio::sync::oneshot::Sender<Ended<T, E>>),
}

impl<F, T, E> Work for Job<F, T, E>
where
    F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    fn alone(&self) -> bool {
        self.alone
    }

    fn run(&mut self, tx: &mut WriteTx<'_>) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let outcome = f(tx);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, batch: Result<(), &str>) {
        let ended = match (self.outcome, batch) {
            (Some(Err(e)), _) => Ended::Refused(e),
            (Some(Ok(v)), Ok(())) => Ended::Committed(v),
            (value, Err(why)) => Ended::Failed {
                value: value.and_then(Result::ok),
                error: StoreError::NotCommitted(why.to_string()),
            },
            (None, Ok(())) => Ended::Failed {
                value: None,
                error: StoreError::NotCommitted("the operation did not run".into()),
            },
        };
        // The caller may have gone (a panicking request thread); nobody is left to tell.
        match self.reply {
            Reply::Blocking(tx) => {
                let _ = tx.send(ended);
            }
            Reply::Waker(tx) => {
                let _ = tx.send(ended);
            }
        }
    }
}

/// The writer thread: batches until the queue is closed and empty.
fn run(
    db: &Database,
    inbox: &Receiver<Box<dyn Work>>,
    waiting: &AtomicIsize,
    commits: &AtomicU64,
    observer: &RwLock<Option<CommitObserver>>,
) {
    let take = |job: Box<dyn Work>| {
        waiting.fetch_sub(1, Ordering::AcqRel);
        job
    };
    // An operation that must run alone, taken from the queue while a batch was being filled:
    // it starts the next batch.
    let mut held: Option<Box<dyn Work>> = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match inbox.recv() {
                Ok(job) => take(job),
                Err(_) => return,
            },
        };
        let mut batch = Vec::with_capacity(16);
        let alone = first.alone();
        batch.push(first);
        while !alone && batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(job) if job.alone() => {
                    held = Some(take(job));
                    break;
                }
                Ok(job) => batch.push(take(job)),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let ended = commit(db, &mut batch);
        match &ended {
            Ok(None) => {}
            Ok(Some(changed)) => {
                // Before any answer: a read that starts after one must not reuse an older
                // snapshot.
                commits.fetch_add(1, Ordering::AcqRel);
                if let Ok(guard) = observer.read() {
                    if let Some(observe) = guard.as_ref() {
                        observe(&Batch {
                            took: started.elapsed(),
                            operations: batch.len(),
                            changed: *changed,
                        });
                    }
                }
            }
            Err(why) => {
                tracing::error!(operations = batch.len(), error = %why, "a batch of store writes was not committed; each was answered with a retryable error");
            }
        }
        for job in batch {
            job.finish(ended.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

/// Runs `batch` in one write transaction and commits it durably; `Ok` holds how many of its
/// operations wrote something, `None` when none did and there was nothing to commit. `Err`:
/// the reason nothing of it was stored.
fn commit(db: &Database, batch: &mut [Box<dyn Work>]) -> Result<Option<usize>, String> {
    let mut txn = db.begin_write().map_err(|e| e.to_string())?;
    // Each commit records the allocator state, so a reopen after a crash need not walk the
    // whole file to rebuild it (seconds at a million users); see docs/PERFORMANCE.md.
    txn.set_quick_repair(true);
    let (spoiled, wrote, changed) = {
        let mut tx = WriteTx::open(&txn).map_err(|e| e.to_string())?;
        let mut spoiled = None;
        let mut refused_alone = false;
        let mut changed = 0;
        for job in batch.iter_mut() {
            let before = tx.writes();
            let ran = panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut tx)));
            match ran {
                Ok(true) => {
                    if tx.writes() > before {
                        changed += 1;
                    }
                }
                // A refusal alone in its transaction takes back whatever it wrote.
                Ok(false) if job.alone() => refused_alone = true,
                Ok(false) if tx.writes() == before => {}
                Ok(false) => {
                    spoiled = Some("an operation refused after it had written".to_string());
                    break;
                }
                Err(panic) => {
                    spoiled = Some(format!("an operation panicked: {}", panic_message(&*panic)));
                    break;
                }
            }
        }
        (spoiled, tx.writes() > 0 && !refused_alone, changed)
    };
    if let Some(why) = spoiled {
        let _ = txn.abort();
        return Err(why);
    }
    if !wrote {
        // Only refusals and no-op updates (or one refusal alone): nothing to make durable.
        return txn.abort().map(|()| None).map_err(|e| e.to_string());
    }
    txn.commit()
        .map(|()| Some(changed))
        .map_err(|e| e.to_string())
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
