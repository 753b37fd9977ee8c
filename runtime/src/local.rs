//! Micro-thread-local storage: the [`local!`](crate::local!) macro and
//! [`LocalKey`].
//!
//! `thread_local!` gives each *OS thread* its own value, so micro-threads
//! sharing a worker would share it too. A micro-thread-local gives each
//! *micro-thread* its own value, created the first time that micro-thread
//! touches it and dropped when it ends.
//!
//! # Where the values live
//!
//! The OS thread of each worker keeps a [`Tables`] in a thread-local of
//! this module: one [`Table`] per slot of the worker's micro-thread table,
//! tagged with the id of the micro-thread that owns it. A micro-thread finds
//! its own by the running task's id and slot, which the worker tells
//! (`sched/context.rs`). Code outside any micro-thread (a plain OS thread, a
//! thread-mode thread, a worker between micro-threads) uses a `Table` in
//! another thread-local of its OS thread instead. The worker itself knows
//! nothing of these tables.
//!
//! A table holds values as `Rc<dyn Any>`, which need not be `Send`. That is
//! sound without any `unsafe` here, and the compiler checks it: the tables are
//! in thread-locals, `!Send` and reachable only from their own OS thread, and
//! a started micro-thread never changes OS thread (see the crate docs), so a
//! value is created, used and dropped on one thread.
//!
//! # Re-entrancy
//!
//! A table is borrowed (`RefCell`) only for a lookup or an insertion, never
//! while user code runs: an access clones the value's `Rc` out of the table,
//! lets go of the table, and only then calls the closure. So initialisers,
//! closures and destructors may access other locals, or the same one, and may
//! park. The rules, as for std's thread-locals:
//!
//! - an initialiser that accesses its own local panics (it would otherwise
//!   recurse forever or see a value that does not exist yet); a panicking or
//!   cancelled initialiser leaves the local uninitialised, and the next access
//!   runs it again;
//! - once a micro-thread's body has returned (or unwound), its values are
//!   destroyed, most recently initialised first, and from then on every access
//!   from it fails: [`LocalKey::try_with`] returns [`AccessError`],
//!   [`LocalKey::with`] panics. So a destructor cannot resurrect a value
//!   nobody would drop;
//! - a destructor that panics aborts the process, as with std's
//!   thread-locals, except for a [`Cancelled`] unwind (a destructor that
//!   parked in a cancelled micro-thread): that ends the destructor early and
//!   the other values are still dropped.
//!
//! # Cost
//!
//! A micro-thread that never touches a local pays nothing at spawn, and at its
//! end a lookup of its worker thread's tables (no allocation, no atomic
//! read-modify-write). An access is two thread-local reads, a short linear search
//! of the micro-thread's values (one entry per local it has touched), and a
//! non-atomic reference-count increment.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::sched::context;
use crate::task::Cancelled;

thread_local! {
    /// The micro-thread-locals of the micro-threads of the worker that runs
    /// on this OS thread, by their slot in its table (empty on other
    /// threads). A started micro-thread never changes OS thread, so its
    /// table stays here. Empty by the time the worker exits: every
    /// micro-thread closes its own.
    static WORKER_TABLES: Tables = const { Tables::new() };
    /// The micro-thread-locals of this OS thread, used by code that runs
    /// outside any micro-thread. Dropped (destroying the values) when the
    /// thread exits, like any thread-local.
    static THREAD_TABLE: RefCell<Table> = const { RefCell::new(Table::new()) };
}

