//! Waiting on several channel operations at once: [`Select`] and the
//! [`select!`](crate::select) macro, in the style of `crossbeam-channel`.
//!
//! # How it works
//!
//! A select runs in two phases, as crossbeam's and Go's do.
//!
//! 1. **Try.** It tries each operation in turn, starting at a random one,
//!    without being listed anywhere. The first that can go ahead is chosen:
//!    under that channel's lock, what completing it needs is set aside for
//!    the select (the message, for a receive; a unit of room, for a send on
//!    a bounded channel; a receiver that will wait for the message, for a
//!    send on a rendezvous channel). An operation on a disconnected channel
//!    goes ahead too: completing it fails.
//! 2. **Wait.** If none could, the select lists one shared [`Selector`] on
//!    every channel's wait list and parks. Whoever on a channel finds it
//!    listed — a sender with a message, a receiver making room, the last
//!    sender or receiver leaving, another select at the other end of a
//!    rendezvous — commits it to that operation with a compare-and-swap on
//!    the selector's state and sets aside what completing it needs. Only the
//!    first compare-and-swap wins; the losers serve their next waiter, so no
//!    wake-up is spent on a select that went elsewhere. The select wakes,
//!    takes itself off every list and returns the operation it was committed
//!    to. When it finds, while listing itself, that an operation could go
//!    ahead after all, it backs off (a compare-and-swap of its own, which a
//!    committing party may beat) and tries again from phase 1.
//!
//! Two selects listed on the two ends of a rendezvous channel would each
//! back off to commit the other, and could keep missing each other: only
//! the one whose selector has the lower address counts the other as ready;
//! the higher one stays listed and nudges the lower one to look again.
//!
//! The select is taken off every list on every way out: selected, timed
//! out, or cancelled. A cancelled select does not unwind out of its park:
//! the park reports the cancellation, and if the select had been committed
//! by then it returns that operation (its counterpart has completed its
//! side: a sender whose message was set aside for it returned `Ok`), and
//! the cancellation takes effect at the caller's next park; otherwise it
//! leaves every list, gives back whatever had been set aside for it, and
//! unwinds.
//!
//! What a selected operation holds, how rendezvous channels behave and why
//! the choice is fair are part of the contract, documented on [`Select`].

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::channel::{Receiver, RecvError, SendError, Sender};
use crate::park;
use crate::sched::Unparker;
use crate::task::Wake;
use crate::wait::{Waiting, reason};

/// [`Selector::state`]: listed, not committed yet.
const WAITING: usize = 0;
/// [`Selector::state`]: the select backed off, timed out or gave up.
const ABORTED: usize = 1;
/// [`Selector::state`]: committed to operation `state - FIRST_OP`.
const FIRST_OP: usize = 2;

/// The part of a waiting select that the channels it is listed on share.
pub(crate) struct Selector {
    /// [`WAITING`], [`ABORTED`], or committed to an operation: set once per
    /// wait, by the compare-and-swap that wins.
    state: AtomicUsize,
    /// Wakes the select's micro-thread or OS thread.
    unparker: Unparker,
}

/// A selector's identity (its address): what channels record what they set
/// aside under. Valid while the selector is alive, which every reservation
/// made under it ensures (a [`SelectedOperation`] holds its selector).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SelectorId(usize);

impl Selector {
    fn new() -> Selector {
        Selector {
            state: AtomicUsize::new(WAITING),
            unparker: Unparker::current(),
        }
    }

    pub(crate) fn id(&self) -> SelectorId {
        SelectorId(std::ptr::from_ref(self) as usize)
    }

