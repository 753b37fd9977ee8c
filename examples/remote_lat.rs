//! Latency, requesting side: libzmq's `perf/remote_lat` on dhaga. Pairs
//! with `local_lat` — this one's, or libzmq's own.
//!
//! Run: `cargo run --release --example remote_lat -- tcp://127.0.0.1:5555 64 10000`
//!
//! Same command line and output as libzmq's tool: connects a REQ socket to
//! `<connect-to>`, sends a request of `<message-size>` zero bytes and waits
//! for it to come back, `<roundtrip-count>` times, and prints half the mean
//! round trip, the one-way latency:
//!
//! ```text
//! message size: 64 [B]
//! roundtrip count: 10000
//! average latency: 24.907 [us]
//! ```
//!
//! As in libzmq, the clock starts before the first request, so the time to
//! connect counts: start `local_lat` first.

use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use dhaga::mq::{Socket, SocketType};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match &args[1..] {
        [connect_to, size, count] => match (size.parse::<usize>(), count.parse::<u64>()) {
            (Ok(size), Ok(count)) if count > 0 => Some((connect_to.clone(), size, count)),
            _ => None,
        },
        _ => None,
    };
    let Some((connect_to, message_size, roundtrip_count)) = parsed else {
        println!("usage: remote_lat <connect-to> <message-size> <roundtrip-count>");
        return ExitCode::from(1);
    };
    match dhaga::run(move || remote_lat(&connect_to, message_size, roundtrip_count)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Makes the round trips and prints the report; `Err` is the line to print
/// instead.
fn remote_lat(connect_to: &str, message_size: usize, roundtrip_count: u64) -> Result<(), String> {
    let socket = Socket::new(SocketType::Req);
    socket
        .connect(connect_to)
        .map_err(|e| format!("error in connect: {e}"))?;
    let mut msg = dhaga::mq::Msg::from(Bytes::from(vec![0u8; message_size]));

    let watch = Instant::now();
    for _ in 0..roundtrip_count {
        socket.send(msg).map_err(|e| format!("error in send: {}", e.error()))?;
        msg = socket.recv().map_err(|e| format!("error in recv: {e}"))?;
        if msg.size() != message_size {
            return Err("message of incorrect size received".into());
        }
    }
    // Microseconds, as libzmq's stopwatch counts them.
    let elapsed = watch.elapsed().as_micros() as u64;

    let latency = elapsed as f64 / (roundtrip_count * 2) as f64;
    println!("message size: {message_size} [B]");
    println!("roundtrip count: {roundtrip_count}");
    println!("average latency: {latency:.3} [us]");
    socket.close();
    Ok(())
}
