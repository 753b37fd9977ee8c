//! The messaging examples, end to end: each example's logic (the function
//! its `main` calls) runs here in-process, over real TCP sockets on
//! 127.0.0.1, against the example it pairs with.
//!
//! Every wait ends: the tests' sockets give up sending or receiving after
//! [`PATIENCE`] (an example's function then returns `Error::TimedOut`,
//! which [`done`] turns into a failure naming what the test waited for),
//! and micro-threads are joined with [`joined`], which does the same.
//! Examples that build their own sockets take a patience of their own
//! (`asyncsrv`, `rtreq`) or wait only as long as their heartbeats say
//! (`ppworker`). The programs themselves run too, as a user runs them,
//! each in a process of its own that must exit within [`PATIENCE`].

// Examples include their shared helpers (`examples/common/`) each for
// itself; here, where several examples are modules, they are included
// several times.
#![allow(clippy::duplicate_mod)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::num::NonZeroU64;
use std::panic;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dhaga::mq::{Context, Error, HandshakeFailure, MonitorEvent, Socket, SocketType, curve_keypair};
use dhaga_testutil::{JoinWithin, PATIENCE, RecvWithin, wait_until, within_limit};

#[allow(dead_code)]
#[path = "../examples/asyncsrv.rs"]
mod asyncsrv;
#[allow(dead_code)]
#[path = "../examples/curve_keygen.rs"]
mod curve_keygen;
#[allow(dead_code)]
#[path = "../examples/hwclient.rs"]
mod hwclient;
#[allow(dead_code)]
#[path = "../examples/hwserver.rs"]
mod hwserver;
#[allow(dead_code)]
#[path = "../examples/identity.rs"]
mod identity;
#[allow(dead_code)]
#[path = "../examples/interrupt.rs"]
mod interrupt;
#[allow(dead_code)]
#[path = "../examples/lbbroker.rs"]
mod lbbroker;
#[allow(dead_code)]
#[path = "../examples/lpclient.rs"]
mod lpclient;
#[allow(dead_code)]
#[path = "../examples/lpserver.rs"]
mod lpserver;
#[allow(dead_code)]
#[path = "../examples/mspoller.rs"]
mod mspoller;
#[allow(dead_code)]
#[path = "../examples/mtserver.rs"]
mod mtserver;
#[allow(dead_code)]
#[path = "../examples/ppqueue.rs"]
mod ppqueue;
#[allow(dead_code)]
#[path = "../examples/ppworker.rs"]
mod ppworker;
#[allow(dead_code)]
#[path = "../examples/psenvpub.rs"]
mod psenvpub;
#[allow(dead_code)]
#[path = "../examples/psenvsub.rs"]
mod psenvsub;
#[allow(dead_code)]
#[path = "../examples/rrbroker.rs"]
mod rrbroker;
#[allow(dead_code)]
#[path = "../examples/rrworker.rs"]
mod rrworker;
#[allow(dead_code)]
#[path = "../examples/rtreq.rs"]
mod rtreq;
#[allow(dead_code)]
#[path = "../examples/seqrecv.rs"]
mod seqrecv;
#[allow(dead_code)]
#[path = "../examples/seqsend.rs"]
mod seqsend;
#[allow(dead_code)]
#[path = "../examples/stream_http.rs"]
mod stream_http;
#[allow(dead_code)]
#[path = "../examples/syncpub.rs"]
mod syncpub;
#[allow(dead_code)]
#[path = "../examples/syncsub.rs"]
mod syncsub;
#[allow(dead_code)]
#[path = "../examples/tasksink.rs"]
mod tasksink;
#[allow(dead_code)]
#[path = "../examples/taskvent.rs"]
mod taskvent;
#[allow(dead_code)]
#[path = "../examples/taskwork.rs"]
mod taskwork;
#[allow(dead_code)]
#[path = "../examples/version.rs"]
mod version;
#[allow(dead_code)]
#[path = "../examples/wuclient.rs"]
mod wuclient;
#[allow(dead_code)]
#[path = "../examples/wuproxy.rs"]
mod wuproxy;
#[allow(dead_code)]
#[path = "../examples/wuserver.rs"]
mod wuserver;

/// A socket of type `socket_type` whose sends and receives give up after
/// [`PATIENCE`] (`taskwork` replaces its receive timeout with its idle
/// time after the first task).
fn patient(socket_type: SocketType) -> Socket {
    let socket = Socket::new(socket_type);
    socket.set_recv_timeout(Some(PATIENCE));
    socket.set_send_timeout(Some(PATIENCE));
    socket
}

/// A [`patient`] socket bound to a free port of 127.0.0.1, and the
/// endpoint to connect to it.
fn bound(socket_type: SocketType) -> (Socket, String) {
    let socket = patient(socket_type);
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.last_endpoint().unwrap();
    (socket, endpoint)
}

/// A [`patient`] socket connected to `endpoint`.
fn connected(socket_type: SocketType, endpoint: &str) -> Socket {
    let socket = patient(socket_type);
    socket.connect(endpoint).unwrap();
    socket
}

/// The value of what an example's function (or a socket call) returned;
/// on an error, fails the test naming `what` it waited for.
#[track_caller]
fn done<T, E: Into<Error>>(result: Result<T, E>, what: &str) -> T {
    match result.map_err(Into::into) {
        Ok(value) => value,
        Err(Error::TimedOut) => panic!("waited {PATIENCE:?} for {what}: a socket timed out"),
        Err(e) => panic!("{what}: {e}"),
    }
}