    /// Commits the select to operation `op`, if nobody committed it (and it
    /// did not back off) first. The winner must set aside what the
    /// operation needs before it releases the channel's lock, and wake the
    /// select.
    pub(crate) fn try_commit(&self, op: usize) -> bool {
        self.state
            .compare_exchange(WAITING, FIRST_OP + op, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the select can still be committed.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    pub(crate) fn unpark(&self) {
        self.unparker.clone().unpark();
    }

    pub(crate) fn unparker(&self) -> Unparker {
        self.unparker.clone()
    }

    /// The operation the select was committed to, if it was.
    fn committed(&self) -> Option<usize> {
        self.state.load(Ordering::Acquire).checked_sub(FIRST_OP)
    }

    /// Stops anyone from committing the select; `Err` carries the
    /// operation someone committed it to first.
    fn abort(&self) -> Result<(), usize> {
        match self
            .state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(state) => state.checked_sub(FIRST_OP).map_or(Ok(()), Err),
        }
    }

    /// Makes the selector committable again, for another wait. Only once it
    /// is listed nowhere.
    fn reset(&self) {
        self.state.store(WAITING, Ordering::Release);
    }
}

/// Where a select stands with the operation it was committed to.
pub(crate) enum Completion {
    /// It can be completed without waiting.
    Ready,
    /// A receive whose message a selecting sender still owes.
    Owed,
    /// A receive that the paired sender called off before sending.
    CalledOff,
}

/// One end of a channel, as a [`Select`] uses it. [`Sender`] and
/// [`Receiver`] implement it (in `channel/select.rs`, which documents the
/// protocol); every method takes the channel's lock once.
pub(crate) trait Handle {
    /// The channel's address, to check that a completion names the right
    /// channel.
    fn channel(&self) -> usize;

    /// Phase 1, with `me` listed nowhere: if the operation can go ahead,
    /// sets aside what completing it needs under `me` and returns `true`.
    fn try_select(&self, me: &Selector) -> bool;

    /// Lists `me` as waiting to do its operation `op` here. Returns whether
    /// the operation could go ahead now (then `me` backs off).
    fn register(&self, me: &Arc<Selector>, op: usize) -> bool;

    /// Whether the operation could go ahead now. `me` is the listed
    /// selector asking (`None`: a caller that is listed nowhere).
    fn is_ready(&self, me: Option<&Selector>) -> bool;

    /// Takes `me` off the wait list here.
    fn unregister(&self, me: &Selector);

    /// Where `me`, committed to the operation here, stands.
    fn completion(&self, me: &Selector) -> Completion;

    /// Gives back what was set aside for `me`, which will not complete its
    /// operation.
    fn release(&self, me: &Selector);
}

/// One operation added to a [`Select`].
#[derive(Clone, Copy)]
struct Op<'a> {
    handle: &'a dyn Handle,
    channel: usize,
    is_send: bool,
}

