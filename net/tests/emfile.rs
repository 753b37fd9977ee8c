//! `accept` under file-descriptor exhaustion: in a child process whose
//! `RLIMIT_NOFILE` is lowered, connections fill the descriptor table while
//! they wait in the listener's queue, so that `accept` meets `EMFILE`. The
//! accepting micro-thread must back off without spinning (the process's CPU
//! time stays small over a fixed wait), serve as many connections as there
//! are descriptors freed, back off again, and keep serving — the listener
//! never ends.

mod util;

use std::io::{self, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_net::{TcpListener, TcpStream};
use dhaga_runtime::sync::{Receiver, bounded, unbounded};

use util::RecvWithin;

const TEST: &str = "accept_backs_off_under_fd_exhaustion_and_keeps_serving";
const ROLE: &str = "emfile";

/// Free descriptors left above the highest open one when the limit is
/// lowered: the number of connections that fill the table (fewer than any
/// listen backlog, so they all wait in the queue).
const SPARE: u64 = 40;

/// How long the process is watched for spinning while `accept` is starved.
const WATCH: Duration = Duration::from_millis(800);

#[test]
fn accept_backs_off_under_fd_exhaustion_and_keeps_serving() {
    if util::child_role().as_deref() == Some(ROLE) {
        child();
        return;
    }
    let out = util::run_child(TEST, ROLE);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the child failed\n{}", util::describe(&out));
    assert!(
        stdout.contains("EMFILE CHILD OK"),
        "the child did not finish its checks\n{}",
        util::describe(&out)
    );
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("emfile:") || l.starts_with("EMFILE"))
    {
        eprintln!("{line}");
    }
}

/// Watches the process for [`WATCH`] while the accepting micro-thread is
/// starved of descriptors, and fails if it used more than a quarter of that
/// in CPU time: a spinning `accept` would use all of it.
fn assert_no_spin(phase: &str) {
    let cpu0 = util::process_cpu_time();
    let wall0 = Instant::now();
    // Not an ordering sleep: a measurement window, the behaviour under test
    // (time passing with nothing to accept but a full descriptor table).
    // Nothing is waited for; CPU time is read at both ends.
    thread::sleep(WATCH);
    let cpu = util::process_cpu_time() - cpu0;
    let wall = wall0.elapsed();
    println!("emfile: {phase}: {cpu:?} of CPU over {wall:?}");
    assert!(
        cpu < wall / 4,
        "{phase}: the process used {cpu:?} of CPU in {wall:?} while accept was starved of descriptors: it spins"
    );
}

/// Receives `n` accepted streams (counting the errors `incoming` gave in
/// between) and returns them.
fn take_accepted(rx: &Receiver<io::Result<TcpStream>>, n: usize, errors: &mut usize) -> Vec<TcpStream> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match rx.recv_timeout(util::PATIENCE) {
            Ok(Ok(s)) => got.push(s),
            Ok(Err(e)) => {
                assert!(
                    util::is_fd_exhaustion(&e),
                    "accept failed with something else than EMFILE: {e}"
                );
                *errors += 1;
            }
            Err(e) => panic!(
                "waited {:?} for accepted connection {} of {n}: the listener stopped serving ({e:?})",
                util::PATIENCE,
                got.len() + 1
            ),
        }
    }
    got
}

fn child() {
    let rt = util::runtime(2);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();

    let limit = util::highest_open_fd() + 1 + SPARE;
    util::set_nofile_soft_limit(limit);
    println!("emfile: RLIMIT_NOFILE lowered to {limit}");
    // Fill every free descriptor below the limit (there may be holes under
    // the highest one), then free exactly SPARE of them.
    let mut filler = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) if util::is_fd_exhaustion(&e) => break,
            Err(e) => panic!("open /dev/null: {e}"),
        }
    }
    assert!(
        filler.len() as u64 >= SPARE,
        "only {} descriptors were free",
        filler.len()
    );
    filler.truncate(filler.len() - SPARE as usize);

    // Connect until the table is full. Each connection costs the client one
    // descriptor; nobody accepts yet, so they all wait in the listener's
    // queue.
    let mut clients = Vec::new();
    loop {
        match StdTcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(c) => clients.push(c),
            Err(e) if util::is_fd_exhaustion(&e) => break,
            Err(e) => panic!("connect {} (is the listen backlog below {SPARE}?): {e}", clients.len()),
        }
        assert!(
            clients.len() as u64 <= limit,
            "{} connections under a limit of {limit}",
            clients.len()
        );
    }
    let pending = clients.len();
    println!("emfile: {pending} connections wait, the descriptor table is full");
    assert!(pending >= 4, "too few connections wait for accept: {pending}");

    // Now the server starts: a typical accept loop, which reports what
    // `incoming` gives and goes on. It has no descriptor to accept with.
    let (tx, rx) = unbounded::<io::Result<TcpStream>>();
    let (started_tx, started_rx) = bounded::<()>(1);
    let _server = rt.spawn(move || {
        started_tx.send(()).unwrap();
        for s in l.incoming() {
            if tx.send(s).is_err() {
                return;
            }
        }
        unreachable!("incoming never ends");
    });
    let mut errors = 0usize;

    // The watch starts once the server runs, so that it watches the server.
    started_rx.recv_within("the accept loop to start");
    assert_no_spin("starved");

    // Free a few descriptors: exactly that many waiting connections are
    // served (the accepted streams are kept, so the table fills again).
    let freed = pending / 2;
    let waiting: Vec<_> = clients.drain(..freed).collect();
    drop(waiting);
    let mut kept = take_accepted(&rx, freed, &mut errors);
    println!("emfile: {freed} descriptors freed, {freed} connections accepted");

    assert_no_spin("starved again after serving");

    // Free everything: the rest of the queue is served, then a new
    // connection is.
    drop(clients);
    kept.clear();
    let rest = take_accepted(&rx, pending - freed, &mut errors);
    drop(rest);

    let mut c = StdTcpStream::connect(addr).expect("connect once descriptors are free");
    let mut s = take_accepted(&rx, 1, &mut errors).pop().unwrap();
    s.set_read_timeout(Some(util::PATIENCE)).unwrap();
    c.set_read_timeout(Some(util::PATIENCE)).unwrap();
    c.write_all(b"still serving").unwrap();
    let mut buf = [0u8; 13];
    s.read_exact(&mut buf)
        .expect("the client's bytes on the accepted stream");
    assert_eq!(&buf, b"still serving");
    s.write_all(b"yes").unwrap();
    let mut yes = [0u8; 3];
    c.read_exact(&mut yes).expect("the server's answer on the client");
    assert_eq!(&yes, b"yes");

    println!("emfile: {errors} errors reported by incoming along the way");
    drop(filler);
    println!("EMFILE CHILD OK");
}