/// The value a micro-thread returned, re-raising its panic; fails the test
/// naming `what` if it has not ended within [`PATIENCE`].
#[track_caller]
fn joined<T>(running: dhaga::JoinHandle<T>, what: &str) -> T {
    running
        .join_within(what)
        .unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// Stops a micro-thread that runs until it is cancelled (a publisher),
/// and checks that it had not ended otherwise; `what` names it.
#[track_caller]
fn cancel<T: std::fmt::Debug>(running: dhaga::JoinHandle<T>, what: &str) {
    running.cancel();
    match running.join_within(&format!("{what} to end once cancelled")) {
        Err(payload) if payload.is::<dhaga::Cancelled>() => {}
        Err(payload) => panic!("{what} panicked: {:?}", dhaga_testutil::panic_text(&*payload)),
        Ok(value) => panic!("{what} ended by itself: {value:?}"),
    }
}

/// Output several micro-threads write to, in the order they write it.
#[derive(Clone, Default)]
struct SharedOut(Arc<Mutex<Vec<u8>>>);

impl SharedOut {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()).unwrap()
    }
}

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).write(buf)
    }

    /// A `writeln!` in one write, as std's `Stdout` takes its lock once for
    /// a whole `writeln!`: otherwise the pieces of lines that micro-threads
    /// on different workers write at once interleave.
    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        let text = args.to_string();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(text.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `hwclient` against `hwserver`: every "Hello" gets its "World", and both
/// print what the Guide's programs print.
#[test]
fn hello_world_client_and_server() {
    within_limit(|| {
        dhaga::run(|| {
            let (server, endpoint) = bound(SocketType::Rep);
            let serving = dhaga::spawn(move || {
                let mut out = Vec::new();
                done(hwserver::serve(&server, Some(5), &mut out), "hwserver's 5 requests");
                String::from_utf8(out).unwrap()
            });

            let client = connected(SocketType::Req, &endpoint);
            let mut out = Vec::new();
            done(hwclient::run(&client, 5, &mut out), "hwclient's 5 replies");

            let expected: String = (0..5)
                .map(|i| format!("Sending Hello {i}…\nReceived World {i}\n"))
                .collect();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
            assert_eq!(joined(serving, "hwserver"), "Received Hello\n".repeat(5));
        });
    });
}

/// `hwserver` and `hwclient` with their security flags: a CURVE server
/// admitting one client key, then a PLAIN server admitting one password.
/// The admitted client is served and shown by its user id; one with
/// another key or password is refused (its monitor reports the 400).
#[test]
fn hello_world_secured_with_curve_and_plain() {
    within_limit(|| {
        dhaga::run(|| {
            let (server_keys, client_keys, stranger) = (curve_keypair(), curve_keypair(), curve_keypair());
            let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            let curve = (
                args(&[
                    "tcp://127.0.0.1:0",
                    "--curve-secret",
                    server_keys.secret(),
                    "--curve-allow",
                    client_keys.public(),
                ]),
                args(&[
                    "3",
                    "--curve-server",
                    server_keys.public(),
                    "--curve-secret",
                    client_keys.secret(),
                ]),
                args(&[
                    "1",
                    "--curve-server",
                    server_keys.public(),
                    "--curve-secret",
                    stranger.secret(),
                ]),
                client_keys.public().to_owned(),
            );
            let plain = (
                args(&[
                    "tcp://127.0.0.1:0",
                    "--plain-allow",
                    "admin:secret",
                    "--plain-allow",
                    "guest:guest",
                ]),
                args(&["3", "--plain", "admin:secret"]),
                args(&["1", "--plain", "admin:guess"]),
                "admin".to_owned(),
            );
            for (server_args, client_args, intruder_args, user) in [curve, plain] {
                let (_, security) = hwserver::parse(&server_args).unwrap();
                let server = patient(SocketType::Rep);
                let mut banner = Vec::new();
                let auth = done(hwserver::secure(&server, &security, &mut banner), "securing hwserver");
                assert!(auth.is_some(), "a ZAP handler checks the clients");
                server.bind("tcp://127.0.0.1:*").unwrap();
                let endpoint = server.last_endpoint().unwrap();
                // The server comes back after its 3 requests, still bound, for the intruder.
                let serving = dhaga::spawn(move || {
                    let mut out = Vec::new();
                    done(hwserver::serve(&server, Some(3), &mut out), "hwserver's 3 requests");
                    (String::from_utf8(out).unwrap(), server)
                });

                let with_endpoint = |rest: &[String]| [vec![endpoint.clone()], rest.to_vec()].concat();
                let (_, n, security) = hwclient::parse(&with_endpoint(&client_args)).unwrap();
                let client = patient(SocketType::Req);
                done(
                    hwclient::secure(&client, &security, &mut Vec::new()),
                    "securing hwclient",
                );
                client.connect(&endpoint).unwrap();
                done(hwclient::run(&client, n, &mut Vec::new()), "hwclient's 3 replies");
                let (printed, _server) = joined(serving, "hwserver");
                assert_eq!(printed, format!("Received Hello (user {user})\n").repeat(3));

                let (_, _, security) = hwclient::parse(&with_endpoint(&intruder_args)).unwrap();
                let intruder = patient(SocketType::Req);
                done(
                    hwclient::secure(&intruder, &security, &mut Vec::new()),
                    "securing the intruder",
                );
                let events = intruder.monitor();
                intruder.connect(&endpoint).unwrap();
                let refusal = std::iter::from_fn(|| events.recv_timeout(PATIENCE).ok()).find_map(|event| match event {
                    MonitorEvent::HandshakeFailed { reason, .. } => Some(reason),
                    _ => None,
                });
                assert!(
                    matches!(refusal, Some(HandshakeFailure::Auth(400))),
                    "the intruder: {refusal:?}"
                );
                drop(auth);
            }
        });
    });
}

/// `curve_keygen` prints a pair in libzmq's tool's layout whose public
/// key belongs to its secret key.
#[test]
fn curve_keygen_prints_a_matching_pair() {
    let mut out = Vec::new();
    curve_keygen::keygen(&mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let after = |marker: &str| {
        out.split(marker)
            .nth(1)
            .and_then(|rest| rest.lines().nth(1))
            .unwrap()
            .to_owned()
    };
    let (public, secret) = (after("== CURVE PUBLIC KEY =="), after("== CURVE SECRET KEY =="));
    assert_eq!((public.len(), secret.len()), (40, 40));
    assert_eq!(dhaga::mq::curve_public(&secret).unwrap(), public);
}

/// `taskvent` → two `taskwork` → `tasksink`: the sink collects a result
/// for every task, and the workers together did every task.
#[test]
fn task_pipeline_collects_every_result() {
    const TASKS: u32 = 20;
    within_limit(|| {
        dhaga::run(|| {
            let (results, sink_endpoint) = bound(SocketType::Pull);
            let (tasks, vent_endpoint) = bound(SocketType::Push);
            let sink = dhaga::spawn(move || {
                let mut out = Vec::new();
                // The start message announces the batch; 1 would be wrong.
                done(tasksink::collect(&results, 1, &mut out), "tasksink's results");
                String::from_utf8(out).unwrap()
            });
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let pull = connected(SocketType::Pull, &vent_endpoint);
                    let push = connected(SocketType::Push, &sink_endpoint);
                    dhaga::spawn(move || {
                        let worked = taskwork::work(&pull, &push, Duration::from_secs(30), &mut Vec::new());
                        let worked = done(worked, "taskwork's tasks");
                        push.close();
                        worked
                    })
                })
                .collect();

            let sink_push = connected(SocketType::Push, &sink_endpoint);
            let mut out = Vec::new();
            let total_ms = done(
                taskvent::ventilate(&tasks, &sink_push, TASKS, 5, 7, &mut out),
                "taskvent sending the tasks",
            );
            assert!((u64::from(TASKS)..=5 * u64::from(TASKS)).contains(&total_ms));
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("Sending tasks to workers…\nTotal expected cost: {total_ms} msec\n")
            );

            let report = joined(sink, "tasksink collecting every result");
            let (progress, total) = report.split_once('\n').unwrap();
            assert_eq!(progress, ":.........:.........");
            assert!(
                total.starts_with("Total elapsed time: ") && total.ends_with(" msec\n"),
                "{total:?}"
            );

            // Every result is in: stop the workers (round-robin gives each
            // one KILL; one whose connection is gone leaves both to the other).
            done(tasks.send(taskwork::KILL), "a KILL to send");
            done(tasks.send(taskwork::KILL), "a KILL to send");
            let worked: u64 = workers
                .into_iter()
                .map(|w| joined(w, "a taskwork worker to stop at its KILL"))
                .sum();
            assert_eq!(worked, u64::from(TASKS));
        });
    });
}

/// A worker ends at a KILL task, and once no task has come for its idle
/// time after the first; it prints each workload and sends a result.
#[test]
fn a_worker_stops_at_kill_or_when_idle() {
    within_limit(|| {
        dhaga::run(|| {
            let (vent, vent_endpoint) = bound(SocketType::Push);
            let (sink, sink_endpoint) = bound(SocketType::Pull);
            let pull = connected(SocketType::Pull, &vent_endpoint);
            let push = connected(SocketType::Push, &sink_endpoint);

            done(vent.send("3"), "a task to send");
            done(vent.send(taskwork::KILL), "a KILL to send");
            let mut out = Vec::new();
            let worked = taskwork::work(&pull, &push, Duration::from_secs(30), &mut out);
            assert_eq!(done(worked, "taskwork's task and KILL"), 1);
            assert_eq!(String::from_utf8(out).unwrap(), "3.");
            assert_eq!(done(sink.recv(), "the first task's result"), "".into());

            done(vent.send("1"), "a task to send");
            let mut out = Vec::new();
            let idle = Duration::from_millis(50);
            let worked = taskwork::work(&pull, &push, idle, &mut out);
            assert_eq!(done(worked, "taskwork's task, then its idle time"), 1);
            assert_eq!(String::from_utf8(out).unwrap(), "1.");
            assert_eq!(done(sink.recv(), "the second task's result"), "".into());
        });
    });
}

