//! Scoped micro-threads: [`scope`] lends a [`Scope`] whose micro-threads may
//! borrow the caller's locals, and waits for all of them before it returns,
//! as `std::thread::scope` does for OS threads.
//!
//! # How it is sound
//!
//! A scoped child's closure borrows for `'scope`, but the runtime runs only
//! `'static` bodies, so its type is erased (the `unsafe` transmute in
//! [`Builder::spawn_scoped`]). That is sound because nothing the body owns or
//! borrows is touched after its [`Child`] is dropped, and `scope` cannot be
//! left, by returning or unwinding, while any [`Child`] exists:
//!
//! - A [`Child`] counts the child in [`ScopeData::running`] from before the
//!   spawn until it is dropped as the body's last field: after the closure
//!   has run and the child has let go of its result (dropping it if the
//!   handle is gone), or after the closure, dropped uncalled, is gone. A
//!   failed spawn drops it at once. Nothing else decrements the count, so a
//!   forgotten [`ScopedJoinHandle`] only leaks its result.
//! - `scope` runs its closure under `catch_unwind`, then waits for the count
//!   to reach zero in an [`UncancellableWait`]: cancellation wakes it but
//!   does not make it unwind, and an unwinding caller blocks its OS thread
//!   instead of suspending. Only then does it resume the closure's panic,
//!   honour a cancellation, or return.
//! - The frames still running when a child stops counting (the body and
//!   the closure around it) hold its closure in a [`MaybeDangling`], so
//!   no function argument holds a borrow that ends while it runs.
//! - The runtime never drops a started micro-thread that is suspended (that
//!   would unwind `scope` from the middle of its wait): shutdown resumes
//!   each one until it ends, and drops the never-started children that a
//!   waiting scope may be counting.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::join::{self, Completer, JoinHandle};
use crate::park::{self, UncancellableWait};
use crate::runtime;
use crate::spawn::Builder;
use crate::wait::{Waiting, reason};

/// A scope to spawn micro-threads that borrow from the caller of [`scope`].
///
/// See [`scope`] for details.
///
/// # Lifetimes
///
/// As for [`std::thread::Scope`]: `'scope` is the life of the scope itself,
/// during which children may be spawned and may run; `'env` is the life of
/// what they borrow, which outlasts the call to [`scope`]. Both are
/// invariant, so a child cannot borrow something that dies before the scope
/// does:
///
/// ```compile_fail,E0373
/// dhaga_runtime::scope(|s| {
///     s.spawn(|| {
///         let a = String::from("abcd");
///         s.spawn(|| println!("{a:?}")); // might run after `a` is dropped
///     });
/// });
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    /// Invariance over `'scope` (see the type's docs), as in std.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// What a scope's children share with its caller. Behind an `Arc`: a child
/// still touches it (to wake the caller) after it has stopped counting,
/// when `scope` may already have returned.
struct ScopeData {
    /// Children that exist: spawned (or being spawned) and not done with
    /// anything they borrow. See [`Child`].
    running: AtomicUsize,
    /// Children whose closure panicked (cancellations do not count).
    panicked: AtomicUsize,
    /// How many of those panics a [`ScopedJoinHandle::join`] returned. Once
    /// every child is done, fewer than `panicked` means a panic nobody saw.
    panics_joined: AtomicUsize,
    /// Where the caller of `scope` waits for `running` to reach zero.
    wait: UncancellableWait,
}

impl ScopeData {
    /// Waits until every child is done. Cannot be cut short: not by a
    /// cancellation, not by a panic (it does not unwind).
    fn wait_for_children(&self) {
        // Acquire: pairs with the Release of each child's last decrement,
        // so everything the children did, their drops included, happens
        // before the caller goes on.
        while self.running.load(Ordering::Acquire) != 0 {
            self.wait.park(Waiting::on(&reason::SCOPE));
        }
    }

    /// Whether a child panicked and no join returned that panic. Meaningful
    /// once every child is done.
    fn unseen_panic(&self) -> bool {
        self.panicked.load(Ordering::Relaxed) > self.panics_joined.load(Ordering::Relaxed)
    }
}

/// One child counted in its scope's [`ScopeData::running`], from before it
/// is spawned until it is dropped. The child's body holds it as its last
/// field, so it is dropped after everything the body owns (its closure, its
/// completer), whether the body runs or is dropped uncalled.
struct Child {
    data: Arc<ScopeData>,
}

impl Child {
    /// Counts a new child of the scope.
    fn new(data: &Arc<ScopeData>) -> Child {
        // Relaxed: the count cannot drop to zero meanwhile (whoever spawns
        // is the scope's caller inside its closure, or a child that is
        // counted itself), and cannot overflow: each child holds a reference
        // to `data`, and `Arc` aborts before its own count could.
        data.running.fetch_add(1, Ordering::Relaxed);
        Child { data: Arc::clone(data) }
    }

