//! Throughput, sending side: libzmq's `perf/remote_thr` on dhaga. Pairs
//! with `local_thr` — this one's, or libzmq's own.
//!
//! Run: `cargo run --release --example remote_thr -- tcp://127.0.0.1:5555 64 1000000`
//!
//! Same command line as libzmq's tool, and like it silent: connects a PUSH
//! socket to `<connect-to>`, sends `<message-count>` messages of
//! `<message-size>` bytes as fast as the socket takes them, then closes the
//! socket, which waits until every message has been handed to the network
//! (libzmq's `zmq_ctx_term` does the same), and exits. The receiving side
//! prints the result.
//!
//! Like libzmq's tool, it makes a new message for each send (here a
//! zeroed buffer; libzmq's is uninitialised, and the `zmq` crate's port in
//! `dhaga-benches` zeroes it too), so that both do the same work. A
//! program resending the same bytes would rather clone one frame: a `Msg`
//! frame is reference-counted.

use std::process::ExitCode;

use dhaga::mq::{Socket, SocketType};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match &args[1..] {
        [connect_to, size, count] => match (size.parse::<usize>(), count.parse::<u64>()) {
            (Ok(size), Ok(count)) => Some((connect_to.clone(), size, count)),
            _ => None,
        },
        _ => None,
    };
    let Some((connect_to, message_size, message_count)) = parsed else {
        println!("usage: remote_thr <connect-to> <message-size> <message-count>");
        return ExitCode::from(1);
    };
    match dhaga::run(move || remote_thr(&connect_to, message_size, message_count)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Sends the messages; `Err` is the line to print instead.
fn remote_thr(connect_to: &str, message_size: usize, message_count: u64) -> Result<(), String> {
    let socket = Socket::new(SocketType::Push);
    socket
        .connect(connect_to)
        .map_err(|e| format!("error in connect: {e}"))?;
    for _ in 0..message_count {
        socket
            .send(vec![0u8; message_size])
            .map_err(|e| format!("error in send: {}", e.error()))?;
    }
    socket.close();
    Ok(())
}