/// `hwclient` → `rrbroker` → `rrworker`: requests go through the ROUTER and
/// DEALER, replies find their way back by their envelope.
#[test]
fn broker_shuttles_requests_and_replies() {
    within_limit(|| {
        dhaga::run(|| {
            let (frontend, frontend_endpoint) = bound(SocketType::Router);
            let (backend, backend_endpoint) = bound(SocketType::Dealer);
            // Runs until the end of the test, when its micro-threads unwind.
            drop(dhaga::spawn(move || {
                rrbroker::shuttle(Arc::new(frontend), Arc::new(backend))
            }));

            let worker = connected(SocketType::Rep, &backend_endpoint);
            let serving = dhaga::spawn(move || {
                let mut out = Vec::new();
                done(rrworker::serve(&worker, Some(10), &mut out), "rrworker's 10 requests");
                String::from_utf8(out).unwrap()
            });

            let clients: Vec<_> = (0..2)
                .map(|_| {
                    let client = connected(SocketType::Req, &frontend_endpoint);
                    dhaga::spawn(move || {
                        let mut out = Vec::new();
                        done(
                            hwclient::run(&client, 5, &mut out),
                            "hwclient's 5 replies through rrbroker",
                        );
                        String::from_utf8(out).unwrap()
                    })
                })
                .collect();
            for client in clients {
                let out = joined(client, "an hwclient");
                assert_eq!(out.matches("Received World").count(), 5, "{out}");
            }
            assert_eq!(joined(serving, "rrworker"), "Received request: [Hello]\n".repeat(10));
        });
    });
}

/// `wuclient` against `wuserver`: the client prints `n` updates, each of
/// its zipcode prefix and in the Guide's format and ranges, then their
/// average temperature.
#[test]
fn weather_client_averages_the_updates_of_its_zipcodes() {
    const N: usize = 20;
    const PREFIX: &str = "10";
    within_limit(|| {
        dhaga::run(|| {
            let (publisher, endpoint) = bound(SocketType::Pub);
            let server = dhaga::spawn(move || wuserver::publish(&publisher, 7));

            let subscriber = connected(SocketType::Sub, &endpoint);
            let mut out = Vec::new();
            let n = NonZeroU64::new(N as u64).unwrap();
            let average = done(
                wuclient::collect(&subscriber, PREFIX, n, &mut out),
                "wuclient's updates",
            );
            cancel(server, "wuserver");

            let out = String::from_utf8(out).unwrap();
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), N + 1, "{out}");
            let mut total = 0;
            for update in &lines[..N] {
                let fields: Vec<&str> = update.split(' ').collect();
                let [zipcode, temperature, humidity] = fields[..] else {
                    panic!("not \"%05d %d %d\": {update:?}");
                };
                assert!(zipcode.len() == 5 && zipcode.starts_with(PREFIX), "{update:?}");
                let temperature: i64 = temperature.parse().unwrap();
                assert!((-80..135).contains(&temperature), "{update:?}");
                let humidity: i64 = humidity.parse().unwrap();
                assert!((10..60).contains(&humidity), "{update:?}");
                total += temperature;
            }
            assert_eq!(average, total / N as i64);
            assert_eq!(
                lines[N],
                format!("Average temperature for zipcode '{PREFIX}' was {average}F")
            );
        });
    });
}

/// A message that is not a weather update is an error that says so, not
/// a panic.
#[test]
fn weather_client_refuses_what_is_not_an_update() {
    within_limit(|| {
        dhaga::run(|| {
            let (publisher, endpoint) = bound(SocketType::Pub);
            // Published until the subscriber has one (it may join late).
            let server = dhaga::spawn(move || {
                loop {
                    publisher.send("10001 warm").unwrap();
                    dhaga::yield_now();
                }
            });
            let subscriber = connected(SocketType::Sub, &endpoint);
            let n = NonZeroU64::new(1).unwrap();
            let refused = wuclient::collect(&subscriber, "1", n, &mut Vec::new());
            cancel(server, "the publisher");
            match refused {
                Err(Error::Io(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                    assert!(e.to_string().contains("\"10001 warm\""), "{e}");
                }
                other => panic!("not refused: {other:?}"),
            }
        });
    });
}

/// `psenvsub` against `psenvpub`: a subscriber gets the messages of its
/// topic only (the publisher alternates "A" and "B"), topic and body in
/// two frames.
#[test]
fn envelope_subscriber_gets_only_its_topic() {
    const N: u64 = 10;
    within_limit(|| {
        dhaga::run(|| {
            for (topic, body) in psenvpub::MESSAGES {
                let (publisher, endpoint) = bound(SocketType::Pub);
                let server = dhaga::spawn(move || psenvpub::publish(&publisher, Duration::from_millis(1)));

                let subscriber = connected(SocketType::Sub, &endpoint);
                let mut out = Vec::new();
                done(
                    psenvsub::listen(&subscriber, topic, Some(N), &mut out),
                    "psenvsub's messages",
                );
                cancel(server, "psenvpub");
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!("[{topic}] {body}\n").repeat(N as usize)
                );
            }
        });
    });
}

/// Clients → `lbbroker` → workers: every request is served by a worker and
/// every reply reaches its client; the broker stops after the replies it
/// was asked for.
#[test]
fn load_balancing_broker_serves_every_request_through_the_workers() {
    const CLIENTS: u64 = 4;
    const REQUESTS: u64 = 5;
    const WORKERS: usize = 3;
    within_limit(|| {
        dhaga::run(|| {
            let (frontend, frontend_endpoint) = bound(SocketType::Router);
            let (backend, backend_endpoint) = bound(SocketType::Router);
            let brokering =
                dhaga::spawn(move || lbbroker::broker(Arc::new(frontend), Arc::new(backend), Some(CLIENTS * REQUESTS)));

            // The workers run until the end of the test, when they unwind.
            let log = SharedOut::default();
            for _ in 0..WORKERS {
                let worker = connected(SocketType::Req, &backend_endpoint);
                let mut log = log.clone();
                drop(dhaga::spawn(move || lbbroker::work(&worker, &mut log)));
            }
            let clients: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let client = connected(SocketType::Req, &frontend_endpoint);
                    dhaga::spawn(move || {
                        let mut out = Vec::new();
                        done(lbbroker::ask(&client, REQUESTS, &mut out), "a client's replies");
                        String::from_utf8(out).unwrap()
                    })
                })
                .collect();

            for client in clients {
                assert_eq!(joined(client, "a client"), "Client: OK\n".repeat(REQUESTS as usize));
            }
            let brokered = joined(brokering, "lbbroker to stop after the replies asked for");
            assert_eq!(done(brokered, "lbbroker's replies"), CLIENTS * REQUESTS);
            // A worker logs a request before it replies.
            assert_eq!(log.text(), "Worker: HELLO\n".repeat((CLIENTS * REQUESTS) as usize));
        });
    });
}

