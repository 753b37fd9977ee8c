//! ZMTP heartbeats (RFC 37 §"Connection Heartbeating"), timed as libzmq's
//! `ZMQ_HEARTBEAT_IVL`, `ZMQ_HEARTBEAT_TIMEOUT` and `ZMQ_HEARTBEAT_TTL`
//! time them.
//!
//! Three timers, shared out between a connection's two micro-threads, so
//! that heartbeats need no third one:
//!
//! - **The interval** is the writer's. It already waits for messages; with
//!   heartbeats on it waits with a deadline, the next PING's, and sends the
//!   PING when it wakes (along with messages if some are queued).
//! - **The timeout** is shared. The first PING sent after the peer last
//!   sent anything starts it (the writer's doing); if nothing arrives
//!   before it ends, the connection is hung up (the reader's). The reader
//!   counts its reads in a [`Liveness`], which also holds the timeout, and
//!   with heartbeats on it reads with a timeout: the end of the running
//!   timeout, or, while none runs, the earliest end one could have (the
//!   next PING's time plus the timeout), so that none is missed and an
//!   idle connection wakes once per PING at most. Only the reader judges
//!   silence, at its read's deadline and after a last read there (the
//!   runtime tries a timed-out read once more), so a peer whose answer
//!   arrived in time is never dropped because this side was slow to look
//!   (a loaded machine). The reader's check also ends a
//!   connection whose writer is stuck in a `write` to a peer that no
//!   longer reads, as libzmq's separate timer does.
//! - **The peer's TTL** is the reader's. A PING with a TTL asks us to hang
//!   up if nothing follows it within the TTL; the reader makes it its read
//!   timeout, and anything that arrives clears it.
//!
//! A heartbeat micro-thread beside each connection would cost a stack and
//! its own wake-ups, and would have to be woken whenever a PING's TTL is
//! shorter than its sleep; the reader and the writer already wait, and
//! their waits take deadlines. With heartbeats off there is no [`Pinger`]
//! and no [`Liveness`]: the writer waits without a deadline and the reader
//! counts nothing. A PING from the peer is answered either way: the reader
//! queues the PONG in the outbox's command lane, whatever the application
//! is doing.
//!
//! As in libzmq, only what arrives counts, and anything counts, not just a
//! PONG; and a PING waits its turn behind what the writer is writing (a
//! peer that reads nothing gets no PING, and no timeout starts). One
//! difference: while the reader waits for room in the socket's receive
//! queue (the application is not taking messages), the peer is not held
//! silent, since its bytes are waiting on us; libzmq's timer runs on and
//! drops it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::options::Options;
use crate::zmtp::Command;

/// The unit of a PING's TTL on the wire (RFC 37 §"Connection
/// Heartbeating": "The TTL ... is expressed in tenths of a second").
const TTL_UNIT: Duration = Duration::from_millis(100);

/// What a connection's two micro-threads share about heartbeats: whether
/// the peer has sent anything (its reader counts what it reads), and the
/// heartbeat timeout, if one is running.
pub(crate) struct Liveness {
    /// Reads that brought bytes, and deliveries that waited; only ever
    /// compared with an earlier value.
    reads: AtomicU64,
    /// Set while the reader waits for room to deliver what it read.
    waiting: AtomicBool,
    /// The running heartbeat timeout, and when the next one may start.
    watch: Mutex<Watch>,
    /// How long the peer may stay silent after a PING; `None`: for ever.
    timeout: Option<Duration>,
}

/// What [`Liveness`] keeps under its lock.
struct Watch {
    /// The heartbeat timeout, from the first PING after the peer was last
    /// heard from.
    silence: Option<Silence>,
    /// When the writer sends its next PING (and may start a timeout).
    next_ping: Instant,
}

/// A running heartbeat timeout.
#[derive(Clone, Copy)]
struct Silence {
    end: Instant,
    /// The reads count when it started.
    mark: u64,
    timeout: Duration,
}

impl Liveness {
    fn new(timeout: Option<Duration>, next_ping: Instant) -> Liveness {
        Liveness {
            reads: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            watch: Mutex::new(Watch {
                silence: None,
                next_ping,
            }),
            timeout,
        }
    }

    /// The reader read something.
    pub(crate) fn heard(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// The reader starts or stops waiting for room in the socket: while it
    /// waits, the peer's bytes wait on us and it does not count as silent.
    pub(crate) fn waiting(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::Relaxed);
        if !waiting {
            self.heard();
        }
    }

