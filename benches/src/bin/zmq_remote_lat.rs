//! libzmq's `perf/remote_lat`, line for line, through the `zmq` crate (which
//! links the system's libzmq): the libzmq side of `compare_mq`, and a peer
//! for dhaga's `local_lat` example.
//!
//! Run: `cargo run --release -p dhaga-benches --bin zmq_remote_lat -- tcp://127.0.0.1:5555 64 10000`
//!
//! A REQ socket in a context with one I/O thread, no options set,
//! connected to `<connect-to>`, sends a request of `<message-size>` zero
//! bytes and receives it back `<roundtrip-count>` times (one message
//! object, as libzmq's tool), and prints half the mean round trip:
//!
//! ```text
//! message size: 64 [B]
//! roundtrip count: 10000
//! average latency: 24.907 [us]
//! ```
//!
//! The clock starts before the first request, so connecting counts. The
//! one difference: libzmq's `zmq_stopwatch` is replaced by [`Instant`],
//! read in whole microseconds as the stopwatch counts.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        println!("usage: remote_lat <connect-to> <message-size> <roundtrip-count>");
        return ExitCode::from(1);
    }
    let connect_to = &args[1];
    // atoi: what does not parse counts as 0.
    let message_size: usize = args[2].parse().unwrap_or(0);
    let roundtrip_count: u64 = args[3].parse().unwrap_or(0);
    match remote_lat(connect_to, message_size, roundtrip_count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            println!("{line}");
            ExitCode::FAILURE
        }
    }
}

/// The tool's body; `Err` is the line libzmq's tool prints before it
/// returns -1.
fn remote_lat(connect_to: &str, message_size: usize, roundtrip_count: u64) -> Result<(), String> {
    // zmq_init(1): one I/O thread, which is libzmq's default.
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::REQ).map_err(|e| format!("error in zmq_socket: {e}"))?;
    s.connect(connect_to)
        .map_err(|e| format!("error in zmq_connect: {e}"))?;

    let mut msg = zmq::Message::with_size(message_size);
    let watch = Instant::now();
    for _ in 0..roundtrip_count {
        // zmq_sendmsg empties the message and zmq_recvmsg refills it; the
        // crate's send consumes it, so the next receive takes a fresh one.
        s.send(std::mem::replace(&mut msg, zmq::Message::new()), 0)
            .map_err(|e| format!("error in zmq_sendmsg: {e}"))?;
        s.recv(&mut msg, 0).map_err(|e| format!("error in zmq_recvmsg: {e}"))?;
        if msg.len() != message_size {
            return Err("message of incorrect size received".into());
        }
    }
    let elapsed = watch.elapsed().as_micros() as u64;
    drop(msg);

    let latency = elapsed as f64 / (roundtrip_count * 2) as f64;
    println!("message size: {message_size} [B]");
    println!("roundtrip count: {roundtrip_count}");
    println!("average latency: {latency:.3} [us]");

    drop(s); // zmq_close
    drop(ctx); // zmq_ctx_term
    Ok(())
}
