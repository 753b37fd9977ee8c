//! The deadlock report: micro-threads that wait on each other are reported
//! with a dump (logged, or as a panic of `block_on`), and nothing is
//! reported while a timer, an fd or a blocking job can still wake one.

mod util;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use dhaga_runtime::sync::bounded;
use dhaga_runtime::{Builder, Deadlock, RuntimeBuilder, Source, spawn_blocking};

use util::log_capture::{Record, records};
use util::{JoinWithin, RecvWithin, panic_text, wait_until};

/// Two micro-threads, each waiting for a message only the other would send;
/// the other is named `name`.
fn deadlock_two(name: &'static str) {
    let (a_tx, a_rx) = bounded::<u32>(0);
    let (b_tx, b_rx) = bounded::<u32>(0);
    let other = Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let got = a_rx.recv();
            b_tx.send(1).ok();
            got
        })
        .unwrap();
    let _ = b_rx.recv();
    a_tx.send(2).ok();
    let _ = other.join();
}

#[test]
fn block_on_panics_with_the_report_when_its_micro_threads_wait_on_each_other() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new()
            .workers(2)
            .on_deadlock(Deadlock::Panic)
            .build()
            .unwrap();
        let panicked = catch_unwind(AssertUnwindSafe(|| rt.block_on(|| deadlock_two("the other"))))
            .expect_err("a deadlock panics");
        let report = panic_text(&*panicked)
            .expect("the report is the panic's text")
            .to_string();
        assert!(report.starts_with("dhaga: deadlock: all 2 micro-threads"), "{report}");
        assert!(
            report.contains("may still hold"),
            "the report says it can be wrong:\n{report}"
        );
        assert_eq!(report.matches("waiting for recv on channel 0x").count(), 2, "{report}");
        assert!(report.contains("\"the other\": parked"), "{report}");
        assert!(
            report.contains("deadlock_two"),
            "the stacks show where they wait:\n{report}"
        );
    });
}

#[test]
fn a_deadlock_is_logged_once_with_the_dump() {
    util::within_limit(|| {
        let records = records();
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let stuck = rt.spawn(|| deadlock_two("the logged one"));
        // The tests of this file run side by side: this one's reports name
        // its micro-thread.
        let ours = |record: &Record| {
            record.target == "dhaga::deadlock" && record.message.contains("\"the logged one\": parked")
        };
        let report = loop {
            let record = records.recv_within("the deadlock report");
            if ours(&record) {
                break record;
            }
        };
        assert_eq!(report.level, log::Level::Error, "a deadlock is reported as an error");
        assert!(
            report.message.starts_with("dhaga: deadlock: all 2 micro-threads"),
            "{}",
            report.message
        );
        assert!(stuck.is_parked());
        drop(rt);
        assert!(
            stuck
                .join_within("the stuck micro-thread, unwound by shutdown")
                .is_err()
        );
        assert!(!records.try_iter().any(|record| ours(&record)), "reported once");
    });
}

/// A runtime where a micro-thread waits for a timer and one for an fd is
/// never reported, however long they wait: here, until a second runtime,
/// whose micro-threads do deadlock and which looks as often, has been
/// reported (it stayed quiet the half second a report needs, so the first
/// one was looked at for as long).
#[test]
fn no_report_while_a_timer_or_an_fd_can_wake_a_micro_thread() {
    util::within_limit(|| {
        let records = records();
        let builder = || {
            RuntimeBuilder::new()
                .workers(2)
                .stall_threshold(Duration::from_millis(4))
        };
        // Each on a runtime of its own, so that neither hides the other.
        let (timer_rt, fd_rt) = (builder().build().unwrap(), builder().build().unwrap());

        // A timer: a receive with a deadline (a wait on a channel, which
        // only the timer tells apart from a deadlock), on a channel nobody
        // sends to until the end.
        let (timer_tx, timer_rx) = bounded::<u32>(0);
        let timer = Builder::new()
            .name("on a timer".into())
            .spawn_on(&timer_rt, move || timer_rx.recv_timeout(util::PATIENCE).is_ok())
            .unwrap();
        // An fd, written once the control runtime has been reported.
        let (a, mut b) = UnixStream::pair().unwrap();
        let reader = Builder::new()
            .name("on an fd".into())
            .spawn_on(&fd_rt, move || Source::new(a).unwrap().readable(None).is_ok())
            .unwrap();
        for (what, handle) in [("the timer's", &timer), ("the fd's", &reader)] {
            wait_until(&format!("{what} waiter to park"), || handle.is_parked());
        }

        let control = builder().build().unwrap();
        let _stuck = control.spawn(|| deadlock_two("the control"));
        loop {
            let record = records.recv_within("the control runtime's deadlock report");
            assert!(
                !(record.target == "dhaga::deadlock" && record.message.contains("\"on a")),
                "a false report:\n{}",
                record.message
            );
            if record.target == "dhaga::deadlock" && record.message.contains("\"the control\"") {
                break;
            }
        }

        timer_tx.send(1).unwrap();
        b.write_all(b"x").unwrap();
        assert!(timer.join_within("the timer's waiter").unwrap());
        assert!(reader.join_within("the fd's waiter").unwrap());
        assert!(
            !records
                .try_iter()
                .any(|record| record.target == "dhaga::deadlock" && record.message.contains("\"on a")),
            "a false report"
        );
    });
}

/// A blocking job may wake anyone (the runtime cannot see what it will
/// do), so while one runs nothing is reported: here a micro-thread waits
/// for a job that works for longer than the half second a report needs,
/// on a runtime whose `block_on` would panic with a report.
#[test]
fn no_report_while_a_blocking_job_runs() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new()
            .workers(2)
            .stall_threshold(Duration::from_millis(4))
            .on_deadlock(Deadlock::Panic)
            .build()
            .unwrap();
        let answer = rt.block_on(|| {
            spawn_blocking(|| {
                // The job's work: 700 ms of it.
                std::thread::sleep(Duration::from_millis(700));
                42
            })
        });
        assert_eq!(answer, 42);
    });
}