    /// A value that changes whenever the peer is heard from.
    fn mark(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.watch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A PING went out at `now`, the next is due at `next_ping`: starts the
    /// timeout, unless one is running (or there is none).
    fn pinged(&self, now: Instant, next_ping: Instant) {
        let mut watch = self.lock();
        watch.next_ping = next_ping;
        self.forget_if_heard(&mut watch.silence);
        if let (None, Some(timeout)) = (watch.silence, self.timeout) {
            watch.silence = Some(Silence {
                end: now + timeout,
                mark: self.mark(),
                timeout,
            });
        }
    }

    /// The running timeout's end, unless the peer was heard from since it
    /// started (then it stops).
    #[cfg(test)]
    fn silence_end(&self) -> Option<Instant> {
        self.check().map(|s| s.end)
    }

    /// When the reader must look at the peer's silence next, as seen at
    /// `now`: the running timeout's end; else the earliest end of one that
    /// starts later (the next PING, or now if it is overdue, plus the
    /// timeout); `None` when silence is never punished.
    pub(crate) fn next_look(&self, now: Instant) -> Option<Instant> {
        let mut watch = self.lock();
        self.forget_if_heard(&mut watch.silence);
        match watch.silence {
            Some(silence) => Some(silence.end),
            None => self.timeout.map(|timeout| watch.next_ping.max(now) + timeout),
        }
    }

    /// If the peer has been silent for a whole timeout at `now`: the
    /// timeout.
    pub(crate) fn expired(&self, now: Instant) -> Option<Duration> {
        self.check().filter(|s| now >= s.end).map(|s| s.timeout)
    }

    /// The running timeout, after stopping it if the peer was heard from
    /// (or is waiting on us).
    fn check(&self) -> Option<Silence> {
        let mut watch = self.lock();
        self.forget_if_heard(&mut watch.silence);
        watch.silence
    }

    /// Stops the timeout if the peer was heard from since it started (or is
    /// waiting on us).
    fn forget_if_heard(&self, silence: &mut Option<Silence>) {
        if silence.is_some_and(|s| self.mark() != s.mark || self.waiting.load(Ordering::Relaxed)) {
            *silence = None;
        }
    }
}

/// The writer's side of heartbeats: when to send a PING, which starts the
/// timeout that the reader watches.
pub(crate) struct Pinger {
    interval: Duration,
    /// The PING we send: our TTL, an empty context (as libzmq's).
    ping: Command,
    next_ping: Instant,
    liveness: Arc<Liveness>,
}

impl Pinger {
    /// The heartbeats of a connection that completed its handshake `now`,
    /// if `options` turn them on and the peer speaks ZMTP 3.1 (`minor`
    /// at least 1: PING is not part of 3.0).
    pub(crate) fn new(options: &Options, minor: u8, now: Instant) -> Option<Pinger> {
        let interval = options.heartbeat_ivl.filter(|ivl| !ivl.is_zero())?;
        if minor == 0 {
            return None;
        }
        // `None`: PINGs are sent but silence is never punished (libzmq's
        // `ZMQ_HEARTBEAT_TIMEOUT` of 0).
        let timeout = options.heartbeat_timeout.or(Some(interval)).filter(|t| !t.is_zero());
        let next_ping = now + interval;
        Some(Pinger {
            interval,
            ping: Command::Ping {
                ttl_deciseconds: options.heartbeat_ttl_deciseconds,
                context: Bytes::new(),
            },
            next_ping,
            liveness: Arc::new(Liveness::new(timeout, next_ping)),
        })
    }

    /// What the reader reports to.
    pub(crate) fn liveness(&self) -> Arc<Liveness> {
        Arc::clone(&self.liveness)
    }

    /// When the writer must wake up, with or without messages: the next
    /// PING's time.
    pub(crate) fn deadline(&self) -> Instant {
        self.next_ping
    }

