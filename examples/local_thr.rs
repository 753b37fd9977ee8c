//! Throughput, receiving side: libzmq's `perf/local_thr` on dhaga. Pairs
//! with `remote_thr` — this one's, or libzmq's own.
//!
//! Run: `cargo run --release --example local_thr -- tcp://127.0.0.1:5555 64 1000000`
//!
//! Same command line and output as libzmq's tool: binds a PULL socket to
//! `<bind-to>`, receives `<message-count>` messages of `<message-size>`
//! bytes, and prints the rate from the first message to the last:
//!
//! ```text
//! message size: 64 [B]
//! message count: 1000000
//! mean throughput: 3149606 [msg/s]
//! mean throughput: 1612.598 [Mb/s]
//! ```
//!
//! As in libzmq, the clock starts when the first message has arrived (so
//! connecting is not counted), the rate counts every message over that
//! time, and a message of another size ends the program with
//! `message of incorrect size received`. `dhaga-benches` has the same tool
//! built on libzmq (`zmq_local_thr`); `compare_mq` runs both side by side.

use std::process::ExitCode;
use std::time::Instant;

use dhaga::mq::{Socket, SocketType};

/// `--curve`: the test key pairs of libzmq's zmq_curve(7) (a benchmark
/// needs no secret keys): the local tool is the CURVE server, the remote
/// one its client.
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (args, curve) = match &args[1..] {
        [rest @ .., flag] if flag == "--curve" => (rest, true),
        rest => (rest, false),
    };
    let parsed = match args {
        [bind_to, size, count] => match (size.parse::<usize>(), count.parse::<u64>()) {
            (Ok(size), Ok(count)) if count > 0 => Some((bind_to.clone(), size, count)),
            _ => None,
        },
        _ => None,
    };
    let Some((bind_to, message_size, message_count)) = parsed else {
        println!("usage: local_thr <bind-to> <message-size> <message-count> [--curve]");
        return ExitCode::from(1);
    };
    match dhaga::run(move || local_thr(&bind_to, message_size, message_count, curve)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Receives the messages and prints the report; `Err` is the line to print
/// instead.
fn local_thr(bind_to: &str, message_size: usize, message_count: u64, curve: bool) -> Result<(), String> {
    let socket = Socket::new(SocketType::Pull);
    if curve {
        socket.set_curve_server(true);
        socket
            .set_curve_secretkey(SERVER_SECRET)
            .map_err(|e| format!("error in setsockopt: {e}"))?;
    }
    socket.bind(bind_to).map_err(|e| format!("error in bind: {e}"))?;

    let receive = || -> Result<(), String> {
        let msg = socket.recv().map_err(|e| format!("error in recv: {e}"))?;
        if msg.size() != message_size {
            return Err("message of incorrect size received".into());
        }
        Ok(())
    };
    receive()?;
    let watch = Instant::now();
    for _ in 1..message_count {
        receive()?;
    }
    // Microseconds, as libzmq's stopwatch counts them (and never zero).
    let elapsed = (watch.elapsed().as_micros() as u64).max(1);

    let throughput = message_count as f64 / elapsed as f64 * 1_000_000.0;
    let megabits = throughput * message_size as f64 * 8.0 / 1_000_000.0;
    println!("message size: {message_size} [B]");
    println!("message count: {message_count}");
    println!("mean throughput: {} [msg/s]", throughput as u64);
    println!("mean throughput: {megabits:.3} [Mb/s]");
    socket.close();
    Ok(())
}
