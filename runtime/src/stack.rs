//! Micro-thread stacks and the pool that recycles them.
//!
//! A stack is one `mmap`ed region. By default it is *guarded*: the lowest page
//! is inaccessible, so running off the end faults instead of corrupting the
//! neighbouring memory, and the SIGSEGV handler in `signal.rs` reports which
//! micro-thread did it. A guarded stack costs two memory mappings, and Linux
//! allows `vm.max_map_count` (65530 by default) per process, so about 30 000
//! guarded stacks can live at once.
//!
//! For very large numbers of micro-threads a runtime can opt into *slab*
//! stacks: many stacks carved out of one large mapping with no guard pages,
//! each with a canary at its low end that the worker checks after every
//! switch. That detects most overflows after the fact and aborts, but an
//! overflow that skips the canary, or that is caught only after it wrote into
//! the neighbour, is undefined behaviour; this is why the option is `unsafe`.
//!
//! Stacks are recycled: each worker keeps a small cache and the runtime a
//! shared pool, so spawning a micro-thread normally costs no system call. A
//! worker frees stacks into its own cache and takes from it first, so a
//! stack it freed is the one it reuses, its top still in the CPU's caches;
//! stacks move between a cache and the pool half a cache at a time.

use std::collections::VecDeque;
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use corosensei::stack::{MIN_STACK_SIZE, StackPointer};

use crate::pool::SharedPool;
use crate::sys::{self, Protection};

/// How many stacks of the default size a worker keeps for itself.
const LOCAL_CACHE: usize = 256;

/// How many stacks a worker moves between its cache and the shared pool at
/// a time: half its cache, so that a worker that frees as many stacks as it
/// takes stays off the shared pool.
const BATCH: usize = LOCAL_CACHE / 2;

/// Stacks per slab mapping in slab mode.
const SLAB_STACKS: usize = 256;

/// The canary written at the low end of a slab stack.
const CANARY: u64 = 0x6468_6167_615f_7374; // "dhaga_st"

/// Bytes of canary at the low end of a slab stack.
const CANARY_LEN: usize = 32;

/// How the stacks of a runtime are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StackMode {
    /// One mapping per stack with an inaccessible guard page below it.
    Guarded,
    /// Unguarded stacks carved from large slabs, with a canary checked on
    /// every switch.
    Slab,
}

/// One micro-thread stack.
///
/// Owns its memory: a guarded stack unmaps itself on drop, a slab stack keeps
/// its slab alive until the last stack carved from it is dropped.
pub(crate) struct Stack {
    /// Highest address (stacks grow down).
    top: NonNull<u8>,
    /// Lowest address, including the guard page or canary.
    bottom: NonNull<u8>,
    backing: Backing,
}

enum Backing {
    /// `bottom..top` is one mapping of ours, guard page included.
    Guarded,
    /// `bottom..top` lies inside this slab.
    Slab(#[allow(dead_code)] Arc<Slab>),
}

// SAFETY: a `Stack` is an owned memory region with no thread affinity; the
// raw pointers are addresses of that region, not shared borrows.
unsafe impl Send for Stack {}

impl Stack {
    /// Maps a new guarded stack with at least `size` usable bytes.
    fn guarded(size: usize) -> io::Result<Stack> {
        let page = sys::page_size();
        let usable = round_to_page(size)?;
        let len = usable.checked_add(page).ok_or_else(|| too_large(size))?;
        let bottom = sys::map_anonymous(len, Protection::None).map_err(|e| alloc_error(usable, e))?;
        MAPPED.fetch_add(1, Ordering::Relaxed);
        let stack = Stack {
            // SAFETY: `len` bytes were just mapped at `bottom`.
            top: unsafe { bottom.add(len) },
            bottom,
            backing: Backing::Guarded,
        };
        // SAFETY: `page < len`, so this is inside the mapping.
        let above_guard = unsafe { bottom.add(page) };
        // SAFETY: the range above the guard page is inside the mapping we own
        // and nothing references it yet. On failure `stack` unmaps it.
        unsafe { sys::protect(above_guard, usable, Protection::ReadWrite) }.map_err(|e| alloc_error(usable, e))?;
        Ok(stack)
    }

