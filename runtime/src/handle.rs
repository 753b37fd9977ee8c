//! [`Handle`]: a runtime as the code running on it sees it.

use std::fmt;

use crate::runtime;
use crate::sched;

/// A runtime, as the code that runs on it sees it: whether it still runs.
///
/// Libraries that start micro-threads to serve an object (a socket's
/// connections, say) keep one, so that when the runtime shuts down under
/// them they can tell their callers, instead of leaving them to wait for
/// what will never come. Cheap to clone; it does not keep the runtime
/// running: dropping the [`Runtime`](crate::Runtime) shuts it down whatever
/// handles exist.
///
/// # Examples
///
/// ```
/// use dhaga_runtime::{Handle, Runtime};
///
/// let rt = Runtime::new()?;
/// let handle = rt.block_on(Handle::current);
/// assert!(!handle.is_shut_down());
/// drop(rt);
/// assert!(handle.is_shut_down());
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: sched::SchedulerRef,
}

impl Handle {
    /// The runtime of the caller: the one whose micro-thread (or thread-mode
    /// thread) calls, and elsewhere the default runtime that
    /// [`spawn`](crate::spawn) uses outside any runtime (started on first use,
    /// never shut down). It is the runtime a [`spawn`](crate::spawn) from the
    /// same place would start a micro-thread on.
    pub fn current() -> Handle {
        Handle {
            shared: runtime::current(),
        }
    }

    /// Whether the runtime has begun shutting down (its
    /// [`Runtime`](crate::Runtime) was dropped): its micro-threads are being
    /// unwound, or are gone, and no new one will run.
    pub fn is_shut_down(&self) -> bool {
        self.shared.is_shutdown()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.config.workers)
            .field("thread_mode", &self.shared.config.thread_mode)
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}
