//! The Guide's examples with libzmq on one side: for each example (or
//! pair), the system's libzmq (through the `zmq` crate) stands in for one
//! of its sides, as the Guide's C programs would, over TCP on 127.0.0.1,
//! in this process.
//!
//! - `asyncsrv`'s server with libzmq DEALER clients (the Guide's
//!   `client_task`);
//! - `mtserver` with libzmq REQ clients (`hwclient.c`);
//! - `rtreq`'s broker with libzmq REQ workers (`rtreq.c`'s `worker_task`);
//! - `identity`'s ROUTER dump with libzmq REQs, anonymous and named;
//! - `syncsub` with a libzmq publisher (`syncpub.c`);
//! - `ppqueue` with a libzmq Paranoid Pirate worker, `lpclient` asking;
//! - `lpserver` with a libzmq REQ client (`lpclient.c`'s requests);
//! - `interrupt`'s server with a libzmq REQ client, until the shutdown.
//!
//! (`version` has no peer: its test in `examples_mq.rs` reads the ZMTP
//! revision it reports off a dhaga socket's greeting.)
//!
//! libzmq's sides run on OS threads of their own, their sockets giving up
//! after [`PATIENCE`]; dhaga's sides run on micro-threads, their sockets
//! as patient. Every thread and micro-thread is joined within
//! [`PATIENCE`], so a hang fails the test, naming what it waited for.

// Examples include their shared helpers (`examples/common/`) each for
// itself; here, where several examples are modules, they are included
// several times.
#![allow(clippy::duplicate_mod)]

use std::collections::BTreeMap;
use std::panic;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dhaga::mq::{Context, Error, Socket, SocketType};
use dhaga_testutil::{JoinWithin, PATIENCE, within_limit};

#[allow(dead_code)]
#[path = "../examples/asyncsrv.rs"]
mod asyncsrv;
#[allow(dead_code)]
#[path = "../examples/identity.rs"]
mod identity;
#[allow(dead_code)]
#[path = "../examples/interrupt.rs"]
mod interrupt;
#[allow(dead_code)]
#[path = "../examples/lpclient.rs"]
mod lpclient;
#[allow(dead_code)]
#[path = "../examples/lpserver.rs"]
mod lpserver;
#[allow(dead_code)]
#[path = "../examples/mtserver.rs"]
mod mtserver;
#[allow(dead_code)]
#[path = "../examples/ppqueue.rs"]
mod ppqueue;
#[allow(dead_code)]
#[path = "../examples/rtreq.rs"]
mod rtreq;
#[allow(dead_code)]
#[path = "../examples/syncsub.rs"]
mod syncsub;

/// [`PATIENCE`] in libzmq's milliseconds.
const PATIENCE_MS: i32 = PATIENCE.as_millis() as i32;

/// A dhaga socket of `socket_type` in `context` whose sends and receives
/// give up after [`PATIENCE`].
fn patient(context: &Context, socket_type: SocketType) -> Socket {
    let socket = context.socket(socket_type);
    socket.set_recv_timeout(Some(PATIENCE));
    socket.set_send_timeout(Some(PATIENCE));
    socket
}

/// A [`patient`] socket bound to a free port of 127.0.0.1, and the
/// endpoint to connect to it.
fn bound(context: &Context, socket_type: SocketType) -> (Socket, String) {
    let socket = patient(context, socket_type);
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.last_endpoint().unwrap();
    (socket, endpoint)
}

/// A libzmq socket whose sends and receives give up after [`PATIENCE`],
/// and that drops what it holds when closed.
fn libzmq(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = ctx.socket(kind).expect("a libzmq socket");
    socket.set_rcvtimeo(PATIENCE_MS).unwrap();
    socket.set_sndtimeo(PATIENCE_MS).unwrap();
    socket.set_linger(0).unwrap();
    socket
}