    /// The lowest address of the guard page, and its length, if guarded.
    pub(crate) fn guard(&self) -> Option<(usize, usize)> {
        match self.backing {
            Backing::Guarded => Some((self.bottom.as_ptr() as usize, sys::page_size())),
            Backing::Slab(_) => None,
        }
    }

    /// Usable bytes: all but the lowest page, which is the guard page of a
    /// guarded stack and holds the canary of a slab stack.
    pub(crate) fn size(&self) -> usize {
        self.top.as_ptr() as usize - self.bottom.as_ptr() as usize - sys::page_size()
    }

    /// The canary of a slab stack (guarded stacks fault instead).
    pub(crate) fn canary(&self) -> Option<Canary> {
        match self.backing {
            Backing::Guarded => None,
            Backing::Slab(_) => Some(Canary(self.bottom.cast())),
        }
    }

    /// Whether the canary of a slab stack is intact (always true for guarded
    /// stacks).
    #[cfg(test)]
    fn canary_intact(&self) -> bool {
        // SAFETY: the canary belongs to `self`, which is alive.
        self.canary().is_none_or(|c| unsafe { c.intact() })
    }
}

/// Stacks in the process, mapped or carved from a slab, not dropped yet.
static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// See [`Metrics::stacks_mapped`](crate::Metrics::stacks_mapped).
pub(crate) fn mapped() -> usize {
    MAPPED.load(Ordering::Relaxed)
}

impl Drop for Stack {
    fn drop(&mut self) {
        MAPPED.fetch_sub(1, Ordering::Relaxed);
        if let Backing::Guarded = self.backing {
            let len = self.top.as_ptr() as usize - self.bottom.as_ptr() as usize;
            // SAFETY: a guarded stack is its own mapping; it is no longer used
            // by any coroutine (corosensei returns it only when done).
            unsafe { sys::unmap(self.bottom, len) };
        }
    }
}

// SAFETY: `base` and `limit` describe memory owned by this `Stack` that stays
// mapped until it is dropped, both page-aligned (hence `STACK_ALIGNMENT`
// aligned) and at least `MIN_STACK_SIZE` apart. Guarded stacks have the guard
// page corosensei requires. Slab stacks have none: that breach of the trait's
// contract is why `RuntimeBuilder::unguarded_stacks` is an `unsafe fn` whose
// caller promises micro-threads stay within their stacks.
unsafe impl corosensei::stack::Stack for Stack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top.as_ptr() as usize).expect("stack top is not null")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom.as_ptr() as usize).expect("stack bottom is not null")
    }
}

/// Where a slab stack's canary lives.
#[derive(Clone, Copy)]
pub(crate) struct Canary(NonNull<u64>);

impl Canary {
    /// Whether the canary still holds its value.
    ///
    /// # Safety
    ///
    /// The stack this canary came from must still be alive.
    #[inline]
    pub(crate) unsafe fn intact(self) -> bool {
        // SAFETY: the caller keeps the stack, hence its lowest page, mapped;
        // the reads are volatile because an overflowing coroutine may have
        // written them behind the compiler's back.
        (0..CANARY_LEN / 8).all(|i| {
            // SAFETY: the canary words are the stack's lowest bytes.
            let word = unsafe { self.0.add(i) };
            // SAFETY: as above, the word is mapped while the stack lives.
            unsafe { word.read_volatile() == CANARY }
        })
    }
}

/// A large mapping that slab stacks are carved from.
struct Slab {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: `Slab` owns its mapping; the pointer carries no thread affinity.
unsafe impl Send for Slab {}
// SAFETY: `Slab` has no interior mutability; it only unmaps on drop.
unsafe impl Sync for Slab {}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: the last stack carved from this slab has been dropped, so
        // no coroutine uses any part of it.
        unsafe { sys::unmap(self.base, self.len) };
    }
}

