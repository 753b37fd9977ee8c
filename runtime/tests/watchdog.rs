//! The stall watchdog: a micro-thread that keeps its worker past the
//! threshold is reported through `log` once per stall, with its id, name,
//! where it was spawned and how long it has run; parked micro-threads and
//! idle workers are not; `Duration::ZERO` turns it off.

mod util;

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use dhaga_runtime::sync::unbounded;
use dhaga_runtime::{Builder, Runtime};

use util::log_capture::{Record, records};
use util::{JoinWithin, RecvWithin};

/// The next watchdog record about the micro-thread named `name`.
#[track_caller]
fn report_about(records: &mpsc::Receiver<Arc<Record>>, name: &str, what: &str) -> Arc<Record> {
    loop {
        let record = records.recv_within(what);
        if record.target == "dhaga::watchdog" && record.message.contains(&format!("\"{name}\"")) {
            return record;
        }
    }
}

/// The milliseconds a report says the micro-thread ran.
fn reported_ms(message: &str) -> u128 {
    let (before, _) = message.split_once(" ms without parking").expect("a duration in ms");
    before.rsplit(' ').next().unwrap().parse().expect("a number of ms")
}

/// Spins (keeping its worker, never parking) until `stop` is set.
fn hog(stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        spin_loop();
    }
}

#[test]
fn a_micro_thread_that_keeps_its_worker_is_reported_once_per_stall() {
    let records = records();
    let threshold = Duration::from_millis(20);
    let rt = Runtime::builder()
        .workers(1)
        .stall_threshold(threshold)
        .build()
        .unwrap();
    let (first, second) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (yielded_tx, yielded_rx) = mpsc::channel();
    let spawned_at = line!() + 1;
    let hogging = Builder::new().name("hog".into()).spawn_on(&rt, {
        let (first, second) = (Arc::clone(&first), Arc::clone(&second));
        move || {
            hog(&first);
            // Still the same stall: ten thresholds more, without a second
            // report.
            let more = Instant::now();
            while more.elapsed() < 10 * threshold {
                spin_loop();
            }
            dhaga_runtime::yield_now();
            yielded_tx.send(Instant::now()).unwrap();
            hog(&second);
        }
    });
    let hogging = hogging.unwrap();

    let report = report_about(&records, "hog", "the watchdog's report of the first stall");
    first.store(true, Ordering::Release);
    assert_eq!(report.level, log::Level::Warn);
    let expected = format!(
        "micro-thread {} \"hog\" (spawned at {}:{spawned_at}:",
        hogging.id(),
        file!()
    );
    assert!(
        report.message.starts_with(&expected),
        "{expected:?} in {:?}",
        report.message
    );
    assert!(
        reported_ms(&report.message) >= threshold.as_millis(),
        "{}",
        report.message
    );
    assert!(
        report.message.contains("spawn_blocking"),
        "says what to do: {}",
        report.message
    );

    let yielded = yielded_rx.recv_within("the hog to yield between its two stalls");
    let again = report_about(&records, "hog", "the watchdog's report of the second stall");
    second.store(true, Ordering::Release);
    assert!(
        again.at > yielded,
        "a second report during the first stall ({:?} before the yield): {}",
        yielded - again.at,
        again.message
    );
    hogging.join_within("the hog").unwrap();
}

#[test]
fn parked_micro_threads_idle_workers_and_a_zero_threshold_are_not_reported() {
    let records = records();
    // Large enough that the OS descheduling a worker under load (which the
    // watchdog cannot tell from a stall) does not look like one.
    let threshold = Duration::from_millis(200);
    let rt = Runtime::builder()
        .workers(2)
        .stall_threshold(threshold)
        .build()
        .unwrap();
    let (tx, rx) = unbounded::<()>();
    let parked = Builder::new()
        .name("parked".into())
        .spawn_on(&rt, move || rx.recv())
        .unwrap();
    // A micro-thread that parks and wakes all the time, never for long.
    let busy = Builder::new()
        .name("busy".into())
        .spawn_on(&rt, move || {
            let start = Instant::now();
            while start.elapsed() < 5 * threshold {
                dhaga_runtime::yield_now();
            }
        })
        .unwrap();
    busy.join_within("the busy micro-thread").unwrap();
    // Parked all along; woken by the disconnection.
    drop(tx);
    assert!(parked.join_within("the parked micro-thread").unwrap().is_err());

    let off = Runtime::builder()
        .workers(1)
        .stall_threshold(Duration::ZERO)
        .build()
        .unwrap();
    let unwatched = Builder::new()
        .name("unwatched".into())
        .spawn_on(&off, || {
            let start = Instant::now();
            while start.elapsed() < 2 * dhaga_runtime::DEFAULT_STALL_THRESHOLD {
                spin_loop();
            }
        })
        .unwrap();
    unwatched.join_within("the unwatched hog").unwrap();
    drop((rt, off));

    let reported: Vec<String> = records
        .try_iter()
        .filter(|r| r.target == "dhaga::watchdog")
        .map(|r| r.message.clone())
        .filter(|m| {
            ["\"parked\"", "\"busy\"", "\"unwatched\""]
                .iter()
                .any(|n| m.contains(n))
        })
        .collect();
    assert!(reported.is_empty(), "{reported:#?}");
}
