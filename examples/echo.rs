//! An echo server written the thread-per-connection way: one plain,
//! blocking `handle` function per connection.
//!
//! Run: `cargo run --release --example echo -- 127.0.0.1:7000 [--threads]`
//!
//! By default each connection is served by a micro-thread, and a few worker
//! threads (one per CPU) run all of them. With `--threads` the very same code
//! runs one OS thread per connection: the flag only builds the runtime in
//! thread mode, where `spawn` starts an OS thread and every blocking call
//! blocks it as its `std` counterpart would.
//!
//! Once bound, the server prints `listening on <addr> (micro-threads)` (or
//! `(threads)`) on stdout, then serves until it is killed. Try it with
//! `nc 127.0.0.1 7000`, or load it with the `echo_load` example.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use dhaga::net::{TcpListener, TcpStream};

/// Serves one connection: sends back every byte it receives, until the peer
/// closes its side or an error occurs.
///
/// Nothing here knows whether it runs on a micro-thread or an OS thread.
fn handle(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Accepts connections forever and hands each one to its own `handle`.
fn serve(addr: SocketAddr, mode: &str) -> io::Result<()> {
    let listener =
        TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    // `compare` waits for this line before it starts loading the server.
    println!("listening on {} ({mode})", listener.local_addr()?);
    io::stdout().flush()?;

    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was
                // accepted: say so, pause briefly rather than spin, go on.
                eprintln!("echo: accept failed: {e}");
                dhaga::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("echo: set_nodelay failed: {e}");
        }
        // A micro-thread, or an OS thread in thread mode. Dropping the
        // handle detaches it.
        if let Err(e) = dhaga::Builder::new().spawn(move || handle(stream)) {
            eprintln!("echo: cannot start a handler, connection dropped: {e}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let (addr, threads) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("echo: {message}\nusage: echo <addr> [--threads]");
            return ExitCode::from(2);
        }
    };
    let mode = if threads { "threads" } else { "micro-threads" };
    let served = dhaga::Runtime::builder()
        .thread_mode(threads)
        .build()
        .and_then(|runtime| runtime.block_on(move || serve(addr, mode)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `<addr> [--threads]` into the address and whether to use threads.
fn parse_args() -> Result<(SocketAddr, bool), String> {
    let mut addr = None;
    let mut threads = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--threads" => threads = true,
            _ if addr.is_none() => addr = Some(arg.parse().map_err(|e| format!("<addr> {arg:?}: {e}"))?),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok((addr.ok_or("missing <addr>")?, threads))
}
