//! The messaging examples, end to end: each example's logic (the function
//! its `main` calls) runs here in-process, over real TCP sockets on
//! 127.0.0.1, against the example it pairs with.

use std::io::{self, Write};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dhaga::mq::{Error, Socket, SocketType};
use dhaga_testutil::within_limit;

#[allow(dead_code)]
#[path = "../examples/hwclient.rs"]
mod hwclient;
#[allow(dead_code)]
#[path = "../examples/hwserver.rs"]
mod hwserver;
#[allow(dead_code)]
#[path = "../examples/lbbroker.rs"]
mod lbbroker;
#[allow(dead_code)]
#[path = "../examples/mspoller.rs"]
mod mspoller;
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
#[path = "../examples/tasksink.rs"]
mod tasksink;
#[allow(dead_code)]
#[path = "../examples/taskvent.rs"]
mod taskvent;
#[allow(dead_code)]
#[path = "../examples/taskwork.rs"]
mod taskwork;
#[allow(dead_code)]
#[path = "../examples/wuclient.rs"]
mod wuclient;
#[allow(dead_code)]
#[path = "../examples/wuproxy.rs"]
mod wuproxy;
#[allow(dead_code)]
#[path = "../examples/wuserver.rs"]
mod wuserver;

/// A socket of type `socket_type` bound to a free port of 127.0.0.1, and
/// the endpoint to connect to it.
fn bound(socket_type: SocketType) -> (Socket, String) {
    let socket = Socket::new(socket_type);
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.last_endpoint().unwrap();
    (socket, endpoint)
}

fn connected(socket_type: SocketType, endpoint: &str) -> Socket {
    let socket = Socket::new(socket_type);
    socket.connect(endpoint).unwrap();
    socket
}

