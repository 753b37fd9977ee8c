//! The deadlock report: micro-threads that wait on each other are reported
//! with a dump (logged, or as a panic of `block_on`), and nothing is
//! reported while a timer, an fd or a blocking job can still wake one.

mod util;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use dhaga_runtime::sync::bounded;
use dhaga_runtime::{Builder, Deadlock, RuntimeBuilder, Source, spawn_blocking};

use util::{JoinWithin, RecvWithin, panic_text, wait_until};

/// Hands the records of target `dhaga::deadlock` to the subscribed test.
struct Capture(Mutex<Vec<mpsc::Sender<String>>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "dhaga::deadlock"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            assert_eq!(record.level(), log::Level::Error, "a deadlock is reported as an error");
            let text = record.args().to_string();
            self.0.lock().unwrap().retain(|tx| tx.send(text.clone()).is_ok());
        }
    }

    fn flush(&self) {}
}

fn reports() -> mpsc::Receiver<String> {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Warn);
        capture
    });
    let (tx, rx) = mpsc::channel();
    capture.0.lock().unwrap().push(tx);
    rx
}

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
        let reports = reports();
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let stuck = rt.spawn(|| deadlock_two("the logged one"));
        // The tests of this file run side by side: this one's reports name
        // its micro-thread.
        let ours = |report: &String| report.contains("\"the logged one\": parked");
        let report = loop {
            let report = reports.recv_within("the deadlock report");
            if ours(&report) {
                break report;
            }
        };
        assert!(report.starts_with("dhaga: deadlock: all 2 micro-threads"), "{report}");
        assert!(stuck.is_parked());
        drop(rt);
        assert!(
            stuck
                .join_within("the stuck micro-thread, unwound by shutdown")
                .is_err()
        );
        assert!(!reports.try_iter().any(|report| ours(&report)), "reported once");
    });
}

/// Holds a runtime in a state for longer than it must stay quiet before a
/// deadlock is looked into (half a second), with a look of its watchdog
/// every millisecond (a stall threshold of 4 ms), then ends it.
const LOOKS: Duration = Duration::from_millis(700);

#[test]
fn no_report_while_a_timer_an_fd_or_a_blocking_job_can_wake_a_micro_thread() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new()
            .workers(2)
            .stall_threshold(Duration::from_millis(4))
            .on_deadlock(Deadlock::Panic)
            .build()
            .unwrap();

        // A timer.
        rt.block_on(|| dhaga_runtime::sleep(LOOKS));

        // An fd, written by an OS thread once the micro-thread waits on it.
        let (a, mut b) = UnixStream::pair().unwrap();
        let reader = rt.spawn(move || Source::new(a).unwrap().readable(None).is_ok());
        wait_until("the reader to park", || reader.is_parked());
        std::thread::sleep(LOOKS); // the state under test, held
        b.write_all(b"x").unwrap();
        assert!(reader.join_within("the reader").unwrap());

        // A blocking job.
        let answer = rt.block_on(|| {
            spawn_blocking(|| {
                std::thread::sleep(LOOKS);
                42
            })
        });
        assert_eq!(answer, 42);
    });
}