    /// The child's body has run: records whether its closure panicked, then
    /// stops counting it.
    fn finish(self, panicked: bool) {
        if panicked {
            self.data.panicked.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Release: what this child did happens before `scope` returns.
        if self.data.running.fetch_sub(1, Ordering::Release) == 1 {
            self.data.wait.unparker().clone().unpark();
        }
    }
}

/// A scoped child's body: its closure, the completer its result goes
/// through, and its place in the count, dropped in that order (declaration
/// order) if the body is dropped uncalled.
struct ScopedBody<F, T: Send> {
    f: MaybeDangling<F>,
    completer: Completer<T>,
    child: Child,
}

impl<F: FnOnce() -> T, T: Send> ScopedBody<F, T> {
    fn run(self) {
        let ScopedBody { f, completer, child } = self;
        // Consumes `f`, and lets go of the result (dropping it if the handle
        // is gone) before it returns; only then does the count drop.
        let panicked = completer.run(f.into_inner());
        child.finish(panicked);
    }
}

/// Holds a value whose borrows may end while a function that got it as an
/// argument is still running — as `ScopedBody::run` and the closure around
/// it still are when their child stops counting, and `scope` may return.
///
/// A reference in a function's argument, even a field of a struct passed by
/// value, is assumed to stay valid until that function returns (Miri checks
/// it: a "protector"); inside a `MaybeUninit` it is opaque and assumed
/// nothing about. std's scoped threads do the same (rust-lang/rust#101983).
/// The value is always initialised; dropping the holder drops it.
struct MaybeDangling<T>(MaybeUninit<T>);

impl<T> MaybeDangling<T> {
    fn new(value: T) -> MaybeDangling<T> {
        MaybeDangling(MaybeUninit::new(value))
    }

    fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: the value is initialised (`new` is the only constructor)
        // and read once: `this` is never dropped, so neither is the value.
        unsafe { this.0.assume_init_read() }
    }
}

impl<T> Drop for MaybeDangling<T> {
    fn drop(&mut self) {
        // SAFETY: initialised (see `new`), and not read out: `into_inner`
        // does not run this.
        unsafe { self.0.assume_init_drop() }
    }
}