/// A runtime's shared stack pool.
pub(crate) struct StackPool {
    /// Usable size of the runtime's default stacks; only those are pooled.
    size: usize,
    mode: StackMode,
    /// Stacks free for any worker, moved in and out in batches (see
    /// [`BATCH`]). Guarded mode unmaps those beyond its capacity; slab mode
    /// keeps every one (a slab stack's memory is its slab's).
    shared: SharedPool<Stack>,
    /// Slab mode: the slab being carved and the next free index in it.
    carving: Mutex<Option<(Arc<Slab>, usize)>>,
}

impl StackPool {
    /// A pool of stacks of `size` usable bytes (already rounded to pages).
    pub(crate) fn new(size: usize, mode: StackMode, shared_cap: usize) -> StackPool {
        StackPool {
            size,
            mode,
            shared: SharedPool::new(match mode {
                StackMode::Guarded => shared_cap,
                StackMode::Slab => usize::MAX,
            }),
            carving: Mutex::new(None),
        }
    }

    /// A stack of at least `size` bytes (`None`: the default size), from
    /// `cache` or the shared pool if one is free. An empty `cache` is
    /// refilled with up to [`BATCH`] stacks at once, so that a worker takes
    /// the pool's lock once per batch, not once per spawn.
    ///
    /// A cache is kept warmest last: this takes from its cold end, as a
    /// spawn's stack is a reservation that a micro-thread usually trades for
    /// the warmest one when it starts (see [`StackPool::warmer`]).
    pub(crate) fn get(&self, cache: Option<&mut VecDeque<Stack>>, size: Option<usize>) -> io::Result<Stack> {
        match size {
            Some(size) if round_to_page(size)? != self.size => Stack::guarded(size),
            _ => {
                let stack = match cache {
                    Some(cache) => cache.pop_front().or_else(|| {
                        self.shared.take(cache, BATCH);
                        cache.pop_front()
                    }),
                    None => self.shared.take_one(),
                };
                match (stack, self.mode) {
                    (Some(stack), _) => Ok(stack),
                    (None, StackMode::Guarded) => Stack::guarded(self.size),
                    (None, StackMode::Slab) => self.carve(),
                }
            }
        }
    }

    /// The stack to start a micro-thread on, given the one `reserved` for
    /// it at spawn: the warmest of `cache` (freed last, its top likely still
    /// in the CPU's caches) if `reserved` is of the pool's size, `reserved`
    /// taking its place at the cold end; otherwise `reserved`.
    pub(crate) fn warmer(&self, cache: &mut VecDeque<Stack>, reserved: Stack) -> Stack {
        if reserved.size() != self.size {
            return reserved;
        }
        match cache.pop_back() {
            Some(warm) => {
                cache.push_front(reserved);
                warm
            }
            None => reserved,
        }
    }

    /// Returns a stack a finished coroutine no longer uses: to the warm end
    /// of `cache`, moving the [`BATCH`] coldest cached ones to the shared
    /// pool first if the cache is full (one lock per batch); without a
    /// cache, to the shared pool. Guarded stacks beyond the shared pool's
    /// capacity are unmapped.
    pub(crate) fn put(&self, cache: Option<&mut VecDeque<Stack>>, stack: Stack) {
        if stack.size() != self.size {
            return; // not a default stack: unmapped by its drop
        }
        match cache {
            Some(cache) => {
                if cache.len() >= LOCAL_CACHE {
                    let spilled = self.shared.give(cache.drain(..BATCH));
                    drop(spilled); // unmapped outside the lock
                }
                cache.push_back(stack);
            }
            None => drop(self.shared.give(std::iter::once(stack))),
        }
    }

    /// Free stacks in the shared pool.
    pub(crate) fn pooled(&self) -> usize {
        self.shared.len()
    }

