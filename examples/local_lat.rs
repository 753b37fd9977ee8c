//! Latency, echoing side: libzmq's `perf/local_lat` on dhaga. Pairs with
//! `remote_lat` — this one's, or libzmq's own.
//!
//! Run: `cargo run --release --example local_lat -- tcp://127.0.0.1:5555 64 10000`
//!
//! Same command line as libzmq's tool, and like it silent: binds a REP
//! socket to `<bind-to>` and sends back each of `<roundtrip-count>`
//! requests of `<message-size>` bytes (a request of another size ends the
//! program with `message of incorrect size received`). Then it closes the
//! socket, which waits until the last reply has been handed to the
//! network, and exits. The requesting side prints the result.

use std::process::ExitCode;

use dhaga::mq::{Socket, SocketType};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match &args[1..] {
        [bind_to, size, count] => match (size.parse::<usize>(), count.parse::<u64>()) {
            (Ok(size), Ok(count)) => Some((bind_to.clone(), size, count)),
            _ => None,
        },
        _ => None,
    };
    let Some((bind_to, message_size, roundtrip_count)) = parsed else {
        println!("usage: local_lat <bind-to> <message-size> <roundtrip-count>");
        return ExitCode::from(1);
    };
    match dhaga::run(move || local_lat(&bind_to, message_size, roundtrip_count)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Echoes the requests; `Err` is the line to print instead.
fn local_lat(bind_to: &str, message_size: usize, roundtrip_count: u64) -> Result<(), String> {
    let socket = Socket::new(SocketType::Rep);
    socket.bind(bind_to).map_err(|e| format!("error in bind: {e}"))?;
    for _ in 0..roundtrip_count {
        let msg = socket.recv().map_err(|e| format!("error in recv: {e}"))?;
        if msg.size() != message_size {
            return Err("message of incorrect size received".into());
        }
        socket.send(msg).map_err(|e| format!("error in send: {}", e.error()))?;
    }
    socket.close();
    Ok(())
}
