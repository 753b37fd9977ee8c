//! Spawning one micro-thread with options: [`Builder`].

use std::io;
use std::panic::Location;

use crate::join::{self, JoinHandle};
use crate::runtime::{self, Runtime};
use crate::sched::SpawnOptions;
use crate::sched::context;

/// Options for spawning one micro-thread, like [`std::thread::Builder`].
///
/// # Examples
///
/// ```
/// let handle = dhaga_runtime::Builder::new()
///     .name("worker".into())
///     .stack_size(256 * 1024)
///     .spawn(|| "done")?;
/// assert_eq!(handle.name(), Some("worker"));
/// assert_eq!(handle.join().unwrap(), "done");
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    colocate: bool,
}

impl Builder {
    /// A builder with the runtime's defaults.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the micro-thread (shown in stack-overflow reports).
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the micro-thread's usable stack size. Stacks of the runtime's
    /// default size come from a pool; others are mapped for this micro-thread
    /// and unmapped when it ends.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Places the micro-thread on the worker of the micro-thread that spawns
    /// it, instead of the least-loaded worker: for micro-threads that hand
    /// work to each other all the time (a connection's reader and writer, a
    /// client and its connection), which then wake each other without waking
    /// another OS thread. Until it starts, an idle worker may still take it
    /// from a worker that stalls. Spawned from outside a micro-thread, it
    /// has no effect.
    pub fn colocate(mut self) -> Builder {
        self.colocate = true;
        self
    }

    /// Spawns `f` on the caller's runtime: the one whose micro-thread (or
    /// thread-mode thread) calls this, else a default runtime started on first
    /// use.
    ///
    /// # Errors
    ///
    /// If the stack cannot be allocated (kind `OutOfMemory`, with a message
    /// naming the limit reached and the way out), or, in thread mode, the
    /// thread cannot be started, or would take the process past
    /// `vm.max_map_count` (kind `OutOfMemory`: std would abort the whole
    /// process in the new thread, unable to map its signal stack).
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let options = self.into_options();
        context::with_worker(|worker| match worker {
            // `current()`'s first choice, without a reference-count update
            // on the runtime's shared state.
            Some(worker) => join::spawn(worker.shared(), options, f),
            None => join::spawn(&runtime::current(), options, f),
        })
    }

    /// Spawns `f` on `runtime`.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    #[track_caller]
    pub fn spawn_on<F, T>(self, runtime: &Runtime, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        join::spawn(runtime.scheduler(), self.into_options(), f)
    }

    /// The options of a spawn with this builder, spawned at the caller's
    /// caller (`#[track_caller]`).
    #[track_caller]
    pub(crate) fn into_options(self) -> SpawnOptions {
        SpawnOptions {
            spawned_at: Some(Location::caller()),
            name: self.name,
            stack_size: self.stack_size,
            colocate: self.colocate,
            os_thread: false,
        }
    }
}