/// Declares micro-thread-local statics: each micro-thread sees its own value
/// of each, initialised lazily from the given expression on its first access
/// and dropped when the micro-thread ends, before its join returns.
///
/// The syntax is std's `thread_local!`: `static NAME: T = init;`, with
/// attributes and visibility, several declarations per invocation. Each
/// declaration becomes a `static NAME: LocalKey<T>`; see [`LocalKey`] for how
/// to use it. Outside a micro-thread (plain OS threads, thread mode) a local
/// behaves as a thread-local of the calling OS thread.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// dhaga_runtime::local! {
///     /// Requests served by the current micro-thread.
///     static SERVED: Cell<u32> = Cell::new(0);
/// }
///
/// let handles: Vec<_> = (1..=3)
///     .map(|n| {
///         dhaga_runtime::spawn(move || {
///             for _ in 0..n {
///                 SERVED.set(SERVED.get() + 1);
///                 dhaga_runtime::yield_now(); // other micro-threads run on this worker
///             }
///             SERVED.get()
///         })
///     })
///     .collect();
/// let counts: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(counts, [1, 2, 3]); // each saw only its own counter
/// ```
#[macro_export]
macro_rules! local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr; $($rest:tt)*) => {
        $crate::local!($(#[$attr])* $vis static $name: $t = $init);
        $crate::local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr) => {
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = {
            // A type of this declaration's own: its `TypeId` tells this local
            // apart from every other, whatever their value types.
            enum Id {}
            fn init() -> $t {
                $init
            }
            fn id() -> ::core::any::TypeId {
                ::core::any::TypeId::of::<Id>()
            }
            $crate::LocalKey::__new(init, id)
        };
    };
}

/// A micro-thread-local static, declared with [`local!`](crate::local!).
///
/// [`with`](LocalKey::with) lends the calling micro-thread's value, creating
/// it first if this is the micro-thread's first access. The value is shared
/// (`&T`): use `Cell` or `RefCell` inside to change it, as with std's
/// `thread_local!`; a `LocalKey<Cell<T>>` also has `get`, `set`, `take` and
/// `replace`, and a `LocalKey<RefCell<T>>` `with_borrow`, `with_borrow_mut`,
/// `set`, `take` and `replace`.
///
/// - Each micro-thread has its own value, which survives any number of parks
///   and is dropped on the micro-thread's own worker when its body returns or
///   unwinds (a panic, a cancellation, runtime shutdown), before its
///   [`join`](crate::JoinHandle::join) returns.
/// - `T` need not be `Send` or `Sync`: a started micro-thread never changes
///   OS thread, and no other thread can reach its values.
/// - Outside a micro-thread — a plain OS thread, a thread-mode thread, a
///   `spawn_blocking` job — the value belongs to the calling OS thread, as
///   with `thread_local!`. (A thread-mode thread's values are dropped before
///   its join returns, like a micro-thread's.)
///
/// # Initialisation and destruction
///
/// Initialisers, closures and destructors may access other locals, and may
/// park. As with std's thread-locals:
///
/// - an initialiser that accesses its own local panics; an initialiser that
///   panics (or is cancelled while it parks) leaves the local uninitialised,
///   and the next access runs it again;
/// - when a micro-thread ends, its values are dropped, the most recently
///   initialised first, and from then on every access from it fails:
///   [`try_with`](LocalKey::try_with) returns [`AccessError`] and
///   [`with`](LocalKey::with) panics — so a destructor cannot create a value
///   that nobody would drop;
/// - a destructor that panics aborts the process. One exception: a
///   destructor that parks in a cancelled micro-thread unwinds with
///   [`Cancelled`](crate::Cancelled); that ends the destructor early and the
///   other values are still dropped.
pub struct LocalKey<T: 'static> {
    /// Creates a micro-thread's value.
    init: fn() -> T,
    /// Identifies this local in a table.
    id: fn() -> TypeId,
}

/// The reason a micro-thread-local could not be accessed: the calling
/// micro-thread's (or OS thread's) locals have been destroyed already, as
/// happens to an access from a destructor of another local, or from a
/// thread-local's destructor at thread exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a micro-thread-local was accessed after the locals of its micro-thread were destroyed")
    }
}

impl Error for AccessError {}

const ACCESS_ERROR: AccessError = AccessError { _private: () };

