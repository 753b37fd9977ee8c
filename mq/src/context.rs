//! The context: the scope of `inproc` names, and what ends its sockets
//! together (`shutdown`, `term`), as in libzmq.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::socket::{Core, Registry};
use crate::wait::Notify;
use crate::wait::{Why, reason};
use crate::{Socket, SocketType};

/// A set of sockets that can reach each other over `inproc://`, and be
/// ended together.
///
/// Cloning a context shares it. Most programs need only one: sockets made
/// with [`Socket::new`] share a default one.
///
/// [`shutdown`](Context::shutdown) ends every socket of the context at
/// once, wherever its users are blocked, and [`term`](Context::term) also
/// waits until they have all been closed and have delivered what they
/// queued: libzmq's `zmq_ctx_shutdown` and `zmq_ctx_term`, the way a
/// program stops its micro-threads and threads that serve sockets (the
/// `interrupt` example ends a server on Ctrl-C so).
///
/// # Examples
///
/// ```
/// use dhaga_mq::{Context, SocketType};
///
/// let ctx = Context::new();
/// let pull = ctx.socket(SocketType::Pull);
/// pull.bind("inproc://jobs").unwrap();
/// let push = ctx.socket(SocketType::Push);
/// push.connect("inproc://jobs").unwrap();
/// push.send("job 1").unwrap();
/// assert_eq!(pull.recv().unwrap(), "job 1".into());
/// ```
#[derive(Clone, Default)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    inproc: Registry,
    sockets: Mutex<Sockets>,
    /// A socket of this context closed: [`Context::term`] waits here.
    closed: Notify,
}

#[derive(Default)]
struct Sockets {
    /// Every socket made in the context and not yet gone; the dead are
    /// swept out as new ones come.
    live: Vec<Weak<Core>>,
    terminated: bool,
}

impl Context {
    /// A new context, with no `inproc` names bound.
    pub fn new() -> Context {
        Context::default()
    }

    /// The context that [`Socket::new`] uses. Once it has been shut down,
    /// the next call makes a new one (as pyzmq's `Context.instance()`
    /// does): the sockets of the old one stay ended, new sockets work.
    pub fn shared() -> Context {
        static SHARED: Mutex<Option<Context>> = Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        match &*shared {
            Some(context) if !context.is_terminated() => context.clone(),
            _ => shared.insert(Context::new()).clone(),
        }
    }

    /// A new socket of type `socket_type` in this context.
    pub fn socket(&self, socket_type: SocketType) -> Socket {
        Socket::with_context(self, socket_type)
    }

    /// Ends every socket of the context, as libzmq's `zmq_ctx_shutdown`:
    /// calls blocked in `send`, `recv` or a poll on them return
    /// [`Error::Terminated`](crate::Error::Terminated) at once, and so does
    /// every later call but `close` (messages already received are not
    /// returned any more). Sockets made in the context afterwards are born
    /// ended. The sockets still need closing (or dropping), which delivers
    /// what they had queued within their linger time: that is what
    /// [`term`](Context::term) waits for. Calling it again does nothing.
    pub fn shutdown(&self) {
        let cores: Vec<Arc<Core>> = {
            let mut sockets = self.sockets();
            if std::mem::replace(&mut sockets.terminated, true) {
                return;
            }
            sockets.live.iter().filter_map(Weak::upgrade).collect()
        };
        for core in cores {
            core.terminate();
        }
    }

    /// Shuts the context down ([`shutdown`](Context::shutdown)), then waits
    /// until every one of its sockets has been closed or dropped and has
    /// delivered what it had queued for its peers, each for at most its
    /// linger time, as libzmq's `zmq_ctx_term`. With the default linger
    /// (for ever), messages queued for a peer that never comes keep it
    /// waiting: set a linger time on such sockets
    /// ([`Socket::set_linger`]).
    ///
    /// Blocked callers wake with [`Error::Terminated`](crate::Error::Terminated),
    /// so the micro-threads and threads serving the sockets see it, end
    /// and drop them; `term` returns when the last one has. A socket that
    /// its owner keeps and never closes keeps `term` waiting, as in libzmq.
    ///
    /// # Examples
    ///
    /// ```
    /// use dhaga_mq::{Context, Error, SocketType};
    ///
    /// let ctx = Context::new();
    /// let server = ctx.socket(SocketType::Rep);
    /// server.bind("inproc://service").unwrap();
    /// let serving = std::thread::spawn(move || {
    ///     loop {
    ///         match server.recv() {
    ///             Ok(request) => server.send(request).unwrap(),
    ///             Err(Error::Terminated) => return "terminated", // drops `server`
    ///             Err(e) => panic!("{e}"),
    ///         }
    ///     }
    /// });
    /// ctx.term(); // wakes the blocked `recv`, waits for the socket to close
    /// assert_eq!(serving.join().unwrap(), "terminated");
    /// ```
    pub fn term(&self) {
        self.shutdown();
        // Every socket closed (or gone altogether).
        let _ = self
            .inner
            .closed
            .wait_until(Why::on(&reason::TERM, &*self.inner), None, || {
                let sockets = self.sockets();
                let open = sockets
                    .live
                    .iter()
                    .filter_map(Weak::upgrade)
                    .any(|core| !core.is_closed());
                (!open).then_some(())
            });
        // Each delivers what it queued, within its linger time.
        let cores: Vec<Arc<Core>> = self.sockets().live.iter().filter_map(Weak::upgrade).collect();
        for core in cores {
            core.wait_detached(core.close_deadline());
        }
    }

    /// Whether [`shutdown`](Context::shutdown) or [`term`](Context::term)
    /// was called.
    pub fn is_terminated(&self) -> bool {
        self.sockets().terminated
    }

    pub(crate) fn inproc(&self) -> &Registry {
        &self.inner.inproc
    }

    /// Counts a new socket in: ended at once if the context is.
    pub(crate) fn register(&self, core: &Arc<Core>) {
        let terminated = {
            let mut sockets = self.sockets();
            sockets.live.retain(|weak| weak.strong_count() > 0);
            sockets.live.push(Arc::downgrade(core));
            sockets.terminated
        };
        if terminated {
            core.terminate();
        }
    }

    /// A socket of the context closed.
    pub(crate) fn socket_closed(&self) {
        self.inner.closed.notify_all();
    }

    fn sockets(&self) -> MutexGuard<'_, Sockets> {
        self.inner.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}