/// A worker that leaves while the broker counts it as free: the request
/// meant for it goes to the next free worker instead of being lost.
#[test]
fn load_balancing_broker_skips_a_worker_that_left() {
    within_limit(|| {
        dhaga::run(|| {
            let (frontend, frontend_endpoint) = bound(SocketType::Router);
            let (backend, backend_endpoint) = bound(SocketType::Router);
            let backend = Arc::new(backend);
            let brokering = {
                let backend = Arc::clone(&backend);
                dhaga::spawn(move || lbbroker::broker(Arc::new(frontend), backend, None))
            };
            let client = connected(SocketType::Req, &frontend_endpoint);

            // The first worker serves one request (so the broker has put
            // it back in its queue when the reply arrives), then leaves.
            let leaving = patient(SocketType::Req);
            leaving.set_routing_id("leaving").unwrap();
            leaving.connect(&backend_endpoint).unwrap();
            done(leaving.send(lbbroker::READY), "the leaving worker's READY to send");
            done(client.send(lbbroker::REQUEST), "the request to send");
            let mut request = done(leaving.recv(), "the request at the leaving worker");
            assert_eq!(request.pop_back().unwrap(), lbbroker::REQUEST);
            request.push_back(lbbroker::REPLY);
            done(leaving.send(request), "the leaving worker's reply to send");
            assert_eq!(done(client.recv(), "the reply at the client"), lbbroker::REPLY.into());
            leaving.close();
            // Until the backend has seen it go, a message for it would be
            // lost with its connection; then the backend (mandatory
            // routing, set by the broker) refuses one.
            wait_until("the backend to see the leaving worker go", || {
                match backend.send(dhaga::mq::Msg::from_iter(["leaving", "", "probe"])) {
                    Err(e) if matches!(e.error(), Error::HostUnreachable) => true,
                    Err(e) => panic!("a probe for the leaving worker: {e}"),
                    Ok(()) => false,
                }
            });

            let staying = connected(SocketType::Req, &backend_endpoint);
            let log = SharedOut::default();
            let mut served = log.clone();
            drop(dhaga::spawn(move || lbbroker::work(&staying, &mut served)));
            let mut out = Vec::new();
            done(
                lbbroker::ask(&client, 1, &mut out),
                "the reply through the staying worker",
            );
            assert_eq!(String::from_utf8(out).unwrap(), "Client: OK\n");
            assert_eq!(log.text(), "Worker: HELLO\n");
            cancel(brokering, "lbbroker");
        });
    });
}

/// `wuclient` behind `wuproxy`: updates come down through the proxy, and
/// the client's subscription goes up through it to the server.
#[test]
fn weather_proxy_relays_updates_and_subscriptions() {
    within_limit(|| {
        dhaga::run(|| {
            let (publisher, upstream) = bound(SocketType::Pub);
            let server = dhaga::spawn(move || wuserver::publish(&publisher, 11));
            let (frontend, backend) = wuproxy::sockets(&upstream, "tcp://127.0.0.1:*").unwrap();
            let downstream = backend.last_endpoint().unwrap();
            let relay = dhaga::spawn(move || dhaga::mq::proxy(&frontend, &backend, None));

            let subscriber = connected(SocketType::Sub, &downstream);
            let mut out = Vec::new();
            let collected = wuclient::collect(&subscriber, "2", NonZeroU64::new(10).unwrap(), &mut out);
            done(collected, "wuclient's updates through wuproxy");
            cancel(relay, "the proxy");
            cancel(server, "wuserver");
            let out = String::from_utf8(out).unwrap();
            let updates: Vec<&str> = out.lines().take(10).collect();
            assert!(updates.iter().all(|u| u.starts_with('2')), "{out}");
        });
    });
}

/// `mspoller` takes tasks and weather updates as they come, on one
/// micro-thread.
#[test]
fn one_poller_serves_tasks_and_weather_updates() {
    const TASKS: u64 = 10;
    within_limit(|| {
        dhaga::run(|| {
            let (ventilator, vent) = bound(SocketType::Push);
            let (publisher, weather) = bound(SocketType::Pub);
            let tasks = connected(SocketType::Pull, &vent);
            let updates = connected(SocketType::Sub, &weather);
            // Every update whose zipcode starts with 1: plenty of them.
            updates.subscribe("1").unwrap();
            let server = dhaga::spawn(move || wuserver::publish(&publisher, 5));

            let out = SharedOut::default();
            let poller = {
                let mut out = out.clone();
                dhaga::spawn(move || mspoller::serve(&tasks, &updates, Some(TASKS), &mut out))
            };
            // The tasks arrive among the updates: the poller takes both.
            for i in 0..TASKS {
                done(ventilator.send(format!("{i}")), "a task to send");
            }
            let served = joined(poller, "mspoller to take 10 tasks and 10 updates");
            let counts = done(served, "mspoller's tasks and updates");
            cancel(server, "wuserver");
            assert_eq!(counts.tasks, TASKS, "{counts:?}");
            assert!(counts.updates >= TASKS, "{counts:?}");
            let text = out.text();
            let tasks: Vec<_> = text.lines().filter_map(|l| l.strip_prefix("task: ")).collect();
            let expected: Vec<_> = (0..TASKS).map(|i| i.to_string()).collect();
            assert_eq!(tasks, expected, "{text}");
            assert!(
                text.lines()
                    .filter_map(|l| l.strip_prefix("weather: "))
                    .all(|u| u.starts_with('1')),
                "{text}"
            );
        });
    });
}

/// `lpclient` against `lpserver --reliable`: every request is answered on
/// the first try, and the client prints the Guide's lines.
#[test]
fn lazy_pirate_client_and_reliable_server() {
    within_limit(|| {
        dhaga::run(|| {
            let (server, endpoint) = bound(SocketType::Rep);
            let serving = dhaga::spawn(move || lpserver::serve(&server, None, &mut Vec::new()));

            let mut config = lpclient::Config::new(&endpoint);
            config.timeout = PATIENCE;
            config.seconds = Some(Duration::from_millis(50));
            let mut out = Vec::new();
            let tally = done(lpclient::run(&config, &mut out), "lpclient's replies");
            cancel(serving, "lpserver");

            assert!(tally.requests >= 1, "{tally:?}");
            assert_eq!(tally.replies, tally.requests, "{tally:?}");
            assert_eq!((tally.retries, tally.malformed, tally.abandoned), (0, 0, false));
            let out = String::from_utf8(out).unwrap();
            let expected: String = (1..=tally.requests)
                .map(|n| format!("I: server replied OK ({n})\n"))
                .collect();
            assert_eq!(out, format!("I: connecting to server...\n{expected}"));
        });
    });
}

/// `lpclient` against a server that never answers: it tries the request
/// three times, each on a new socket, then abandons.
#[test]
fn lazy_pirate_client_abandons_a_silent_server() {
    within_limit(|| {
        dhaga::run(|| {
            let (_silent, endpoint) = bound(SocketType::Rep);
            let mut config = lpclient::Config::new(&endpoint);
            config.timeout = Duration::from_millis(20);
            let mut out = Vec::new();
            let tally = done(lpclient::run(&config, &mut out), "lpclient to abandon");
            let expected = lpclient::Tally {
                requests: 1,
                replies: 0,
                retries: 2,
                malformed: 0,
                abandoned: true,
            };
            assert_eq!(tally, expected);
            let retry = "W: no response from server, retrying...\nI: reconnecting to server...\n";
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!(
                    "I: connecting to server...\n{}E: server seems to be offline, abandoning\n",
                    retry.repeat(2)
                )
            );
        });
    });
}

/// `seqsend` (PUSH) to `seqrecv` (PULL) over a healthy connection: every
/// number arrives once, in order, and the `END` tells how many were sent.
#[test]
fn sequence_receiver_counts_every_number_of_the_sender() {
    within_limit(|| {
        dhaga::run(|| {
            let (pull, endpoint) = bound(SocketType::Pull);
            let receiving = dhaga::spawn(move || {
                let mut out = Vec::new();
                let counts = done(seqrecv::receive(&pull, PATIENCE, &mut out), "seqrecv's END");
                (counts, String::from_utf8(out).unwrap())
            });
            let push = connected(SocketType::Push, &endpoint);
            let sent = done(
                seqsend::send(&push, Duration::from_millis(50), Duration::from_millis(1)),
                "seqsend's numbers",
            );
            let (counts, out) = joined(receiving, "seqrecv");

            let expected = seqrecv::Counts {
                first: Some(0),
                highest: Some(sent - 1),
                distinct: sent,
                duplicated: 0,
                reordered: 0,
                end: Some(sent),
            };
            assert_eq!(counts, expected);
            assert_eq!(counts.lost(), 0);
            assert!(out.starts_with("first 0\n"), "{out}");
            let mut summary = Vec::new();
            seqrecv::summary(&counts, &mut summary).unwrap();
            assert_eq!(
                String::from_utf8(summary).unwrap(),
                format!(
                    "summary first=0 last={} distinct={sent} lost=0 duplicated=0 reordered=0 end=yes\n",
                    sent - 1
                )
            );
        });
    });
}

