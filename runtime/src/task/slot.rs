//! A join slot: where a micro-thread's result waits for its join handle, in
//! the micro-thread's header, without the result's type.

use std::mem::{self, MaybeUninit};

use super::Unparker;

/// A micro-thread's result on its way to its join handle, kept in the
/// micro-thread's header ([`Task::join`](super::Task::join)) under its
/// spin lock. Only `join.rs` reads and writes it.
pub(crate) struct JoinSlot<S> {
    /// A `thread::Result<T>` for the `T` of the handle, once delivered and
    /// until the handle takes it.
    pub(crate) result: ErasedResult,
    /// The micro-thread has ended (its result delivered, or dropped).
    pub(crate) finished: bool,
    /// The handle is gone: a result delivered now is dropped at once.
    pub(crate) detached: bool,
    /// Who waits in a join, to be woken when the result comes.
    pub(crate) joiner: Option<Unparker<S>>,
}

impl<S> JoinSlot<S> {
    /// An empty slot: nothing delivered, the handle alive.
    pub(crate) fn new() -> JoinSlot<S> {
        JoinSlot {
            result: ErasedResult::EMPTY,
            finished: false,
            detached: false,
            joiner: None,
        }
    }
}

/// Room for a value of a type known only to its users, inline: a value up
/// to this size and alignment is stored in place, a larger one in a `Box`
/// whose pointer is stored in place.
type Inline = [MaybeUninit<u64>; 4];

/// A value of some type, stored without its type, as a join slot holds the
/// result of whichever micro-thread uses the header (results of any `T`,
/// in headers that are recycled from one micro-thread to the next).
///
/// Whoever stores a value says its type ([`put`](Self::put)) and whoever
/// takes it must name the same type ([`take`](Self::take), `unsafe` for
/// that). The slot never drops what it holds: a value left in it is leaked,
/// never dropped late. That matters for scoped micro-threads, whose result
/// may borrow from a scope and must not be dropped after it; a value can
/// only be left in it if its handle was leaked (`mem::forget`), and then so
/// is the header, which the handle holds.
pub(crate) struct ErasedResult {
    storage: MaybeUninit<Inline>,
    /// Whether `storage` holds a value.
    full: bool,
}

impl ErasedResult {
    /// An empty slot.
    pub(crate) const EMPTY: ErasedResult = ErasedResult {
        storage: MaybeUninit::uninit(),
        full: false,
    };

    /// Whether a value of type `R` is stored in place (else boxed).
    const fn inline<R>() -> bool {
        mem::size_of::<R>() <= mem::size_of::<Inline>() && mem::align_of::<R>() <= mem::align_of::<Inline>()
    }

    /// Stores `value`. The slot travels between threads with its header,
    /// so `R` must be `Send`, which the bound says (a `Completer<T>`, the
    /// only caller, has `T: Send`). The slot must be empty; were it not, the
    /// value in it would be leaked.
    pub(crate) fn put<R: Send>(&mut self, value: R) {
        debug_assert!(!self.full, "one value at a time");
        let at = self.storage.as_mut_ptr().cast::<u8>();
        if Self::inline::<R>() {
            // SAFETY: `storage` is `size_of::<Inline>()` bytes aligned to
            // `align_of::<Inline>()`, and `R` is no larger and no more
            // aligned than that (`inline`); the bytes are ours to overwrite.
            unsafe { at.cast::<R>().write(value) };
        } else {
            let boxed = Box::into_raw(Box::new(value));
            // SAFETY: a pointer fits in `storage` and needs no more
            // alignment than `u64`.
            unsafe { at.cast::<*mut R>().write(boxed) };
        }
        self.full = true;
    }

    /// Takes the value out, if there is one.
    ///
    /// # Safety
    ///
    /// The value, if any, must have been stored by `put::<R>`, with this
    /// same `R`.
    pub(crate) unsafe fn take<R>(&mut self) -> Option<R> {
        if !std::mem::replace(&mut self.full, false) {
            return None;
        }
        let at = self.storage.as_ptr().cast::<u8>();
        if Self::inline::<R>() {
            // SAFETY: `put::<R>` wrote an `R` in place (the caller promises
            // the type, and `inline::<R>` chose the same way both times);
            // `full` is cleared above, so it is read out once.
            Some(unsafe { at.cast::<R>().read() })
        } else {
            // SAFETY: as above, `put::<R>` wrote the pointer of a boxed `R`.
            let boxed = unsafe { at.cast::<*mut R>().read() };
            // SAFETY: that pointer came from `Box::into_raw` and is taken
            // back once.
            Some(*unsafe { Box::from_raw(boxed) })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::any::Any;
    use std::thread;

    use super::ErasedResult;

    /// Small results are stored in place, large or over-aligned ones
    /// boxed; each comes back whole, and a slot is reused for another type.
    /// Run under Miri too: `cargo +nightly miri test -p dhaga-runtime --lib
    /// task::slot`.
    #[test]
    fn erased_results_round_trip() {
        let mut slot = ErasedResult::EMPTY;
        // SAFETY: empty: nothing of any type is stored.
        assert!(unsafe { slot.take::<u8>() }.is_none());

        slot.put::<thread::Result<usize>>(Ok(7));
        // SAFETY: stored as this type just above.
        let got = unsafe { slot.take::<thread::Result<usize>>() };
        assert_eq!(got.unwrap().unwrap(), 7);
        // SAFETY: taken: empty again.
        assert!(unsafe { slot.take::<thread::Result<usize>>() }.is_none());

        let payload: Box<dyn Any + Send> = Box::new(String::from("boom"));
        slot.put::<thread::Result<String>>(Err(payload));
        // SAFETY: stored as this type just above.
        let got = unsafe { slot.take::<thread::Result<String>>() }.unwrap();
        assert_eq!(got.unwrap_err().downcast_ref::<String>().unwrap(), "boom");

        let big = [9u8; 100];
        assert!(!ErasedResult::inline::<[u8; 100]>());
        slot.put(big);
        // SAFETY: stored as this type just above.
        assert_eq!(unsafe { slot.take::<[u8; 100]>() }, Some(big));

        assert!(!ErasedResult::inline::<u128>() || std::mem::align_of::<u128>() <= 8);
        slot.put(u128::MAX - 1);
        // SAFETY: stored as this type just above.
        assert_eq!(unsafe { slot.take::<u128>() }, Some(u128::MAX - 1));

        slot.put(vec![String::from("a"), String::from("b")]);
        // SAFETY: stored as this type just above.
        assert_eq!(unsafe { slot.take::<Vec<String>>() }.unwrap(), ["a", "b"]);
    }
}
