//! Synchronisation that parks micro-threads and blocks OS threads.
//!
//! Everything here works between micro-threads, between OS threads, and
//! between the two mixed: a waiting micro-thread parks (its worker runs
//! others), a waiting OS thread blocks.

mod channel;
mod select;
pub(crate) mod spin;

pub use channel::{
    Iter, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryIter, TryRecvError,
    TrySendError, bounded, unbounded,
};
pub use select::{Select, SelectTimeoutError, SelectedOperation, TryReadyError, TrySelectError};
