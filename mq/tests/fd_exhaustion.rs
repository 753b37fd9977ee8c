//! Descriptor exhaustion by peers that never finish their handshake: a
//! server in a child process whose `RLIMIT_NOFILE` leaves it about 100
//! free descriptors (as `ulimit -n 128` does to a fresh process), and more
//! connections than that, from this process, dripping their greeting one
//! byte at a time. The server accepts until it has no descriptor left;
//! the handshake interval must end each of those connections however
//! slowly its bytes come, so that the server accepts again and a real
//! client is served. (When each byte restarted the wait, nobody was served
//! again.)

mod util;

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_mq::{Msg, Socket, SocketType};
use dhaga_testutil::{
    CHILD_ENV, HANG_LIMIT, PATIENCE, child_role, highest_open_fd, nofile_limit, set_nofile_soft_limit, wait_until,
};

const TEST: &str = "dripping_handshakes_that_take_every_descriptor_are_cut_off_and_clients_served_again";
const ROLE: &str = "fd-exhaustion-server";

/// Descriptors the server is left above its highest open one (and the
/// holes below it).
const FREE: u64 = 100;

/// Dripping connections beyond the server's free descriptors.
const MORE_ATTACKERS: usize = 50;

/// The server's handshake interval: short, so the test is.
const HANDSHAKE_IVL: Duration = Duration::from_millis(500);

/// The attackers' pace: one byte per connection this often, well within
/// the handshake interval.
const DRIP: Duration = Duration::from_millis(100);

#[test]
fn dripping_handshakes_that_take_every_descriptor_are_cut_off_and_clients_served_again() {
    if child_role().as_deref() == Some(ROLE) {
        server();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, ROLE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server's process");
    let _reaper = Reaper(child.id());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut free = None;
    let endpoint = loop {
        let line = lines
            .next()
            .expect("the server's process ended before it listened")
            .unwrap();
        eprintln!("{line}");
        if let Some(n) = line.strip_prefix("fd: free descriptors ") {
            free = n.parse::<usize>().ok();
        }
        if let Some(endpoint) = line.strip_prefix("fd: listening on ") {
            break endpoint.to_owned();
        }
    };
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    // More connections than the server can accept.
    let attackers = free.expect("the server reported its free descriptors") + MORE_ATTACKERS;
    let attackers: Vec<TcpStream> = (0..attackers)
        .map(|_| TcpStream::connect(&addr).expect("an attacker's connection (the backlog holds them all)"))
        .collect();
    let dripping = Arc::new(AtomicBool::new(true));
    let cut_off = Arc::new(AtomicUsize::new(0));
    let dripper = {
        let (dripping, cut_off) = (Arc::clone(&dripping), Arc::clone(&cut_off));
        thread::spawn(move || drip(attackers, &dripping, &cut_off))
    };
    // The real client's connection waits in the server's accept queue
    // behind every attacker's: the server reaches it only after it has run
    // out of descriptors, and only if it cuts the dripping handshakes off.
    // Its reader thread drains the server's output.
    thread::spawn(move || lines.map_while(Result::ok).for_each(|line| eprintln!("{line}")));
    let started = Instant::now();
    let req = Socket::new(SocketType::Req);
    req.set_recv_timeout(Some(PATIENCE));
    req.set_send_timeout(Some(PATIENCE));
    req.connect(&endpoint).unwrap();
    req.send("served?").unwrap();
    let reply = req.recv().unwrap_or_else(|e| {
        panic!("the real client was not served within {PATIENCE:?} while connections dripped their handshakes: {e}")
    });
    assert_eq!(reply, Msg::from("served?"));
    eprintln!(
        "fd: the real client was served {:?} after the attackers connected (handshake interval {HANDSHAKE_IVL:?})",
        started.elapsed()
    );
    // The dripper sees a connection cut off at its second write after the
    // server closed it (the first draws the reset).
    wait_until("the dripper to see a connection the server cut off", || {
        cut_off.load(Ordering::Relaxed) > 0
    });
    dripping.store(false, Ordering::Release);
    dripper.join().unwrap();
    eprintln!(
        "fd: the dripper saw {} connections cut off",
        cut_off.load(Ordering::Relaxed)
    );
    req.send("bye").unwrap();
    assert_eq!(req.recv().unwrap(), Msg::from("bye"));
    let status = wait_within(child, HANG_LIMIT);
    assert!(status.success(), "the server's process failed: {status}");
}

/// The server's process: a REP echoing requests until "bye", with few
/// descriptors.
fn server() {
    let rep = Socket::new(SocketType::Rep);
    rep.set_handshake_ivl(HANDSHAKE_IVL);
    // Every attacker waits in the accept queue, none in a half-open limbo
    // past it (which the kernel resets on its own).
    rep.set_backlog(4096);
    rep.set_recv_timeout(Some(HANG_LIMIT));
    rep.set_send_timeout(Some(PATIENCE));
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let limit = highest_open_fd() + 1 + FREE;
    assert!(
        nofile_limit().1 >= limit,
        "the hard limit on open files is under {limit}"
    );
    set_nofile_soft_limit(limit);
    // Descriptors are numbered from the lowest free one: below the limit,
    // those not open are free (the holes under the highest one too).
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    println!("fd: RLIMIT_NOFILE lowered to {limit}");
    println!("fd: free descriptors {}", limit.saturating_sub(open));
    println!("fd: listening on {}", rep.last_endpoint().unwrap());
    loop {
        let request = rep.recv().expect("a request");
        rep.send(request.clone()).expect("the reply");
        if request == Msg::from("bye") {
            break;
        }
    }
}

/// Sends the next byte of a handshake that never ends on every
/// connection each [`DRIP`] (the attack's pace, not an ordering),
/// dropping (and counting in `cut_off`) those the server cut off, until
/// told to stop.
fn drip(mut attackers: Vec<TcpStream>, dripping: &AtomicBool, cut_off: &AtomicUsize) {
    // A valid greeting, then the start of a command announcing 60,000
    // bytes (under the handshake's limit): it never ends and never breaks
    // the protocol.
    let mut bytes = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1];
    bytes.extend_from_slice(b"NULL");
    bytes.resize(64, 0);
    bytes.push(0x06);
    bytes.extend_from_slice(&60_000u64.to_be_bytes());
    bytes.resize(bytes.len() + 60_000, b'x');
    let mut next = 0;
    while dripping.load(Ordering::Acquire) && next < bytes.len() {
        attackers.retain_mut(|stream| match stream.write(&bytes[next..=next]) {
            Ok(_) => true,
            Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
                cut_off.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(e) => panic!("drip: {e}"),
        });
        next += 1;
        thread::sleep(DRIP);
    }
}

/// Waits for `child` to exit, for at most `limit` (on a thread of its own,
/// reporting on a channel).
fn wait_within(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|e| panic!("waited {limit:?} for the server's process to exit: {e}"))
        .expect("wait for the server's process")
}

/// Kills the server's process if the test fails before it exits.
struct Reaper(u32);

impl Drop for Reaper {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our
        // child's, not reaped before this runs unless it exited (then the
        // signal goes nowhere or, at worst, to a recycled pid of ours only
        // within this process's lifetime — the test ends right after).
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
    }
}