    /// Carves the next stack out of the current slab, mapping a new slab when
    /// it is used up.
    fn carve(&self) -> io::Result<Stack> {
        let stride = self.size + sys::page_size();
        let mut carving = self.carving.lock().unwrap_or_else(|e| e.into_inner());
        let (slab, next) = match &mut *carving {
            Some((slab, next)) if *next < SLAB_STACKS => (slab, next),
            slot => {
                let len = stride * SLAB_STACKS;
                let base = sys::map_anonymous(len, Protection::ReadWrite).map_err(|e| alloc_error(self.size, e))?;
                let (slab, next) = slot.insert((Arc::new(Slab { base, len }), 0));
                (slab, next)
            }
        };
        // SAFETY: index `next` < SLAB_STACKS, so `stride` bytes at this offset
        // lie inside the slab.
        let bottom = unsafe { slab.base.add(*next * stride) };
        *next += 1;
        MAPPED.fetch_add(1, Ordering::Relaxed);
        for i in 0..CANARY_LEN / 8 {
            // SAFETY: the canary words are the lowest bytes of this stack,
            // inside the slab.
            let word = unsafe { bottom.cast::<u64>().add(i) };
            // SAFETY: the slab is writable and no one else has this stack yet.
            unsafe { word.write(CANARY) };
        }
        Ok(Stack {
            // SAFETY: `stride` bytes from `bottom` are inside the slab.
            top: unsafe { bottom.add(stride) },
            bottom,
            backing: Backing::Slab(Arc::clone(slab)),
        })
    }
}

/// `size` (at least corosensei's minimum) rounded up to whole pages.
pub(crate) fn round_to_page(size: usize) -> io::Result<usize> {
    size.max(MIN_STACK_SIZE)
        .checked_next_multiple_of(sys::page_size())
        .filter(|&s| s <= isize::MAX as usize / 2)
        .ok_or_else(|| too_large(size))
}

fn too_large(size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("dhaga: a stack of {size} bytes is too large"),
    )
}

