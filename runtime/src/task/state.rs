//! A micro-thread's wake-up state: one atomic byte and its transitions.
//!
//! Each micro-thread has one wake-up token, as each thread has in
//! `std::thread`: `unpark` sets it, `park` consumes it or suspends until it
//! is set. The byte says which of three states the micro-thread is in, and
//! each transition is one method:
//!
//! ```text
//! RUNNING   running or queued, no token    unpark -> NOTIFIED, finish_park -> PARKED
//! NOTIFIED  running or queued, a token     take_token, finish_park (fails) -> RUNNING
//! PARKED    suspended, in no queue         unpark (caller schedules it), claim -> RUNNING
//! ```
//!
//! Nothing here knows what a micro-thread or a scheduler is: the header
//! (`task/mod.rs`) asks [`State::unpark`] whether to schedule, and its
//! worker asks [`State::finish_park`] whether the micro-thread that just
//! suspended stays parked. So the transitions are tested on their own,
//! under Miri too (`cargo +nightly miri test -p dhaga-runtime --lib
//! task::state`).
//!
//! The atomic comes from `primitive.rs`: std's, or loom's under `--cfg
//! loom`, where a model runs the transitions in every interleaving
//! (`scripts/loom.sh`).

use crate::primitive::{AtomicU8, Ordering};

/// Running or queued, no token.
const RUNNING: u8 = 0;
/// Running or queued, with a wake-up token that the next park consumes.
const NOTIFIED: u8 = 1;
/// Suspended in a park, in no queue: the next `unpark` schedules it.
const PARKED: u8 = 2;

/// The wake-up state of one micro-thread (see the module docs).
pub(crate) struct State(AtomicU8);

impl State {
    /// Running, without a token: a micro-thread about to be spawned.
    pub(crate) fn new() -> State {
        State(AtomicU8::new(RUNNING))
    }

    /// Back to [`State::new`]'s, for a recycled header; `&mut`: nobody
    /// else can see it.
    pub(crate) fn reset(&mut self) {
        *self = State::new();
    }

    /// Whether the micro-thread is parked right now. A snapshot.
    pub(crate) fn is_parked(&self) -> bool {
        self.0.load(Ordering::Acquire) == PARKED
    }

    /// Consumes a pending token, if any; called by the micro-thread itself
    /// before it parks. True if there was one: then it need not suspend.
    pub(crate) fn take_token(&self) -> bool {
        // A plain load first: the common case (no token) costs no atomic
        // read-modify-write.
        self.0.load(Ordering::Relaxed) == NOTIFIED
            && self
                .0
                .compare_exchange(NOTIFIED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Called by the worker right after the micro-thread suspended to park.
    /// True if it is parked now; false if a token arrived meanwhile, which
    /// this consumes: the micro-thread stays runnable and the worker must
    /// requeue it.
    pub(crate) fn finish_park(&self) -> bool {
        match self
            .0
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED: the token is consumed by the wake-up itself.
                self.0.store(RUNNING, Ordering::Relaxed);
                false
            }
        }
    }

    /// Takes a parked micro-thread for a worker that is about to resume it
    /// without a wake-up (shutdown): afterwards it counts as running, so a
    /// late [`unpark`](State::unpark) only sets its token.
    pub(crate) fn claim(&self) {
        self.0.store(RUNNING, Ordering::Relaxed);
    }