/// `interrupt`'s server answers until its context is shut down, then
/// returns how many it served instead of failing.
#[test]
fn interrupt_serves_until_its_context_is_shut_down() {
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let server = context.socket(SocketType::Rep);
            server.bind("tcp://127.0.0.1:*").unwrap();
            let endpoint = server.last_endpoint().unwrap();
            let serving = dhaga::spawn(move || interrupt::serve(&server));

            let client = connected(SocketType::Req, &endpoint);
            for _ in 0..3 {
                done(client.send("Hello"), "a request to interrupt's server");
                assert_eq!(done(client.recv_string(), "interrupt's reply"), "World");
            }
            context.shutdown();
            assert_eq!(done(joined(serving, "interrupt's server"), "the shutdown"), 3);
            context.term();
        });
    });
}

/// The `interrupt` program itself, in a process of its own: SIGINT ends it
/// with its message and status 0, after it answered a request.
#[test]
fn interrupt_program_exits_cleanly_on_sigint() {
    within_limit(|| {
        let program = example_program("interrupt");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let endpoint = format!("tcp://{port}");
        let child = std::process::Command::new(&program)
            .arg(&endpoint)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        // A reply means it caught the signals already (it does before it binds).
        let client = connected(SocketType::Req, &endpoint);
        done(client.send("Hello"), "a request to the interrupt program");
        assert_eq!(done(client.recv_string(), "the interrupt program's reply"), "World");

        // SAFETY: kill(2) has no memory effects; the child is not reaped
        // yet: it serves until it is signalled, so its pid is still ours.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
        let out = dhaga_testutil::output_within(child, PATIENCE, "the interrupt program, after SIGINT");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", dhaga_testutil::describe(&out));
        assert_eq!(stdout, "W: interrupt received, killing server...\nserved 1 requests\n");
    });
}

/// A [`patient`] socket of `context`.
fn patient_in(context: &Context, socket_type: SocketType) -> Socket {
    let socket = context.socket(socket_type);
    socket.set_recv_timeout(Some(PATIENCE));
    socket.set_send_timeout(Some(PATIENCE));
    socket
}

/// Whether `id` is printable as the Guide's `s_set_id` makes ids:
/// `%04X-%04X`.
fn is_guide_id(id: &str) -> bool {
    id.len() == 9
        && id.char_indices().all(|(i, c)| {
            if i == 4 {
                c == '-'
            } else {
                c.is_ascii_hexdigit() && !c.is_ascii_lowercase()
            }
        })
}

/// `asyncsrv` as the Guide runs it (3 clients, 5 workers, the frontend
/// over TCP), with shorter pauses: every client gets every reply to each
/// of its requests, each printed once as it comes, and the totals add up.
#[test]
fn async_clients_get_every_reply_the_workers_send() {
    within_limit(|| {
        dhaga::run(|| {
            let config = asyncsrv::Config {
                frontend: "tcp://127.0.0.1:*".to_owned(),
                interval: Duration::from_millis(10),
                work: Duration::from_millis(5),
                patience: Some(PATIENCE),
                ..asyncsrv::Config::default()
            };
            let mut out = Vec::new();
            let totals = done(
                asyncsrv::run(&config, &mut out),
                "asyncsrv's clients to get every reply",
            );
            assert_eq!((totals.clients, totals.requests), (3, 15), "{totals:?}");
            assert_eq!(totals.sent, totals.received, "{totals:?}");
            let most = 15 * u64::from(asyncsrv::MAX_REPLIES);
            assert!((15..=most).contains(&totals.received), "{totals:?}");

            // `<id>: request #<n> (<i>/<k>)`: for each client and request,
            // replies 1 to k, each once.
            let out = String::from_utf8(out).unwrap();
            let mut replies: BTreeMap<(String, u64), (u32, BTreeSet<u32>)> = BTreeMap::new();
            for line in out.lines() {
                let parsed = (|| {
                    let (id, rest) = line.split_once(": request #")?;
                    let (n, rest) = rest.split_once(" (")?;
                    let (i, k) = rest.strip_suffix(')')?.split_once('/')?;
                    Some((id.to_owned(), n.parse().ok()?, i.parse().ok()?, k.parse().ok()?))
                })();
                let (id, n, i, k) = parsed.unwrap_or_else(|| panic!("not a reply line: {line:?}\n{out}"));
                assert!(is_guide_id(&id), "{line:?}");
                let (known, seen) = replies.entry((id, n)).or_insert((k, BTreeSet::new()));
                assert_eq!(*known, k, "{line:?}\n{out}");
                assert!(seen.insert(i), "twice: {line:?}\n{out}");
            }
            assert_eq!(out.lines().count() as u64, totals.received);
            let clients: BTreeSet<&str> = replies.keys().map(|(id, _)| id.as_str()).collect();
            assert_eq!(clients.len(), 3, "{out}");
            assert_eq!(replies.len(), 15, "{out}");
            for ((id, n), (k, seen)) in &replies {
                assert_eq!(*seen, (1..=*k).collect(), "{id}'s request #{n}\n{out}");
            }
        });
    });
}

/// `asyncsrv` with a thousand clients over TCP (two thousand descriptors):
/// each gets all its replies, and the replies the workers sent are the
/// replies the clients received. (`asyncsrv --clients 10000 --frontend
/// inproc://asyncsrv --work 0 --quiet` runs ten thousand.)
#[test]
fn async_server_serves_a_thousand_clients() {
    const CLIENTS: usize = 1000;
    within_limit(|| {
        // Both ends of each client's connection are in this process.
        let limit = dhaga_testutil::raise_nofile_limit();
        assert!(
            limit >= 2 * CLIENTS as u64 + 256,
            "the hard limit on open files, {limit}, is too low for {CLIENTS} clients"
        );
        dhaga::run(|| {
            let config = asyncsrv::Config {
                frontend: "tcp://127.0.0.1:*".to_owned(),
                clients: CLIENTS,
                requests: 3,
                interval: Duration::ZERO,
                work: Duration::ZERO,
                quiet: true,
                patience: Some(PATIENCE),
                ..asyncsrv::Config::default()
            };
            let mut out = Vec::new();
            let totals = done(asyncsrv::run(&config, &mut out), "a thousand clients' replies");
            assert!(out.is_empty(), "quiet, yet: {}", String::from_utf8_lossy(&out));
            assert_eq!((totals.clients, totals.requests), (CLIENTS, 3 * CLIENTS as u64));
            assert_eq!(totals.sent, totals.received, "{totals:?}");
            let most = totals.requests * u64::from(asyncsrv::MAX_REPLIES);
            assert!((totals.requests..=most).contains(&totals.received), "{totals:?}");
        });
    });
}

