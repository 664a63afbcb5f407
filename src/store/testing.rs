//! Test support shared by the store's and the directory's batching tests.

use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};

use super::{Store, StoreError};

/// Occupies the writer inside one operation until the returned sender is used (or dropped):
/// writes queued meanwhile form one batch when it lets go, whatever the threads' timing.
pub(crate) fn hold_writer(store: &Arc<Store>) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (release, wait) = mpsc::channel::<()>();
    let (started, inside) = mpsc::channel::<()>();
    let s = Arc::clone(store);
    let holder = thread::spawn(move || {
        s.write(move |_tx| {
            started.send(()).unwrap();
            let _ = wait.recv();
            Ok::<_, StoreError>(())
        })
        .unwrap();
    });
    inside.recv().unwrap();
    (release, holder)
}