/// Receives a whole message on a libzmq socket; fails the test, naming
/// `what`, after [`PATIENCE`].
#[track_caller]
fn libzmq_recv(socket: &zmq::Socket, what: &str) -> Vec<Vec<u8>> {
    socket
        .recv_multipart(0)
        .unwrap_or_else(|e| panic!("libzmq waited for {what}: {e}"))
}

/// Sends a whole message on a libzmq socket; fails the test, naming
/// `what`, after [`PATIENCE`].
#[track_caller]
fn libzmq_send<F: AsRef<[u8]>>(socket: &zmq::Socket, frames: &[F], what: &str) {
    socket
        .send_multipart(frames.iter().map(AsRef::as_ref), 0)
        .unwrap_or_else(|e| panic!("libzmq could not send {what}: {e}"));
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

/// The value a thread or micro-thread returned, re-raising its panic;
/// fails the test naming `what` if it has not ended within [`PATIENCE`].
#[track_caller]
fn joined<T>(running: impl JoinWithin<T>, what: &str) -> T {
    running
        .join_within(what)
        .unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// `asyncsrv`'s server (ROUTER frontend, proxy, DEALER workers) with two
/// libzmq DEALER clients, as the Guide's `client_task`: each sends its
/// requests without waiting and reads every reply, the server's workers
/// sending each request its own number of replies; the replies the
/// workers sent are the replies libzmq received.
#[test]
fn async_server_answers_libzmq_dealer_clients() {
    const REQUESTS: usize = 4;
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let (frontend, endpoint) = bound(&context, SocketType::Router);
            let server = done(
                asyncsrv::Server::start(&context, frontend, 3, Duration::from_millis(2)),
                "asyncsrv's server to start",
            );

            let ctx = zmq::Context::new();
            let clients: Vec<_> = ["AAAA-0001", "BBBB-0002"]
                .into_iter()
                .map(|id| {
                    let client = libzmq(&ctx, zmq::DEALER);
                    client.set_identity(id.as_bytes()).unwrap();
                    client.connect(&endpoint).unwrap();
                    thread::spawn(move || {
                        for n in 1..=REQUESTS {
                            libzmq_send(&client, &[format!("request #{n}").as_bytes()], "a request");
                        }
                        // Per request: the replies come, and how many there are.
                        let mut replies: BTreeMap<String, (usize, usize)> = BTreeMap::new();
                        let mut received = 0;
                        while replies.len() < REQUESTS || replies.values().any(|(got, of)| got < of) {
                            let reply = libzmq_recv(&client, "asyncsrv's replies");
                            let [content, count] = &reply[..] else {
                                panic!("{id}: not [request, i/k]: {reply:?}");
                            };
                            let count = String::from_utf8(count.clone()).unwrap();
                            let (_, of) = count.split_once('/').unwrap();
                            let entry = replies
                                .entry(String::from_utf8(content.clone()).unwrap())
                                .or_insert((0, of.parse().unwrap()));
                            entry.0 += 1;
                            received += 1;
                        }
                        let expected: Vec<String> = (1..=REQUESTS).map(|n| format!("request #{n}")).collect();
                        assert_eq!(replies.keys().cloned().collect::<Vec<_>>(), expected, "{id}");
                        received as u64
                    })
                })
                .collect();
            let received: u64 = clients.into_iter().map(|c| joined(c, "a libzmq client")).sum();
            let sent = done(server.stop(&context), "asyncsrv's server to stop");
            assert_eq!(sent, received);
            assert!(received >= 2 * REQUESTS as u64, "{received}");
        });
    });
}

