//! A ZMTP connection's reader: the micro-thread that, once the handshake
//! is over, reads. Each `read` takes whatever bytes have arrived (up to
//! 64 KiB, or the rest of a large frame) straight into the input buffer,
//! and the decoder turns them into as many frames as they hold, each a view
//! of that buffer; whole messages go to the socket in batches. With
//! heartbeats on, the reader also hangs up on a peer silent since one of
//! our PINGs (see `heartbeat.rs`).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::heartbeat::{Liveness, ttl_from_wire};
use super::session::{Attached, End, FIRST_READ, MAX_READ, Turn};
use crate::socket::core::{Core, Delivered};
use crate::socket::pattern::subscription_msg;
use crate::socket::pipe::{Outbox, PipeId};
use crate::transport::Stream;
use crate::zmtp::{Command, Decoder, Item, MAX_HEADER_LEN, Metadata, ProtocolError};
use crate::{Msg, SocketType};

/// Decodes frames into messages and hands them to the socket in batches.
/// With heartbeats on, tells the writer whenever the peer is heard from
/// (`liveness`).
///
/// A PING with a TTL (RFC 37) asks us to hang up if nothing follows it
/// within the TTL: its end bounds the reads until something arrives (bytes,
/// or anything decoded after the PING), which clears it until the next
/// such PING, as in libzmq. With heartbeats on, the reads are bounded by
/// our own heartbeat timeout too (or, while none runs, by the earliest end
/// one could have), and the reader hangs up when it expires: the writer,
/// which starts it, may be stuck in a `write` to a peer that stopped
/// reading. Both are judged at the read's deadline, after the runtime's
/// last read there, not at the time the reader gets to look (which, on a
/// loaded machine, may be later than bytes that came in time).
pub(super) struct Reader<'a> {
    core: &'a Core,
    stream: &'a Stream,
    pipe: PipeId,
    /// Where a PING's PONG goes.
    outbox: &'a Outbox,
    /// What was read and not decoded yet.
    input: BytesMut,
    decoder: Decoder,
    /// What every message from this peer carries (`Msg::property`).
    properties: &'a Arc<Metadata>,
    liveness: Option<&'a Liveness>,
    /// PUB, XPUB: subscriptions travel on as messages.
    publishes: bool,
    /// The frames so far of the message being decoded.
    partial: Msg,
    /// Whole messages decoded, not handed to the socket yet.
    batch: VecDeque<Msg>,
    /// When the peer's TTL runs out.
    ttl_end: Option<Instant>,
    /// The read timeout set now.
    read_timeout: Option<Duration>,
    /// How much a read asks for (see [`FIRST_READ`]).
    read_size: usize,
    turn: Turn,
}

