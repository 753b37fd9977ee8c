//! What every fuzz target shares: a bound on the size of any single allocation.
//!
//! `dhaga_mq::fuzz` checks the codec's invariants; this crate adds the one it cannot see from
//! inside. A peer announces lengths (a frame of 2^62 bytes, a property value of 2^31-1) long
//! before it sends them, and the codec must not allocate what was announced, only what arrived.
//! So every allocation made while a target runs is watched through the global allocator, and a
//! single one larger than a small multiple of the input fails the run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allocations any input may make whatever its size (formatting, small tables).
const BASE_ALLOWANCE: usize = 64 * 1024;
/// Allocation bytes allowed per input byte: the decoded items of an input of many tiny frames,
/// in a vector that doubles, and copies of the input, stay well under this.
const ALLOWANCE_PER_INPUT_BYTE: usize = 256;

/// The largest single allocation (or reallocation) since the current run began.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, recording the largest size asked for.
struct Watching;

/// Records an allocation of `size` bytes.
fn record(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

// SAFETY: every method passes its arguments unchanged to `System`, whose contract is the same as
// ours; the only addition is an atomic update that neither allocates nor touches the memory.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract for `layout`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator, i.e. `System`, allocated with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: the caller passes a block `System` allocated with `layout`, and a valid size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

/// Runs `target` on `data`, then fails if any single allocation it made was larger than
/// 64 KiB + 256 bytes per input byte: the sign of a length the input announced being allocated
/// before its bytes arrived.
///
/// # Panics
///
/// If `target` panics (an invariant broke), or on such an allocation.
pub fn run(data: &[u8], target: fn(&[u8])) {
    LARGEST.store(0, Ordering::Relaxed);
    target(data);
    let largest = LARGEST.load(Ordering::Relaxed);
    let bound = BASE_ALLOWANCE + ALLOWANCE_PER_INPUT_BYTE * data.len();
    assert!(
        largest <= bound,
        "a {}-byte input made a {largest}-byte allocation (bound {bound}): an announced length was allocated",
        data.len()
    );
}