/// A set of channel operations to wait on together; the first that can go
/// ahead is selected.
///
/// Add operations with [`send`](Select::send) and [`recv`](Select::recv),
/// each returning its index; then [`select`](Select::select) (or a variant
/// with a timeout) returns the [`SelectedOperation`] to complete. An
/// operation on a disconnected channel counts as able to go ahead: its
/// completion returns the error. Among several that can go ahead, a random
/// one is picked. The [`select!`](crate::select) macro is the shorter way to
/// write a select over a fixed list.
///
/// A select parks a micro-thread and blocks an OS thread, and works with any
/// mix of the two at the other ends of its channels.
///
/// # Examples
///
/// ```
/// use dhaga_runtime::sync::{Select, unbounded};
///
/// let (tx1, rx1) = unbounded::<i32>();
/// let (tx2, rx2) = unbounded::<&str>();
/// dhaga_runtime::spawn(move || tx2.send("hello").unwrap());
///
/// let mut sel = Select::new();
/// let op1 = sel.recv(&rx1);
/// let op2 = sel.recv(&rx2);
/// let op = sel.select();
/// match op.index() {
///     i if i == op1 => println!("number {:?}", op.recv(&rx1)),
///     i if i == op2 => assert_eq!(op.recv(&rx2), Ok("hello")),
///     _ => unreachable!(),
/// }
/// # drop(tx1);
/// ```
///
/// # Completing the selected operation
///
/// A [`SelectedOperation`] holds what its operation needs — the message
/// for a receive, a unit of room for a send on a bounded channel, a
/// receiver waiting for the message for a send on a rendezvous channel —
/// until it is completed with [`send`](SelectedOperation::send) or
/// [`recv`](SelectedOperation::recv), so completing it does not wait.
/// crossbeam panics when one is dropped uncompleted; here dropping it gives
/// the reservation back and nothing is lost: a message goes back to the
/// front of its channel for the next receiver, room becomes free, a paired
/// receiver goes back to waiting. One trace remains on a rendezvous
/// channel: a message that a blocked sender handed to this select (that
/// sender has returned) goes to the next receiver waiting, or stays queued
/// in the channel until another receiver comes. Dropping a selected
/// operation is the caller's choice, unlike a cancellation (see below).
///
/// # Rendezvous channels
///
/// A select's send is committed before its message exists (the message is
/// given to [`SelectedOperation::send`]), so on a rendezvous channel the
/// receiver it was paired with waits for the message a moment, even past
/// its deadline: complete a selected send promptly. A select receiving on a
/// rendezvous channel does that wait inside `select`, and picks again if
/// the sending select's operation is dropped uncompleted. Two selects on
/// the two ends of one rendezvous channel pair up; a select never pairs
/// with itself. If the paired receiver is cancelled before the message
/// comes, completing the send hands the message to the next receiver
/// waiting, or fails and gives it back.
///
/// # Cancellation
///
/// A select whose micro-thread is cancelled while it waits unwinds, unless
/// an operation was selected for it first: then the select returns that
/// operation, as if the cancellation had come a moment later, and the
/// micro-thread unwinds at its next park. So a sender that handed a message
/// to a waiting select (and returned) has handed it to a select that
/// returns it.
///
/// # Fairness
///
/// Each attempt starts at an operation picked at random (a xorshift
/// generator seeded from std's per-call random hasher keys) and takes the
/// first that can go ahead from there, so each operation that can go ahead
/// is picked with probability at least `1/n` among `n` operations: none
/// starves.
///
/// # Threads
///
/// A `Select` stays on the micro-thread or OS thread that made it (it is
/// not `Send`), which lets it keep its waiting state from call to call:
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(dhaga_runtime::sync::Select::new());
/// ```
pub struct Select<'a> {
    ops: Vec<Op<'a>>,
    /// xorshift state for the random start; `0` until first needed.
    rng: u64,
    /// The selector of the last call, reused when nothing holds it any more.
    selector: Option<Arc<Selector>>,
}

/// How one wait (phase 2) ended.
enum Waited {
    Committed(usize),
    BackedOff,
    TimedOut,
    Cancelled,
}

/// Why a select returned no operation.
enum Failure {
    NotReady,
    TimedOut,
    Cancelled,
}