impl<'a> Reader<'a> {
    /// A reader of the `attached` connection, which starts with `input`
    /// (what the handshake read past its end) and decodes with `decoder`.
    pub(super) fn new(
        attached: &'a Attached<'_>,
        input: BytesMut,
        decoder: Decoder,
        properties: &'a Arc<Metadata>,
        liveness: Option<&'a Liveness>,
    ) -> Reader<'a> {
        Reader {
            core: attached.core,
            stream: attached.stream,
            pipe: attached.pipe,
            outbox: &attached.outbox,
            input,
            decoder,
            properties,
            liveness,
            publishes: matches!(attached.core.socket_type, SocketType::Pub | SocketType::XPub),
            partial: Msg::new(),
            batch: VecDeque::new(),
            ttl_end: None,
            read_timeout: None,
            read_size: FIRST_READ,
            turn: Turn::default(),
        }
    }

    /// Reads until the connection ends; returns why it did.
    pub(super) fn run(mut self) -> End {
        loop {
            if let Err(end) = self.step() {
                return end;
            }
        }
    }

    /// One round: decodes what was read, hands the messages to the
    /// socket, reads more.
    fn step(&mut self) -> Result<(), End> {
        self.decode_all()?;
        self.hand_over()?;
        self.read()
    }

    /// Decodes everything `input` holds: whole messages into `batch`,
    /// commands handled.
    fn decode_all(&mut self) -> Result<(), End> {
        loop {
            let item = self.decoder.decode(&mut self.input);
            self.turn.did(1);
            match item {
                Ok(Some(item)) => {
                    // Anything decoded after a PING clears its TTL (a PING
                    // with a TTL sets a new one: `on_item`).
                    self.ttl_end = None;
                    self.on_item(item)?;
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    // Whole messages that came before the violation are
                    // delivered, as libzmq does.
                    if !self.batch.is_empty() {
                        self.core.deliver(self.pipe, &mut self.batch);
                    }
                    return Err(End::Lost(format!("protocol error: {e}")));
                }
            }
        }
    }

    /// Takes a decoded frame or command.
    fn on_item(&mut self, item: Item) -> Result<(), End> {
        match item {
            Item::Frame { more, body } => {
                self.partial.push_back(body);
                if !more {
                    self.partial.set_properties(self.properties);
                    self.batch.push_back(std::mem::take(&mut self.partial));
                }
            }
            // A subscription travels on as a message, the form a 3.0
            // peer sends and XPUB's user receives (see `pubsub.rs`).
            Item::Command(Command::Subscribe(prefix)) if self.publishes => {
                self.batch.push_back(subscription_msg(true, &prefix));
            }
            Item::Command(Command::Cancel(prefix)) if self.publishes => {
                self.batch.push_back(subscription_msg(false, &prefix));
            }
            Item::Command(command) => {
                if let Command::Ping { ttl_deciseconds, .. } = command {
                    self.ttl_end = ttl_from_wire(ttl_deciseconds).map(|ttl| Instant::now() + ttl);
                }
                if let Some(error) = on_command(command, self.outbox) {
                    return Err(End::Lost(format!("protocol error: {error}")));
                }
            }
        }
        Ok(())
    }

    /// Hands the decoded messages to the socket; the connection ends if
    /// the pipe is gone.
    fn hand_over(&mut self) -> Result<(), End> {
        if self.batch.is_empty() || matches!(self.deliver(), Delivered::All) {
            return Ok(());
        }
        if !self.core.is_closed() {
            // The pipe is gone (disconnected or unbound).
            return Err(End::Closed);
        }
        // The socket closed: nothing more is delivered, but reading
        // goes on until the peer closes. Shutting the read side instead
        // would tell an ipc peer, whose kernel reports it with the
        // half-close that follows as a hang-up; libzmq then drops what
        // it had not read yet if its input is paused.
        self.batch.clear();
        Ok(())
    }

    /// Hands `batch` to the socket. While that waits for room, the peer is
    /// not silent (its bytes wait on us), which the heartbeat timeout must
    /// know.
    fn deliver(&mut self) -> Delivered {
        let Some(liveness) = self.liveness else {
            return self.core.deliver(self.pipe, &mut self.batch);
        };
        liveness.waiting(true);
        let delivered = self.core.deliver(self.pipe, &mut self.batch);
        liveness.waiting(false);
        delivered
    }

    /// Reads what the peer sent next into `input`, waiting no longer than
    /// the peer's TTL and our heartbeat timeout let it.
    fn read(&mut self) -> Result<(), End> {
        let read_from = Instant::now();
        self.time_read_from(read_from);
        let missing = self.decoder.missing(&self.input);
        // Never 0, so a read of 0 bytes is the end of the stream.
        let room = make_room(&mut self.input, missing, self.read_size);
        let read = self.stream.read_buf(&mut self.input);
        self.turn.did(1);
        match read {
            Ok(0) => Err(End::Lost("the peer closed the connection".to_owned())),
            Ok(n) => {
                self.heard(n, room);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                self.check_silence(read_from)
            }
            Err(e) => Err(End::Lost(e.to_string())),
        }
    }

    /// Sets the timeout of a read starting `now` (see
    /// [`read_timeout_for`]), if it changed.
    fn time_read_from(&mut self, now: Instant) {
        let timeout = read_timeout_for(now, self.ttl_end, self.liveness);
        if timeout != self.read_timeout {
            self.read_timeout = timeout;
            let _ = self.stream.set_read_timeout(self.read_timeout);
        }
    }

    /// A read brought `n` bytes, where there was `room` for them: reads
    /// that fill it grow, and the peer was heard from.
    fn heard(&mut self, n: usize, room: usize) {
        if n == room && self.read_size < MAX_READ {
            self.read_size *= 2;
        }
        self.ttl_end = None;
        if let Some(liveness) = self.liveness {
            liveness.heard();
        }
    }

    /// Nothing came by the deadline of the read started at `read_from`
    /// (the runtime tried once more after it): whether the peer's TTL or
    /// our heartbeat timeout has run out is judged there, not now.
    fn check_silence(&self, read_from: Instant) -> Result<(), End> {
        let deadline = self
            .read_timeout
            .map_or_else(Instant::now, |timeout| read_from + timeout);
        if self.ttl_end.is_some_and(|end| deadline >= end) {
            return Err(End::Lost("nothing received within the peer's heartbeat TTL".to_owned()));
        }
        if let Some(timeout) = self.liveness.and_then(|l| l.expired(deadline)) {
            return Err(End::Lost(format!(
                "nothing received within the heartbeat timeout ({timeout:?}) after a PING"
            )));
        }
        // Only a check: nothing has run out yet.
        Ok(())
    }
}

