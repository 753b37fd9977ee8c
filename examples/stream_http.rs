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
use dhaga::mq::{Error, Msg, Result, Socket, SocketType};

#[path = "common/args.rs"]
mod args;

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
            // A client arrived, or left: either way it has sent nothing
            // (more) yet.
            pending.remove(id);
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
/// closes its connection. A client that left meanwhile is no error.
fn reply(server: &Socket, id: &Bytes, status: &str, body: &str) -> Result<()> {
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    for msg in [
        Msg::from_iter([id.clone(), Bytes::from(response)]),
        // No bytes: close, once the response is written.
        Msg::from_iter([id.clone(), Bytes::new()]),
    ] {
        match server.send(msg) {
            Ok(()) => {}
            Err(e) if matches!(e.error(), Error::HostUnreachable) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

const USAGE: &str = "usage: stream_http <bind> [--requests N]";
const HELP: &str = "Serves HTTP on a STREAM socket bound to <bind> (e.g. tcp://127.0.0.1:8080).
  --requests N   stop after answering N requests (default: serve for ever)";

/// `<bind>` and how many requests to serve (`None`: `--help`).
fn parse(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>,
) -> std::result::Result<Option<(String, Option<u64>)>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut endpoint = None;
    let mut limit = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("requests") => limit = Some(args::parse("--requests", parser.value()?)?),
            Short('h') | Long("help") => return Ok(None),
            Value(value) if endpoint.is_none() => endpoint = Some(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some((endpoint.ok_or("the endpoint to bind is missing")?, limit)))
}

fn main() -> ExitCode {
    let (endpoint, limit) = match args::or_exit("stream_http", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let served = dhaga::run(move || {
        let server = Socket::new(SocketType::Stream);
        server.bind(&endpoint)?;
        println!("serving HTTP on {}", server.last_endpoint().unwrap_or(endpoint));
        serve(&server, limit, &mut io::stdout())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stream_http: {e}");
            ExitCode::FAILURE
        }
    }
}
