//! libzmq's `perf/remote_thr`, line for line, through the `zmq` crate (which
//! links the system's libzmq): the libzmq side of `compare_mq`, and a peer
//! for dhaga's `local_thr` example.
//!
//! Run: `cargo run --release -p dhaga-benches --bin zmq_remote_thr -- tcp://127.0.0.1:5555 64 1000000`
//!
//! A PUSH socket in a context with one I/O thread, no options set,
//! connected to `<connect-to>`, sends `<message-count>` messages of
//! `<message-size>` bytes, each a new message; then closing the socket and
//! terminating the context waits (infinite linger) until all have gone out.
//! It prints nothing, as libzmq's tool.
//!
//! The one difference: the `zmq` crate zero-fills each new message, where
//! libzmq's tool leaves it uninitialised (a `memset` per message, small
//! next to the rest of a send).

use std::process::ExitCode;

/// `--curve`: the test key pairs of libzmq's zmq_curve(7) (a benchmark
/// needs no secret keys): the local tool is the CURVE server, the remote
/// one its client.
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let curve = args.len() == 5 && args[4] == "--curve";
    if args.len() != 4 && !curve {
        println!("usage: remote_thr <connect-to> <message-size> <message-count> [--curve]");
        return ExitCode::from(1);
    }
    let connect_to = &args[1];
    // atoi: what does not parse counts as 0.
    let message_size: usize = args[2].parse().unwrap_or(0);
    let message_count: u64 = args[3].parse().unwrap_or(0);
    match remote_thr(connect_to, message_size, message_count, curve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            println!("{line}");
            ExitCode::FAILURE
        }
    }
}

/// The tool's body; `Err` is the line libzmq's tool prints before it
/// returns -1.
fn remote_thr(connect_to: &str, message_size: usize, message_count: u64, curve: bool) -> Result<(), String> {
    // zmq_init(1): one I/O thread, which is libzmq's default.
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::PUSH).map_err(|e| format!("error in zmq_socket: {e}"))?;
    if curve {
        s.set_curve_serverkey(SERVER_PUBLIC.as_bytes())
            .and_then(|()| s.set_curve_publickey(CLIENT_PUBLIC.as_bytes()))
            .and_then(|()| s.set_curve_secretkey(CLIENT_SECRET.as_bytes()))
            .map_err(|e| format!("error in zmq_setsockopt: {e}"))?;
    }
    s.connect(connect_to)
        .map_err(|e| format!("error in zmq_connect: {e}"))?;

    for _ in 0..message_count {
        let msg = zmq::Message::with_size(message_size);
        s.send(msg, 0).map_err(|e| format!("error in zmq_sendmsg: {e}"))?;
    }

    drop(s); // zmq_close
    drop(ctx); // zmq_ctx_term: waits until everything queued is sent
    Ok(())
}