/// `mtserver` with libzmq REQ clients (`hwclient.c`): every "Hello" gets
/// its "World" through the queue and the pool of workers.
#[test]
fn multithreaded_server_answers_libzmq_clients() {
    const REQUESTS: usize = 5;
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let (clients_socket, endpoint) = bound(&context, SocketType::Router);
            let serving = {
                let context = context.clone();
                dhaga::spawn(move || mtserver::serve(&context, &clients_socket, 2, Duration::ZERO, Vec::new))
            };

            let ctx = zmq::Context::new();
            let clients: Vec<_> = (0..3)
                .map(|_| {
                    let client = libzmq(&ctx, zmq::REQ);
                    client.connect(&endpoint).unwrap();
                    thread::spawn(move || {
                        for _ in 0..REQUESTS {
                            libzmq_send(&client, &[b"Hello"], "Hello");
                            assert_eq!(libzmq_recv(&client, "World"), [b"World".to_vec()]);
                        }
                    })
                })
                .collect();
            for client in clients {
                joined(client, "a libzmq hwclient");
            }
            context.shutdown();
            let served = done(joined(serving, "mtserver to stop at the shutdown"), "mtserver");
            assert_eq!(served.iter().sum::<u64>(), 3 * REQUESTS as u64, "{served:?}");
        });
    });
}

/// `rtreq`'s broker with libzmq REQ workers (`rtreq.c`'s `worker_task`):
/// each asks until it is fired and did what the broker counts it was
/// given.
#[test]
fn router_hands_work_to_libzmq_req_workers() {
    const IDS: [&str; 3] = ["W1", "W2", "W3"];
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let (router, endpoint) = bound(&context, SocketType::Router);
            let ctx = zmq::Context::new();
            let workers: Vec<_> = IDS
                .into_iter()
                .map(|id| {
                    let worker = libzmq(&ctx, zmq::REQ);
                    worker.set_identity(id.as_bytes()).unwrap();
                    worker.connect(&endpoint).unwrap();
                    let working = thread::spawn(move || {
                        let mut total = 0u64;
                        loop {
                            libzmq_send(&worker, &[rtreq::HI.as_bytes()], "Hi Boss");
                            let workload = libzmq_recv(&worker, "a workload");
                            if workload == [rtreq::FIRED.as_bytes()] {
                                return total;
                            }
                            assert_eq!(workload, [rtreq::WORK.as_bytes()]);
                            total += 1;
                            thread::sleep(Duration::from_millis(1)); // Some work.
                        }
                    });
                    (id, working)
                })
                .collect();

            let given = done(
                rtreq::broker(&router, IDS.len(), Duration::from_millis(200)),
                "rtreq's broker to fire the libzmq workers",
            );
            let mut total = 0;
            for (id, working) in workers {
                let did = joined(working, "a libzmq worker to be fired");
                assert_eq!(given.get(id.as_bytes()).copied().unwrap_or(0), did, "{id}: {given:?}");
                total += did;
            }
            assert!(total > 0, "{given:?}");
        });
    });
}

/// `identity`'s dump of what its ROUTER receives from libzmq REQs: the id
/// the ROUTER made up for the anonymous one (a zero byte and four more),
/// "Hello" for the one that chose it, each with the REQ's delimiter.
#[test]
fn identity_dumps_libzmq_requests() {
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let (sink, endpoint) = bound(&context, SocketType::Router);
            let ctx = zmq::Context::new();
            let (anonymous, identified) = (libzmq(&ctx, zmq::REQ), libzmq(&ctx, zmq::REQ));
            identified.set_identity(identity::IDENTITY.as_bytes()).unwrap();

            let mut out = Vec::new();
            anonymous.connect(&endpoint).unwrap();
            libzmq_send(&anonymous, &[identity::ANONYMOUS.as_bytes()], "the anonymous request");
            let first = done(identity::dump(&sink, &mut out), "the anonymous libzmq request");
            identified.connect(&endpoint).unwrap();
            libzmq_send(&identified, &[identity::IDENTIFIED.as_bytes()], "the named request");
            let second = done(identity::dump(&sink, &mut out), "the named libzmq request");

            assert_eq!((first[0].len(), first[0][0]), (5, 0), "{first:?}");
            assert_eq!(&second[0][..], b"Hello");
            let hex: String = first[0].iter().map(|b| format!("{b:02X}")).collect();
            let dashes = "-".repeat(40);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!(
                    "{dashes}\n[005] {hex}\n[000]\n[028] ROUTER uses a generated UUID\n\
                     {dashes}\n[005] Hello\n[000]\n[040] ROUTER socket uses REQ's socket identity\n"
                )
            );
        });
    });
}