impl<'a> Select<'a> {
    /// An empty set of operations.
    pub fn new() -> Select<'a> {
        Select {
            ops: Vec::new(),
            rng: 0,
            selector: None,
        }
    }

    /// Adds sending on `s`, and returns the operation's index (counting
    /// from 0 in the order operations are added).
    pub fn send<T>(&mut self, s: &'a Sender<T>) -> usize {
        self.add(s, true)
    }

    /// Adds receiving on `r`, and returns the operation's index.
    pub fn recv<T>(&mut self, r: &'a Receiver<T>) -> usize {
        self.add(r, false)
    }

    fn add(&mut self, handle: &'a dyn Handle, is_send: bool) -> usize {
        self.ops.push(Op {
            handle,
            channel: handle.channel(),
            is_send,
        });
        self.ops.len() - 1
    }

    /// Selects an operation that can go ahead now, without waiting.
    ///
    /// On a rendezvous channel, a receive paired with a select waiting to
    /// send waits the moment that select's caller takes to complete it.
    ///
    /// # Errors
    ///
    /// [`TrySelectError`] if no operation can go ahead now (always, for an
    /// empty set).
    pub fn try_select(&mut self) -> Result<SelectedOperation<'a>, TrySelectError> {
        self.run(false, None).map_err(|_| TrySelectError)
    }

    /// Waits until an operation can go ahead and selects it.
    ///
    /// With no operations added this waits forever, as crossbeam's does. A
    /// micro-thread that is being cancelled while already unwinding (a
    /// destructor selecting during shutdown) cannot wait: it gets operation
    /// 0 in a failed state, whose completion returns the error of a
    /// disconnected channel.
    ///
    /// # Panics
    ///
    /// In that unwinding case with no operations added, since there is
    /// nothing to return.
    pub fn select(&mut self) -> SelectedOperation<'a> {
        match self.run(true, None) {
            Ok(op) => op,
            Err(_) => {
                let op = *self.ops.first().expect("select: no operation to fail while unwinding");
                SelectedOperation {
                    index: 0,
                    op,
                    selector: None,
                }
            }
        }
    }

    /// Waits at most `timeout` for an operation that can go ahead.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] if none could in time, or if the caller is a
    /// micro-thread that is being cancelled (it cannot wait).
    pub fn select_timeout(&mut self, timeout: Duration) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(true, Instant::now().checked_add(timeout))
            .map_err(|_| SelectTimeoutError)
    }

    /// Waits until `deadline` at most for an operation that can go ahead.
    ///
    /// # Errors
    ///
    /// As [`Select::select_timeout`].
    pub fn select_deadline(&mut self, deadline: Instant) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(true, Some(deadline)).map_err(|_| SelectTimeoutError)
    }

    /// The index of an operation that could go ahead now, without selecting
    /// it: by the time the caller acts, another thread may have taken the
    /// message or the room.
    ///
    /// # Errors
    ///
    /// [`TryReadyError`] if none could.
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        let n = self.ops.len();
        let start = self.start();
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&index| self.ops[index].handle.is_ready(None))
            .ok_or(TryReadyError)
    }

    /// Phase 1, then (if `wait`) phase 2 until `deadline`, until an
    /// operation is selected and can be completed.
    fn run(&mut self, wait: bool, deadline: Option<Instant>) -> Result<SelectedOperation<'a>, Failure> {
        let me = self.selector();
        let n = self.ops.len();
        loop {
            let start = self.start();
            let tried = (0..n)
                .map(|k| (start + k) % n)
                .find(|&index| self.ops[index].handle.try_select(&me));
            let index = match tried {
                Some(index) => index,
                None if !wait => return Err(Failure::NotReady),
                None if deadline.is_some_and(|d| Instant::now() >= d) => return Err(Failure::TimedOut),
                None => match self.wait(&me, start, deadline) {
                    Waited::Committed(index) => index,
                    Waited::BackedOff => {
                        me.reset();
                        continue;
                    }
                    Waited::TimedOut => return Err(Failure::TimedOut),
                    Waited::Cancelled => return Err(cancelled()),
                },
            };
            match self.settle(&me, index) {
                Ok(true) => {
                    return Ok(SelectedOperation {
                        index,
                        op: self.ops[index],
                        selector: Some(me),
                    });
                }
                // The sender we were paired with dropped its operation.
                Ok(false) => me.reset(),
                Err(()) => return Err(cancelled()),
            }
        }
    }

    /// A selector for this call: the last one if nothing holds it any more
    /// (the select is not `Send`, so its unparker is still the caller's).
    fn selector(&mut self) -> Arc<Selector> {
        match self.selector.take() {
            Some(selector) if Arc::strong_count(&selector) == 1 => {
                selector.reset();
                self.selector = Some(Arc::clone(&selector));
                selector
            }
            _ => {
                let selector = Arc::new(Selector::new());
                self.selector = Some(Arc::clone(&selector));
                selector
            }
        }
    }

    /// Phase 2: lists `me` everywhere and parks until it is committed, backs
    /// off, times out or cannot wait. `me` is listed nowhere on return.
    fn wait(&self, me: &Arc<Selector>, start: usize, deadline: Option<Instant>) -> Waited {
        let n = self.ops.len();
        let mut listed = Listed {
            ops: &self.ops,
            me,
            unwinding: true,
        };
        let ready = (0..n)
            .map(|k| (start + k) % n)
            .any(|index| self.ops[index].handle.register(me, index));
        let back_off = || match me.abort() {
            Ok(()) => Waited::BackedOff,
            Err(index) => Waited::Committed(index),
        };
        let waited = if ready {
            back_off()
        } else {
            loop {
                if let Some(index) = me.committed() {
                    break Waited::Committed(index);
                }
                // A cancellation is reported, not unwound from, so that a
                // select committed meanwhile returns its operation; one that
                // was not is unwound by `run`, once off every list.
                match park::park_reporting_cancel(Waiting::numbered(&reason::SELECT, self.ops.len() as u64), deadline) {
                    Wake::Notified => {
                        // Not committed (checked next time round): a nudge
                        // from a select at the other end of a rendezvous,
                        // or spurious. Look again.
                        if me.is_waiting() && self.ops.iter().any(|op| op.handle.is_ready(Some(me))) {
                            break back_off();
                        }
                    }
                    Wake::TimedOut => {
                        break match me.abort() {
                            Ok(()) => Waited::TimedOut,
                            Err(index) => Waited::Committed(index),
                        };
                    }
                    Wake::Cancelled => {
                        break match me.abort() {
                            Ok(()) => Waited::Cancelled,
                            Err(index) => Waited::Committed(index),
                        };
                    }
                }
            }
        };
        listed.unwinding = false;
        drop(listed);
        waited
    }

    /// Waits, if operation `index` is a receive whose message a selecting
    /// sender still owes, for that message. `Ok(false)`: the sender called
    /// it off; `Err`: the caller cannot wait (the pairing is given up).
    fn settle(&self, me: &Selector, index: usize) -> Result<bool, ()> {
        let handle = self.ops[index].handle;
        match handle.completion(me) {
            Completion::Ready => return Ok(true),
            Completion::CalledOff => return Ok(false),
            Completion::Owed => {}
        }
        let mut owed = Owed {
            handle,
            me,
            unwinding: true,
        };
        loop {
            let wake = park::park_reporting_cancel(Waiting::on(&reason::SELECT), None);
            match handle.completion(me) {
                Completion::Ready => break,
                Completion::CalledOff => {
                    owed.unwinding = false;
                    return Ok(false);
                }
                Completion::Owed if wake == Wake::Cancelled => return Err(()), // `owed` gives it up
                Completion::Owed => {}
            }
        }
        owed.unwinding = false;
        Ok(true)
    }

    /// Where the next try phase starts: uniformly at random.
    fn start(&mut self) -> usize {
        let n = self.ops.len() as u64;
        if n < 2 {
            return 0;
        }
        if self.rng == 0 {
            // Each `RandomState::new` on a thread has fresh keys.
            self.rng = RandomState::new().hash_one(n) | 1;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x % n) as usize
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select").field("operations", &self.ops.len()).finish()
    }
}

