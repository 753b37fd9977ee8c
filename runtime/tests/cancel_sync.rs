//! `JoinHandle::cancel` on a micro-thread parked on each lock and
//! coordination primitive: it unwinds (its destructors run), `join`
//! reports `Cancelled`, and the primitive keeps working for everyone else
//! (the cancelled waiter left its queue and took nothing with it).

use std::sync::Arc;

use dhaga_runtime::sync::{Barrier, Condvar, Mutex, OnceLock, RwLock, Select, Semaphore, WaitGroup, bounded};
use dhaga_runtime::{Cancelled, JoinHandle};
use dhaga_testutil::{JoinWithin, RecvWithin, wait_until, within_limit};

/// Spawns `body` after a guard whose drop reports on `dropped`; waits until
/// the micro-thread is about to block (it says so on `parking`, a buffered
/// channel) and then until it is parked there, cancels it, and checks the
/// unwinding.
#[track_caller]
fn cancel_while_parked(what: &str, body: impl FnOnce() + Send + 'static) {
    struct Guard(dhaga_runtime::sync::Sender<()>);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (dropped_tx, dropped_rx) = bounded(1);
    let (parking_tx, parking_rx) = bounded(1);
    let handle: JoinHandle<()> = dhaga_runtime::spawn(move || {
        let _guard = Guard(dropped_tx);
        parking_tx.send(()).unwrap();
        body();
    });
    parking_rx.recv_within(&format!("the report of the micro-thread about to block in {what}"));
    wait_until(&format!("the micro-thread parked in {what}"), || handle.is_parked());
    handle.cancel();
    let payload = handle
        .join_within(&format!("the micro-thread cancelled in {what}"))
        .unwrap_err();
    assert!(payload.is::<Cancelled>(), "joined with a panic instead of Cancelled");
    dropped_rx.recv_within(&format!("the guard of the micro-thread cancelled in {what}, dropped"));
}

#[test]
fn cancel_unwinds_waiters_of_every_primitive() {
    within_limit(|| {
        dhaga_runtime::run(|| {
            let mutex = Arc::new(Mutex::new(0));
            let held = mutex.lock().unwrap();
            cancel_while_parked("Mutex::lock", {
                let mutex = Arc::clone(&mutex);
                move || drop(mutex.lock())
            });
            drop(held);
            *mutex.lock().unwrap() += 1; // not poisoned, not left locked

            let rwlock = Arc::new(RwLock::new(0));
            let reader = rwlock.read().unwrap();
            cancel_while_parked("RwLock::write", {
                let rwlock = Arc::clone(&rwlock);
                move || drop(rwlock.write())
            });
            drop(reader);
            *rwlock.write().unwrap() += 1;

            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            cancel_while_parked("Condvar::wait_while", {
                let pair = Arc::clone(&pair);
                move || {
                    let guard = pair.0.lock().unwrap();
                    drop(pair.1.wait_while(guard, |ready| !*ready));
                }
            });
            // The cancelled waiter does not swallow this notification.
            let waiter = {
                let pair = Arc::clone(&pair);
                dhaga_runtime::spawn(move || {
                    let guard = pair.0.lock().unwrap();
                    *pair.1.wait_while(guard, |ready| !*ready).unwrap()
                })
            };
            *pair.0.lock().unwrap() = true;
            pair.1.notify_one();
            assert!(waiter.join_within("the condition variable's other waiter").unwrap());

            let semaphore = Arc::new(Semaphore::new(0));
            cancel_while_parked("Semaphore::acquire", {
                let semaphore = Arc::clone(&semaphore);
                move || drop(semaphore.acquire())
            });
            semaphore.add_permits(1);
            assert!(
                semaphore.try_acquire().is_some(),
                "the permit was not taken by the cancelled waiter"
            );

            let barrier = Arc::new(Barrier::new(2));
            cancel_while_parked("Barrier::wait", {
                let barrier = Arc::clone(&barrier);
                move || {
                    barrier.wait();
                }
            });
            // The cancelled arrival was withdrawn: two new arrivals meet.
            let other = {
                let barrier = Arc::clone(&barrier);
                dhaga_runtime::spawn(move || barrier.wait().is_leader())
            };
            let here = barrier.wait().is_leader();
            let leaders = [here, other.join_within("the barrier's other party").unwrap()];
            assert_eq!(leaders.iter().filter(|&&l| l).count(), 1);

            let group = WaitGroup::new();
            let member = group.clone();
            let waiter = group.clone();
            cancel_while_parked("WaitGroup::wait", move || waiter.wait());
            drop(member);
            group.wait();

            let cell = Arc::new(OnceLock::new());
            let (started_tx, started_rx) = bounded(0);
            let (finish_tx, finish_rx) = bounded::<()>(1);
            let initialiser = {
                let cell = Arc::clone(&cell);
                dhaga_runtime::spawn(move || {
                    *cell.get_or_init(|| {
                        started_tx.send(()).unwrap();
                        finish_rx.recv_within("the word to finish initialising");
                        7
                    })
                })
            };
            started_rx.recv_within("the initialiser's report that it runs");
            cancel_while_parked("OnceLock::get_or_init", {
                let cell = Arc::clone(&cell);
                move || {
                    cell.get_or_init(|| 8);
                }
            });
            finish_tx.send(()).unwrap();
            assert_eq!(initialiser.join_within("the initialiser").unwrap(), 7);

            let (tx1, rx1) = bounded::<u32>(0);
            let (_tx2, rx2) = bounded::<u32>(0);
            let _receiver_stays = rx1.clone();
            cancel_while_parked("Select::select", move || {
                let mut select = Select::new();
                select.recv(&rx1);
                select.recv(&rx2);
                let _ = select.select();
            });
            // The channel is open, but nobody waits on it any more: a
            // rendezvous send finds no receiver.
            assert!(
                matches!(tx1.try_send(1), Err(dhaga_runtime::sync::TrySendError::Full(1))),
                "the cancelled select is still registered"
            );
        });
    });
}
