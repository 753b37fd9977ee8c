//! `inproc://`: sockets of one context connected without any bytes. A
//! message moves from the sender's outbox to the receiver's inbound queue
//! as is (its frames are shared buffers: nothing is copied or encoded).
//!
//! Each direction of an `inproc` connection is a *pump*: a micro-thread
//! that takes what one side queued and delivers it to the other, with the
//! same back-pressure as a network connection (so the high-water mark of an
//! `inproc` connection is the sender's plus the receiver's, as in libzmq).
//! Bind and connect may come in either order: a connect to a name nobody
//! has bound yet waits in the registry, and its messages wait in its pipe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::error::{Error, Result};
use crate::socket::core::{Core, PipeId};
use crate::socket::pipe::{Outbox, Take};

/// The names bound in one context, and the connects waiting for them.
#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<HashMap<String, Entry>>,
}

#[derive(Default)]
struct Entry {
    bound: Option<Weak<Core>>,
    /// Connects that came first: (socket, its pipe).
    waiting: Vec<(Weak<Core>, PipeId)>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Binds `name` to `core`, and connects whoever was waiting for it.
    pub(crate) fn bind(&self, name: &str, core: &Arc<Core>) -> Result<()> {
        let waiting = {
            let mut names = self.lock();
            let entry = names.entry(name.to_owned()).or_default();
            if entry
                .bound
                .as_ref()
                .is_some_and(|b| b.strong_count() > 0 && !is_closed(b))
            {
                return Err(Error::AddrInUse(format!("inproc://{name}")));
            }
            entry.bound = Some(Arc::downgrade(core));
            std::mem::take(&mut entry.waiting)
        };
        for (connecter, pipe) in waiting {
            if let Some(connecter) = connecter.upgrade() {
                if let Err(e) = join(&connecter, pipe, core) {
                    log::warn!("inproc://{name}: {e}");
                }
            }
        }
        Ok(())
    }

    /// Removes `name` if `core` bound it.
    pub(crate) fn unbind(&self, name: &str, core: &Arc<Core>) -> bool {
        let mut names = self.lock();
        match names.get_mut(name) {
            Some(entry)
                if entry
                    .bound
                    .as_ref()
                    .is_some_and(|b| std::ptr::eq(b.as_ptr(), Arc::as_ptr(core))) =>
            {
                entry.bound = None;
                true
            }
            _ => false,
        }
    }

    /// Connects `core`'s `pipe` to whoever bound `name`, or waits for it.
    pub(crate) fn connect(&self, name: &str, core: &Arc<Core>, pipe: PipeId) -> Result<()> {
        let bound = {
            let mut names = self.lock();
            let entry = names.entry(name.to_owned()).or_default();
            match entry.bound.as_ref().and_then(Weak::upgrade).filter(|b| !b.is_closed()) {
                Some(bound) => bound,
                None => {
                    entry.waiting.push((Arc::downgrade(core), pipe));
                    return Ok(());
                }
            }
        };
        join(core, pipe, &bound)
    }
}

fn is_closed(core: &Weak<Core>) -> bool {
    core.upgrade().is_none_or(|c| c.is_closed())
}

/// Joins `connecter`'s `pipe` to a new pipe of `binder` with two pumps.
fn join(connecter: &Arc<Core>, pipe: PipeId, binder: &Arc<Core>) -> Result<()> {
    let (ours, theirs) = (connecter.socket_type, binder.socket_type);
    if !ours.is_compatible(theirs) {
        return Err(Error::IncompatibleSocketType { ours, peer: theirs });
    }
    let (their_pipe, their_outbox) = binder.add_pipe(false);
    let our_identity = connecter.options().routing_id.clone();
    let their_identity = binder.options().routing_id.clone();
    if let Err(reason) = binder.attach(their_pipe, our_identity, None) {
        binder.remove_pipe(their_pipe);
        log::info!("inproc connection refused by the binding {theirs} socket: {reason}");
        return Ok(());
    }
    if let Err(reason) = connecter.attach(pipe, their_identity, None) {
        binder.remove_pipe(their_pipe);
        log::info!("inproc connection refused by the connecting {ours} socket: {reason}");
        return Ok(());
    }
    let our_outbox = connecter.outbox(pipe).expect("the pipe was just attached");
    spawn_pump(our_outbox, Arc::clone(connecter), pipe, Arc::clone(binder), their_pipe);
    spawn_pump(
        their_outbox,
        Arc::clone(binder),
        their_pipe,
        Arc::clone(connecter),
        pipe,
    );
    Ok(())
}

/// Moves messages from `from`'s outbox to `to`'s pipe until either side
/// ends; then ends the connection on both sides.
fn spawn_pump(outbox: Arc<Outbox>, from: Arc<Core>, from_pipe: PipeId, to: Arc<Core>, to_pipe: PipeId) {
    dhaga_runtime::spawn(move || {
        // Until `Take::Stop` or `Take::Drained`, or the receiver is gone.
        while let Take::Msgs(msgs) = outbox.take() {
            let mut msgs = msgs.into();
            if matches!(to.deliver(to_pipe, &mut msgs), crate::socket::core::Delivered::Closed) {
                break;
            }
        }
        to.remove_pipe(to_pipe);
        from.remove_pipe(from_pipe);
    });
}