/// The way out of a select that could not wait: a cancelled caller unwinds
/// here (its parks report the cancellation instead, so that it can leave
/// every list first); one that is unwinding already fails.
fn cancelled() -> Failure {
    park::cancellation_point();
    Failure::Cancelled
}

/// Takes a selector off every wait list when phase 2 ends, also by
/// unwinding out of `park`, when what a commit set aside is given back.
struct Listed<'s, 'a> {
    ops: &'s [Op<'a>],
    me: &'s Selector,
    unwinding: bool,
}

impl Drop for Listed<'_, '_> {
    fn drop(&mut self) {
        let committed = if self.unwinding { self.me.abort().err() } else { None };
        for op in self.ops {
            op.handle.unregister(self.me);
        }
        if let Some(index) = committed {
            self.ops[index].handle.release(self.me);
        }
    }
}

/// Gives up a message owed to a select that stops waiting for it.
struct Owed<'s> {
    handle: &'s dyn Handle,
    me: &'s Selector,
    unwinding: bool,
}

impl Drop for Owed<'_> {
    fn drop(&mut self) {
        if self.unwinding {
            self.handle.release(self.me);
        }
    }
}

/// An operation a [`Select`] selected, to be completed with
/// [`send`](SelectedOperation::send) or [`recv`](SelectedOperation::recv)
/// on the same sender or receiver it was added with.
///
/// What the operation needs is set aside for it until then, so completing
/// it does not wait. Dropping it uncompleted gives that back (see
/// [`Select`]): no message is lost, but a receiver paired with a rendezvous
/// send waited for nothing. Complete it promptly.
#[must_use = "a selected operation holds a message or room until it is completed with `send` or `recv`"]
pub struct SelectedOperation<'a> {
    index: usize,
    op: Op<'a>,
    /// The select's selector, while the operation is still to complete;
    /// `None` once completed, or for an operation that fails (the select
    /// could not wait).
    selector: Option<Arc<Selector>>,
}

