//! ZAP (RFC 27), the ZeroMQ Authentication Protocol: what a handshake asks
//! the application's handler, and what it answers, as frames.
//!
//! The handler is a socket the application binds at
//! `inproc://zeromq.zap.01` (a REP, or a ROUTER). For each handshake that
//! needs a decision the connection sends it a request, after an empty
//! delimiter frame:
//!
//! ```text
//! "1.0", request id, domain, address, routing id, mechanism, credentials...
//! ```
//!
//! (PLAIN's credentials are the user name and the password, CURVE's the
//! client's 32-byte public key, NULL's none) and waits for the reply:
//!
//! ```text
//! "1.0", request id, status code, status text, user id, metadata
//! ```
//!
//! 200 admits the peer; 300 (temporary failure) drops it without a word;
//! 400 and 500 drop it after an ERROR command carrying the code, which the
//! peer reports as an authentication failure. libzmq asks exactly so, and
//! its rules for when to ask are [`Handshake`](super::Handshake)'s.

use bytes::Bytes;

use super::error::ProtocolError;
use super::mechanism::Mechanism;
use super::metadata::Metadata;

/// The name a ZAP handler binds, in the sockets' context.
pub(crate) const ZAP_ENDPOINT: &str = "zeromq.zap.01";
/// The ZAP version spoken.
const VERSION: &[u8] = b"1.0";
/// The request id (each connection has one request in flight, as in libzmq).
const REQUEST_ID: &[u8] = b"1";

/// What a handshake asks the ZAP handler about the peer. `Debug` does not
/// show the credentials (a PLAIN password is one).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ZapRequest {
    /// The mechanism the peer uses.
    pub(crate) mechanism: Mechanism,
    /// What the peer proved: PLAIN's user name and password, CURVE's public key.
    pub(crate) credentials: Vec<Bytes>,
}

impl std::fmt::Debug for ZapRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapRequest")
            .field("mechanism", &self.mechanism)
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

impl ZapRequest {
    /// The request's frames after the delimiter: the connection adds what the handshake does
    /// not know, the socket's ZAP `domain`, the peer's `address` (its IP address, empty for
    /// ipc) and our socket's `routing_id`.
    pub(crate) fn frames(&self, domain: &[u8], address: &[u8], routing_id: &[u8]) -> Vec<Bytes> {
        let mut frames = vec![
            Bytes::from_static(VERSION),
            Bytes::from_static(REQUEST_ID),
            Bytes::copy_from_slice(domain),
            Bytes::copy_from_slice(address),
            Bytes::copy_from_slice(routing_id),
            Bytes::from_static(self.mechanism.name().as_bytes()),
        ];
        frames.extend(self.credentials.iter().cloned());
        frames
    }
}

/// The handler's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ZapReply {
    /// 200, 300, 400 or 500.
    pub(crate) status: u16,
    /// The handler's words, for logs.
    pub(crate) text: String,
    /// Who the peer is, for the application: every message from it carries this as its
    /// `User-Id` property (empty: none).
    pub(crate) user_id: Bytes,
    /// Further properties every message from the peer carries.
    pub(crate) metadata: Metadata,
}

impl ZapReply {
    /// A reply admitting the peer, with nothing to say about it: what a handshake goes on with
    /// when there is no handler to ask and the mechanism does not need one.
    pub(crate) fn admitted() -> ZapReply {
        ZapReply {
            status: 200,
            text: String::new(),
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// Parses the reply's frames after the delimiter, as libzmq checks them.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::MalformedZapReply`] for anything else than six frames of version 1.0,
    /// our request id, a status of 200, 300, 400 or 500, and metadata that parses.
    pub(crate) fn parse(frames: &[Bytes]) -> Result<ZapReply, ProtocolError> {
        let malformed = ProtocolError::MalformedZapReply;
        let [version, id, status, text, user_id, metadata] = frames else {
            return Err(malformed("not six frames after the delimiter"));
        };
        if &version[..] != VERSION {
            return Err(malformed("version is not 1.0"));
        }
        if &id[..] != REQUEST_ID {
            return Err(malformed("request id is not the one asked"));
        }
        let status = match &status[..] {
            b"200" => 200,
            b"300" => 300,
            b"400" => 400,
            b"500" => 500,
            _ => return Err(malformed("status code is not 200, 300, 400 or 500")),
        };
        let metadata = Metadata::decode(metadata.clone()).map_err(|_| malformed("metadata does not parse"))?;
        Ok(ZapReply {
            status,
            text: String::from_utf8_lossy(text).into_owned(),
            user_id: user_id.clone(),
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn requests_carry_what_libzmq_sends() {
        let request = ZapRequest {
            mechanism: Mechanism::Plain,
            credentials: vec![Bytes::from_static(b"admin"), Bytes::from_static(b"secret")],
        };
        let frames = request.frames(b"global", b"127.0.0.1", b"");
        let expected: [&[u8]; 8] = [
            b"1.0",
            b"1",
            b"global",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"admin",
            b"secret",
        ];
        assert_eq!(frames, expected.map(Bytes::copy_from_slice));
    }

    #[test]
    fn replies_parse_or_are_refused() {
        let mut metadata = BytesMut::new();
        Metadata::new().with("Hello", "world").encode(&mut metadata);
        let frames = |status: &'static [u8], metadata: &[u8]| {
            let parts: [&[u8]; 6] = [b"1.0", b"1", status, b"OK", b"alice", metadata];
            parts.map(Bytes::copy_from_slice)
        };
        let reply = ZapReply::parse(&frames(b"200", &metadata)).unwrap();
        assert_eq!((reply.status, &reply.user_id[..]), (200, &b"alice"[..]));
        assert_eq!(reply.metadata.get("Hello").map(|v| &v[..]), Some(&b"world"[..]));
        for status in [&b"300"[..], b"400", b"500"] {
            let frames = frames(status, b"");
            assert!(ZapReply::parse(&frames).is_ok());
        }
        for bad in [
            &frames(b"201", b"")[..],
            &frames(b"200", b"\x05Hel")[..],
            &frames(b"200", b"")[..5],
        ] {
            assert!(matches!(ZapReply::parse(bad), Err(ProtocolError::MalformedZapReply(_))));
        }
        let mut wrong_version = frames(b"200", b"");
        wrong_version[0] = Bytes::from_static(b"2.0");
        assert!(ZapReply::parse(&wrong_version).is_err());
    }
}