/// Turns a failed `mmap`/`mprotect` into an error that names the limit that
/// was most likely reached and the ways out.
fn alloc_error(size: usize, err: io::Error) -> io::Error {
    if err.raw_os_error() != Some(libc::ENOMEM) {
        return err;
    }
    let maps = match sys::max_map_count() {
        Some(n) => format!(
            "vm.max_map_count = {n} allows about {} guarded stacks (each is two mappings)",
            n / 2
        ),
        None => "vm.max_map_count limits the mappings a process holds (each guarded stack is two)".into(),
    };
    let address_space = match sys::address_space_limit() {
        Some(bytes) => format!(", and RLIMIT_AS limits the address space to {} MiB", bytes >> 20),
        None => String::new(),
    };
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "dhaga: cannot map a {} KiB micro-thread stack ({err}): {maps}{address_space}. \
             Raise the limit (`sysctl -w vm.max_map_count=2200000` as root), keep fewer \
             micro-threads alive, use smaller stacks, or build the runtime with \
             `RuntimeBuilder::unguarded_stacks` for very large counts",
            size / 1024
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_stack_layout() {
        let s = Stack::guarded(64 * 1024).unwrap();
        assert_eq!(s.size(), 64 * 1024);
        let (guard, len) = s.guard().unwrap();
        assert_eq!(guard, s.bottom.as_ptr() as usize);
        assert_eq!(len, sys::page_size());
        // The usable range is writable end to end.
        // SAFETY: the highest usable byte is inside the stack.
        let high = unsafe { s.top.sub(1) };
        // SAFETY: the lowest usable byte, just above the guard page, too.
        let low = unsafe { s.bottom.add(len) };
        // SAFETY: as above; nothing else uses this stack.
        unsafe { high.write(1) };
        // SAFETY: as above.
        unsafe { low.write(1) };
    }

    #[test]
    fn pool_recycles_default_stacks_only() {
        let pool = StackPool::new(64 * 1024, StackMode::Guarded, 16);
        let mut cache = VecDeque::new();
        let a = pool.get(Some(&mut cache), None).unwrap();
        let a_top = a.top;
        pool.put(Some(&mut cache), a);
        let b = pool.get(Some(&mut cache), None).unwrap();
        assert_eq!(b.top, a_top, "a freed stack is reused");
        let big = pool.get(Some(&mut cache), Some(256 * 1024)).unwrap();
        assert_eq!(big.size(), 256 * 1024);
        pool.put(Some(&mut cache), big);
        assert!(cache.is_empty(), "odd-sized stacks are not pooled");
    }

    #[test]
    fn stacks_move_between_cache_and_pool_in_batches() {
        let pool = StackPool::new(16 * 1024, StackMode::Guarded, BATCH + 10);
        let mut cache = VecDeque::new();
        let stacks: Vec<Stack> = (0..LOCAL_CACHE + 1).map(|_| pool.get(None, None).unwrap()).collect();
        let last = stacks.last().unwrap().top;
        for stack in stacks {
            pool.put(Some(&mut cache), stack);
        }
        // The full cache gave its colder half to the pool, then took the
        // last one.
        assert_eq!(cache.len(), LOCAL_CACHE - BATCH + 1);
        assert_eq!(pool.pooled(), BATCH);
        assert_eq!(
            cache.back().unwrap().top,
            last,
            "what a worker freed last is at the warm end"
        );
        // Without a cache, one at a time, up to the pool's capacity.
        for _ in 0..20 {
            pool.put(None, Stack::guarded(16 * 1024).unwrap());
        }
        assert_eq!(
            pool.pooled(),
            BATCH + 10,
            "guarded stacks beyond the capacity are unmapped"
        );
        // An empty cache is refilled a batch at a time.
        let mut other = VecDeque::new();
        let _stack = pool.get(Some(&mut other), None).unwrap();
        assert_eq!(other.len(), BATCH - 1);
        assert_eq!(pool.pooled(), 10);
        let _one = pool.get(None, None).unwrap();
        assert_eq!(pool.pooled(), 9);
    }

    #[test]
    fn a_start_trades_its_reserved_stack_for_the_warmest() {
        let pool = StackPool::new(16 * 1024, StackMode::Guarded, 16);
        let mut cache = VecDeque::new();
        let reserved = pool.get(Some(&mut cache), None).unwrap();
        let reserved_top = reserved.top;
        // No free stack: it starts on its own.
        let reserved = pool.warmer(&mut cache, reserved);
        assert_eq!(reserved.top, reserved_top);
        let freed = pool.get(None, None).unwrap();
        let freed_top = freed.top;
        pool.put(Some(&mut cache), freed);
        // One freed: it starts on that, and its own goes to the cold end.
        let started = pool.warmer(&mut cache, reserved);
        assert_eq!(started.top, freed_top);
        assert_eq!(cache.front().unwrap().top, reserved_top);
        // The next spawn reserves from the cold end.
        assert_eq!(pool.get(Some(&mut cache), None).unwrap().top, reserved_top);
        // A stack of another size keeps its own.
        pool.put(Some(&mut cache), started);
        let big = pool.get(Some(&mut cache), Some(64 * 1024)).unwrap();
        let big_top = big.top;
        assert_eq!(pool.warmer(&mut cache, big).top, big_top);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn slab_stacks_carry_canaries() {
        let pool = StackPool::new(16 * 1024, StackMode::Slab, 0);
        let stacks: Vec<Stack> = (0..SLAB_STACKS + 3).map(|_| pool.get(None, None).unwrap()).collect();
        assert!(stacks.iter().all(Stack::canary_intact));
        assert!(stacks.iter().all(|s| s.size() >= 16 * 1024 && s.guard().is_none()));
        // SAFETY: the first canary word is inside the stack's memory.
        unsafe { stacks[1].bottom.cast::<u64>().write(0) };
        assert!(!stacks[1].canary_intact());
    }
}
