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

/// `--curve`: the test key pairs of libzmq's zmq_curve(7) (a benchmark
/// needs no secret keys): the local tool is the CURVE server, the remote
/// one its client.
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (args, curve) = match &args[1..] {
        [rest @ .., flag] if flag == "--curve" => (rest, true),
        rest => (rest, false),
    };
    let parsed = match args {
        [connect_to, size, count] => match (size.parse::<usize>(), count.parse::<u64>()) {
            (Ok(size), Ok(count)) => Some((connect_to.clone(), size, count)),
            _ => None,
        },
        _ => None,
    };
    let Some((connect_to, message_size, message_count)) = parsed else {
        println!("usage: remote_thr <connect-to> <message-size> <message-count> [--curve]");
        return ExitCode::from(1);
    };
    match dhaga::run(move || remote_thr(&connect_to, message_size, message_count, curve)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Sends the messages; `Err` is the line to print instead.
fn remote_thr(connect_to: &str, message_size: usize, message_count: u64, curve: bool) -> Result<(), String> {
    let socket = Socket::new(SocketType::Push);
    if curve {
        socket
            .set_curve_serverkey(SERVER_PUBLIC)
            .and_then(|()| socket.set_curve_secretkey(CLIENT_SECRET))
            .map_err(|e| format!("error in setsockopt: {e}"))?;
    }
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