/// Creates a scope for spawning micro-threads that borrow from the caller:
/// `f` gets a [`Scope`], whose [`spawn`](Scope::spawn) takes closures that
/// need not be `'static`, and `scope` returns `f`'s value once `f` has
/// returned and every micro-thread spawned in the scope has ended.
///
/// This is [`std::thread::scope`] for micro-threads, with the same shape and
/// lifetimes. Called from a micro-thread, the caller parks while it waits
/// (its worker runs other micro-threads, the children among them); from an
/// OS thread it blocks. The children go where [`spawn`](crate::spawn) from
/// the same place would put them: the caller's runtime, or outside any
/// runtime the default one; in [thread mode](crate::RuntimeBuilder::thread_mode)
/// they are OS threads.
///
/// # Panics
///
/// If `f` panics, `scope` still waits for every child, then resumes `f`'s
/// panic. Otherwise, if a child panicked and its panic was not returned by
/// a [`join`](ScopedJoinHandle::join), `scope` panics once every child has
/// ended ("a scoped micro-thread panicked"). A child that was cancelled
/// (see below) did not panic: that is reported to its join only.
///
/// # Cancellation
///
/// The wait for the children is not cut short by a cancellation of the
/// caller ([`JoinHandle::cancel`], or its runtime shutting down): the
/// children may borrow from the caller's stack, so it cannot unwind before
/// they end. A caller cancelled while `f` runs unwinds out of `f` at its
/// next park, as anywhere; `scope` then waits for the children and resumes
/// that unwind. A caller cancelled while `scope` waits goes on waiting, and
/// unwinds with a [`Cancelled`](crate::task::Cancelled) payload once the children
/// have ended. Cancelling the caller does not cancel the children; cancel
/// them through their handles ([`ScopedJoinHandle::cancel`]) to make them
/// stop early. A runtime that shuts down cancels the children that are
/// micro-threads, and drops those that have not started; children that are
/// OS threads (in thread mode, or those of an unwinding caller, see below)
/// are left to finish on their own, as thread mode's threads are, and
/// `scope` waits for them.
///
/// # Waiting while unwinding
///
/// A micro-thread that is unwinding (a destructor calls `scope` during a
/// panic) cannot park. It then blocks its worker's OS thread until the
/// children end, as the sync primitives' waits that cannot fail do, and its
/// children are started as OS threads (the way [thread
/// mode](crate::RuntimeBuilder::thread_mode) starts micro-threads) so that
/// the blocked worker is not needed to run them; what those children spawn,
/// and the children of scopes they open, are OS threads too. Its joins of
/// those children block the worker's OS thread as well, until the child has
/// ended (see [`ScopedJoinHandle::join`]): a panic they return does not make
/// `scope` panic while the caller is already panicking.
///
/// # Examples
///
/// ```
/// let total = dhaga_runtime::run(|| {
///     let numbers: Vec<u64> = (1..=1000).collect();
///     let mut largest = 0;
///     let total = dhaga_runtime::scope(|s| {
///         // Each child borrows a chunk of `numbers`, a local of the caller.
///         let sums: Vec<_> = numbers.chunks(100).map(|chunk| s.spawn(|| chunk.iter().sum::<u64>())).collect();
///         // A child may borrow mutably what no other one touches.
///         s.spawn(|| largest = *numbers.iter().max().unwrap());
///         sums.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
///     });
///     // Every child has ended: the borrows are over.
///     assert_eq!(largest, 1000);
///     total
/// });
/// assert_eq!(total, 500_500);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            panicked: AtomicUsize::new(0),
            panics_joined: AtomicUsize::new(0),
            wait: UncancellableWait::new(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.data.wait_for_children();
    match result {
        Err(payload) => panic::resume_unwind(payload),
        Ok(value) => {
            // Cancelled while waiting: unwind now, as a join would have.
            park::cancellation_point();
            if scope.data.unseen_panic() {
                panic!("a scoped micro-thread panicked");
            }
            value
        }
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a micro-thread in the scope and returns a handle to join it.
    ///
    /// Unlike [`spawn`](crate::spawn), `f` may borrow what outlives the
    /// scope (see [`scope`]). If the handle is dropped, the micro-thread is
    /// still joined when the scope ends, and its panic, if it panics, makes
    /// [`scope`] panic.
    ///
    /// # Panics
    ///
    /// If the micro-thread cannot be started (its stack cannot be
    /// allocated); [`Builder::spawn_scoped`] returns that error instead.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        Builder::new().spawn_scoped(self, f).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Builder {
    /// Spawns `f` as a micro-thread of `scope`, with this builder's options
    /// (name, stack size, colocation), as [`Scope::spawn`] does.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`]: if the stack cannot be allocated, or an OS
    /// thread cannot be started where one is (thread mode). Nothing is then
    /// left running or counted in the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = String::from("borrowed");
    /// dhaga_runtime::scope(|s| {
    ///     let child = dhaga_runtime::Builder::new()
    ///         .name("scoped".into())
    ///         .stack_size(256 * 1024)
    ///         .spawn_scoped(s, || name.len())?;
    ///     assert_eq!(child.name(), Some("scoped"));
    ///     assert_eq!(child.join().unwrap(), 8);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let data = &scope.data;
        let child = Child::new(data);
        let mut options = self.into_options();
        // A caller blocking a worker's OS thread would keep children queued
        // there from running: they get OS threads of their own.
        options.os_thread = data.wait.blocks_worker();
        // If the spawn fails, `f` and `child` are dropped by this caller,
        // which the scope is still waiting for.
        let handle = join::spawn_with(&runtime::current(), options, move |completer| {
            let body = ScopedBody {
                f: MaybeDangling::new(f),
                completer,
                child,
            };
            let body: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || body.run());
            // SAFETY: this erases `'scope` from the body's type (both are the
            // same fat pointer), so that the runtime, which runs `'static`
            // bodies, accepts it. Sound because whatever the body owns or
            // borrows, `f` and `T` both being `'scope`, is used only until
            // its `child` is dropped (see `ScopedBody`: last, whether the
            // body is called or dropped uncalled; and no function still
            // running then holds `f` in an argument, see `MaybeDangling`),
            // and `scope` can neither
            // return nor unwind while a `Child` of it exists: it waits for
            // the count, uncancellably, after catching `f`'s panic. The
            // result, if the handle outlives the body, stays with the
            // `ScopedJoinHandle<'scope, T>`, whose own lifetime keeps it
            // inside the scope.
            unsafe { mem::transmute::<Box<dyn FnOnce() + Send + 'scope>, Box<dyn FnOnce() + Send + 'static>>(body) }
        })?;
        Ok(ScopedJoinHandle {
            handle,
            data: &scope.data,
        })
    }
}

