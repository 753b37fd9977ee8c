//! Interop with pyzmq (which carries its own libzmq build), in separate
//! processes: the peers are the scripts in `tests/peers/`, run as
//! `python3 tests/peers/<name>.py <args>`.
//!
//! Every pattern runs over tcp and ipc, each side binding in turn:
//! REQ/REP, REQ and DEALER with ROUTER, PUSH/PULL, PUB/SUB (prefix filters
//! at a publisher of the other library, every payload through a topic),
//! and reconnecting after the peer's process is killed.
//!
//! A peer prints `READY <endpoint>` once bound or connected (with the port
//! the system picked), checks everything it receives against the payloads
//! that `common.py` builds (the same as `interop::payloads`), prints
//! `DONE` and exits by itself; the test reads those lines, and checks what
//! dhaga receives. A peer that sees something wrong exits with status 1
//! and the reason on stderr, which the failing test shows.
//!
//! Without python3 or pyzmq these tests fail, saying to run
//! `scripts/setup.sh`: they are never skipped silently. The `PYTHON`
//! environment variable names another interpreter, as for the setup
//! script.

mod interop;

use std::io::{BufRead, BufReader, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga_mq::{Authenticator, Context, Msg, Socket, SocketType, curve_keypair};
use dhaga_testutil::{JoinWithin, PATIENCE};

use interop::{
    Scratch, TIMEOUT, Transport, assert_frames, dhaga_recv, dhaga_send, dhaga_socket, msg, payloads, reply_to, show,
    within_limit,
};

/// Where the peer scripts are.
const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");

/// The interpreter asked for: `$PYTHON`, or `python3`.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Waits for `child` to exit, for at most [`PATIENCE`]; `None` if it had
/// not by then, and was killed (our own child, by its pid).
fn wait_exit(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        // Polling a state (the child has exited), not ordering anything.
        thread::sleep(Duration::from_millis(1));
    }
}

/// The executable behind `python` (past any launcher shim, so each peer
/// starts sooner) if it can import pyzmq; otherwise why not, and what to
/// do about it.
fn find_pyzmq(python: &str) -> Result<String, String> {
    let problem = match run_probe(python) {
        Err(e) => format!("cannot run `{python}`: {e}"),
        Ok(out) if !out.status.success() => format!(
            "`{python}` cannot import zmq (pyzmq): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(out) => match String::from_utf8(out.stdout) {
            Ok(path) if !path.trim().is_empty() => return Ok(path.trim().to_owned()),
            _ => format!("`{python}` did not say where its executable is"),
        },
    };
    Err(format!(
        "{problem}\nthe pyzmq interop tests need python3 with pyzmq: run scripts/setup.sh"
    ))
}

