//! A raw ZMTP 3.1 (or 3.0) peer over `std::net` for the tests that check
//! bytes on the wire (bad peers, heartbeats, monitor events,
//! subscriptions): it writes the handshake and frames byte by byte, so a
//! test says exactly what the other side sends, and when it falls silent.
#![allow(dead_code, reason = "each test file uses a part")]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use dhaga_testutil::{PATIENCE, wait_until};

/// Frame flag bits (RFC 23 §"Framing"): more frames follow, an 8-byte
/// size, a command.
const MORE: u8 = 0x01;
const LONG: u8 = 0x02;
const COMMAND: u8 = 0x04;

/// A ZMTP 3.1 NULL greeting (RFC 23 §"The Greeting").
pub(crate) fn greeting() -> Vec<u8> {
    greeting_of(1)
}

/// A ZMTP 3.`minor` NULL greeting.
pub(crate) fn greeting_of(minor: u8) -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, minor];
    let mut mechanism = b"NULL".to_vec();
    mechanism.resize(20, 0);
    g.extend_from_slice(&mechanism);
    g.push(0); // as-server
    g.resize(64, 0);
    g
}

/// A short command frame: `name` then `data`.
pub(crate) fn command(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut frame = vec![COMMAND, u8::try_from(body.len()).expect("a short command")];
    frame.extend_from_slice(&body);
    frame
}

/// A READY command announcing `socket_type` (RFC 23 §"The READY Command").
pub(crate) fn ready(socket_type: &str) -> Vec<u8> {
    let mut properties = vec![11];
    properties.extend_from_slice(b"Socket-Type");
    properties.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    properties.extend_from_slice(socket_type.as_bytes());
    command("READY", &properties)
}

/// A PING with a TTL in tenths of a second and a context (RFC 37
/// §"Connection Heartbeating").
pub(crate) fn ping(ttl_deciseconds: u16, context: &[u8]) -> Vec<u8> {
    let mut data = ttl_deciseconds.to_be_bytes().to_vec();
    data.extend_from_slice(context);
    command("PING", &data)
}

/// A PONG echoing `context`.
pub(crate) fn pong(context: &[u8]) -> Vec<u8> {
    command("PONG", context)
}

/// A one-frame message of at most 255 bytes.
pub(crate) fn message(body: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, u8::try_from(body.len()).expect("a short frame")];
    frame.extend_from_slice(body);
    frame
}

/// A message of several frames, each of at most 255 bytes.
pub(crate) fn multipart(frames: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, body) in frames.iter().enumerate() {
        let mut frame = message(body);
        if i + 1 < frames.len() {
            frame[0] |= MORE;
        }
        bytes.extend(frame);
    }
    bytes
}

/// A frame as read off the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) command: bool,
    pub(crate) more: bool,
    pub(crate) body: Vec<u8>,
}

impl Frame {
    /// Whether this is the command `name`.
    pub(crate) fn is_command(&self, name: &str) -> bool {
        self.command && self.body.first() == Some(&(name.len() as u8)) && self.body[1..].starts_with(name.as_bytes())
    }

    /// A command's data, after its name.
    pub(crate) fn data(&self) -> &[u8] {
        &self.body[1 + usize::from(self.body[0])..]
    }
}

/// One raw connection, past its handshake.
pub(crate) struct RawPeer {
    pub(crate) stream: TcpStream,
}

impl RawPeer {
    /// Connects to a `tcp://` endpoint and handshakes as `socket_type`.
    pub(crate) fn connect(endpoint: &str, socket_type: &str) -> RawPeer {
        RawPeer::connect_speaking(endpoint, socket_type, 1)
    }

    /// As [`connect`](RawPeer::connect), announcing ZMTP 3.`minor`.
    pub(crate) fn connect_speaking(endpoint: &str, socket_type: &str, minor: u8) -> RawPeer {
        let stream = TcpStream::connect(endpoint.trim_start_matches("tcp://")).expect("raw connect");
        RawPeer::handshake(stream, socket_type, minor)
    }