/// An owned permission to join a scoped micro-thread (wait for it to end and
/// take its result), and a way to cancel it.
///
/// Dropping the handle does not detach the micro-thread from its scope:
/// [`scope`] still waits for it. See [`Scope::spawn`].
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<T>,
    data: &'scope ScopeData,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the micro-thread to end and returns its result, as
    /// [`JoinHandle::join`] does. A panic returned here no longer makes
    /// [`scope`] panic.
    ///
    /// Everything the micro-thread did happens before `join` returns. It is
    /// a cancellation point for the caller.
    ///
    /// # Errors
    ///
    /// As [`JoinHandle::join`]: `Err(payload)` if the micro-thread panicked
    /// (the panic's payload) or was cancelled (a
    /// [`Cancelled`](crate::task::Cancelled) payload).
    ///
    /// # Panics
    ///
    /// Does not panic (a cancelled caller unwinds here, as said above). A
    /// join is what keeps a child's panic from making [`scope`] panic,
    /// which, in a caller that is already unwinding (a destructor during a
    /// panic), aborts the process. So a caller that is unwinding still
    /// waits here for a child that runs on an OS thread of its own — the
    /// children of an unwinding micro-thread's scope (see [`scope`],
    /// "Waiting while unwinding") and those of thread mode — by blocking its
    /// OS thread, whether or not it was cancelled, and gets the child's
    /// result. (A join that cannot wait returns a `Cancelled` error at once,
    /// as [`JoinHandle::join`] does in an unwinding micro-thread: the
    /// child's panic then counts as unseen.)
    ///
    /// # Examples
    ///
    /// ```
    /// dhaga_runtime::scope(|s| {
    ///     let child = s.spawn(|| panic!("oh no"));
    ///     assert!(child.join().is_err()); // seen here: `scope` does not panic
    /// });
    /// ```
    pub fn join(self) -> thread::Result<T> {
        // An unwinding caller cannot park, and a cancelled one would not
        // wait; blocking its OS thread is safe only when the child does not
        // need it (no worker is needed to run an OS thread).
        let result = if thread::panicking() && self.handle.on_os_thread() {
            self.handle.join_blocking()
        } else {
            self.handle.join()
        };
        if let Err(payload) = &result
            && !payload.is::<crate::task::Cancelled>()
        {
            self.data.panics_joined.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Whether the micro-thread has finished (its result is ready).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Asks the micro-thread to stop, as [`JoinHandle::cancel`] does. The
    /// scope still waits for it to end (unwinding, at its next park); its
    /// cancellation does not make [`scope`] panic.
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    /// The micro-thread's unique id within its runtime.
    pub fn id(&self) -> u64 {
        self.handle.id()
    }

    /// The micro-thread's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.handle.name()
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .field("panicked", &self.data.panicked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// `MaybeDangling` alone: the rest of a scope needs a runtime, which Miri
/// cannot run (see the tests in `tests/scope.rs`), but these run under it:
/// `cargo +nightly miri test -p dhaga-runtime --lib scope`.
#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::sync::mpsc;

    use super::MaybeDangling;

    #[test]
    fn drops_its_value_once_and_into_inner_hands_it_over() {
        let value = Rc::new(());
        drop(MaybeDangling::new(Rc::clone(&value)));
        assert_eq!(Rc::strong_count(&value), 1, "dropped with its holder");
        let taken = MaybeDangling::new(Rc::clone(&value)).into_inner();
        assert_eq!(Rc::strong_count(&value), 2, "not dropped by `into_inner`");
        drop(taken);
        assert_eq!(Rc::strong_count(&value), 1);
    }

    /// What a scoped child's body does: its closure borrows a local of
    /// another thread, which is freed as soon as the body says it is done,
    /// while the function that got the body as its argument still runs.
    /// Miri accepts it; with the closure held directly in the body's struct
    /// it reports undefined behaviour (a protected reference whose memory is
    /// freed).
    #[test]
    fn a_borrow_may_end_while_the_function_holding_it_runs() {
        struct Body<F> {
            f: MaybeDangling<F>,
            done: mpsc::Sender<()>,
        }
        fn run<F: FnOnce()>(body: Body<F>, go_on: mpsc::Receiver<()>) {
            let Body { f, done } = body;
            (f.into_inner())();
            done.send(()).unwrap();
            // The borrow is over, and `run` is still running.
            go_on.recv().unwrap();
        }
        let (done_tx, done_rx) = mpsc::channel();
        let (go_on_tx, go_on_rx) = mpsc::channel();
        let local = Box::new(5u64);
        let borrowed = &*local;
        let body = Body {
            f: MaybeDangling::new(move || assert_eq!(*borrowed, 5)),
            done: done_tx,
        };
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || run(body, go_on_rx));
        // SAFETY: as in `Builder::spawn_scoped`: `local`, the only thing the
        // job borrows, is freed only once the job has said it is done with it.
        let job =
            unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Box<dyn FnOnce() + Send + 'static>>(job) };
        let thread = std::thread::spawn(job);
        done_rx.recv().unwrap();
        drop(local);
        go_on_tx.send(()).unwrap();
        thread.join().unwrap();
    }
}