/// Runs `python -c "import sys, zmq; print(sys.executable)"` and returns
/// its output; one that has not exited within [`PATIENCE`] fails the test.
/// (What it prints fits in the pipes, so they are read after it exits.)
fn run_probe(python: &str) -> std::io::Result<Output> {
    let mut child = Command::new(python)
        .args(["-c", "import sys, zmq; print(sys.executable)"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let Some(status) = wait_exit(&mut child) else {
        return Err(std::io::Error::other(format!(
            "waited {PATIENCE:?} for it to say whether it can import zmq: killed it"
        )));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child.stdout.take().expect("piped stdout").read_to_end(&mut stdout)?;
    child.stderr.take().expect("piped stderr").read_to_end(&mut stderr)?;
    Ok(Output { status, stdout, stderr })
}

/// The interpreter that runs the peers, looked for once; fails the test
/// without python3 or pyzmq.
fn interpreter() -> &'static str {
    static FOUND: OnceLock<Result<String, String>> = OnceLock::new();
    match FOUND.get_or_init(|| find_pyzmq(&python())) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// A running peer script; dropping it kills it (by its pid: it is this
/// process's child).
struct Peer {
    /// The command line, for failure messages.
    what: String,
    child: Child,
    /// Its stdin, for the peers that take a word from the test (most
    /// never read it).
    stdin: ChildStdin,
    /// Its stdout, line by line; closed when it exits.
    lines: Receiver<String>,
    /// Its stderr so far, and the thread collecting it.
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Peer {
    /// Starts `tests/peers/<script>.py <args>`.
    fn start(script: &str, args: &[&str]) -> Peer {
        let what = format!("{script}.py {}", args.join(" "));
        let mut child = Command::new(interpreter())
            // No bytecode files next to the scripts.
            .arg("-B")
            .arg(format!("{PEERS}/{script}.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..n]);
                sink.lock().unwrap_or_else(PoisonError::into_inner).push_str(&text);
            }
        });
        Peer {
            what,
            child,
            stdin,
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// What the peer wrote on stderr so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits for the peer to exit (it has closed its stdout, or said
    /// `DONE`), for at most [`PATIENCE`], killing it then.
    #[track_caller]
    fn wait_exit(&mut self) -> ExitStatus {
        match wait_exit(&mut self.child) {
            Some(status) => status,
            None => panic!(
                "waited {PATIENCE:?} for {} to exit: killed it\nstderr: {}",
                self.what,
                self.stderr()
            ),
        }
    }

    /// Once its stdout has closed: waits for the peer to exit and describes
    /// how it did, with all it wrote on stderr.
    #[track_caller]
    fn exit_report(&mut self) -> String {
        let status = self.wait_exit();
        if let Some(reader) = self.stderr_reader.take() {
            // It ends at the end of the peer's stderr, which the peer's
            // exit closed.
            let _ = reader.join_within(&format!("{}: the end of its stderr", self.what));
        }
        format!("{}: {status}\nstderr: {}", self.what, self.stderr())
    }

    /// The peer's next line, which must start with `word`; returns the rest.
    #[track_caller]
    fn expect(&mut self, word: &str) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => match line.strip_prefix(word) {
                Some(rest) => rest.trim().to_owned(),
                None => panic!(
                    "{}: expected {word}, got {line:?}\nstderr: {}",
                    self.what,
                    self.stderr()
                ),
            },
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: no {word} within {TIMEOUT:?}\nstderr: {}", self.what, self.stderr())
            }
            Err(RecvTimeoutError::Disconnected) => panic!("exited before {word}: {}", self.exit_report()),
        }
    }

    /// The peer's next line if it comes within `wait`.
    #[track_caller]
    fn line_within(&mut self, wait: Duration) -> Option<String> {
        match self.lines.recv_timeout(wait) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("exited early: {}", self.exit_report()),
        }
    }

    /// Writes `line` to the peer's stdin.
    #[track_caller]
    fn say(&mut self, line: &str) {
        if let Err(e) = writeln!(self.stdin, "{line}") {
            panic!(
                "{}: cannot write to its stdin: {e}\nstderr: {}",
                self.what,
                self.stderr()
            );
        }
    }

    /// The endpoint of the peer's `READY` line.
    #[track_caller]
    fn ready(&mut self) -> String {
        self.expect("READY")
    }

    /// Runs `step`; if it fails, the failure also says how the peer is
    /// doing (it may have failed first, and said why on stderr).
    fn explain<T>(&mut self, step: impl FnOnce(&mut Peer) -> T) -> T {
        match panic::catch_unwind(AssertUnwindSafe(|| step(&mut *self))) {
            Ok(value) => value,
            Err(payload) => {
                let failure = dhaga_testutil::panic_text(&*payload).unwrap_or("(no message)");
                let state = match self.child.try_wait() {
                    Ok(Some(status)) => status.to_string(),
                    _ => "still running".to_owned(),
                };
                panic!(
                    "{failure}\n--- the peer, {}: {state}\nstderr: {}",
                    self.what,
                    self.stderr()
                );
            }
        }
    }

    /// Expects `DONE`, then a successful exit.
    #[track_caller]
    fn finish(mut self) {
        self.expect("DONE");
        match self.lines.recv_timeout(TIMEOUT) {
            Err(RecvTimeoutError::Disconnected) => {}
            Ok(line) => panic!("{}: unexpected line after DONE: {line:?}", self.what),
            Err(RecvTimeoutError::Timeout) => panic!("{}: did not exit within {TIMEOUT:?} after DONE", self.what),
        }
        let status = self.wait_exit();
        assert!(status.success(), "{}", self.exit_report());
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Our own child, by its pid; it may have exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which side binds; the other connects.
#[derive(Clone, Copy, Debug)]
enum Binder {
    Dhaga,
    Pyzmq,
}

/// Every transport with every binding side.
const CASES: [(Transport, Binder); 4] = [
    (Transport::Tcp, Binder::Dhaga),
    (Transport::Tcp, Binder::Pyzmq),
    (Transport::Ipc, Binder::Dhaga),
    (Transport::Ipc, Binder::Pyzmq),
];

/// How a pattern test sets up its peer.
struct Setup {
    /// Names the scratch directory.
    tag: &'static str,
    dhaga_type: SocketType,
    /// The routing id dhaga's socket chooses, if any.
    routing_id: Option<&'static str>,
    /// The peer script, the arguments before `bind|connect` (its socket
    /// type) and after the endpoint (options).
    script: &'static str,
    before: &'static [&'static str],
    after: &'static [&'static str],
}

/// How a case secures its connection: which side is the CURVE or PLAIN
/// server (the other is the client).
#[derive(Clone, Copy, Debug)]
enum Secure {
    Null,
    CurveDhagaServes,
    CurvePyzmqServes,
    PlainDhagaServes,
    PlainPyzmqServes,
}

/// NULL, then every mechanism with every server side.
const ALL_SECURITIES: [Secure; 5] = [
    Secure::Null,
    Secure::CurveDhagaServes,
    Secure::CurvePyzmqServes,
    Secure::PlainDhagaServes,
    Secure::PlainPyzmqServes,
];

/// Every mechanism with every server side.
const SECURED: [Secure; 4] = [
    Secure::CurveDhagaServes,
    Secure::CurvePyzmqServes,
    Secure::PlainDhagaServes,
    Secure::PlainPyzmqServes,
];

/// The PLAIN credentials the secured cases use.
const USER: &str = "admin";
const PASSWORD: &str = "secret";

/// Makes `dhaga` its side of `secure` (with a ZAP handler in `context` for
/// a PLAIN server, kept while the case runs) and returns the peer's
/// arguments for its side.
fn secure(secure: Secure, context: &Context, dhaga: &Socket) -> (Option<Authenticator>, Vec<String>) {
    let (server, client) = (curve_keypair(), curve_keypair());
    let mut auth = None;
    let args: Vec<String> = match secure {
        Secure::Null => vec![],
        Secure::CurveDhagaServes => {
            dhaga.set_curve_server(true);
            dhaga.set_curve_secretkey(server.secret()).unwrap();
            // `--flag=KEY`: a Z85 key may start with `-`.
            vec![
                format!("--curve-serverkey={}", server.public()),
                format!("--curve-secret={}", client.secret()),
            ]
        }
        Secure::CurvePyzmqServes => {
            dhaga.set_curve_serverkey(server.public()).unwrap();
            dhaga.set_curve_secretkey(client.secret()).unwrap();
            vec![format!("--curve-secret={}", server.secret())]
        }
        Secure::PlainDhagaServes => {
            let authenticator = Authenticator::with_context(context).unwrap();
            authenticator.configure_plain("*", [(USER, PASSWORD)]);
            auth = Some(authenticator);
            dhaga.set_plain_server(true);
            vec![format!("--plain={USER}:{PASSWORD}")]
        }
        Secure::PlainPyzmqServes => {
            dhaga.set_plain_username(USER).unwrap();
            dhaga.set_plain_password(PASSWORD).unwrap();
            vec![format!("--plain-server={USER}:{PASSWORD}")]
        }
    };
    (auth, args)
}

impl Setup {
    /// Runs `exchange` against a fresh peer for every transport and binding
    /// side; the peer must then report `DONE` and exit cleanly.
    fn each_case(self, exchange: fn(&Socket, &mut Peer, &str)) {
        self.run(&[Secure::Null], exchange);
    }

    /// [`each_case`](Setup::each_case) with CURVE and with PLAIN, each side
    /// serving in turn.
    fn each_secured_case(self, exchange: fn(&Socket, &mut Peer, &str)) {
        self.run(&SECURED, exchange);
    }

    /// [`each_case`](Setup::each_case) secured each of these ways.
    fn each_case_secured(self, securities: &'static [Secure], exchange: fn(&Socket, &mut Peer, &str)) {
        self.run(securities, exchange);
    }

    fn run(self, securities: &'static [Secure], exchange: fn(&Socket, &mut Peer, &str)) {
        within_limit(move || {
            let scratch = Scratch::new(self.tag);
            for security in securities {
                for (i, (transport, binder)) in CASES.into_iter().enumerate() {
                    let what = format!(
                        "dhaga {} with {}.py {:?} over {transport:?}, {binder:?} binds, {security:?}",
                        self.dhaga_type, self.script, self.before
                    );
                    // A context per case: a PLAIN server's ZAP handler is bound in it.
                    let context = Context::new();
                    let dhaga = context.socket(self.dhaga_type);
                    dhaga.set_recv_timeout(Some(TIMEOUT));
                    dhaga.set_send_timeout(Some(TIMEOUT));
                    if let Some(id) = self.routing_id {
                        dhaga.set_routing_id(id).unwrap();
                    }
                    let (_auth, secure_args) = secure(*security, &context, &dhaga);
                    let here = scratch.bind_endpoint(transport, &format!("{}-{security:?}-{i}", self.tag));
                    let start = |mode: &str, endpoint: &str| {
                        let mut args = self.before.to_vec();
                        args.extend([mode, endpoint]);
                        args.extend(self.after);
                        args.extend(secure_args.iter().map(String::as_str));
                        Peer::start(self.script, &args)
                    };
                    let mut peer = match binder {
                        Binder::Dhaga => {
                            dhaga.bind(&here).unwrap();
                            let mut peer = start("connect", &dhaga.last_endpoint().unwrap());
                            peer.ready();
                            peer
                        }
                        Binder::Pyzmq => {
                            let mut peer = start("bind", &here);
                            dhaga.connect(peer.ready()).unwrap();
                            peer
                        }
                    };
                    peer.explain(|peer| exchange(&dhaga, peer, &what));
                    peer.finish();
                }
            }
        });
    }
}

/// dhaga asks every payload (after `envelope`) and checks each reply.
fn ask_all(dhaga: &Socket, envelope: &[Bytes], what: &str) {
    for payload in payloads() {
        let mut request = msg(&payload);
        request.prepend(msg(envelope));
        dhaga_send(dhaga, request, what);
        let mut want = msg(envelope);
        want.extend(reply_to(&payload));
        assert_frames(dhaga_recv(dhaga, what).frames(), want.frames(), what);
    }
}

/// dhaga answers every payload (with the `envelope` it must arrive in).
fn answer_all(dhaga: &Socket, envelope: &[Bytes], what: &str) {
    for payload in payloads() {
        let request = dhaga_recv(dhaga, what);
        let mut want = msg(envelope);
        want.extend(payload.iter().cloned());
        assert_frames(request.frames(), want.frames(), what);
        let mut reply = msg(envelope);
        reply.extend(reply_to(&payload));
        dhaga_send(dhaga, reply, what);
    }
}

/// Hex, as the ROUTER peer prints routing ids.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a routing id a ROUTER saw: the one chosen, or a generated one (a
/// zero byte and four more, libzmq's form).
fn assert_routing_id(id: &[u8], chosen: Option<&str>, what: &str) {
    match chosen {
        Some(chosen) => assert_eq!(id, chosen.as_bytes(), "{what}: the chosen routing id"),
        None => assert!(id.len() == 5 && id[0] == 0, "{what}: a generated routing id: {id:02x?}"),
    }
}

/// Without python3, or with a python3 that has no pyzmq, the tests fail
/// (they are not skipped), and the failure says to run scripts/setup.sh.
#[test]
fn missing_pyzmq_fails_and_says_to_run_setup() {
    within_limit(|| {
        let message = find_pyzmq("/nonexistent/python3").expect_err("a missing interpreter is reported");
        assert!(message.contains("scripts/setup.sh"), "{message}");
        // `false -c '…'` runs and fails, like a python3 without pyzmq.
        let message = find_pyzmq("false").expect_err("an interpreter that cannot import zmq is reported");
        assert!(
            message.contains("pyzmq") && message.contains("scripts/setup.sh"),
            "{message}"
        );
        // Starting a peer is where every other test meets the check.
        if let Err(payload) = panic::catch_unwind(|| Peer::start("no-such-peer", &[])) {
            let text = dhaga_testutil::panic_text(&*payload).unwrap_or_default();
            assert!(text.contains("scripts/setup.sh"), "{text}");
        }
    });
}

#[test]
fn req_rep_dhaga_req() {
    Setup {
        tag: "py-req-rep-d",
        dhaga_type: SocketType::Req,
        routing_id: None,
        script: "answer",
        before: &["REP"],
        after: &[],
    }
    .each_case(|dhaga, _, what| ask_all(dhaga, &[], what));
}

#[test]
fn req_rep_dhaga_rep() {
    Setup {
        tag: "py-req-rep-p",
        dhaga_type: SocketType::Rep,
        routing_id: None,
        script: "ask",
        before: &["REQ"],
        after: &[],
    }
    .each_case(|dhaga, _, what| answer_all(dhaga, &[], what));
}

/// The REQ envelope through a pyzmq ROUTER, which answers with it.
#[test]
fn req_router_dhaga_req() {
    Setup {
        tag: "py-req-router-d",
        dhaga_type: SocketType::Req,
        routing_id: Some("dhaga-req"),
        script: "answer",
        before: &["ROUTER"],
        after: &[],
    }
    .each_case(|dhaga, peer, what| {
        ask_all(dhaga, &[], what);
        assert_eq!(peer.expect("PEER"), hex(b"dhaga-req"), "{what}");
    });
}

/// A dhaga DEALER without a routing id: the pyzmq ROUTER generates one.
#[test]
fn dealer_router_dhaga_dealer() {
    Setup {
        tag: "py-dealer-router-d",
        dhaga_type: SocketType::Dealer,
        routing_id: None,
        script: "answer",
        before: &["ROUTER"],
        after: &[],
    }
    .each_case(|dhaga, peer, what| {
        ask_all(dhaga, &[], what);
        let id = peer.expect("PEER");
        assert!(
            id.len() == 10 && id.starts_with("00"),
            "{what}: a generated routing id: {id}"
        );
    });
}

/// A dhaga DEALER with a routing id: the pyzmq ROUTER sees it.
#[test]
fn dealer_router_dhaga_dealer_with_routing_id() {
    Setup {
        tag: "py-dealer-router-di",
        dhaga_type: SocketType::Dealer,
        routing_id: Some("dhaga-dealer"),
        script: "answer",
        before: &["ROUTER"],
        after: &[],
    }
    .each_case(|dhaga, peer, what| {
        ask_all(dhaga, &[], what);
        assert_eq!(peer.expect("PEER"), hex(b"dhaga-dealer"), "{what}");
    });
}

/// dhaga's ROUTER answers a pyzmq DEALER by the id it generated.
#[test]
fn dealer_router_dhaga_router() {
    Setup {
        tag: "py-dealer-router-p",
        dhaga_type: SocketType::Router,
        routing_id: None,
        script: "ask",
        before: &["DEALER"],
        after: &[],
    }
    .each_case(|dhaga, _, what| answer_as_router(dhaga, None, what));
}

/// dhaga's ROUTER answers a pyzmq DEALER by the id the DEALER chose.
#[test]
fn dealer_router_dhaga_router_peer_chosen_id() {
    Setup {
        tag: "py-dealer-router-pi",
        dhaga_type: SocketType::Router,
        routing_id: None,
        script: "ask",
        before: &["DEALER"],
        after: &["--identity", "py-dealer"],
    }
    .each_case(|dhaga, _, what| answer_as_router(dhaga, Some("py-dealer"), what));
}

/// A dhaga ROUTER answers every payload from one DEALER peer, whose id is
/// `chosen` or generated.
fn answer_as_router(router: &Socket, chosen: Option<&str>, what: &str) {
    let mut peer_id: Option<Bytes> = None;
    for payload in payloads() {
        let mut request = dhaga_recv(router, what);
        let id = request.pop_front().expect("a routing id");
        assert_routing_id(&id, chosen, what);
        assert!(peer_id.get_or_insert_with(|| id.clone()) == &id, "{what}: one peer");
        assert_frames(request.frames(), &payload, what);
        let mut reply = msg(&reply_to(&payload));
        reply.push_front(id);
        dhaga_send(router, reply, what);
    }
}

#[test]
fn push_pull_dhaga_push() {
    Setup {
        tag: "py-push-pull-d",
        dhaga_type: SocketType::Push,
        routing_id: None,
        script: "pull",
        before: &[],
        after: &[],
    }
    .each_case(|dhaga, _, what| {
        for payload in payloads() {
            dhaga_send(dhaga, msg(&payload), what);
        }
    });
}

#[test]
fn push_pull_dhaga_pull() {
    Setup {
        tag: "py-push-pull-p",
        dhaga_type: SocketType::Pull,
        routing_id: None,
        script: "push",
        before: &[],
        after: &[],
    }
    .each_case(|dhaga, _, what| {
        for payload in payloads() {
            assert_frames(dhaga_recv(dhaga, what).frames(), &payload, what);
        }
    });
}

/// REQ/REP with CURVE and PLAIN, dhaga asking and answering, each side
/// serving the mechanism in turn.
#[test]
fn req_rep_secured() {
    Setup {
        tag: "py-req-rep-sec-d",
        dhaga_type: SocketType::Req,
        routing_id: None,
        script: "answer",
        before: &["REP"],
        after: &[],
    }
    .each_secured_case(|dhaga, _, what| ask_all(dhaga, &[], what));
    // Not with pyzmq's REQ as the PLAIN server: libzmq's REQ never receives
    // a reply once its server side has asked a ZAP handler (libzmq with
    // itself alike; czmq issue 2171, jeromq issue 872).
    Setup {
        tag: "py-req-rep-sec-p",
        dhaga_type: SocketType::Rep,
        routing_id: None,
        script: "ask",
        before: &["REQ"],
        after: &[],
    }
    .each_case_secured(
        &[
            Secure::CurveDhagaServes,
            Secure::CurvePyzmqServes,
            Secure::PlainDhagaServes,
        ],
        |dhaga, _, what| answer_all(dhaga, &[], what),
    );
}

/// DEALER/ROUTER with CURVE and PLAIN: a pyzmq DEALER through dhaga's
/// ROUTER.
#[test]
fn dealer_router_secured() {
    Setup {
        tag: "py-dealer-router-sec",
        dhaga_type: SocketType::Router,
        routing_id: None,
        script: "ask",
        before: &["DEALER"],
        after: &[],
    }
    .each_secured_case(|dhaga, _, what| answer_as_router(dhaga, None, what));
}

/// PUSH/PULL with CURVE and PLAIN, both directions.
#[test]
fn push_pull_secured() {
    Setup {
        tag: "py-push-pull-sec-d",
        dhaga_type: SocketType::Push,
        routing_id: None,
        script: "pull",
        before: &[],
        after: &[],
    }
    .each_secured_case(|dhaga, _, what| {
        for payload in payloads() {
            dhaga_send(dhaga, msg(&payload), what);
        }
    });
    Setup {
        tag: "py-push-pull-sec-p",
        dhaga_type: SocketType::Pull,
        routing_id: None,
        script: "push",
        before: &[],
        after: &[],
    }
    .each_secured_case(|dhaga, _, what| {
        for payload in payloads() {
            assert_frames(dhaga_recv(dhaga, what).frames(), &payload, what);
        }
    });
}

/// A dhaga socket connected to a pyzmq peer whose process is killed
/// (SIGKILL: no goodbye on the wire) and started again at the same
/// endpoint: dhaga reconnects by itself and serves the new process. The
/// peer speaks first, so nothing dhaga sends can be lost in the dead
/// connection.
fn survives_peer_restart(tag: &str, dhaga_type: SocketType, script: &str, before: &[&str], serve: fn(&Socket, &str)) {
    let scratch = Scratch::new(tag);
    for transport in [Transport::Tcp, Transport::Ipc] {
        let dhaga = dhaga_socket(dhaga_type);
        let mut endpoint = scratch.bind_endpoint(transport, "restarted");
        for life in 0..2 {
            let what = format!("{tag} over {transport:?}, peer's life {life}");
            let mut args = before.to_vec();
            args.extend(["bind", &endpoint]);
            if life == 0 {
                args.push("--hold");
            }
            let mut peer = Peer::start(script, &args);
            let bound = peer.ready();
            if life == 0 {
                dhaga.connect(&bound).unwrap();
            }
            peer.explain(|_| serve(&dhaga, &what));
            if life == 0 {
                peer.expect("DONE");
                // Killed while it holds its socket open.
                drop(peer);
                endpoint = bound;
            } else {
                peer.finish();
            }
        }
    }
}

#[test]
fn dhaga_rep_survives_pyzmq_req_restart() {
    within_limit(|| {
        survives_peer_restart("py-restart-rep", SocketType::Rep, "ask", &["REQ"], |dhaga, what| {
            answer_all(dhaga, &[], what)
        });
    });
}

#[test]
fn dhaga_pull_survives_pyzmq_push_restart() {
    within_limit(|| {
        survives_peer_restart("py-restart-pull", SocketType::Pull, "push", &[], |dhaga, what| {
            for payload in payloads() {
                assert_frames(dhaga_recv(dhaga, what).frames(), &payload, what);
            }
        });
    });
}

/// The publish-subscribe markers a publisher sends until its subscriber is
/// ready (`common.py`'s `CONNECTED` and `SUBSCRIBED`; see
/// [`wait_subscribed`]).
const CONNECTED: &[u8] = b"\x01connected";
const SUBSCRIBED: &[u8] = b"\x01subscribed";
/// The message that ends the filter exchange (`common.py`'s `END`).
const END: &[u8] = b"END";
/// The topic frame in front of every payload (`common.py`'s
/// `PAYLOAD_TOPIC`).
const PAYLOAD_TOPIC: &[u8] = b"P";
/// The one-frame messages of the filter exchange, in order (`common.py`'s
/// `topics()`).
const TOPICS: [&str; 9] = ["10001 12 34", "10002 1 1", "2", "20 x", "1000", "", "10001 ", "3", "A2"];
/// The subscriber's prefixes: two that overlap ("1000" starts "10001 ",
/// and a message matching both comes once), and the payloads' topic.
const PREFIXES: [&str; 5] = ["10001 ", "1000", "2", "END", "P"];

/// The topics a subscriber to [`PREFIXES`] gets, in order.
fn wanted_topics() -> Vec<&'static str> {
    TOPICS
        .into_iter()
        .filter(|topic| PREFIXES.iter().any(|prefix| topic.starts_with(prefix)))
        .collect()
}

