//! Stack-overflow reports: a micro-thread that runs into its guard page gets a
//! message naming it, then the process aborts — never a bare segfault, never
//! silent corruption.
//!
//! A SIGSEGV/SIGBUS handler, installed once per process and running on an
//! alternate signal stack, compares the faulting address with the guard page
//! of the micro-thread running on the faulting thread: its [`StackOwner`],
//! a record in its header, which a thread-local points to while it runs
//! (updated at every switch). Faults that are not
//! ours go to the handler that was installed before (std's own, which
//! reports overflows of OS thread stacks), or to the default action.

use std::cell::Cell;
use std::io;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::sys::{self, Protection};

/// What an overflow report names: a micro-thread's id and name, and its
/// stack's guard page and usable size. Kept in the micro-thread's header.
///
/// The stack is recorded by its worker when the micro-thread starts (the
/// stack it runs on is chosen then, see `coroutine::Unstarted`) and read on
/// that worker's thread (here, by the handler; by stack captures): the
/// fields are atomics for the header's sake, which other threads share, and
/// `Relaxed` suffices. All zero for thread-mode threads.
pub(crate) struct StackOwner {
    id: u64,
    name: Option<Arc<str>>,
    guard: AtomicUsize,
    guard_len: AtomicUsize,
    size: AtomicUsize,
}

impl StackOwner {
    /// The micro-thread `id`, named `name`, with no stack recorded yet.
    pub(crate) fn new(id: u64, name: Option<Arc<str>>) -> StackOwner {
        StackOwner {
            id,
            name,
            guard: AtomicUsize::new(0),
            guard_len: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
        }
    }

    /// The micro-thread's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The micro-thread's name.
    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.name.as_ref()
    }

    /// Records the stack the micro-thread runs on: its guard page
    /// (address, length), if it has one, and its usable size.
    pub(crate) fn set_stack(&self, guard: Option<(usize, usize)>, size: usize) {
        let (address, len) = guard.unwrap_or((0, 0));
        self.guard.store(address, Ordering::Relaxed);
        self.guard_len.store(len, Ordering::Relaxed);
        self.size.store(size, Ordering::Relaxed);
    }

    /// The guard page of its stack (address, length); `(0, 0)` if none.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (
            self.guard.load(Ordering::Relaxed),
            self.guard_len.load(Ordering::Relaxed),
        )
    }

    /// The usable size of its stack; zero if none was recorded.
    pub(crate) fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// The owner of the stack running on this thread, if a micro-thread
    /// runs; the worker keeps its header alive while it runs.
    /// Const-initialised and without a destructor, so reading it is a plain
    /// load, safe in a signal handler.
    static RUNNING: Cell<*const StackOwner> = const { Cell::new(ptr::null()) };
}

/// Records that the micro-thread of `owner` is about to run on this
/// thread.
#[inline]
pub(crate) fn set_running(owner: &StackOwner) {
    RUNNING.set(owner);
}

/// Records that no micro-thread runs on this thread.
#[inline]
pub(crate) fn clear_running() {
    RUNNING.set(ptr::null());
}

/// Aborts after a micro-thread overwrote the canary of its unguarded stack.
pub(crate) fn report_canary(id: u64) -> ! {
    eprintln!(
        "dhaga: micro-thread {id} overflowed its unguarded stack (the canary at its end was \
         overwritten); memory next to it may be corrupt. Give it a larger stack \
         (Builder::stack_size) or use guarded stacks. Aborting."
    );
    std::process::abort()
}

/// Handlers that were installed before ours, for SIGSEGV and SIGBUS.
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

/// Installs the overflow handler for SIGSEGV and SIGBUS, once per process.
pub(crate) fn install_handler() {
    PREVIOUS.get_or_init(|| [install(libc::SIGSEGV), install(libc::SIGBUS)]);
}

fn install(signal: libc::c_int) -> libc::sigaction {
    // SAFETY: sigaction is plain data; all-zero is a valid (empty) value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: sigemptyset initialises the mask it is given.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    let mut previous = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: `action` is a valid handler description; `previous` is valid
    // storage for the old one.
    // If this fails, the default behaviour stays (a plain crash) and the
    // zeroed `previous` reads as "default", which `chain` handles.
    let _ = unsafe { libc::sigaction(signal, &action, previous.as_mut_ptr()) };
    // SAFETY: zero-initialised, and written by sigaction on success; an
    // all-zero sigaction is a valid value (SIG_DFL, no flags).
    unsafe { previous.assume_init() }
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let info = unsafe { &*info };
    // SAFETY: for SIGSEGV and SIGBUS the union holds the faulting address.
    let address = unsafe { info.si_addr() } as usize;
    let running = RUNNING.get();
    if !running.is_null() {
        // SAFETY: the worker keeps the running micro-thread's header, which
        // holds its `StackOwner`, alive while it runs and clears `RUNNING`
        // before letting it go; the fault happened in it.
        let owner = unsafe { &*running };
        let (guard, len) = owner.guard();
        if guard <= address && address < guard + len {
            report_overflow(owner);
        }
    }
    chain(signal, std::ptr::from_ref(info).cast_mut(), context);
}