/// `hwclient`s → `mtserver`: the queue deals the requests out to the pool
/// of REP workers; every request is answered, and the workers' counts add
/// up to the requests, each worker having taken some.
#[test]
fn multithreaded_server_answers_through_its_pool_of_workers() {
    const CLIENTS: u64 = 4;
    const REQUESTS: u64 = 5;
    const WORKERS: usize = 3;
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let clients_socket = patient_in(&context, SocketType::Router);
            clients_socket.bind("tcp://127.0.0.1:*").unwrap();
            let endpoint = clients_socket.last_endpoint().unwrap();
            let log = SharedOut::default();
            let serving = {
                let (context, log) = (context.clone(), log.clone());
                dhaga::spawn(move || {
                    mtserver::serve(&context, &clients_socket, WORKERS, Duration::ZERO, move || log.clone())
                })
            };

            let clients: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let client = connected(SocketType::Req, &endpoint);
                    dhaga::spawn(move || {
                        let mut out = Vec::new();
                        done(
                            hwclient::run(&client, REQUESTS, &mut out),
                            "hwclient's replies from mtserver",
                        );
                        String::from_utf8(out).unwrap()
                    })
                })
                .collect();
            for client in clients {
                let out = joined(client, "an hwclient");
                assert_eq!(out.matches("Received World").count(), REQUESTS as usize, "{out}");
            }

            context.shutdown();
            let served = done(joined(serving, "mtserver to stop at the shutdown"), "mtserver");
            assert_eq!(served.len(), WORKERS);
            assert_eq!(served.iter().sum::<u64>(), CLIENTS * REQUESTS, "{served:?}");
            assert!(served.iter().all(|&n| n > 0), "a worker took nothing: {served:?}");
            assert_eq!(
                log.text(),
                "Received request: [Hello]\n".repeat((CLIENTS * REQUESTS) as usize)
            );
        });
    });
}

/// `rtreq` as the Guide runs it, shorter: every worker is fired at the
/// end, each prints how many tasks it did, and the sum is printed.
#[test]
fn router_to_req_workers_report_their_tasks() {
    within_limit(|| {
        dhaga::run(|| {
            let config = rtreq::Config {
                bind: "tcp://127.0.0.1:*".to_owned(),
                workers: 4,
                duration: Duration::from_millis(100),
                work: Duration::from_millis(2),
                patience: Some(PATIENCE),
            };
            let mut out = Vec::new();
            let done_by = done(rtreq::run(&config, &mut out), "rtreq to fire its workers");
            assert_eq!(done_by.len(), 4);
            assert!(done_by.keys().all(|id| is_guide_id(id)), "{done_by:?}");
            let out = String::from_utf8(out).unwrap();
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 5, "{out}");
            let mut completed: Vec<u64> = lines[..4]
                .iter()
                .map(|line| {
                    let n = line.strip_prefix("Completed: ").and_then(|l| l.strip_suffix(" tasks"));
                    n.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line:?}"))
                })
                .collect();
            let mut counted: Vec<u64> = done_by.values().copied().collect();
            completed.sort_unstable();
            counted.sort_unstable();
            assert_eq!(completed, counted);
            let (min, max, tasks) = (counted[0], counted[3], counted.iter().sum::<u64>());
            assert_eq!(lines[4], format!("4 workers did {tasks} tasks, {min} to {max} each"));
        });
    });
}

/// `rtreq`'s broker against its workers, all connected before the clock
/// starts: each worker is given work (the ROUTER serves whoever asks) and
/// did exactly what the broker counts it was given, until fired.
#[test]
fn router_gives_each_req_worker_what_it_counts() {
    const IDS: [&str; 5] = ["A", "B", "C", "D", "E"];
    within_limit(|| {
        dhaga::run(|| {
            let (router, endpoint) = bound(SocketType::Router);
            let events = router.monitor();
            let workers: Vec<_> = IDS
                .iter()
                .map(|&id| {
                    let socket = patient(SocketType::Req);
                    socket.set_routing_id(id).unwrap();
                    socket.connect(&endpoint).unwrap();
                    let working = dhaga::spawn(move || rtreq::worker(&socket, Duration::from_millis(1)));
                    (id, working)
                })
                .collect();
            let mut handshakes = 0;
            while handshakes < IDS.len() {
                if let MonitorEvent::HandshakeSucceeded { .. } = events.recv_within("the workers' handshakes") {
                    handshakes += 1;
                }
            }

            let given = done(
                rtreq::broker(&router, IDS.len(), Duration::from_millis(200)),
                "rtreq's broker to fire every worker",
            );
            for (id, working) in workers {
                let did = done(joined(working, "a worker to be fired"), "a worker's tasks");
                assert!(did > 0, "{id} was given nothing: {given:?}");
                assert_eq!(given.get(id.as_bytes()), Some(&did), "{id}: {given:?}");
            }
        });
    });
}

/// `identity`: the ROUTER sees a generated id (a zero byte and four more)
/// in front of the anonymous REQ's message and "Hello" in front of the
/// other's, each followed by the REQ's empty delimiter, dumped as `s_dump`
/// does; over TCP and over `inproc`, the Guide's transport.
#[test]
fn identity_dumps_generated_and_chosen_routing_ids() {
    within_limit(|| {
        dhaga::run(|| {
            for endpoint in ["tcp://127.0.0.1:*", "inproc://examples-mq-identity"] {
                let sink = patient(SocketType::Router);
                sink.bind(endpoint).unwrap();
                let endpoint = sink.last_endpoint().unwrap();
                let (anonymous, identified) = (patient(SocketType::Req), patient(SocketType::Req));
                let mut out = Vec::new();
                let [first, second] = done(
                    identity::run(&sink, &anonymous, &identified, &endpoint, &mut out),
                    "identity's two messages",
                );
                let generated = &first[0];
                assert_eq!((generated.len(), generated[0]), (5, 0), "{first:?}");
                assert_eq!(second.frames()[..2], [&b"Hello"[..], &b""[..]]);
                let hex: String = generated.iter().map(|b| format!("{b:02X}")).collect();
                let dashes = "-".repeat(40);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!(
                        "{dashes}\n[005] {hex}\n[000]\n[028] ROUTER uses a generated UUID\n\
                         {dashes}\n[005] Hello\n[000]\n[040] ROUTER socket uses REQ's socket identity\n"
                    )
                );
            }
        });
    });
}

/// `syncsub`s against `syncpub`: the publisher waits for each subscriber's
/// request, then publishes; each subscriber counts every update (five
/// times its high-water mark, which the publisher waits at rather than
/// drop), and both print the Guide's lines.
#[test]
fn synchronized_subscribers_count_every_update() {
    const SUBSCRIBERS: u64 = 3;
    const UPDATES: u64 = 5_000;
    within_limit(|| {
        dhaga::run(|| {
            let (publisher, publisher_endpoint) = bound(SocketType::Pub);
            let (syncservice, sync_endpoint) = bound(SocketType::Rep);
            let publishing = dhaga::spawn(move || {
                let mut out = Vec::new();
                let published = syncpub::publish(&publisher, &syncservice, SUBSCRIBERS, UPDATES, &mut out);
                done(published, "syncpub's subscribers and updates");
                publisher.close();
                String::from_utf8(out).unwrap()
            });

            let subscribers: Vec<_> = (0..SUBSCRIBERS)
                .map(|_| {
                    let (publisher_endpoint, sync_endpoint) = (publisher_endpoint.clone(), sync_endpoint.clone());
                    dhaga::spawn(move || {
                        let subscriber = patient(SocketType::Sub);
                        let subscribed = syncsub::subscribe(&subscriber, &publisher_endpoint, Some(PATIENCE));
                        done(subscribed, "the SUB connection's handshake");
                        let syncclient = connected(SocketType::Req, &sync_endpoint);
                        let mut out = Vec::new();
                        let counted = done(syncsub::run(&subscriber, &syncclient, &mut out), "syncsub's END");
                        (counted, String::from_utf8(out).unwrap())
                    })
                })
                .collect();
            for subscriber in subscribers {
                let (counted, out) = joined(subscriber, "a syncsub");
                assert_eq!(counted, UPDATES);
                assert_eq!(out, format!("Received {UPDATES} updates\n"));
            }
            assert_eq!(
                joined(publishing, "syncpub to deliver everything"),
                "Waiting for subscribers\nBroadcasting messages\n"
            );
        });
    });
}