impl<T: 'static> LocalKey<T> {
    /// Used by [`local!`](crate::local!); not a public API.
    #[doc(hidden)]
    pub const fn __new(init: fn() -> T, id: fn() -> TypeId) -> LocalKey<T> {
        LocalKey { init, id }
    }

    /// Calls `f` with the calling micro-thread's value, initialising it first
    /// if this is the micro-thread's first access.
    ///
    /// # Panics
    ///
    /// If the micro-thread's locals have been destroyed already (see
    /// [`try_with`](LocalKey::try_with)), if the local's initialiser accesses
    /// the local itself, and if the initialiser panics (the local then stays
    /// uninitialised).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// dhaga_runtime::local!(static LOG: RefCell<Vec<&'static str>> = RefCell::new(Vec::new()));
    ///
    /// let lines = dhaga_runtime::spawn(|| {
    ///     LOG.with(|log| log.borrow_mut().push("hello"));
    ///     LOG.with(|log| log.borrow().len())
    /// });
    /// assert_eq!(lines.join().unwrap(), 1);
    /// ```
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.try_with(f).unwrap_or_else(|e| panic!("dhaga: {e}"))
    }

    /// Calls `f` with the calling micro-thread's value, initialising it first
    /// if this is the micro-thread's first access; fails instead of panicking
    /// if the micro-thread's locals have been destroyed.
    ///
    /// # Errors
    ///
    /// [`AccessError`] if the caller's locals have been destroyed: it is a
    /// destructor of another local (or of a thread-local, at OS thread exit),
    /// or runs after its micro-thread's body returned.
    ///
    /// # Panics
    ///
    /// If the local's initialiser accesses the local itself, and if the
    /// initialiser panics.
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        self.access(self.init, f)
    }

    /// Calls `f` with the caller's value; if there is none yet, initialises it
    /// with `init` (not with the declared initialiser) first.
    fn access<R>(&'static self, init: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        let id = (self.id)();
        let value = match with_current(|table| table.find(id))? {
            Found::Ready(value) => value,
            Found::Initializing => panic!("dhaga: the initializer of a micro-thread-local accessed the local itself"),
            Found::Absent => initialize(id, init)?,
        };
        // The `Rc` clone keeps the value alive while `f` runs, with the table
        // free for other accesses.
        let value = (*value)
            .downcast_ref::<T>()
            .expect("a local's values have the local's type");
        Ok(f(value))
    }
}

impl<T: 'static> LocalKey<Cell<T>> {
    /// Sets the calling micro-thread's value. If it had none yet, `value`
    /// becomes its initial value and the declared initialiser does not run.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with).
    pub fn set(&'static self, value: T) {
        let value = Cell::new(Some(value));
        let result = self.access(
            || Cell::new(value.take().expect("the initial value is used once")),
            |cell| {
                if let Some(value) = value.take() {
                    cell.set(value);
                }
            },
        );
        result.unwrap_or_else(|e| panic!("dhaga: {e}"));
    }

    /// A copy of the calling micro-thread's value.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with).
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(Cell::get)
    }

    /// Takes the calling micro-thread's value, leaving `T::default()`.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with).
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }

    /// Replaces the calling micro-thread's value, returning the old one.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with).
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Calls `f` with a shared borrow of the calling micro-thread's value.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is mutably borrowed.
    pub fn with_borrow<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Calls `f` with a mutable borrow of the calling micro-thread's value.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is borrowed.
    pub fn with_borrow_mut<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets the calling micro-thread's value. If it had none yet, `value`
    /// becomes its initial value and the declared initialiser does not run.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is borrowed.
    pub fn set(&'static self, value: T) {
        let value = Cell::new(Some(value));
        let result = self.access(
            || RefCell::new(value.take().expect("the initial value is used once")),
            |cell| {
                if let Some(value) = value.take() {
                    *cell.borrow_mut() = value;
                }
            },
        );
        result.unwrap_or_else(|e| panic!("dhaga: {e}"));
    }

    /// Takes the calling micro-thread's value, leaving `T::default()`.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is borrowed.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }

    /// Replaces the calling micro-thread's value, returning the old one.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is borrowed.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// What a table holds for one local.