/// Writes the overflow message with async-signal-safe calls only and aborts.
fn report_overflow(owner: &StackOwner) -> ! {
    let mut message = Message::default();
    message.push(b"dhaga: micro-thread ");
    message.push_number(owner.id());
    if let Some(name) = owner.name() {
        message.push(b" '");
        message.push(name.as_bytes());
        message.push(b"'");
    }
    message.push(b" overflowed its stack of ");
    message.push_number(owner.size() as u64);
    message.push(b" bytes; give it a larger one with Builder::stack_size or RuntimeBuilder::stack_size. Aborting.\n");
    // SAFETY: write(2) is async-signal-safe; the buffer is valid for `len`.
    unsafe { libc::write(libc::STDERR_FILENO, message.bytes.as_ptr().cast(), message.len) };
    // SAFETY: abort(3) is async-signal-safe.
    unsafe { libc::abort() }
}

/// Hands a fault that is not a micro-thread overflow to whoever handled it
/// before us.
fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let index = usize::from(signal == libc::SIGBUS);
    let previous = PREVIOUS.get().map(|p| p[index]);
    match previous {
        Some(previous) if previous.sa_sigaction != libc::SIG_DFL && previous.sa_sigaction != libc::SIG_IGN => {
            if previous.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO,
                // so it has this signature; we pass the kernel's arguments.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(previous.sa_sigaction) };
                f(signal, info, context);
            } else {
                // SAFETY: a handler installed without SA_SIGINFO takes the
                // signal number only.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous.sa_sigaction) };
                f(signal);
            }
        }
        _ => {
            // Restore the default action and return: the faulting instruction
            // runs again and the process dies the ordinary way.
            // SAFETY: sigaction is plain data; all-zero is SIG_DFL, no flags.
            let default: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: sigaction(2) is async-signal-safe; `default` is valid.
            unsafe { libc::sigaction(signal, &default, ptr::null_mut()) };
        }
    }
}

/// A fixed buffer for composing a message without allocating.
struct Message {
    bytes: [u8; 512],
    len: usize,
}

impl Default for Message {
    fn default() -> Self {
        Message {
            bytes: [0; 512],
            len: 0,
        }
    }
}

impl Message {
    fn push(&mut self, text: &[u8]) {
        let n = text.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&text[..n]);
        self.len += n;
    }

    fn push_number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

/// An alternate signal stack for a worker thread, so that the handler can run
/// when the micro-thread's stack is exhausted. Installed only if the thread
/// has none; removed on drop.
pub(crate) struct AltStack {
    mapping: Option<(NonNull<u8>, usize)>,
}

impl AltStack {
    /// Bytes of alternate stack.
    const SIZE: usize = 64 * 1024;

    pub(crate) fn install() -> io::Result<AltStack> {
        let mut current = MaybeUninit::<libc::stack_t>::zeroed();
        // SAFETY: querying (null new stack) only writes the current setting.
        if unsafe { libc::sigaltstack(ptr::null(), current.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sigaltstack succeeded and filled `current`.
        let current = unsafe { current.assume_init() };
        if current.ss_flags & libc::SS_DISABLE == 0 {
            return Ok(AltStack { mapping: None });
        }
        let base = sys::map_anonymous(Self::SIZE, Protection::ReadWrite)?;
        let stack = libc::stack_t {
            ss_sp: base.as_ptr().cast(),
            ss_flags: 0,
            ss_size: Self::SIZE,
        };
        // SAFETY: `stack` describes a mapping we own that stays mapped until
        // `drop` disables the alternate stack first.
        if unsafe { libc::sigaltstack(&stack, ptr::null_mut()) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: the mapping was never installed; nothing uses it.
            unsafe { sys::unmap(base, Self::SIZE) };
            return Err(err);
        }
        Ok(AltStack {
            mapping: Some((base, Self::SIZE)),
        })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((base, len)) = self.mapping {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disables the alternate stack we installed on this
            // thread.
            unsafe { libc::sigaltstack(&disable, ptr::null_mut()) };
            // SAFETY: the mapping is ours and, once disabled above, unused.
            unsafe { sys::unmap(base, len) };
        }
    }
}
