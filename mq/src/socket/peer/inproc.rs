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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::Msg;
use crate::error::{Error, Result};
use crate::socket::core::{Core, Delivered};
use crate::socket::pattern::subscription_msg;
use crate::socket::pipe::{Next, Outbox, PipeId, Take};
use crate::zmtp::Command;

/// The names bound in one context, and the connects waiting for them.
#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<HashMap<String, Entry>>,
}

#[derive(Default)]
struct Entry {
    bound: Option<Weak<Core>>,
    /// Connects that came first: (socket, its pipe). Held strongly: a socket
    /// closed meanwhile still delivers what it queued (linger); entries
    /// with nothing left to deliver are pruned.
    waiting: Vec<(Arc<Core>, PipeId)>,
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
            if connecter.wants_connection(pipe)
                && let Err(e) = join(&connecter, pipe, core)
            {
                log::warn!("inproc://{name}: {e}");
            }
        }
        Ok(())
    }

    /// Forgets the connects of `core` that wait for a bind, unless they
    /// still have messages to deliver (linger). Called when `core` closes,
    /// so that a closed socket is not kept alive by the registry.
    pub(crate) fn forget(&self, core: &Arc<Core>) {
        let mut names = self.lock();
        for entry in names.values_mut() {
            entry
                .waiting
                .retain(|(c, pipe)| !Arc::ptr_eq(c, core) || c.wants_connection(*pipe));
        }
        names.retain(|_, entry| entry.bound.is_some() || !entry.waiting.is_empty());
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

    /// Whether a socket that is not closed has bound `name`.
    pub(crate) fn is_bound(&self, name: &str) -> bool {
        self.lock()
            .get(name)
            .and_then(|entry| entry.bound.as_ref())
            .is_some_and(|bound| !is_closed(bound))
    }

    /// Connects `core`'s `pipe` to whoever bound `name`, or waits for it.
    pub(crate) fn connect(&self, name: &str, core: &Arc<Core>, pipe: PipeId) -> Result<()> {
        let bound = {
            let mut names = self.lock();
            let entry = names.entry(name.to_owned()).or_default();
            match entry.bound.as_ref().and_then(Weak::upgrade).filter(|b| !b.is_closed()) {
                Some(bound) => bound,
                None => {
                    entry.waiting.retain(|(c, p)| c.wants_connection(*p));
                    entry.waiting.push((Arc::clone(core), pipe));
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
    let Some(our_outbox) = connecter.outbox(pipe) else {
        // Disconnected between the attach and here.
        binder.remove_pipe(their_pipe);
        return Ok(());
    };
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
///
/// The pump runs on the connecting side's runtime. If that runtime shuts
/// down, the connection ends as if the peer had left (for the binder it
/// is a peer leaving, as it would be with libzmq): neither socket is
/// terminated by it.
fn spawn_pump(outbox: Arc<Outbox>, from: Arc<Core>, from_pipe: PipeId, to: Arc<Core>, to_pipe: PipeId) {
    // Ends the connection however the pump ends: returning, unwound by a
    // shutdown, or dropped before it started.
    let end = PumpEnd {
        from: Arc::clone(&from),
        from_pipe,
        to: Arc::clone(&to),
        to_pipe,
    };
    dhaga_runtime::spawn(move || {
        let _end = end;
        while let Take::Msgs(batch) = outbox.take() {
            // Subscriptions (the only commands between sockets of one
            // process) travel as messages, in their place.
            let mut msgs: VecDeque<Msg> = batch
                .in_order()
                .filter_map(|next| match next {
                    Next::Msg(msg) => Some(msg.clone()),
                    Next::Command(Command::Subscribe(prefix)) => Some(subscription_msg(true, prefix)),
                    Next::Command(Command::Cancel(prefix)) => Some(subscription_msg(false, prefix)),
                    Next::Command(_) => None,
                })
                .collect();
            if msgs.is_empty() {
                continue;
            }
            if matches!(to.deliver_from(to_pipe, &mut msgs, Some(&outbox)), Delivered::Closed) {
                break;
            }
        }
    });
}

/// Ends an inproc connection on both sides when dropped (see
/// [`spawn_pump`]).
struct PumpEnd {
    from: Arc<Core>,
    from_pipe: PipeId,
    to: Arc<Core>,
    to_pipe: PipeId,
}

impl Drop for PumpEnd {
    fn drop(&mut self) {
        self.to.remove_pipe(self.to_pipe);
        self.from.remove_pipe(self.from_pipe);
    }
}
