//! A ZMTP connection's writer: a micro-thread that takes everything the
//! socket queued for its peer at once and sends it in one `write` (or a
//! few: large frames go out from their own buffers, gathered), sealed
//! when the connection is encrypted (CURVE). With heartbeats on it also
//! sends the PINGs (see `heartbeat.rs`).

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::ops::Range;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::heartbeat::Pinger;
use super::session::{MAX_IOVECS, TURN, Turn};
use crate::socket::pattern::subscription_msg;
use crate::socket::pipe::{Batch, Next, Outbox, Take};
use crate::transport::Stream;
use crate::zmtp::{Command, MAX_HEADER_LEN, ProtocolError, Sealer, encode_command, encode_frame, encode_frame_header};

/// Frames at least this big are written from their own buffer instead of
/// being copied into the batch.
const LARGE_FRAME: usize = 32 * 1024;

/// Writes what the socket queues for this peer, each batch in one write,
/// until told to stop, or until the socket closed and the queue is empty.
/// Subscriptions are written in the form the peer's ZMTP version (3.`minor`)
/// knows. With heartbeats on (`pinger`), wakes up for each PING too (the
/// reader judges whether the peer answers).
pub(super) fn write_loop(
    stream: &Stream,
    outbox: &Outbox,
    minor: u8,
    mut pinger: Option<Pinger>,
    mut sealer: Option<Sealer>,
) {
    let mut out = BytesMut::new();
    let mut turn = Turn::default();
    loop {
        let mut batch = match outbox.take_until(pinger.as_ref().map(Pinger::deadline)) {
            Take::Msgs(batch) => batch,
            Take::Idle => Batch::default(),
            Take::Stop => return,
            Take::Drained => {
                drained(stream, outbox);
                return;
            }
        };
        if let Some(ping) = pinger.as_mut().and_then(|p| p.beat(Instant::now())) {
            batch.push_command_first(ping);
        }
        if batch.is_empty() {
            continue;
        }
        // After close, everything must be written by the linger deadline,
        // which the writer keeps itself, write by write (the timer `close`
        // starts runs on the closing caller's runtime, which may end first).
        let written = match &mut sealer {
            None => write_batch(stream, &mut out, &batch, minor, outbox),
            Some(sealer) => write_sealed(stream, &mut out, &batch, minor, outbox, sealer),
        };
        if let Err(e) = written {
            log::debug!("{}: write failed: {e}", stream.peer());
            // Wake the reader so the connection ends.
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        turn.did(1 + u32::try_from(batch.msgs.len()).unwrap_or(TURN));
    }
}

/// Ends the writing of a closed socket's connection once everything is
/// written: half-closes, as TCP's orderly release does. The peer reads what
/// is left, sees the end and closes its side, which ends the connection's
/// reader. (Hanging up both directions at once makes libzmq drop an ipc
/// connection's unread messages when its input is paused at the high-water
/// mark.) A peer that never closes is cut off at the linger deadline: by
/// the timer `close` starts, and here too, should that timer's runtime have
/// ended.
fn drained(stream: &Stream, outbox: &Outbox) {
    let _ = stream.shutdown(Shutdown::Write);
    if let Some(deadline) = outbox.linger_deadline()
        && !outbox.stopped_by(deadline)
    {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// The message a command goes to a peer of ZMTP 3.`minor` as, if it does:
/// 3.0 has no subscription commands, so a 3.0 peer gets them as messages
/// (RFC 37, "Publish-Subscribe Pattern").
fn as_message_for(command: &Command, minor: u8) -> Option<Bytes> {
    match command {
        Command::Subscribe(prefix) | Command::Cancel(prefix) if minor == 0 => {
            let subscribe = matches!(command, Command::Subscribe(_));
            subscription_msg(subscribe, prefix).pop_front()
        }
        _ => None,
    }
}

/// How much a CURVE batch encrypts before writing it: the frames are copied
/// while they are sealed, so a batch of large messages goes out in pieces
/// of about this size instead of all at once.
const SEALED_CHUNK: usize = 256 * 1024;

/// Seals `batch` into MESSAGEs (CURVE) and writes them, in pieces of about
/// [`SEALED_CHUNK`]. After the socket closed, by `outbox`'s linger
/// deadline.
fn write_sealed(
    stream: &Stream,
    out: &mut BytesMut,
    batch: &Batch,
    minor: u8,
    outbox: &Outbox,
    sealer: &mut Sealer,
) -> io::Result<()> {
    let exhausted = |e: ProtocolError| io::Error::other(e.to_string());
    out.clear();
    for next in batch.in_order() {
        let msg = match next {
            Next::Command(command) => {
                match as_message_for(command, minor) {
                    Some(frame) => sealer
                        .seal(out, false, false, frame.len(), |out| out.extend_from_slice(&frame))
                        .map_err(exhausted)?,
                    None => sealer
                        .seal(out, false, true, command.body_len(), |out| command.write_body(out))
                        .map_err(exhausted)?,
                }
                continue;
            }
            Next::Msg(msg) => msg,
        };
        let last = msg.len() - 1;
        for (i, frame) in msg.iter().enumerate() {
            sealer
                .seal(out, i < last, false, frame.len(), |out| out.extend_from_slice(frame))
                .map_err(exhausted)?;
        }
        if out.len() >= SEALED_CHUNK {
            stream.write_all_vectored(&mut [IoSlice::new(out)], || outbox.linger_deadline())?;
            out.clear();
        }
    }
    if !out.is_empty() {
        stream.write_all_vectored(&mut [IoSlice::new(out)], || outbox.linger_deadline())?;
    }
    Ok(())
}

/// Encodes `batch` and writes it with as few `writev`s as possible:
/// headers, commands and small frames are copied into `out`, large frames
/// go out from their own buffers, all gathered. After the socket closed, by
/// `outbox`'s linger deadline.
fn write_batch(stream: &Stream, out: &mut BytesMut, batch: &Batch, minor: u8, outbox: &Outbox) -> io::Result<()> {
    /// A piece of the batch: a stretch of `out`, or a large frame.
    enum Piece<'a> {
        Encoded(Range<usize>),
        Frame(&'a [u8]),
    }
    out.clear();
    let mut pieces = Vec::new();
    let mut encoded_from = 0;
    for next in batch.in_order() {
        let msg = match next {
            Next::Command(command) => {
                match as_message_for(command, minor) {
                    Some(frame) => encode_frame(out, false, &frame),
                    None => encode_command(out, command),
                }
                continue;
            }
            Next::Msg(msg) => msg,
        };
        let last = msg.len() - 1;
        for (i, frame) in msg.iter().enumerate() {
            let more = i < last;
            if frame.len() >= LARGE_FRAME {
                let mut header = [0u8; MAX_HEADER_LEN];
                let n = encode_frame_header(more, frame.len(), &mut header);
                out.extend_from_slice(&header[..n]);
                pieces.push(Piece::Encoded(encoded_from..out.len()));
                pieces.push(Piece::Frame(frame));
                encoded_from = out.len();
            } else {
                encode_frame(out, more, frame);
            }
        }
    }
    if encoded_from < out.len() {
        pieces.push(Piece::Encoded(encoded_from..out.len()));
    }
    // `out` is complete: the stretches can be borrowed now.
    for chunk in pieces.chunks(MAX_IOVECS) {
        let mut slices: Vec<IoSlice<'_>> = chunk
            .iter()
            .map(|piece| match piece {
                Piece::Encoded(range) => IoSlice::new(&out[range.clone()]),
                Piece::Frame(frame) => IoSlice::new(frame),
            })
            .collect();
        stream.write_all_vectored(&mut slices, || outbox.linger_deadline())?;
    }
    Ok(())
}
