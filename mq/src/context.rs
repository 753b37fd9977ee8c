//! The context: the scope of `inproc` names, as in libzmq.

use std::sync::{Arc, OnceLock};

use crate::transport::inproc::Registry;
use crate::{Socket, SocketType};

/// A set of sockets that can reach each other over `inproc://`.
///
/// Cloning a context shares it. Most programs need only one: sockets made
/// with [`Socket::new`] share a default one.
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
}

impl Context {
    /// A new context, with no `inproc` names bound.
    pub fn new() -> Context {
        Context::default()
    }

    /// The context that [`Socket::new`] uses.
    pub fn shared() -> Context {
        static SHARED: OnceLock<Context> = OnceLock::new();
        SHARED.get_or_init(Context::new).clone()
    }

    /// A new socket of type `socket_type` in this context.
    pub fn socket(&self, socket_type: SocketType) -> Socket {
        Socket::with_context(self, socket_type)
    }

    pub(crate) fn inproc(&self) -> &Registry {
        &self.inner.inproc
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}
