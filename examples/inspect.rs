//! Seeing inside a running dhaga program: the stall watchdog's report, a
//! dump of every micro-thread, and the deadlock report.
//!
//! Run: `cargo run --release --example inspect`
//!
//! It starts a small echo server (a micro-thread that accepts, one per
//! connection) and one client connection, then:
//!
//! 1. runs a micro-thread, `hog`, that computes for 300 ms without parking:
//!    the stall watchdog reports it (a warning, target `dhaga::watchdog`);
//! 2. prints a dump (`dhaga::dump()`): each micro-thread, its state, what
//!    it waits for (the server `readable fd N` in `accept`, the connection
//!    in `read`, `main` for the dump itself), where it was spawned, its
//!    stack;
//! 3. stops the server and starts two micro-threads, `left` and `right`,
//!    each waiting for a message only the other would send: with nothing
//!    else left that could wake them, the runtime reports the deadlock (an
//!    error, target `dhaga::deadlock`, with a dump), and the program ends.
//!
//! Log records go to stderr, the dump to stdout. The runtime also writes a
//! dump to stderr on SIGQUIT (Ctrl-\ in a terminal): `dump_on_signal`.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use dhaga::net::{TcpListener, TcpStream};
use dhaga::sync::bounded;
use dhaga::{Builder, RuntimeBuilder};

fn main() -> ExitCode {
    log::set_logger(&LOGGER).expect("the only logger");
    log::set_max_level(log::LevelFilter::Warn);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inspect: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    let rt = RuntimeBuilder::new().workers(2).dump_on_signal(libc::SIGQUIT).build()?;
    rt.block_on(|| -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = Builder::new().name("server".into()).spawn(move || serve(&listener))?;
        let mut client = TcpStream::connect(addr)?;
        client.write_all(b"ping")?;
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply)?;

        // 1. A micro-thread that keeps its worker.
        let hog = Builder::new().name("hog".into()).spawn(|| {
            let start = Instant::now();
            let mut x = 1u64;
            while start.elapsed() < Duration::from_millis(300) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            x
        })?;
        let _ = hog.join();

        // 2. What everyone is doing.
        println!("{}", dhaga::dump());

        // 3. The server goes, and two micro-threads wait on each other.
        drop(client);
        server.cancel();
        let _ = server.join();
        let (to_left, for_left) = bounded::<&str>(0);
        let (to_right, for_right) = bounded::<&str>(0);
        Builder::new().name("left".into()).spawn(move || {
            if let Ok(greeting) = for_left.recv() {
                let _ = to_right.send(greeting);
            }
        })?;
        Builder::new().name("right".into()).spawn(move || {
            if let Ok(greeting) = for_right.recv() {
                let _ = to_left.send(greeting);
            }
        })?;
        Ok(())
    })?;
    if !LOGGER.wait_for_deadlock(Duration::from_secs(10)) {
        return Err(io::Error::other("no deadlock report within 10 s"));
    }
    Ok(())
}

/// The echo server: a micro-thread per connection.
fn serve(listener: &TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let spawned = Builder::new().name("connection".into()).spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
        if let Err(e) = spawned {
            eprintln!("inspect: cannot serve a connection: {e}");
        }
    }
}

/// Writes records to stderr, and tells `run` when the deadlock report came.
struct Logger {
    deadlock: Mutex<bool>,
    reported: Condvar,
}

static LOGGER: Logger = Logger {
    deadlock: Mutex::new(false),
    reported: Condvar::new(),
};

impl Logger {
    fn wait_for_deadlock(&self, limit: Duration) -> bool {
        let deadlock = self.deadlock.lock().unwrap_or_else(|e| e.into_inner());
        let (deadlock, _) = self
            .reported
            .wait_timeout_while(deadlock, limit, |reported| !*reported)
            .unwrap_or_else(|e| e.into_inner());
        *deadlock
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
        if record.target() == "dhaga::deadlock" {
            *self.deadlock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.reported.notify_all();
        }
    }

    fn flush(&self) {}
}