    /// Accepts one connection on `listener` and handshakes as
    /// `socket_type`. Fails the test if none comes within [`PATIENCE`].
    #[track_caller]
    pub(crate) fn accept(listener: &TcpListener, socket_type: &str) -> RawPeer {
        listener.set_nonblocking(true).unwrap();
        let mut accepted = None;
        wait_until(&format!("a connection to accept as {socket_type}"), || {
            match listener.accept() {
                Ok((stream, _)) => accepted = Some(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("raw accept: {e}"),
            }
            accepted.is_some()
        });
        listener.set_nonblocking(false).unwrap();
        let stream = accepted.expect("accepted above");
        stream.set_nonblocking(false).unwrap();
        RawPeer::handshake(stream, socket_type, 1)
    }

    /// Sends our greeting (ZMTP 3.`minor`) and READY, then reads the other
    /// side's.
    fn handshake(stream: TcpStream, socket_type: &str, minor: u8) -> RawPeer {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut peer = RawPeer { stream };
        let mut hello = greeting_of(minor);
        hello.extend(ready(socket_type));
        peer.send(&hello);
        let mut theirs = [0u8; 64];
        peer.stream.read_exact(&mut theirs).expect("their greeting");
        assert_eq!((theirs[0], theirs[9], theirs[10]), (0xFF, 0x7F, 3), "a ZMTP 3 greeting");
        let ready = peer.frame().expect("their READY");
        assert!(ready.is_command("READY"), "READY after the greeting: {ready:?}");
        peer
    }

    /// Writes `bytes`.
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("raw write");
    }

    /// Reads the next frame; an error at the end of the stream (or on a
    /// read timeout).
    pub(crate) fn frame(&mut self) -> io::Result<Frame> {
        let mut header = [0u8; 2];
        self.stream.read_exact(&mut header)?;
        let flags = header[0];
        let len = if flags & LONG != 0 {
            let mut size = [0u8; 8];
            size[0] = header[1];
            self.stream.read_exact(&mut size[1..])?;
            usize::try_from(u64::from_be_bytes(size)).expect("a frame that fits")
        } else {
            usize::from(header[1])
        };
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        Ok(Frame {
            command: flags & COMMAND != 0,
            more: flags & MORE != 0,
            body,
        })
    }

    /// Reads the next frame; fails the test, naming `what`, if none comes
    /// within [`PATIENCE`] or the connection ends.
    #[track_caller]
    pub(crate) fn frame_within(&mut self, what: &str) -> Frame {
        self.frame()
            .unwrap_or_else(|e| panic!("reading {what} (read timeout {PATIENCE:?}): {e}"))
    }

    /// Reads the frames of the next message (commands in between fail the
    /// test); fails the test, naming `what`, if it does not come whole
    /// within [`PATIENCE`].
    #[track_caller]
    pub(crate) fn message_within(&mut self, what: &str) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        loop {
            let frame = self.frame_within(what);
            assert!(!frame.command, "a command in the middle of {what}: {frame:?}");
            frames.push(frame.body);
            if !frame.more {
                return frames;
            }
        }
    }

    /// Reads frames until the other side closes the connection; returns
    /// them. Fails the test if it stays open for [`PATIENCE`].
    pub(crate) fn until_closed(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        loop {
            match self.frame() {
                Ok(frame) => frames.push(frame),
                Err(e) if matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) => {
                    return frames;
                }
                Err(e) => panic!("the connection stayed open ({e}) after {} frames", frames.len()),
            }
        }
    }

    /// Whether the connection is still open after `wait` with nothing
    /// arriving (nothing may arrive meanwhile).
    pub(crate) fn still_open_after(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        let open = match self.stream.read(&mut byte) {
            Ok(0) => false,
            Ok(_) => panic!("unexpected bytes from a silent peer: {:#04x}", byte[0]),
            Err(e) => matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
        };
        self.stream.set_read_timeout(Some(PATIENCE)).unwrap();
        open
    }
}