/// `syncsub`s against a libzmq publisher written as the Guide's
/// `syncpub.c` (PUB and REP, no high-water mark on the PUB so that it
/// drops nothing): each subscriber counts every update.
#[test]
fn synchronized_subscribers_count_a_libzmq_publishers_updates() {
    const SUBSCRIBERS: usize = 2;
    const UPDATES: u64 = 3_000;
    within_limit(|| {
        let ctx = zmq::Context::new();
        let publisher = libzmq(&ctx, zmq::PUB);
        publisher.set_sndhwm(0).unwrap();
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let syncservice = libzmq(&ctx, zmq::REP);
        syncservice.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = |socket: &zmq::Socket| socket.get_last_endpoint().unwrap().unwrap();
        let (publisher_endpoint, sync_endpoint) = (endpoint(&publisher), endpoint(&syncservice));
        let publishing = thread::spawn(move || {
            for _ in 0..SUBSCRIBERS {
                libzmq_recv(&syncservice, "a synchronization request");
                libzmq_send(&syncservice, &[b""], "a synchronization reply");
            }
            for _ in 0..UPDATES {
                libzmq_send(&publisher, &[b"Rhubarb"], "an update");
            }
            libzmq_send(&publisher, &[b"END"], "END");
            // libzmq delivers what is queued once its socket closes, within the linger.
            publisher.set_linger(PATIENCE_MS).unwrap();
        });

        dhaga::run(move || {
            let context = Context::new();
            let subscribers: Vec<_> = (0..SUBSCRIBERS)
                .map(|_| {
                    let (context, publisher_endpoint, sync_endpoint) =
                        (context.clone(), publisher_endpoint.clone(), sync_endpoint.clone());
                    dhaga::spawn(move || {
                        let subscriber = patient(&context, SocketType::Sub);
                        let subscribed = syncsub::subscribe(&subscriber, &publisher_endpoint, Some(PATIENCE));
                        done(subscribed, "the SUB connection's handshake with libzmq");
                        let syncclient = patient(&context, SocketType::Req);
                        syncclient.connect(&sync_endpoint).unwrap();
                        let mut out = Vec::new();
                        let counted = done(syncsub::run(&subscriber, &syncclient, &mut out), "libzmq's END");
                        (counted, String::from_utf8(out).unwrap())
                    })
                })
                .collect();
            for subscriber in subscribers {
                let (counted, out) = joined(subscriber, "a syncsub");
                assert_eq!(counted, UPDATES);
                assert_eq!(out, format!("Received {UPDATES} updates\n"));
            }
        });
        joined(publishing, "the libzmq publisher");
    });
}