/// Every payload behind the [`PAYLOAD_TOPIC`] frame.
fn topical_payloads() -> Vec<Vec<Bytes>> {
    payloads()
        .into_iter()
        .map(|payload| {
            let mut frames = vec![Bytes::from_static(PAYLOAD_TOPIC)];
            frames.extend(payload);
            frames
        })
        .collect()
}

/// Whether `msg` is one of the markers.
fn is_marker(msg: &Msg) -> bool {
    msg.len() == 1 && [CONNECTED, SUBSCRIBED].contains(&&msg[0][..])
}

/// Waits until every subscription of the dhaga SUB `sub` has been applied
/// by its publisher, which publishes both markers meanwhile.
///
/// A publisher drops what nobody has subscribed to, and a subscriber cannot
/// see its subscriptions arrive; but a publisher applies a connection's
/// subscriptions in the order they come. So `sub` subscribes to
/// [`CONNECTED`] with its other prefixes and waits for that marker: the
/// connection is up. Only then does it subscribe to [`SUBSCRIBED`], which
/// goes out after the others; once that marker arrives, all of them are
/// applied. (One marker subscribed with the others would not do: a socket
/// sends a new peer its subscriptions in any order.)
fn wait_subscribed(sub: &Socket, prefixes: &[&str], what: &str) {
    for prefix in prefixes {
        sub.subscribe(prefix).unwrap();
    }
    sub.subscribe(CONNECTED).unwrap();
    let wait_for = |marker: &[u8]| loop {
        let msg = dhaga_recv(sub, what);
        assert!(is_marker(&msg), "{what}: expected a marker, got {}", show(msg.frames()));
        if msg[0] == marker {
            return;
        }
    };
    wait_for(CONNECTED);
    sub.subscribe(SUBSCRIBED).unwrap();
    wait_for(SUBSCRIBED);
}

