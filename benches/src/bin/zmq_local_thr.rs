//! libzmq's `perf/local_thr`, line for line, through the `zmq` crate (which
//! links the system's libzmq): the libzmq side of `compare_mq`, and a peer
//! for dhaga's `remote_thr` example.
//!
//! Run: `cargo run --release -p dhaga-benches --bin zmq_local_thr -- tcp://127.0.0.1:5555 64 1000000`
//!
//! A PULL socket in a context with one I/O thread, no options set, bound to
//! `<bind-to>`; the clock starts after the first of `<message-count>`
//! messages of `<message-size>` bytes and stops after the last. It prints
//! what libzmq's tool prints:
//!
//! ```text
//! message size: 64 [B]
//! message count: 1000000
//! mean throughput: 3149606 [msg/s]
//! mean throughput: 1612.598 [Mb/s]
//! ```
//!
//! The one difference: libzmq's `zmq_stopwatch` is replaced by
//! [`Instant`], read in whole microseconds as the stopwatch counts.

use std::process::ExitCode;
use std::time::Instant;

/// `--curve`: the test key pairs of libzmq's zmq_curve(7) (a benchmark
/// needs no secret keys): the local tool is the CURVE server, the remote
/// one its client.
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let curve = args.len() == 5 && args[4] == "--curve";
    if args.len() != 4 && !curve {
        println!("usage: local_thr <bind-to> <message-size> <message-count> [--curve]");
        return ExitCode::from(1);
    }
    let bind_to = &args[1];
    // atoi: what does not parse counts as 0.
    let message_size: usize = args[2].parse().unwrap_or(0);
    let message_count: u64 = args[3].parse().unwrap_or(0);
    match local_thr(bind_to, message_size, message_count, curve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            println!("{line}");
            ExitCode::FAILURE
        }
    }
}

/// The tool's body; `Err` is the line libzmq's tool prints before it
/// returns -1.
fn local_thr(bind_to: &str, message_size: usize, message_count: u64, curve: bool) -> Result<(), String> {
    // zmq_init(1): one I/O thread, which is libzmq's default.
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::PULL).map_err(|e| format!("error in zmq_socket: {e}"))?;
    if curve {
        s.set_curve_server(true)
            .and_then(|()| s.set_curve_secretkey(SERVER_SECRET.as_bytes()))
            .map_err(|e| format!("error in zmq_setsockopt: {e}"))?;
    }
    s.bind(bind_to).map_err(|e| format!("error in zmq_bind: {e}"))?;

    let mut msg = zmq::Message::new();
    s.recv(&mut msg, 0).map_err(|e| format!("error in zmq_recvmsg: {e}"))?;
    if msg.len() != message_size {
        return Err("message of incorrect size received".into());
    }

    let watch = Instant::now();
    for _ in 1..message_count {
        s.recv(&mut msg, 0).map_err(|e| format!("error in zmq_recvmsg: {e}"))?;
        if msg.len() != message_size {
            return Err("message of incorrect size received".into());
        }
    }
    let elapsed = (watch.elapsed().as_micros() as u64).max(1);
    drop(msg);

    let throughput = message_count as f64 / elapsed as f64 * 1_000_000.0;
    let megabits = throughput * message_size as f64 * 8.0 / 1_000_000.0;
    println!("message size: {message_size} [B]");
    println!("message count: {message_count}");
    println!("mean throughput: {} [msg/s]", throughput as u64);
    println!("mean throughput: {megabits:.3} [Mb/s]");

    drop(s); // zmq_close
    drop(ctx); // zmq_ctx_term
    Ok(())
}