/// `ppqueue` with a libzmq Paranoid Pirate worker (READY, a heartbeat
/// every interval, each request answered with itself), `lpclient` asking
/// through the queue: every request is answered on its first try by the
/// libzmq worker.
#[test]
fn paranoid_pirate_queue_serves_through_a_libzmq_worker() {
    let settings = ppqueue::Config {
        interval: Duration::from_millis(100),
        liveness: 5,
    };
    within_limit(move || {
        dhaga::run(move || {
            let context = Context::new();
            let (frontend, frontend_endpoint) = bound(&context, SocketType::Router);
            let (backend, backend_endpoint) = bound(&context, SocketType::Router);
            let queue = {
                let settings = settings.clone();
                dhaga::spawn(move || ppqueue::run(&frontend, &backend, &settings, &mut Vec::new()))
            };

            let ctx = zmq::Context::new();
            let worker = libzmq(&ctx, zmq::DEALER);
            worker.set_identity(b"libzmq-worker").unwrap();
            // One heartbeat interval per wait.
            worker.set_rcvtimeo(settings.interval.as_millis() as i32).unwrap();
            worker.connect(&backend_endpoint).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let working = {
                let (stop, interval) = (Arc::clone(&stop), settings.interval);
                thread::spawn(move || {
                    libzmq_send(&worker, &[ppqueue::ppp::READY], "READY");
                    let (mut answered, mut heartbeat_at) = (0u64, Instant::now() + interval);
                    while !stop.load(Ordering::Acquire) {
                        match worker.recv_multipart(0) {
                            Ok(request) if request.len() == 3 => {
                                let frames: Vec<&[u8]> = request.iter().map(Vec::as_slice).collect();
                                libzmq_send(&worker, &frames, "a reply");
                                answered += 1;
                            }
                            Ok(heartbeat) => assert_eq!(heartbeat, [ppqueue::ppp::HEARTBEAT], "from ppqueue"),
                            Err(zmq::Error::EAGAIN) => {}
                            Err(e) => panic!("the libzmq worker: {e}"),
                        }
                        if Instant::now() >= heartbeat_at {
                            libzmq_send(&worker, &[ppqueue::ppp::HEARTBEAT], "a heartbeat");
                            heartbeat_at = Instant::now() + interval;
                        }
                    }
                    answered
                })
            };

            let mut config = lpclient::Config::new(&frontend_endpoint);
            config.timeout = PATIENCE;
            config.seconds = Some(Duration::from_millis(100));
            let client = done(lpclient::run(&config, &mut Vec::new()), "lpclient's replies");
            assert!(client.requests > 0, "{client:?}");
            assert_eq!((client.replies, client.retries), (client.requests, 0), "{client:?}");

            stop.store(true, Ordering::Release);
            assert_eq!(joined(working, "the libzmq worker to stop"), client.requests);
            context.shutdown();
            let queue = done(joined(queue, "ppqueue to stop at the shutdown"), "ppqueue");
            assert_eq!(
                (queue.requests, queue.replies),
                (client.requests, client.requests),
                "{queue:?}"
            );
        });
    });
}

/// `lpserver` (without its simulated faults) with a libzmq REQ client
/// sending `lpclient.c`'s numbered requests: each comes back as sent.
#[test]
fn lazy_pirate_server_echoes_a_libzmq_clients_requests() {
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let (server, endpoint) = bound(&context, SocketType::Rep);
            let serving = dhaga::spawn(move || lpserver::serve(&server, None, &mut Vec::new()));

            let ctx = zmq::Context::new();
            let client = libzmq(&ctx, zmq::REQ);
            client.connect(&endpoint).unwrap();
            let asking = thread::spawn(move || {
                for sequence in 1..=5 {
                    let request = sequence.to_string();
                    libzmq_send(&client, &[&request], "a numbered request");
                    assert_eq!(libzmq_recv(&client, "lpserver's reply"), [request.into_bytes()]);
                }
            });
            joined(asking, "the libzmq lpclient");
            context.shutdown();
            let ended = joined(serving, "lpserver to stop at the shutdown");
            assert!(matches!(ended, Err(Error::Terminated)), "{ended:?}");
        });
    });
}

/// `interrupt`'s server with a libzmq REQ client: it answers every
/// "Hello" with "World" and, at the shutdown (what its Ctrl-C does),
/// returns how many it served.
#[test]
fn interrupt_answers_a_libzmq_client_until_the_shutdown() {
    within_limit(|| {
        dhaga::run(|| {
            let context = Context::new();
            let (server, endpoint) = bound(&context, SocketType::Rep);
            let serving = dhaga::spawn(move || interrupt::serve(&server));

            let ctx = zmq::Context::new();
            let client = libzmq(&ctx, zmq::REQ);
            client.connect(&endpoint).unwrap();
            let asking = thread::spawn(move || {
                for _ in 0..3 {
                    libzmq_send(&client, &[b"Hello"], "Hello");
                    assert_eq!(libzmq_recv(&client, "World"), [b"World".to_vec()]);
                }
            });
            joined(asking, "the libzmq client");
            context.shutdown();
            assert_eq!(done(joined(serving, "interrupt's server"), "the shutdown"), 3);
        });
    });
}