/// Stops a micro-thread that runs until it is cancelled (a publisher),
/// and checks that it had not ended otherwise.
#[track_caller]
fn cancel<T: std::fmt::Debug>(running: dhaga::JoinHandle<T>) {
    running.cancel();
    match running.join() {
        Err(payload) if payload.is::<dhaga::Cancelled>() => {}
        Err(payload) => panic!("it panicked: {:?}", dhaga_testutil::panic_text(&*payload)),
        Ok(value) => panic!("it ended by itself: {value:?}"),
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
                hwserver::serve(&server, Some(5), &mut out).unwrap();
                String::from_utf8(out).unwrap()
            });

            let client = connected(SocketType::Req, &endpoint);
            let mut out = Vec::new();
            hwclient::run(&client, 5, &mut out).unwrap();

            let expected: String = (0..5)
                .map(|i| format!("Sending Hello {i}…\nReceived World {i}\n"))
                .collect();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
            assert_eq!(serving.join().unwrap(), "Received Hello\n".repeat(5));
        });
    });
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
                tasksink::collect(&results, 1, &mut out).unwrap();
                String::from_utf8(out).unwrap()
            });
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let pull = connected(SocketType::Pull, &vent_endpoint);
                    let push = connected(SocketType::Push, &sink_endpoint);
                    dhaga::spawn(move || {
                        let done = taskwork::work(&pull, &push, Duration::from_secs(30), &mut Vec::new()).unwrap();
                        push.close();
                        done
                    })
                })
                .collect();

            let sink_push = connected(SocketType::Push, &sink_endpoint);
            let mut out = Vec::new();
            let total_ms = taskvent::ventilate(&tasks, &sink_push, TASKS, 5, 7, &mut out).unwrap();
            assert!((u64::from(TASKS)..=5 * u64::from(TASKS)).contains(&total_ms));
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("Sending tasks to workers…\nTotal expected cost: {total_ms} msec\n")
            );

            let report = sink.join().unwrap();
            let (progress, total) = report.split_once('\n').unwrap();
            assert_eq!(progress, ":.........:.........");
            assert!(
                total.starts_with("Total elapsed time: ") && total.ends_with(" msec\n"),
                "{total:?}"
            );

            // Every result is in: stop the workers (round-robin gives each
            // one KILL; one whose connection is gone leaves both to the other).
            tasks.send(taskwork::KILL).unwrap();
            tasks.send(taskwork::KILL).unwrap();
            let done: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
            assert_eq!(done, u64::from(TASKS));
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

            vent.send("3").unwrap();
            vent.send(taskwork::KILL).unwrap();
            let mut out = Vec::new();
            assert_eq!(
                taskwork::work(&pull, &push, Duration::from_secs(30), &mut out).unwrap(),
                1
            );
            assert_eq!(String::from_utf8(out).unwrap(), "3.");
            assert_eq!(sink.recv().unwrap(), "".into());

            vent.send("1").unwrap();
            let mut out = Vec::new();
            let idle = Duration::from_millis(50);
            assert_eq!(taskwork::work(&pull, &push, idle, &mut out).unwrap(), 1);
            assert_eq!(String::from_utf8(out).unwrap(), "1.");
            assert_eq!(sink.recv().unwrap(), "".into());
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
                rrworker::serve(&worker, Some(10), &mut out).unwrap();
                String::from_utf8(out).unwrap()
            });

            let clients: Vec<_> = (0..2)
                .map(|_| {
                    let client = connected(SocketType::Req, &frontend_endpoint);
                    dhaga::spawn(move || {
                        let mut out = Vec::new();
                        hwclient::run(&client, 5, &mut out).unwrap();
                        String::from_utf8(out).unwrap()
                    })
                })
                .collect();
            for client in clients {
                let out = client.join().unwrap();
                assert_eq!(out.matches("Received World").count(), 5, "{out}");
            }
            assert_eq!(serving.join().unwrap(), "Received request: [Hello]\n".repeat(10));
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
            let average = wuclient::collect(&subscriber, PREFIX, n, &mut out).unwrap();
            cancel(server);

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
            cancel(server);
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
                psenvsub::listen(&subscriber, topic, Some(N), &mut out).unwrap();
                cancel(server);
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
                        lbbroker::ask(&client, REQUESTS, &mut out).unwrap();
                        String::from_utf8(out).unwrap()
                    })
                })
                .collect();

            for client in clients {
                assert_eq!(client.join().unwrap(), "Client: OK\n".repeat(REQUESTS as usize));
            }
            assert_eq!(brokering.join().unwrap().unwrap(), CLIENTS * REQUESTS);
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
            let leaving = Socket::new(SocketType::Req);
            leaving.set_routing_id("leaving").unwrap();
            leaving.connect(&backend_endpoint).unwrap();
            leaving.send(lbbroker::READY).unwrap();
            client.send(lbbroker::REQUEST).unwrap();
            let mut request = leaving.recv().unwrap();
            assert_eq!(request.pop_back().unwrap(), lbbroker::REQUEST);
            request.push_back(lbbroker::REPLY);
            leaving.send(request).unwrap();
            assert_eq!(client.recv().unwrap(), lbbroker::REPLY.into());
            leaving.close();
            // Until the backend has seen it go, a message for it would be
            // lost with its connection; then the backend (mandatory
            // routing, set by the broker) refuses one.
            loop {
                match backend.send(dhaga::mq::Msg::from_iter(["leaving", "", "probe"])) {
                    Err(e) if matches!(e.error(), Error::HostUnreachable) => break,
                    Err(e) => panic!("{e}"),
                    Ok(()) => dhaga::yield_now(),
                }
            }

            let staying = connected(SocketType::Req, &backend_endpoint);
            let log = SharedOut::default();
            let mut served = log.clone();
            drop(dhaga::spawn(move || lbbroker::work(&staying, &mut served)));
            let mut out = Vec::new();
            lbbroker::ask(&client, 1, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), "Client: OK\n");
            assert_eq!(log.text(), "Worker: HELLO\n");
            cancel(brokering);
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
            wuclient::collect(&subscriber, "2", NonZeroU64::new(10).unwrap(), &mut out).unwrap();
            cancel(relay);
            cancel(server);
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
                ventilator.send(format!("{i}")).unwrap();
            }
            let counts = poller.join().unwrap().unwrap();
            cancel(server);
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