impl SelectedOperation<'_> {
    /// The index [`Select::send`] or [`Select::recv`] returned for the
    /// operation.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Completes the selected send with `msg`.
    ///
    /// # Errors
    ///
    /// Gives the message back if every receiver is gone; or, on a
    /// rendezvous channel, if the receiver this send was paired with was
    /// cancelled before the message came and no other receiver is waiting
    /// (the message was not received: nothing keeps it in the channel).
    ///
    /// # Panics
    ///
    /// If the selected operation is not a send on `s`'s channel.
    pub fn send<T>(mut self, s: &Sender<T>, msg: T) -> Result<(), SendError<T>> {
        assert!(
            self.op.is_send && self.op.channel == s.channel(),
            "SelectedOperation::send: operation {} is not a send on this channel",
            self.index
        );
        match self.selector.take() {
            Some(me) => s.complete_select(&me, msg),
            None => Err(SendError(msg)),
        }
    }

    /// Completes the selected receive.
    ///
    /// # Errors
    ///
    /// If the channel is empty and every sender is gone.
    ///
    /// # Panics
    ///
    /// If the selected operation is not a receive on `r`'s channel.
    pub fn recv<T>(mut self, r: &Receiver<T>) -> Result<T, RecvError> {
        assert!(
            !self.op.is_send && self.op.channel == r.channel(),
            "SelectedOperation::recv: operation {} is not a receive on this channel",
            self.index
        );
        match self.selector.take() {
            Some(me) => r.complete_select(&me),
            None => Err(RecvError),
        }
    }
}

impl Drop for SelectedOperation<'_> {
    fn drop(&mut self) {
        if let Some(me) = self.selector.take() {
            self.op.handle.release(&me);
        }
    }
}

impl fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation").field("index", &self.index).finish()
    }
}

/// [`Select::try_select`] found no operation that could go ahead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrySelectError;

/// [`Select::select_timeout`] found no operation that could go ahead in
/// time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelectTimeoutError;

/// [`Select::try_ready`] found no operation that could go ahead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TryReadyError;

impl fmt::Display for TrySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no channel operation was ready")
    }
}

impl fmt::Display for SelectTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out waiting for a channel operation")
    }
}

impl fmt::Display for TryReadyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no channel operation was ready")
    }
}

impl std::error::Error for TrySelectError {}
impl std::error::Error for SelectTimeoutError {}
impl std::error::Error for TryReadyError {}

/// Waits on several channel operations and runs the arm of the one that
/// goes ahead, as `crossbeam-channel`'s `select!` does.
///
/// Arms, separated by commas (optional after a block):
///
/// - `recv(r) -> res => body`: receive on `r` (a
///   [`Receiver`](crate::sync::Receiver) or a reference to one); `res` is a
///   pattern for the `Result<T, RecvError>`.
/// - `send(s, msg) -> res => body`: send `msg` on `s`; `msg` is evaluated
///   only if this arm is selected; `res` is a pattern for the
///   `Result<(), SendError<T>>`.
/// - `default => body`: run if no operation can go ahead now (the select
///   does not wait).
/// - `default(timeout) => body`: run if no operation can go ahead within
///   `timeout` (a [`Duration`](std::time::Duration)).
///
/// At most one `default` arm. An operation on a disconnected channel goes
/// ahead, with the error; among several that can, a random one is picked.
/// The bodies run in the caller's function, so `break`, `continue`, `return`
/// and `?` work in them. Built on [`Select`](crate::sync::Select); without
/// arms it waits forever.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dhaga_runtime::select;
/// use dhaga_runtime::sync::{bounded, unbounded};
///
/// let (tx, rx) = unbounded::<u32>();
/// let (done_tx, done_rx) = bounded::<()>(0);
/// dhaga_runtime::spawn(move || {
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
///     done_tx.send(()).unwrap();
/// });
///
/// let mut got = Vec::new();
/// loop {
///     select! {
///         recv(rx) -> msg => got.push(msg.unwrap()),
///         recv(done_rx) -> _ => break,
///         default(Duration::from_secs(10)) => panic!("nothing within 10 s"),
///     }
/// }
/// got.extend(rx.try_iter()); // a message may have raced with `done`
/// assert_eq!(got, [0, 1, 2]);
/// ```
#[macro_export]
macro_rules! select {
    () => {{
        let _never = $crate::sync::Select::new().select();
        ::core::unreachable!("a select without operations never returns")
    }};
    ($($tokens:tt)+) => {
        $crate::__select!(@parse () () $($tokens)+)
    };
}