/// Heartbeats every 100 ms, a peer dead after 5 silent intervals: short
/// enough for a test, long enough that a loaded machine does not look
/// dead.
fn ppp_settings() -> ppqueue::Config {
    ppqueue::Config {
        interval: Duration::from_millis(100),
        liveness: 5,
    }
}

/// A `ppworker` (without simulated faults) on `context`, connected to
/// `backend`, with the heartbeats of `settings`; its log.
fn start_ppworker(
    context: &Context,
    backend: &str,
    settings: &ppqueue::Config,
) -> (dhaga::JoinHandle<ppworker::Tally>, SharedOut) {
    let mut config = ppworker::Config::new(backend);
    config.interval = settings.interval;
    config.liveness = settings.liveness;
    config.reconnect = settings.interval;
    config.reconnect_max = settings.interval * 4;
    let log = SharedOut::default();
    let (context, mut out) = (context.clone(), log.clone());
    let working = dhaga::spawn(move || done(ppworker::run(&context, &config, None, &mut out), "ppworker"));
    (working, log)
}

/// A `ppqueue` on two ROUTERs of `context`, bound to `frontend` and
/// `backend`; the endpoints as bound, and its log.
fn start_ppqueue(
    context: &Context,
    frontend: &str,
    backend: &str,
    settings: &ppqueue::Config,
) -> (dhaga::JoinHandle<ppqueue::Tally>, String, String, SharedOut) {
    let (clients, workers) = (
        patient_in(context, SocketType::Router),
        patient_in(context, SocketType::Router),
    );
    // A restarted queue binds the endpoints of the one before: they are
    // free once its listeners have stopped.
    wait_until("the frontend's endpoint to be free", || clients.bind(frontend).is_ok());
    wait_until("the backend's endpoint to be free", || workers.bind(backend).is_ok());
    let endpoints = (clients.last_endpoint().unwrap(), workers.last_endpoint().unwrap());
    let log = SharedOut::default();
    let (settings, mut out) = (settings.clone(), log.clone());
    let queue = dhaga::spawn(move || done(ppqueue::run(&clients, &workers, &settings, &mut out), "ppqueue"));
    (queue, endpoints.0, endpoints.1, log)
}