    /// The PING to send, if one is due at `now`.
    pub(crate) fn beat(&mut self, now: Instant) -> Option<Command> {
        if now < self.next_ping {
            return None;
        }
        // As libzmq: the next PING one interval after this one, however
        // late this one is.
        self.next_ping = now + self.interval;
        self.liveness.pinged(now, self.next_ping);
        Some(self.ping.clone())
    }
}

/// A TTL for our PINGs as it goes on the wire, in whole tenths of a second
/// (rounded down, as libzmq does; `None` and anything under 100 ms is 0, no
/// TTL). `None` when it does not fit the 16-bit field (over 6553.5 s).
pub(crate) fn ttl_to_wire(ttl: Option<Duration>) -> Option<u16> {
    let tenths = ttl.map_or(0, |ttl| ttl.as_millis() / TTL_UNIT.as_millis());
    u16::try_from(tenths).ok()
}

/// A PING's TTL: how long the peer may stay silent after it; `None` for 0
/// (no TTL).
pub(crate) fn ttl_from_wire(deciseconds: u16) -> Option<Duration> {
    (deciseconds > 0).then(|| TTL_UNIT * u32::from(deciseconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn options(ivl: u64, timeout: Option<u64>) -> Options {
        Options {
            heartbeat_ivl: Some(MS * ivl as u32),
            heartbeat_timeout: timeout.map(|t| MS * t as u32),
            heartbeat_ttl_deciseconds: 7,
            ..Options::default()
        }
    }

    #[test]
    fn off_without_an_interval_or_with_a_3_0_peer() {
        let now = Instant::now();
        assert!(Pinger::new(&Options::default(), 1, now).is_none());
        assert!(Pinger::new(&options(0, None), 1, now).is_none());
        assert!(Pinger::new(&options(100, None), 0, now).is_none());
        assert!(Pinger::new(&options(100, None), 1, now).is_some());
    }

    #[test]
    fn pings_every_interval_carry_the_ttl() {
        let t0 = Instant::now();
        let mut pinger = Pinger::new(&options(100, None), 1, t0).unwrap();
        assert_eq!(pinger.deadline(), t0 + MS * 100);
        assert!(pinger.beat(t0 + MS * 99).is_none());
        let Some(Command::Ping {
            ttl_deciseconds,
            context,
        }) = pinger.beat(t0 + MS * 100)
        else {
            panic!("a PING is due")
        };
        assert_eq!((ttl_deciseconds, context.len()), (7, 0));
        // A late PING: the next one an interval after it.
        pinger.liveness().heard();
        assert!(pinger.beat(t0 + MS * 250).is_some());
        assert_eq!(pinger.deadline(), t0 + MS * 350);
    }

    #[test]
    fn silence_after_a_ping_for_the_timeout_expires() {
        let t0 = Instant::now();
        let mut pinger = Pinger::new(&options(100, Some(300)), 1, t0).unwrap();
        let liveness = pinger.liveness();
        assert_eq!(liveness.silence_end(), None);
        assert!(pinger.beat(t0 + MS * 100).is_some());
        assert_eq!(liveness.silence_end(), Some(t0 + MS * 400));
        // Later PINGs do not move the timeout, which runs from the first.
        assert!(pinger.beat(t0 + MS * 200).is_some());
        assert!(pinger.beat(t0 + MS * 300).is_some());
        assert_eq!(liveness.silence_end(), Some(t0 + MS * 400));
        assert_eq!(liveness.expired(t0 + MS * 399), None);
        assert_eq!(liveness.expired(t0 + MS * 400), Some(MS * 300));
    }

    #[test]
    fn anything_heard_clears_the_timeout() {
        let t0 = Instant::now();
        let mut pinger = Pinger::new(&options(100, Some(150)), 1, t0).unwrap();
        let liveness = pinger.liveness();
        assert!(pinger.beat(t0 + MS * 100).is_some());
        liveness.heard();
        assert_eq!(liveness.expired(t0 + MS * 250), None);
        assert!(pinger.beat(t0 + MS * 260).is_some());
        // Waiting for room to deliver is not silence either.
        liveness.waiting(true);
        assert_eq!(liveness.expired(t0 + MS * 500), None);
        assert!(pinger.beat(t0 + MS * 500).is_some());
        assert!(pinger.beat(t0 + MS * 700).is_some());
        liveness.waiting(false);
        assert!(pinger.beat(t0 + MS * 900).is_some());
        assert_eq!(liveness.expired(t0 + MS * 1049), None);
        assert_eq!(liveness.expired(t0 + MS * 1050), Some(MS * 150));
    }

    #[test]
    fn the_timeout_defaults_to_the_interval_and_zero_turns_it_off() {
        let t0 = Instant::now();
        let mut pinger = Pinger::new(&options(100, None), 1, t0).unwrap();
        assert!(pinger.beat(t0 + MS * 100).is_some());
        assert_eq!(pinger.liveness().expired(t0 + MS * 200), Some(MS * 100));
        let mut pinger = Pinger::new(&options(100, Some(0)), 1, t0).unwrap();
        for i in 1..10 {
            assert!(pinger.beat(t0 + MS * 100 * i).is_some());
            assert_eq!(pinger.liveness().expired(t0 + MS * 100 * i), None);
        }
    }

    #[test]
    fn the_reader_looks_when_a_timeout_could_first_end() {
        let t0 = Instant::now();
        let mut pinger = Pinger::new(&options(100, Some(30)), 1, t0).unwrap();
        let liveness = pinger.liveness();
        // None runs: the earliest would start with the next PING.
        assert_eq!(liveness.next_look(t0), Some(t0 + MS * 130));
        assert!(pinger.beat(t0 + MS * 100).is_some());
        assert_eq!(liveness.next_look(t0 + MS * 101), Some(t0 + MS * 130));
        // Heard from: the next could start with the next PING, or at once
        // if that is overdue (a writer stuck in a `write`).
        liveness.heard();
        assert_eq!(liveness.next_look(t0 + MS * 110), Some(t0 + MS * 230));
        assert_eq!(liveness.next_look(t0 + MS * 500), Some(t0 + MS * 530));
        // Never punished: nothing to look at.
        let never = Pinger::new(&options(100, Some(0)), 1, t0).unwrap();
        assert_eq!(never.liveness().next_look(t0), None);
    }

    #[test]
    fn ttls_round_down_to_tenths_of_a_second_and_fit_16_bits() {
        assert_eq!(ttl_to_wire(None), Some(0));
        assert_eq!(ttl_to_wire(Some(MS * 99)), Some(0));
        assert_eq!(ttl_to_wire(Some(MS * 1299)), Some(12));
        assert_eq!(ttl_to_wire(Some(MS * 6_553_599)), Some(u16::MAX));
        assert_eq!(ttl_to_wire(Some(MS * 6_553_600)), None);
        assert_eq!(ttl_from_wire(0), None);
        assert_eq!(ttl_from_wire(12), Some(MS * 1200));
        assert_eq!(ttl_from_wire(u16::MAX), Some(MS * 6_553_500));
    }
}