/// Makes room in `input`, whose front item (what the decoder left) lacks
/// `missing` bytes (0: not known, or nothing begun), for the next read;
/// returns the room there is (never 0), all of which the read may fill.
///
/// A frame larger than `read_size` gets room for its rest (at most
/// [`MAX_READ`], whatever its header says: a peer's word alone never makes
/// us reserve more) and for the header of the frame after it, and no more
/// if the buffer must grow: so the read ends where the frame does, the next
/// read starts with the next frame's header, and a 64 KiB frame takes one
/// read and is not copied. Otherwise the room is `read_size`, reserved only
/// once less than half of it is left, so that reads of a few small
/// messages do not reallocate the buffer each time.
///
/// Growing the buffer copies only what it holds that the decoder has not
/// taken yet: part of one frame (frames already decoded are views of the
/// old buffer, which lives on until they are dropped).
pub(super) fn make_room(input: &mut BytesMut, missing: usize, read_size: usize) -> usize {
    let spare = input.capacity() - input.len();
    if missing > 0 && input.len() + missing > read_size {
        let room = missing.min(MAX_READ) + MAX_HEADER_LEN;
        if spare < room {
            input.reserve(room);
        }
    } else if spare < read_size / 2 {
        input.reserve(read_size);
    }
    input.capacity() - input.len()
}

/// How long the reader's next `read`, starting `now`, may wait: until the
/// peer's TTL runs out, or (heartbeats on) until our heartbeat timeout may
/// end ([`Liveness::next_look`]); without either, for ever.
fn read_timeout_for(now: Instant, ttl_end: Option<Instant>, liveness: Option<&Liveness>) -> Option<Duration> {
    let look = liveness.and_then(|l| l.next_look(now));
    let wake = match (ttl_end, look) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    // A zero timeout would mean "none"; and something has run out already.
    Some(wake.saturating_duration_since(now).max(Duration::from_millis(1)))
}

/// Handles a command that arrived after the handshake; `Some(error)`
/// drops the peer.
fn on_command(command: Command, outbox: &Outbox) -> Option<ProtocolError> {
    match command {
        Command::Ready(_) => Some(ProtocolError::CommandAfterHandshake("READY".to_owned())),
        Command::Error { reason } => Some(ProtocolError::PeerError(reason)),
        // A peer with heartbeats on (libzmq's ZMQ_HEARTBEAT_IVL) drops us
        // unless we answer its PING with a PONG echoing its context (RFC 37
        // §"Connection Heartbeat"). (Its TTL is the reader's business.)
        Command::Ping { context, .. } => {
            outbox.owe_pong(context);
            None
        }
        // Subscriptions mean nothing to a socket that does not publish;
        // PONG answers a PING we did not send; unknown commands are
        // ignored (RFC 37).
        Command::Pong { .. } | Command::Subscribe(_) | Command::Cancel(_) | Command::Unknown { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::{FIRST_READ, MAX_HEADER_LEN, MAX_READ, make_room};

    #[test]
    fn the_rest_of_a_64_kib_frame_gets_room_for_one_read() {
        // The header and a little of the body came with the last read.
        let mut input = BytesMut::from(&[0u8; MAX_HEADER_LEN + 100][..]);
        let missing = 64 * 1024 - 100;
        let room = make_room(&mut input, missing, MAX_READ);
        assert!(room >= missing + MAX_HEADER_LEN, "room for {room} bytes");
    }

    #[test]
    fn a_huge_declared_frame_reserves_no_more_than_a_large_read() {
        let mut input = BytesMut::from(&[0u8; MAX_HEADER_LEN][..]);
        let room = make_room(&mut input, 1 << 40, FIRST_READ);
        assert!(room >= MAX_READ, "room for {room} bytes");
        assert!(
            input.capacity() <= 2 * (MAX_READ + 2 * MAX_HEADER_LEN),
            "{} bytes reserved",
            input.capacity()
        );
    }

    #[test]
    fn small_reads_reuse_the_room_left() {
        let mut input = BytesMut::new();
        let room = make_room(&mut input, 0, FIRST_READ);
        assert!(room >= FIRST_READ);
        let at = input.as_ptr();
        // A few small messages came and were decoded: half the room is left.
        input.extend_from_slice(&[0; 100]);
        let _ = input.split();
        assert!(make_room(&mut input, 0, FIRST_READ) >= FIRST_READ / 2);
        assert_eq!(input.as_ptr(), at.wrapping_add(100), "the buffer was replaced");
    }
}
