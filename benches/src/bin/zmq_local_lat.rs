//! libzmq's `perf/local_lat`, line for line, through the `zmq` crate (which
//! links the system's libzmq): the libzmq side of `compare_mq`, and a peer
//! for dhaga's `remote_lat` example.
//!
//! Run: `cargo run --release -p dhaga-benches --bin zmq_local_lat -- tcp://127.0.0.1:5555 64 10000`
//!
//! A REP socket in a context with one I/O thread, no options set, bound to
//! `<bind-to>`, sends back each of `<roundtrip-count>` requests of
//! `<message-size>` bytes (the same message object, as libzmq's tool
//! does); then closing the socket and terminating the context waits until
//! the last reply has gone out. It prints nothing, as libzmq's tool.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        println!("usage: local_lat <bind-to> <message-size> <roundtrip-count>");
        return ExitCode::from(1);
    }
    let bind_to = &args[1];
    // atoi: what does not parse counts as 0.
    let message_size: usize = args[2].parse().unwrap_or(0);
    let roundtrip_count: u64 = args[3].parse().unwrap_or(0);
    match local_lat(bind_to, message_size, roundtrip_count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            println!("{line}");
            ExitCode::FAILURE
        }
    }
}

/// The tool's body; `Err` is the line libzmq's tool prints before it
/// returns -1.
fn local_lat(bind_to: &str, message_size: usize, roundtrip_count: u64) -> Result<(), String> {
    // zmq_init(1): one I/O thread, which is libzmq's default.
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::REP).map_err(|e| format!("error in zmq_socket: {e}"))?;
    s.bind(bind_to).map_err(|e| format!("error in zmq_bind: {e}"))?;

    let mut msg = zmq::Message::new();
    for _ in 0..roundtrip_count {
        s.recv(&mut msg, 0).map_err(|e| format!("error in zmq_recvmsg: {e}"))?;
        if msg.len() != message_size {
            return Err("message of incorrect size received".into());
        }
        // zmq_sendmsg takes the message's content and leaves it empty, ready
        // for the next receive; the crate's send consumes it instead.
        s.send(std::mem::replace(&mut msg, zmq::Message::new()), 0)
            .map_err(|e| format!("error in zmq_sendmsg: {e}"))?;
    }
    drop(msg);

    drop(s); // zmq_close
    drop(ctx); // zmq_ctx_term: waits until the last reply is sent
    Ok(())
}
