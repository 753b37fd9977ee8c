//! Synchronisation that parks micro-threads and blocks OS threads.
//!
//! Everything here works between micro-threads, between OS threads, and
//! between the two mixed: a waiting micro-thread parks (its worker runs
//! others), a waiting OS thread blocks.
//!
//! Besides channels there are locks and coordination primitives with std's
//! names and signatures: [`Mutex`], [`RwLock`], [`Condvar`], [`Barrier`],
//! [`OnceLock`], and [`Semaphore`] and [`WaitGroup`], which std lacks. Each
//! takes its uncontended path in one atomic read-modify-write where it can,
//! serves waiters in order (FIFO queues; [`Mutex`] lets a running locker
//! barge for at most a millisecond's worth of waiting), and has `try_*` and
//! `*_timeout` forms of every wait. A waiter that times out, or whose
//! micro-thread is unwound while parked (its runtime shutting down), leaves
//! its queue and passes on whatever it had been handed just then, so no
//! lock, permit or notification is lost.
//!
//! [`Select`] (and the [`select!`](crate::select!) macro) waits on several
//! channel operations at once, as crossbeam-channel's does.
//!
//! A micro-thread that is *unwinding* (a destructor runs during a panic or a
//! cancellation) cannot park. The `try_*` and `*_timeout` forms then do not
//! wait; the forms that cannot fail (`lock`, `wait`, `acquire`, …) block its
//! worker OS thread until they can return, as they would on a plain thread.

mod barrier;
mod channel;
mod condvar;
mod mutex;
mod once_lock;
mod primitive;
mod rwlock;
mod select;
mod semaphore;
pub(crate) mod spin;
mod wait_group;
mod waiter;

pub use barrier::{Barrier, BarrierWaitResult};
pub use channel::{
    Iter, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryIter, TryRecvError,
    TrySendError, Watch, bounded, unbounded,
};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use select::{Select, SelectTimeoutError, SelectedOperation, TryReadyError, TrySelectError};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
pub use wait_group::WaitGroup;