/// `lpclient` → `ppqueue` → two `ppworker`s: every request is answered on
/// the first try, and the queue's, the workers' and the client's counts
/// agree.
#[test]
fn paranoid_pirate_queue_serves_lazy_pirate_requests_through_its_workers() {
    within_limit(|| {
        dhaga::run(|| {
            let settings = ppp_settings();
            let (queue_context, workers_context) = (Context::new(), Context::new());
            let (queue, frontend, backend, _) =
                start_ppqueue(&queue_context, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", &settings);
            let workers: Vec<_> = (0..2)
                .map(|_| start_ppworker(&workers_context, &backend, &settings))
                .collect();

            let mut config = lpclient::Config::new(&frontend);
            config.timeout = PATIENCE;
            config.seconds = Some(Duration::from_millis(100));
            let client = done(lpclient::run(&config, &mut Vec::new()), "lpclient's replies");
            assert!(client.requests > 0, "{client:?}");
            assert_eq!(
                (client.replies, client.retries, client.malformed),
                (client.requests, 0, 0),
                "{client:?}"
            );

            queue_context.shutdown();
            workers_context.shutdown();
            let queue = joined(queue, "ppqueue to stop at the shutdown");
            assert_eq!(
                (queue.requests, queue.replies),
                (client.requests, client.requests),
                "{queue:?}"
            );
            let mut replies = 0;
            for (worker, log) in workers {
                let worker = joined(worker, "a ppworker to stop at the shutdown");
                replies += worker.replies;
                assert_eq!(
                    log.text().matches("I: normal reply").count() as u64,
                    worker.replies,
                    "{}",
                    log.text()
                );
                assert!(!worker.crashed);
            }
            assert_eq!(replies, client.requests);
        });
    });
}

/// A worker that says READY and then nothing: `ppqueue` heartbeats it,
/// forgets it once it has been silent too long, and the next request goes
/// to a live worker instead of being lost with the silent one.
#[test]
fn paranoid_pirate_queue_forgets_a_silent_worker() {
    within_limit(|| {
        dhaga::run(|| {
            let settings = ppp_settings();
            let (queue_context, workers_context) = (Context::new(), Context::new());
            let (queue, frontend, backend, log) =
                start_ppqueue(&queue_context, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", &settings);

            let silent = patient(SocketType::Dealer);
            silent.set_routing_id("silent").unwrap();
            silent.connect(&backend).unwrap();
            done(silent.send(ppqueue::ppp::READY), "the silent worker's READY");
            // The queue knows it once it heartbeats it.
            let heartbeat = done(silent.recv(), "a heartbeat for the silent worker");
            assert_eq!(heartbeat, ppqueue::ppp::HEARTBEAT.into());
            wait_until("the queue to forget the silent worker", || {
                log.text().contains("W: worker silent expired\n")
            });

            let (worker, _) = start_ppworker(&workers_context, &backend, &settings);
            let client = connected(SocketType::Req, &frontend);
            done(client.send("1"), "the request to the queue");
            assert_eq!(done(client.recv(), "the live worker's reply"), "1".into());
            // The silent worker had heartbeats only.
            while let Ok(msg) = silent.try_recv() {
                assert_eq!(msg, ppqueue::ppp::HEARTBEAT.into());
            }

            queue_context.shutdown();
            workers_context.shutdown();
            let queue = joined(queue, "ppqueue to stop at the shutdown");
            assert_eq!((queue.requests, queue.replies, queue.dropped), (1, 1, 0), "{queue:?}");
            assert!(queue.expired >= 1, "{queue:?}");
            assert_eq!(joined(worker, "the ppworker to stop").replies, 1);
        });
    });
}

/// `ppworker` when its queue goes away and comes back on the same
/// endpoints: it sees the heartbeats stop, says so, connects again on a
/// new socket after its backoff, and serves the new queue's requests.
#[test]
fn paranoid_pirate_worker_reconnects_after_the_queue_restarts() {
    within_limit(|| {
        dhaga::run(|| {
            let settings = ppp_settings();
            let workers_context = Context::new();
            let first_context = Context::new();
            let (first, frontend, backend, _) =
                start_ppqueue(&first_context, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", &settings);
            let (worker, log) = start_ppworker(&workers_context, &backend, &settings);
            let client = connected(SocketType::Req, &frontend);
            done(client.send("before"), "a request to the first queue");
            assert_eq!(
                done(client.recv(), "the reply through the first queue"),
                "before".into()
            );

            first_context.shutdown();
            assert_eq!(joined(first, "the first queue to stop").replies, 1);
            // Once it says how long it waits, its old socket is closed.
            wait_until("the worker to give the queue up", || {
                log.text()
                    .contains("W: heartbeat failure, can't reach queue\nW: reconnecting in ")
            });

            let second_context = Context::new();
            let (second, ..) = start_ppqueue(&second_context, &frontend, &backend, &settings);
            // The client's REQ connects again by itself; the worker's new
            // socket says READY to the new queue.
            done(client.send("after"), "a request to the second queue");
            assert_eq!(
                done(client.recv(), "the reply through the second queue"),
                "after".into()
            );

            second_context.shutdown();
            workers_context.shutdown();
            assert_eq!(joined(second, "the second queue to stop").replies, 1);
            let worker = joined(worker, "the ppworker to stop");
            assert_eq!(worker.replies, 2, "{worker:?}");
            assert!(worker.reconnects >= 1, "{worker:?}");
            let text = log.text();
            let first_wait = settings.interval.as_millis();
            assert!(
                text.contains(&format!("W: reconnecting in {first_wait} msec...\nI: worker ready\n")),
                "{text}"
            );
        });
    });
}

/// `version` prints the crate's version and the ZMTP revision, and that
/// revision is the one a dhaga socket announces in its greeting (RFC 37:
/// the signature's ten bytes, then the major and minor version).
#[test]
fn version_reports_the_zmtp_revision_dhaga_speaks() {
    let mut out = Vec::new();
    version::report(&mut out).unwrap();
    let (major, minor) = version::ZMTP;
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "Current dhaga version is {} (ZMTP {major}.{minor})\n",
            env!("CARGO_PKG_VERSION")
        )
    );

    within_limit(move || {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let socket = patient(SocketType::Dealer);
        socket
            .connect(format!("tcp://{}", listener.local_addr().unwrap()))
            .unwrap();
        let mut accepted = None;
        wait_until("the dhaga socket to connect", || {
            accepted = listener.accept().ok();
            accepted.is_some()
        });
        let (mut stream, _) = accepted.unwrap();
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        // Our greeting (ZMTP 3.1, NULL, as a client), in case it waits for one.
        let mut greeting = [0u8; 64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        (greeting[10], greeting[11]) = (3, 1);
        greeting[12..16].copy_from_slice(b"NULL");
        stream.write_all(&greeting).unwrap();
        let mut theirs = [0u8; 12];
        stream.read_exact(&mut theirs).unwrap();
        assert_eq!(
            (theirs[0], theirs[9]),
            (0xFF, 0x7F),
            "not a ZMTP signature: {theirs:02x?}"
        );
        assert_eq!((theirs[10], theirs[11]), version::ZMTP, "{theirs:02x?}");
    });
}

/// Runs the example program `name` with `args`; its output, once it has
/// exited (within [`PATIENCE`]).
fn run_program(name: &str, args: &[&str]) -> std::process::Output {
    let program = example_program(name);
    let child = std::process::Command::new(&program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    dhaga_testutil::output_within(child, PATIENCE, &format!("{name} {}", args.join(" ")))
}

/// The Guide's programs on a command line they cannot use: each says what
/// is wrong and how it is used, on stderr, and exits with status 2; with
/// `--help` each prints its usage on stdout and exits with status 0.
#[test]
fn guide_programs_refuse_bad_command_lines() {
    let bad: [(&str, &[&str], &str); 9] = [
        ("asyncsrv", &["--clients", "many"], "--clients: \"many\": "),
        ("identity", &["inproc://a", "inproc://b"], "unexpected argument"),
        ("mtserver", &[], "the endpoint to bind is missing"),
        ("ppqueue", &["tcp://*:5555"], "the two endpoints to bind"),
        (
            "ppworker",
            &["tcp://127.0.0.1:5556", "--liveness", "0"],
            "must be above zero",
        ),
        ("rtreq", &["--seconds", "-1"], "--seconds: "),
        (
            "syncpub",
            &["tcp://*:5561", "tcp://*:5562", "--updates"],
            "missing argument",
        ),
        ("syncsub", &["tcp://127.0.0.1:5561"], "the two endpoints to connect to"),
        ("version", &["--verbose"], "invalid option '--verbose'"),
    ];
    within_limit(move || {
        for (name, args, problem) in bad {
            let out = run_program(name, args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name} {args:?}: {}",
                dhaga_testutil::describe(&out)
            );
            assert!(
                stderr.starts_with(&format!("{name}: ")) && stderr.contains(problem),
                "{name} {args:?}: {stderr}"
            );
            assert!(stderr.contains(&format!("usage: {name}")), "{name} {args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{}", dhaga_testutil::describe(&out));

            let help = run_program(name, &["--help"]);
            assert!(
                help.status.success(),
                "{name} --help: {}",
                dhaga_testutil::describe(&help)
            );
            let stdout = String::from_utf8_lossy(&help.stdout);
            assert!(stdout.starts_with(&format!("usage: {name}")), "{name} --help: {stdout}");
        }
    });
}

/// The self-contained programs run as a user runs them, each in a process
/// of its own, and end by themselves: `version`, `identity` (over the
/// Guide's `inproc://example`), `asyncsrv` (in-process clients, its
/// totals line) and `rtreq` (its workers' lines and their sum).
#[test]
fn guide_programs_run_from_the_command_line() {
    within_limit(|| {
        let stdout = |name: &str, args: &[&str]| {
            let out = run_program(name, args);
            assert!(
                out.status.success(),
                "{name} {args:?}: {}",
                dhaga_testutil::describe(&out)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(
            stdout("version", &[]),
            format!("Current dhaga version is {} (ZMTP 3.1)\n", env!("CARGO_PKG_VERSION"))
        );

        let dumped = stdout("identity", &[]);
        let lines: Vec<&str> = dumped.lines().collect();
        assert_eq!(lines.len(), 8, "{dumped}");
        assert!(lines[1].starts_with("[005] 00") && lines[1].len() == 16, "{dumped}");
        assert_eq!(lines[5], "[005] Hello", "{dumped}");

        let totals = stdout(
            "asyncsrv",
            &["--clients", "20", "--requests", "2", "--interval", "1", "--work", "1"]
                .into_iter()
                .chain(["--frontend", "inproc://asyncsrv", "--quiet"])
                .collect::<Vec<_>>(),
        );
        let (sent, received) = totals
            .strip_prefix("20 clients sent 40 requests; the workers sent ")
            .and_then(|rest| rest.split_once(" replies and the clients received "))
            .unwrap_or_else(|| panic!("{totals}"));
        assert!(
            received.starts_with(&format!("{sent}: every client got all its replies (")),
            "{totals}"
        );

        let report = stdout(
            "rtreq",
            &[
                "--workers",
                "3",
                "--seconds",
                "0.05",
                "--work",
                "1",
                "--bind",
                "tcp://127.0.0.1:*",
            ],
        );
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines.len(), 4, "{report}");
        assert!(lines[..3].iter().all(|l| l.starts_with("Completed: ")), "{report}");
        assert!(lines[3].starts_with("3 workers did "), "{report}");
    });
}

/// The path of an example program of this package (see
/// [`dhaga_testutil::example_program`]).
fn example_program(name: &str) -> std::path::PathBuf {
    dhaga_testutil::example_program(name, env!("CARGO"), env!("CARGO_MANIFEST_DIR"))
}

/// `stream_http` serves `curl` (a real HTTP client, no ZeroMQ in it) over
/// a STREAM socket, and answers a malformed request with 400.
#[test]
fn stream_http_serves_curl() {
    within_limit(|| {
        let (server, endpoint) = bound(SocketType::Stream);
        let out = SharedOut::default();
        let serving = {
            let mut out = out.clone();
            dhaga::spawn(move || stream_http::serve(&server, Some(2), &mut out))
        };
        let url = format!("http://{}/hello?from=curl", endpoint.trim_start_matches("tcp://"));
        let curl = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--include", "--max-time", "30", &url])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("curl (scripts/setup.sh installs it)");
        let reply = dhaga_testutil::output_within(curl, PATIENCE, "curl's request");
        assert!(reply.status.success(), "curl: {}", dhaga_testutil::describe(&reply));
        let reply = String::from_utf8_lossy(&reply.stdout);
        assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply}");
        assert!(
            reply.ends_with("\r\n\r\nHello from dhaga: GET /hello?from=curl\n"),
            "{reply}"
        );

        // A request line that is not HTTP's, in two pieces.
        let mut raw = std::net::TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
        raw.set_read_timeout(Some(PATIENCE)).unwrap();
        raw.write_all(b"HELLO\r\n").unwrap();
        raw.write_all(b"\r\n").unwrap();
        let mut answer = String::new();
        io::Read::read_to_string(&mut raw, &mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{answer}");

        done(joined(serving, "the server's two requests"), "serving");
        assert_eq!(out.text(), "GET /hello?from=curl\n");
    });
}
