//! Hello World server, as in the ZeroMQ Guide (chapter 1, `hwserver`): a
//! REP socket that answers "World" to every request.
//!
//! Run: `cargo run --release --example hwserver -- tcp://*:5555`
//!
//! Binds a REP socket to the endpoint given, then serves forever: it
//! receives a request, prints `Received Hello` (the request's frames as
//! text), and answers "World". Any REQ peer can stand on the other side:
//! the `hwclient` example, the Guide's `hwclient.c` (libzmq), or pyzmq:
//!
//! ```text
//! python3 -c 'import zmq; s = zmq.Context().socket(zmq.REQ); s.connect("tcp://127.0.0.1:5555"); s.send(b"Hello"); print(s.recv())'
//! ```
//!
//! The Guide's server sleeps a second per request to stand for work; this
//! one answers at once.
//!
//! Security, so that either side can be swapped with a libzmq or pyzmq
//! program speaking the same:
//!
//! ```text
//! hwserver <bind> [--curve-secret KEY] [--curve-allow PUBKEY]... [--plain-allow USER:PASS]...
//! ```
//!
//! - `--curve-secret KEY`: a CURVE server with this Z85 secret key (make a
//!   pair with the `curve_keygen` example); it prints its public key, which
//!   clients need. Without `--curve-allow` any client key is admitted:
//!   encrypted, not authenticated.
//! - `--curve-allow PUBKEY`: admit only clients holding one of these keys
//!   (a ZAP handler, dhaga's `Authenticator`, checks them).
//! - `--plain-allow USER:PASS`: a PLAIN server admitting these user names
//!   and passwords (in clear on the wire).
//!
//! A request from an authenticated client prints with its user id:
//! `Received Hello (user admin)`.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Authenticator, Result, Socket, SocketType, curve_public};

/// Serves requests on the REP socket `server`: prints each one to `out` and
/// answers "World". Serves `limit` requests, or forever with `None`.
///
/// # Errors
///
/// The socket's, if receiving or replying fails, and `out`'s.
pub(crate) fn serve(server: &Socket, limit: Option<u64>, out: &mut dyn Write) -> Result<()> {
    let mut served = 0;
    while limit.is_none_or(|limit| served < limit) {
        let request = server.recv()?;
        match request.gets("User-Id") {
            Some(user) => writeln!(out, "Received {request} (user {user})")?,
            None => writeln!(out, "Received {request}")?,
        }
        server.send("World")?;
        served += 1;
    }
    Ok(())
}

/// The security the command line asks for.
#[derive(Default)]
pub(crate) struct Security {
    curve_secret: Option<String>,
    curve_allow: Vec<String>,
    plain_allow: Vec<(String, String)>,
}

/// `<bind>` and the security flags.
pub(crate) fn parse(args: &[String]) -> std::result::Result<(String, Security), String> {
    let mut endpoint = None;
    let mut security = Security::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().cloned().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--curve-secret" => security.curve_secret = Some(value(arg)?),
            "--curve-allow" => security.curve_allow.push(value(arg)?),
            "--plain-allow" => {
                let pair = value(arg)?;
                let (user, password) = pair.split_once(':').ok_or("--plain-allow takes USER:PASS")?;
                security.plain_allow.push((user.to_owned(), password.to_owned()));
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ if endpoint.is_none() => endpoint = Some(arg.clone()),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    let endpoint = endpoint.ok_or("the endpoint to bind is missing")?;
    if security.curve_secret.is_none() && !security.curve_allow.is_empty() {
        return Err("--curve-allow needs --curve-secret".to_owned());
    }
    if security.curve_secret.is_some() && !security.plain_allow.is_empty() {
        return Err("a socket speaks CURVE or PLAIN, not both".to_owned());
    }
    Ok((endpoint, security))
}

/// Makes `server` a CURVE or PLAIN server as `security` says, and starts
/// the ZAP handler that checks its clients (kept while it serves).
pub(crate) fn secure(server: &Socket, security: &Security, out: &mut dyn Write) -> Result<Option<Authenticator>> {
    if let Some(secret) = &security.curve_secret {
        server.set_curve_server(true);
        server.set_curve_secretkey(secret)?;
        writeln!(out, "CURVE server, public key {}", curve_public(secret)?)?;
        if security.curve_allow.is_empty() {
            return Ok(None);
        }
        let auth = Authenticator::new()?;
        auth.configure_curve("*", &security.curve_allow)?;
        return Ok(Some(auth));
    }
    if security.plain_allow.is_empty() {
        return Ok(None);
    }
    server.set_plain_server(true);
    let auth = Authenticator::new()?;
    auth.configure_plain("*", security.plain_allow.iter().map(|(u, p)| (u, p)));
    Ok(Some(auth))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (endpoint, security) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            eprintln!(
                "hwserver: {problem}\n\
                 usage: hwserver <bind> [--curve-secret KEY] [--curve-allow PUBKEY]... [--plain-allow USER:PASS]...\n  \
                 e.g. hwserver tcp://*:5555"
            );
            return ExitCode::from(2);
        }
    };
    let served = dhaga::run(move || {
        let server = Socket::new(SocketType::Rep);
        let _auth = secure(&server, &security, &mut io::stdout())?;
        server.bind(&endpoint)?;
        serve(&server, None, &mut io::stdout())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hwserver: {e}");
            ExitCode::FAILURE
        }
    }
}