/// A pyzmq SUB with several prefixes against a dhaga PUB: the publisher
/// sends each subscriber only what its prefixes match, each message once.
/// With NULL, CURVE and PLAIN, each side serving.
#[test]
fn pub_sub_dhaga_pub() {
    Setup {
        tag: "py-pub-sub-d",
        dhaga_type: SocketType::Pub,
        routing_id: None,
        script: "sub",
        before: &[],
        after: &PREFIXES,
    }
    .each_case_secured(&ALL_SECURITIES, |dhaga, peer, what| {
        // Publish the markers until the subscriber says it has both.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            dhaga_send(dhaga, CONNECTED.into(), what);
            dhaga_send(dhaga, SUBSCRIBED.into(), what);
            match peer.line_within(Duration::from_millis(1)) {
                Some(line) if line == "SYNCED" => break,
                Some(line) => panic!("{what}: expected SYNCED, got {line:?}"),
                None => assert!(Instant::now() < deadline, "{what}: never synced"),
            }
        }
        for topic in TOPICS {
            dhaga_send(dhaga, topic.into(), what);
        }
        dhaga_send(dhaga, END.into(), what);
        for topic in wanted_topics() {
            assert_eq!(peer.expect("GOT"), hex(topic.as_bytes()), "{what}: topic {topic:?}");
        }
        peer.expect("END");
        for payload in topical_payloads() {
            dhaga_send(dhaga, msg(&payload), what);
        }
    });
}