enum Found {
    Ready(Rc<dyn Any>),
    /// Its initialiser is running (further up the caller's stack).
    Initializing,
    Absent,
}

/// One local's entry in a table.
struct Entry {
    id: TypeId,
    /// `None` while its initialiser runs.
    value: Option<Rc<dyn Any>>,
}

/// The micro-thread-locals of one micro-thread (or OS thread), in the order
/// their initialisation finished.
struct Table {
    /// The micro-thread whose values these are (worker tables only; task
    /// ids start at 1, so 0 is nobody).
    owner: u64,
    /// Set once the values have been destroyed: every access fails from then
    /// on. (A micro-thread's own flag is in its task, see `with_current`.)
    closed: bool,
    entries: Vec<Entry>,
}

impl Table {
    /// An empty table.
    const fn new() -> Table {
        Table {
            owner: 0,
            closed: false,
            entries: Vec::new(),
        }
    }

    fn position(&self, id: TypeId) -> Option<usize> {
        self.entries.iter().position(|entry| entry.id == id)
    }

    fn find(&mut self, id: TypeId) -> Result<Found, AccessError> {
        if self.closed {
            return Err(ACCESS_ERROR);
        }
        Ok(match self.position(id) {
            Some(i) => match &self.entries[i].value {
                Some(value) => Found::Ready(Rc::clone(value)),
                None => Found::Initializing,
            },
            None => Found::Absent,
        })
    }

    /// Marks `id` as being initialised.
    fn begin_init(&mut self, id: TypeId) -> Result<(), AccessError> {
        if self.closed {
            return Err(ACCESS_ERROR);
        }
        self.entries.push(Entry { id, value: None });
        Ok(())
    }

    /// Stores the value of `id`, whose initialiser returned. The caller keeps
    /// another reference, so that a failure drops only this one (a count
    /// decrement, not the value's destructor, under the table's borrow).
    fn finish_init(&mut self, id: TypeId, value: Rc<dyn Any>) -> Result<(), AccessError> {
        let i = self.position(id).ok_or(ACCESS_ERROR)?;
        // Moved to the end: destruction runs in reverse order of completion,
        // so a value whose initialiser used another local goes first.
        self.entries.remove(i);
        if self.closed {
            return Err(ACCESS_ERROR);
        }
        self.entries.push(Entry { id, value: Some(value) });
        Ok(())
    }

    /// Forgets the initialisation of `id` (its initialiser unwound).
    fn abandon_init(&mut self, id: TypeId) {
        if let Some(i) = self.position(id) {
            debug_assert!(self.entries[i].value.is_none());
            self.entries.remove(i);
        }
    }

    /// Closes the table, handing its values out to be destroyed.
    fn close(&mut self) -> Vec<Entry> {
        self.closed = true;
        mem::take(&mut self.entries)
    }
}

impl Drop for Table {
    /// An OS thread's table, at thread exit (worker tables are empty by the
    /// time their worker exits: every micro-thread closed its own).
    fn drop(&mut self) {
        destroy(self.close());
    }
}

/// The micro-thread-locals of one worker's micro-threads, indexed by each
/// micro-thread's slot in the worker's table. Only the worker's own thread
/// touches it: it lives in a thread-local of that thread.
///
/// A table is reset when the next micro-thread in its slot first uses it
/// (its owner id differs), so neither spawn nor exit allocates or clears
/// anything for micro-threads that use no locals.
struct Tables {
    tables: RefCell<Vec<Table>>,
}

impl Tables {
    /// No tables yet.
    const fn new() -> Tables {
        Tables {
            tables: RefCell::new(Vec::new()),
        }
    }