    /// Sets the token. True if the micro-thread was parked: then it counts
    /// as running again, and the caller must schedule it (once: every other
    /// `unpark` meanwhile only sets the token). Several `unpark`s before a
    /// park make one token.
    #[must_use = "a parked micro-thread must be scheduled"]
    pub(crate) fn unpark(&self) -> bool {
        let mut state = self.0.load(Ordering::Relaxed);
        loop {
            let next = match state {
                RUNNING => NOTIFIED,
                PARKED => RUNNING,
                _ => return false, // NOTIFIED already
            };
            match self
                .0
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return state == PARKED,
                Err(actual) => state = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::thread;

    use super::State;

    #[test]
    fn a_token_set_while_running_is_taken_by_the_next_park() {
        let state = State::new();
        assert!(!state.take_token(), "no token yet");
        assert!(!state.unpark(), "a running micro-thread is not scheduled");
        assert!(!state.unpark(), "two unparks make one token");
        assert!(state.take_token());
        assert!(!state.take_token(), "the token was consumed");
        assert!(!state.is_parked());
    }

    #[test]
    fn an_unpark_schedules_a_parked_micro_thread_once() {
        let state = State::new();
        assert!(state.finish_park());
        assert!(state.is_parked());
        assert!(state.unpark(), "the first unpark schedules it");
        assert!(!state.is_parked());
        assert!(!state.unpark(), "a second one only sets its token");
        // Resumed, it parks again: the token makes that return at once.
        assert!(state.take_token());
        assert!(state.finish_park());
        assert!(state.unpark());
    }

    #[test]
    fn a_token_that_comes_while_suspending_keeps_it_runnable() {
        let state = State::new();
        // The micro-thread found no token and suspended; a wake-up came
        // before its worker could mark it parked.
        assert!(!state.take_token());
        assert!(!state.unpark(), "not parked yet: nobody schedules it");
        assert!(!state.finish_park(), "the worker requeues it instead");
        assert!(!state.is_parked());
        assert!(!state.take_token(), "the requeue consumed the token");
        assert!(state.finish_park(), "and the next park parks");
    }

    #[test]
    fn a_claimed_micro_thread_is_not_scheduled_by_a_late_unpark() {
        let state = State::new();
        assert!(state.finish_park());
        state.claim();
        assert!(!state.is_parked());
        assert!(!state.unpark(), "a stale unpark only sets the token");
    }

    #[test]
    fn a_reset_state_is_a_new_one() {
        let mut state = State::new();
        assert!(state.finish_park());
        state.reset();
        assert!(!state.is_parked());
        assert!(!state.take_token());
        let mut state = State::new();
        assert!(!state.unpark());
        state.reset();
        assert!(!state.take_token(), "no token survives a reset");
    }

    /// The race below, under loom: in every interleaving of a park with
    /// two wake-ups from other threads, and every outcome the memory model
    /// allows, the micro-thread sees its token or is scheduled exactly once.
    #[cfg(loom)]
    #[test]
    fn loom_racing_unparks_schedule_a_parked_micro_thread_exactly_once() {
        loom::model(|| {
            let state = loom::sync::Arc::new(State::new());
            let scheduled = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let (state, scheduled) = (state.clone(), scheduled.clone());
                    loom::thread::spawn(move || {
                        if state.unpark() {
                            scheduled.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let woke_itself = state.take_token() || !state.finish_park();
            for waker in wakers {
                waker.join().unwrap();
            }
            let scheduled = scheduled.load(Ordering::Relaxed);
            assert_eq!(
                usize::from(woke_itself) + scheduled,
                1,
                "saw its token: {woke_itself}, scheduled {scheduled} times"
            );
        });
    }

    /// Wake-ups from other threads racing with the park: every round the
    /// micro-thread either sees the token (`take_token`, or `finish_park`
    /// failing) or is scheduled by exactly one `unpark`; never both, never
    /// neither.
    #[test]
    fn racing_unparks_schedule_a_parked_micro_thread_exactly_once() {
        let rounds = if cfg!(miri) { 20 } else { 2_000 };
        for _ in 0..rounds {
            let state = Arc::new(State::new());
            let scheduled = Arc::new(AtomicUsize::new(0));
            let go = Arc::new(AtomicBool::new(false));
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let (state, scheduled, go) = (Arc::clone(&state), Arc::clone(&scheduled), Arc::clone(&go));
                    thread::spawn(move || {
                        while !go.load(Ordering::Acquire) {
                            std::hint::spin_loop();
                        }
                        if state.unpark() {
                            scheduled.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            go.store(true, Ordering::Release);
            let woke_itself = state.take_token() || !state.finish_park();
            for waker in wakers {
                waker.join().unwrap();
            }
            let scheduled = scheduled.load(Ordering::Relaxed);
            assert_eq!(
                usize::from(woke_itself) + scheduled,
                1,
                "saw its token: {woke_itself}, scheduled {scheduled} times"
            );
        }
    }
}
