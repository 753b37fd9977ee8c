//! An HTTP server on a STREAM socket: a ZeroMQ program that web clients
//! such as `curl` talk to, since a STREAM speaks raw TCP, not ZMTP (as in
//! libzmq's `zmq_socket` manual, "ZMQ_STREAM").
//!
//! Run: `cargo run --release --example stream_http -- tcp://127.0.0.1:8080`
//!
//! then, from another terminal:
//!
//! ```text
//! curl http://127.0.0.1:8080/hello
//! ```
//!
//! which prints `Hello from dhaga: GET /hello`. The server prints each
//! request line it answers. Each answer closes its connection (HTTP/1.0's
//! way: `Connection: close`, the body's length given).
//!
//! ```text
//! stream_http <bind> [--requests N]
//! ```
//!
//! - `--requests N`: stop after answering N requests (default: serve for
//!   ever).
//!
//! One micro-thread serves every client: the STREAM socket hands it each
//! read as `[routing id, bytes]` and `[routing id, ""]` when a client
//! arrives or leaves; the server keeps what each client sent until its
//! request's head is complete (a blank line), answers `[routing id,
//! response]`, and closes with `[routing id, ""]`.

use std::collections::HashMap;
use std::io::{self, Write};
use std::process::ExitCode;

use bytes::Bytes;
use dhaga::mq::{Msg, Result, Socket, SocketType};

/// The most a request's head may take; a client that sends more without
/// ending it is answered 431 and cut off.
const MAX_HEAD: usize = 16 * 1024;

/// Serves HTTP requests on the STREAM socket `server`, printing each
/// request line to `out`; stops after `limit` requests (`None`: never).
///
/// # Errors
///
/// The socket's, if receiving or sending fails, and `out`'s.
pub(crate) fn serve(server: &Socket, limit: Option<u64>, out: &mut dyn Write) -> Result<()> {
    // What each connected client sent of its request so far.
    let mut pending: HashMap<Bytes, Vec<u8>> = HashMap::new();
    let mut served = 0;
    while limit.is_none_or(|limit| served < limit) {
        let msg = server.recv()?;
        let (Some(id), Some(bytes)) = (msg.get(0), msg.get(1)) else {
            continue;
        };
        if bytes.is_empty() {
            // A client arrived, or left (then what it sent is dropped).
            if pending.remove(id).is_none() {
                pending.insert(id.clone(), Vec::new());
            }
            continue;
        }
        let head = pending.entry(id.clone()).or_default();
        head.extend_from_slice(bytes);
        let Some(end) = find(head, b"\r\n\r\n") else {
            if head.len() > MAX_HEAD {
                pending.remove(id);
                reply(
                    server,
                    id,
                    "431 Request Header Fields Too Large",
                    "request head too large\n",
                )?;
            }
            continue;
        };
        let request = pending.remove(id).unwrap_or_default();
        let line = String::from_utf8_lossy(&request[..end]);
        let line = line.lines().next().unwrap_or_default();
        match line.split(' ').collect::<Vec<_>>()[..] {
            [method, path, version] if version.starts_with("HTTP/") => {
                writeln!(out, "{method} {path}")?;
                reply(server, id, "200 OK", &format!("Hello from dhaga: {method} {path}\n"))?;
            }
            _ => reply(server, id, "400 Bad Request", "bad request line\n")?,
        }
        served += 1;
    }
    Ok(())
}

/// Sends `status` with `body` as plain text to the client `id` names, and
/// closes its connection.
fn reply(server: &Socket, id: &Bytes, status: &str, body: &str) -> Result<()> {
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    server.send(Msg::from_iter([id.clone(), Bytes::from(response)]))?;
    // No bytes: close, once the response is written.
    server.send(Msg::from_iter([id.clone(), Bytes::new()]))?;
    Ok(())
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// `<bind>` and how many requests to serve.
pub(crate) fn parse(args: &[String]) -> std::result::Result<(String, Option<u64>), String> {
    let mut endpoint = None;
    let mut limit = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => {
                let n = args.next().ok_or("--requests needs a number")?;
                limit = Some(n.parse().map_err(|_| format!("--requests takes a number, not {n:?}"))?);
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ if endpoint.is_none() => endpoint = Some(arg.clone()),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    Ok((endpoint.ok_or("the endpoint to bind is missing")?, limit))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (endpoint, limit) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            eprintln!("stream_http: {problem}\nusage: stream_http <bind> [--requests N]");
            return ExitCode::from(2);
        }
    };
    dhaga::run(move || {
        let server = Socket::new(SocketType::Stream);
        if let Err(e) = server.bind(&endpoint) {
            eprintln!("stream_http: cannot bind {endpoint}: {e}");
            return ExitCode::FAILURE;
        }
        println!("serving HTTP on {}", server.last_endpoint().unwrap_or(endpoint));
        match serve(&server, limit, &mut io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stream_http: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