    /// Calls `f` (which must not run user code) with the table of the
    /// micro-thread `owner` in slot `slot`.
    fn with<R>(&self, slot: usize, owner: u64, f: impl FnOnce(&mut Table) -> R) -> R {
        let mut stale = Vec::new();
        let result = {
            let mut tables = self.tables.borrow_mut();
            if tables.len() <= slot {
                tables.resize_with(slot + 1, Table::new);
            }
            let table = &mut tables[slot];
            if table.owner != owner {
                // Left by an earlier micro-thread of this slot, which closed
                // it (so it is empty) when it ended.
                debug_assert!(table.entries.is_empty(), "a micro-thread's locals outlived it");
                stale = mem::take(&mut table.entries);
                table.owner = owner;
                table.closed = false;
            }
            f(table)
        };
        destroy(stale); // outside the borrow: destructors are user code
        result
    }

    /// Takes the values of micro-thread `owner` in slot `slot` (at its end).
    fn take(&self, slot: usize, owner: u64) -> Vec<Entry> {
        match self.tables.borrow_mut().get_mut(slot) {
            Some(table) if table.owner == owner => table.close(),
            _ => Vec::new(),
        }
    }
}

/// The running micro-thread's id and slot, and whether its locals are
/// closed; `None` outside micro-threads.
fn running_micro_thread(close: bool) -> Option<(u64, usize, bool)> {
    context::with_worker(|worker| match worker {
        Some(worker) if worker.in_task() => worker.running().with_task(|task| {
            if close {
                task.close_locals();
            }
            (task.id(), task.slot(), task.locals_closed())
        }),
        _ => None,
    })
}

/// Calls `f` (which must not run user code) with the caller's table: its
/// micro-thread's, or else its OS thread's.
fn with_current<R>(f: impl FnOnce(&mut Table) -> Result<R, AccessError>) -> Result<R, AccessError> {
    match running_micro_thread(false) {
        Some((_, _, true)) => Err(ACCESS_ERROR),
        Some((owner, slot, false)) => WORKER_TABLES
            .try_with(|tables| tables.with(slot, owner, f))
            .unwrap_or(Err(ACCESS_ERROR)),
        None => THREAD_TABLE
            .try_with(|table| f(&mut table.borrow_mut()))
            .unwrap_or(Err(ACCESS_ERROR)),
    }
}

/// Creates the caller's value of local `id` with `init` and stores it.
fn initialize<T: 'static>(id: TypeId, init: impl FnOnce() -> T) -> Result<Rc<dyn Any>, AccessError> {
    with_current(|table| table.begin_init(id))?;
    let abandon = Abandon(id);
    let value: Rc<dyn Any> = Rc::new(init());
    mem::forget(abandon);
    let stored = Rc::clone(&value);
    with_current(|table| table.finish_init(id, stored))?;
    Ok(value)
}

/// Forgets an initialisation whose initialiser unwound (a panic, or a
/// cancellation while it parked), so that the next access runs it again.
struct Abandon(TypeId);

impl Drop for Abandon {
    fn drop(&mut self) {
        // An error means the table is closed: nothing to forget.
        let _ = with_current(|table| {
            table.abandon_init(self.0);
            Ok(())
        });
    }
}

/// Closes the caller's locals and drops its values: called by a micro-thread
/// (or thread-mode thread) when its body has returned or unwound, before its
/// result is delivered to its join.
pub(crate) fn close_current() {
    let entries = match running_micro_thread(true) {
        Some((owner, slot, _)) => WORKER_TABLES
            .try_with(|tables| tables.take(slot, owner))
            .unwrap_or_default(),
        None => THREAD_TABLE
            .try_with(|table| table.borrow_mut().close())
            .unwrap_or_default(),
    };
    destroy(entries);
}

/// Drops values taken out of a table, most recently initialised first.
fn destroy(entries: Vec<Entry>) {
    for entry in entries.into_iter().rev() {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(entry))) {
            // A destructor that parked in a cancelled micro-thread: it was
            // cut short, as it would be by any unwind; the rest still drop.
            if !payload.is::<Cancelled>() {
                eprintln!("dhaga: a micro-thread-local's destructor panicked; aborting");
                std::process::abort();
            }
        }
    }
}
