//! Hello World client, as in the ZeroMQ Guide (chapter 1, `hwclient`): a
//! REQ socket that sends "Hello" and waits for each answer.
//!
//! Run: `cargo run --release --example hwclient -- tcp://127.0.0.1:5555 10`
//!
//! Connects a REQ socket to the endpoint given and, `<n>` times, sends
//! "Hello", prints `Sending Hello <i>…`, waits for the reply and prints
//! `Received World <i>` (the reply's frames as text). Then it exits. Any
//! REP peer can answer: the `hwserver` example, the Guide's `hwserver.c`
//! (libzmq), or a pyzmq REP socket. Like the Guide's client it waits as
//! long as it takes: start it before the server, and it connects once the
//! server is up.
//!
//! Security, to talk to a server that asks for it (`hwserver`'s flags, or
//! a libzmq or pyzmq server):
//!
//! ```text
//! hwclient <connect> <n> [--curve-server PUBKEY] [--curve-secret KEY] [--plain USER:PASS]
//! ```
//!
//! - `--curve-server PUBKEY`: a CURVE client of the server with this Z85
//!   public key; `--curve-secret KEY` gives the client's own secret key,
//!   and without it the client makes a fresh key pair (and prints the
//!   public half, for a server that admits clients by key).
//! - `--plain USER:PASS`: a PLAIN client with these credentials.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Result, Socket, SocketType, curve_keypair, curve_public};

/// Sends "Hello" `n` times on the REQ socket `client`, waiting for each
/// reply, and prints both to `out`.
///
/// # Errors
///
/// The socket's, if sending or receiving fails, and `out`'s.
pub(crate) fn run(client: &Socket, n: u64, out: &mut dyn Write) -> Result<()> {
    for i in 0..n {
        writeln!(out, "Sending Hello {i}…")?;
        client.send("Hello")?;
        let reply = client.recv()?;
        writeln!(out, "Received {reply} {i}")?;
    }
    Ok(())
}

/// The security the command line asks for.
#[derive(Default)]
pub(crate) struct Security {
    curve_server: Option<String>,
    curve_secret: Option<String>,
    plain: Option<(String, String)>,
}

/// `<connect> <n>` and the security flags.
pub(crate) fn parse(args: &[String]) -> std::result::Result<(String, u64, Security), String> {
    let mut positional = Vec::new();
    let mut security = Security::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().cloned().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--curve-server" => security.curve_server = Some(value(arg)?),
            "--curve-secret" => security.curve_secret = Some(value(arg)?),
            "--plain" => {
                let pair = value(arg)?;
                let (user, password) = pair.split_once(':').ok_or("--plain takes USER:PASS")?;
                security.plain = Some((user.to_owned(), password.to_owned()));
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ => positional.push(arg.clone()),
        }
    }
    let [endpoint, n] = positional.as_slice() else {
        return Err("the endpoint and the number of requests are needed".to_owned());
    };
    let n = n.parse().map_err(|_| format!("{n} is not a number of requests"))?;
    if security.curve_server.is_none() && security.curve_secret.is_some() {
        return Err("--curve-secret needs --curve-server".to_owned());
    }
    if security.curve_server.is_some() && security.plain.is_some() {
        return Err("a socket speaks CURVE or PLAIN, not both".to_owned());
    }
    Ok((endpoint.clone(), n, security))
}

/// Makes `client` a CURVE or PLAIN client as `security` says.
pub(crate) fn secure(client: &Socket, security: &Security, out: &mut dyn Write) -> Result<()> {
    if let Some(server) = &security.curve_server {
        client.set_curve_serverkey(server)?;
        let secret = match &security.curve_secret {
            Some(secret) => secret.clone(),
            None => curve_keypair().secret().to_owned(),
        };
        client.set_curve_secretkey(&secret)?;
        writeln!(out, "CURVE client, public key {}", curve_public(&secret)?)?;
    } else if let Some((user, password)) = &security.plain {
        client.set_plain_username(user)?;
        client.set_plain_password(password)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (endpoint, n, security) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            eprintln!(
                "hwclient: {problem}\n\
                 usage: hwclient <connect> <n> [--curve-server PUBKEY] [--curve-secret KEY] [--plain USER:PASS]\n  \
                 e.g. hwclient tcp://127.0.0.1:5555 10"
            );
            return ExitCode::from(2);
        }
    };
    let done = dhaga::run(move || {
        println!("Connecting to hello world server…");
        let client = Socket::new(SocketType::Req);
        secure(&client, &security, &mut io::stdout())?;
        client.connect(&endpoint)?;
        run(&client, n, &mut io::stdout())
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hwclient: {e}");
            ExitCode::FAILURE
        }
    }
}
