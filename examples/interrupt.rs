//! Handling Ctrl-C cleanly, as in the ZeroMQ Guide (chapter 2, `interrupt`):
//! a REP server that answers "World" until it is interrupted, then closes
//! its socket and ends its context and exits normally.
//!
//! Run: `cargo run --release --example interrupt -- [tcp://*:5555]`, talk to
//! it with `hwclient tcp://127.0.0.1:5555 3`, then press Ctrl-C (or send it
//! SIGTERM): it prints `W: interrupt received, killing server...` and exits
//! with status 0.
//!
//! The Guide's C program sets a flag in its signal handler and relies on
//! the blocked `zmq_recv` returning `EINTR`. Here an OS thread waits for the
//! signal (`signal-hook`) and calls [`Context::shutdown`], which wakes the
//! blocked `recv` with [`Error::Terminated`], wherever it blocks: on this
//! thread or in any micro-thread of any runtime. The server then drops its
//! socket, and [`Context::term`] waits for it to deliver what it had queued.

use std::io::{self, Write};
use std::process::ExitCode;
use std::thread;

use dhaga::mq::{Context, Error, Result, Socket, SocketType};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Answers "World" to every request on `server` until its context is shut
/// down; returns how many requests it answered.
///
/// # Errors
///
/// Any failure of the socket but the shutdown.
pub(crate) fn serve(server: &Socket) -> Result<u64> {
    let mut served = 0;
    loop {
        match server.recv() {
            Ok(_request) => {
                server.send("World")?;
                served += 1;
            }
            Err(Error::Terminated) => return Ok(served),
            Err(e) => return Err(e),
        }
    }
}

fn main() -> ExitCode {
    let endpoint = std::env::args().nth(1).unwrap_or_else(|| "tcp://*:5555".to_owned());
    let context = Context::new();

    // Catch the signals before serving: from the first reply on, Ctrl-C
    // ends the server cleanly.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("interrupt: cannot catch signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stopper = context.clone();
    thread::spawn(move || {
        if signals.forever().next().is_some() {
            stopper.shutdown();
        }
    });

    let server = context.socket(SocketType::Rep);
    if let Err(e) = server.bind(&endpoint) {
        eprintln!("interrupt: cannot bind {endpoint}: {e}");
        return ExitCode::FAILURE;
    }
    let served = serve(&server);
    println!("W: interrupt received, killing server...");
    drop(server);
    context.term();
    match served {
        Ok(served) => {
            println!("served {served} requests");
            let _ = io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("interrupt: {e}");
            ExitCode::FAILURE
        }
    }
}