/// The implementation of [`select!`]: parses the arms one by one (each in
/// a fresh expansion, which gives each arm hygienic bindings of its own),
/// then adds the operations to a `Select` and dispatches on the index.
#[doc(hidden)]
#[macro_export]
macro_rules! __select {
    // One arm per step. A body is an expression followed by a comma or the
    // end, or a block with no comma.
    (@parse ($($ops:tt)*) $default:tt recv($r:expr) -> $res:pat => $body:expr $(, $($tail:tt)*)?) => {
        $crate::__select!(@parse ($($ops)* [Receiver recv ($r) handle index ($res) ($body) ()]) $default $($($tail)*)?)
    };
    (@parse ($($ops:tt)*) $default:tt recv($r:expr) -> $res:pat => $body:block $($tail:tt)*) => {
        $crate::__select!(@parse ($($ops)* [Receiver recv ($r) handle index ($res) ($body) ()]) $default $($tail)*)
    };
    (@parse ($($ops:tt)*) $default:tt send($s:expr, $m:expr) -> $res:pat => $body:expr $(, $($tail:tt)*)?) => {
        $crate::__select!(@parse ($($ops)* [Sender send ($s) handle index ($res) ($body) (, $m)]) $default $($($tail)*)?)
    };
    (@parse ($($ops:tt)*) $default:tt send($s:expr, $m:expr) -> $res:pat => $body:block $($tail:tt)*) => {
        $crate::__select!(@parse ($($ops)* [Sender send ($s) handle index ($res) ($body) (, $m)]) $default $($tail)*)
    };
    (@parse $ops:tt () default => $body:expr $(, $($tail:tt)*)?) => {
        $crate::__select!(@parse $ops (try_select () ($body)) $($($tail)*)?)
    };
    (@parse $ops:tt () default => $body:block $($tail:tt)*) => {
        $crate::__select!(@parse $ops (try_select () ($body)) $($tail)*)
    };
    (@parse $ops:tt () default($timeout:expr) => $body:expr $(, $($tail:tt)*)?) => {
        $crate::__select!(@parse $ops (select_timeout ($timeout) ($body)) $($($tail)*)?)
    };
    (@parse $ops:tt () default($timeout:expr) => $body:block $($tail:tt)*) => {
        $crate::__select!(@parse $ops (select_timeout ($timeout) ($body)) $($tail)*)
    };
    (@parse $ops:tt ($($default:tt)+) default $($tail:tt)*) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    (@parse $ops:tt $default:tt) => {
        $crate::__select!(@emit $ops $default)
    };
    (@parse $ops:tt $default:tt $($tail:tt)*) => {
        ::core::compile_error!(
            "select!: expected `recv(r) -> res => body`, `send(s, msg) -> res => body`, \
             `default => body` or `default(timeout) => body`"
        )
    };

    // Adds the operations in order, binding each channel once, selects,
    // and runs the selected operation's arm.
    (@emit ($([$kind:ident $add:ident ($chan:expr) $handle:ident $index:ident ($res:pat) ($body:expr) ($($msg:tt)*)])*)
        $($default:tt)*
    ) => {{
        let mut sel = $crate::sync::Select::new();
        $(
            let $handle: &$crate::sync::$kind<_> = &$chan;
            let $index = sel.$add($handle);
        )*
        $crate::__select!(@select sel $($default)* => op => match op.index() {
            $(i if i == $index => {
                let $res = op.$add($handle $($msg)*);
                $body
            })*
            _ => ::core::unreachable!("select!: the selected operation is one of the arms"),
        })
    }};
    (@select $sel:ident () => $op:ident => $dispatch:expr) => {{
        let $op = $sel.select();
        $dispatch
    }};
    (@select $sel:ident ($wait:ident ($($timeout:expr)?) ($default:expr)) => $op:ident => $dispatch:expr) => {
        match $sel.$wait($($timeout)?) {
            ::core::result::Result::Ok($op) => $dispatch,
            ::core::result::Result::Err(_) => $default,
        }
    };
}