/// A dhaga SUB with several prefixes against a pyzmq PUB: the subscriptions
/// reach libzmq's filter, and every payload comes through whole.
#[test]
fn pub_sub_dhaga_sub() {
    Setup {
        tag: "py-pub-sub-p",
        dhaga_type: SocketType::Sub,
        routing_id: None,
        script: "pub",
        before: &[],
        after: &[],
    }
    .each_case_secured(&ALL_SECURITIES, |dhaga, peer, what| {
        // The peer publishes the markers until it hears that both came.
        wait_subscribed(dhaga, &PREFIXES, what);
        peer.say("SYNCED");
        let next = || loop {
            let msg = dhaga_recv(dhaga, what);
            if !is_marker(&msg) {
                return msg;
            }
        };

        let mut got = Vec::new();
        loop {
            let msg = next();
            assert_eq!(msg.len(), 1, "{what}: a topic message has one frame");
            if msg[0] == END {
                break;
            }
            got.push(String::from_utf8(msg[0].to_vec()).unwrap());
        }
        assert_eq!(got, wanted_topics(), "{what}");
        for payload in topical_payloads() {
            assert_frames(next().frames(), &payload, what);
        }
    });
}

/// `ZMQ_INVERT_MATCHING` on both sides: dhaga's XPUB (inverting) sends
/// pyzmq's SUB (inverting, subscribed to `A` and `B`) only what neither
/// prefix starts.
#[test]
fn inverted_matching_dhaga_xpub_pyzmq_sub() {
    within_limit(|| {
        let xpub = dhaga_socket(SocketType::XPub);
        xpub.set_invert_matching(true).unwrap();
        assert!(xpub.invert_matching());
        xpub.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = xpub.last_endpoint().unwrap();
        let mut peer = Peer::start("invert_sub", &["connect", &endpoint, "A", "B"]);
        peer.explain(|peer| {
            peer.expect("READY");
            // Both subscriptions are in before anything is sent.
            let mut subscribed: Vec<_> = (0..2)
                .map(|_| dhaga_recv(&xpub, "a subscription")[0].to_vec())
                .collect();
            subscribed.sort();
            assert_eq!(subscribed, [b"\x01A".to_vec(), b"\x01B".to_vec()]);
            assert_eq!(xpub.topics_count(), 2);
            for topic in ["Apple", "Cherry", "Banana", "Date", "END"] {
                xpub.send(topic).unwrap();
            }
            for want in ["Cherry", "Date", "END"] {
                assert_eq!(peer.expect("GOT"), want);
            }
        });
        peer.finish();
    });
}
