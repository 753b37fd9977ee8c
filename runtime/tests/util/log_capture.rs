//! A logger for tests of what the runtime reports through `log` (the
//! stall watchdog, the deadlock report): every record goes to each test
//! that subscribed, on a channel of its own. The tests of one binary run
//! side by side, so each picks its own records out (by a micro-thread's
//! name, say).

use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Instant;

/// A record the capturing logger got.
pub(crate) struct Record {
    pub(crate) target: String,
    pub(crate) level: log::Level,
    pub(crate) message: String,
    pub(crate) at: Instant,
}

struct Capture(Mutex<Vec<mpsc::Sender<Arc<Record>>>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let record = Arc::new(Record {
            target: record.target().to_owned(),
            level: record.level(),
            message: record.args().to_string(),
            at: Instant::now(),
        });
        let mut subscribers = self.0.lock().unwrap();
        subscribers.retain(|tx| tx.send(Arc::clone(&record)).is_ok());
    }

    fn flush(&self) {}
}

/// Records logged from now on (the first call installs the logger for the
/// whole test binary).
pub(crate) fn records() -> mpsc::Receiver<Arc<Record>> {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        capture
    });
    let (tx, rx) = mpsc::channel();
    capture.0.lock().unwrap().push(tx);
    rx
}
