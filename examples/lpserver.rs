//! Lazy Pirate server, as in the ZeroMQ Guide (chapter 4, "Client-Side
//! Reliability (Lazy Pirate Pattern)", `lpserver`): a REP server that
//! echoes each request back, and after a few requests starts to fail, so
//! that `lpclient` has something to recover from.
//!
//! Run: `cargo run --release --example lpserver -- tcp://*:5555`
//!
//! Binds a REP socket to `<bind>` and answers every request with the
//! request itself, printing `I: normal request (<request>)` and working a
//! second first. From the fourth request on, as in the Guide, it may
//! fail: with one chance in three it prints `I: simulating a crash` and
//! exits, and otherwise, with one chance in three, it prints `I:
//! simulating CPU overload` and takes two seconds more.
//!
//! Options:
//!
//! - `--reliable`: never fail, and answer at once (no second of work):
//!   for testing what the network does rather than what the server does,
//!   as `scripts/netns-test.sh` does;
//! - `--heartbeat <ivl-ms>:<timeout-ms>`: ZMTP heartbeats on the socket
//!   (`set_heartbeat_ivl`, `set_heartbeat_timeout`), so that connections
//!   of clients that vanished are dropped.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use dhaga::mq::{Result, Socket, SocketType};

/// Requests served before the simulated failures may start.
const SAFE_CYCLES: u64 = 3;

/// Answers requests on `server`, printing each to `out`. With `faults`
/// it behaves as the Guide's server (works a second per request, and from
/// the fourth request on may simulate an overload or a crash, each with
/// one chance in three drawn from `faults`); without, it echoes at once,
/// forever. Returns after a simulated crash.
///
/// # Errors
///
/// The socket's, if receiving or sending fails, and `out`'s.
pub(crate) fn serve(server: &Socket, mut faults: Option<fastrand::Rng>, out: &mut dyn Write) -> Result<()> {
    let mut cycles = 0u64;
    loop {
        let request = server.recv()?;
        cycles += 1;
        if let Some(dice) = faults.as_mut() {
            // The Guide's `randof (3) == 0`, twice.
            if cycles > SAFE_CYCLES && dice.u32(..3) == 0 {
                writeln!(out, "I: simulating a crash")?;
                return Ok(());
            }
            if cycles > SAFE_CYCLES && dice.u32(..3) == 0 {
                writeln!(out, "I: simulating CPU overload")?;
                dhaga::sleep(Duration::from_secs(2));
            }
        }
        writeln!(out, "I: normal request ({request})")?;
        if faults.is_some() {
            dhaga::sleep(Duration::from_secs(1)); // Do some heavy work.
        }
        server.send(request)?;
    }
}

/// What the command line asks for.
struct Config {
    endpoint: String,
    reliable: bool,
    /// Heartbeat interval and timeout (`None`: no heartbeats).
    heartbeat: Option<(Duration, Duration)>,
}

/// The configuration the command line asks for, or `None` if it does not
/// parse.
fn parse(args: &[String]) -> Option<Config> {
    let (endpoint, options) = args.split_first()?;
    let mut config = Config {
        endpoint: endpoint.clone(),
        reliable: false,
        heartbeat: None,
    };
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match option.as_str() {
            "--reliable" => config.reliable = true,
            "--heartbeat" => {
                let (ivl, timeout) = options.next()?.split_once(':')?;
                let millis = |value: &str| value.parse().ok().map(Duration::from_millis);
                config.heartbeat = Some((millis(ivl)?, millis(timeout)?));
            }
            _ => return None,
        }
    }
    Some(config)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(config) = parse(&args) else {
        eprintln!(
            "usage: lpserver <bind> [--reliable] [--heartbeat <ivl-ms>:<timeout-ms>]\n  e.g. lpserver tcp://*:5555"
        );
        return ExitCode::from(2);
    };
    let served = dhaga::run(move || {
        let server = Socket::new(SocketType::Rep);
        if let Some((ivl, timeout)) = config.heartbeat {
            server.set_heartbeat_ivl(Some(ivl));
            server.set_heartbeat_timeout(Some(timeout));
        }
        server.bind(&config.endpoint)?;
        let faults = (!config.reliable).then(fastrand::Rng::new);
        serve(&server, faults, &mut io::stdout())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lpserver: {e}");
            ExitCode::FAILURE
        }
    }
}
