//! CurveZMQ (RFC 26): the CURVE handshake's commands and the encryption of
//! everything after it, as pure functions of bytes and keys.
//!
//! ```text
//! client (C, c; knows S)                          server (S, s)
//!   HELLO    C', Box[64 zeros](C'->S)        ->
//!                                            <-  WELCOME  Box[S' + cookie](S->C')
//!                                                         cookie = Box[C' + s'](K)
//!   INITIATE cookie, Box[C + vouch + metadata](C'->S')
//!            vouch = Box[C' + S](C->S')      ->
//!                                            <-  READY    Box[metadata](S'->C')
//!   MESSAGE  Box[flags + frame](C'->S')     <->  MESSAGE  Box[flags + frame](S'->C')
//! ```
//!
//! Capital letters are public keys, small ones secret; primed keys are
//! short-term, made for one connection and forgotten with it. Each box's
//! nonce is a fixed 16-byte prefix naming the command and an 8-byte short
//! nonce that strictly increases per direction (client: HELLO 1, INITIATE 2,
//! then its messages; server: READY 1, then its messages), or an 8-byte
//! prefix and 16 random bytes for WELCOME, the cookie and the vouch.
//!
//! The server keeps no state between WELCOME and INITIATE but the cookie
//! key K, made fresh for that one WELCOME (libzmq does the same): its
//! short-term secret s' and the client's C' leave in the cookie and come
//! back in it. A cookie is thus good for its own connection only, and an
//! INITIATE captured from one connection cannot be replayed on another.
//!
//! Sizes and layouts follow libzmq 4.3 byte for byte; MESSAGE goes out as a
//! message frame (not a command frame), as libzmq sends it, and either kind
//! is accepted.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::ProtocolError;
use super::frame::{encode_header_with, encode_raw_command};
use super::nacl::{self, KEY_LEN, MAC_LEN, PublicKey, SecretKey, SharedKey};

/// CurveZMQ's version, sent in HELLO.
const VERSION: [u8; 2] = [1, 0];
/// HELLO's zero padding against amplification: the client's HELLO is as
/// big as the server's WELCOME.
const HELLO_PADDING: usize = 72;
/// The size of a short nonce, the end of a command's or message's nonce.
const SHORT_NONCE_LEN: usize = 8;
/// The size of a long nonce, the random end of WELCOME's, the cookie's and
/// the vouch's nonces.
const LONG_NONCE_LEN: usize = 16;
/// HELLO's data: version, padding, C', short nonce, Box[64 zeros].
const HELLO_DATA_LEN: usize = 2 + HELLO_PADDING + KEY_LEN + SHORT_NONCE_LEN + MAC_LEN + 64;
/// The cookie: long nonce, Box[C' + s'](K).
const COOKIE_LEN: usize = LONG_NONCE_LEN + MAC_LEN + 2 * KEY_LEN;
/// WELCOME's data: long nonce, Box[S' + cookie].
const WELCOME_DATA_LEN: usize = LONG_NONCE_LEN + MAC_LEN + KEY_LEN + COOKIE_LEN;
/// The vouch: long nonce, Box[C' + S](C->S').
const VOUCH_LEN: usize = LONG_NONCE_LEN + MAC_LEN + 2 * KEY_LEN;
/// The shortest INITIATE data: cookie, short nonce, Box[C + vouch] with no
/// metadata.
const MIN_INITIATE_DATA_LEN: usize = COOKIE_LEN + SHORT_NONCE_LEN + MAC_LEN + KEY_LEN + VOUCH_LEN;
/// The shortest READY data: short nonce, an empty box.
const MIN_READY_DATA_LEN: usize = SHORT_NONCE_LEN + MAC_LEN;

const HELLO_PREFIX: &[u8; 16] = b"CurveZMQHELLO---";
const WELCOME_PREFIX: &[u8; 8] = b"WELCOME-";
const COOKIE_PREFIX: &[u8; 8] = b"COOKIE--";
const INITIATE_PREFIX: &[u8; 16] = b"CurveZMQINITIATE";
const VOUCH_PREFIX: &[u8; 8] = b"VOUCH---";
const READY_PREFIX: &[u8; 16] = b"CurveZMQREADY---";
const CLIENT_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGEC";
const SERVER_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGES";

/// The flags byte that leads a MESSAGE's plaintext: bit 0 is MORE, bit 1
/// COMMAND (libzmq's message flags, which it writes there; not the frame
/// header's, where COMMAND is bit 2).
const BOXED_MORE: u8 = 0x01;
const BOXED_COMMAND: u8 = 0x02;

/// A MESSAGE's body before the box: name size, name, short nonce.
const MESSAGE_HEADER: &[u8; 8] = b"\x07MESSAGE";
/// What a MESSAGE adds to the frame it carries: its header, the short
/// nonce, the authenticator and the flags byte.
pub(crate) const MESSAGE_OVERHEAD: usize = MESSAGE_HEADER.len() + SHORT_NONCE_LEN + MAC_LEN + 1;

/// A CURVE client's keys: its long-term pair and the server's public key.
pub(crate) struct ClientKeys {
    /// C.
    pub(crate) public: PublicKey,
    /// c.
    pub(crate) secret: SecretKey,
    /// S, the server this client trusts.
    pub(crate) server: PublicKey,
}

/// The client side of one connection's handshake.
pub(crate) struct Client {
    keys: Arc<ClientKeys>,
    /// c', made for this connection.
    short: SecretKey,
    /// The key of boxes between C' and S', once WELCOME told us S'.
    session: Option<Arc<SharedKey>>,
}

/// What a side keeps for the traffic after its handshake: the box key of
/// the two short-term key pairs and the short nonces so far.
pub(crate) struct Session {
    key: Arc<SharedKey>,
    /// Our last short nonce used.
    ours: u64,
    /// The peer's last short nonce accepted.
    peers: u64,
    /// Whether we are the server (which picks the message nonce prefixes).
    server: bool,
}

impl Session {
    /// The two halves of the traffic: sealing what we send, opening what
    /// the peer sends.
    pub(crate) fn split(self) -> (Sealer, Opener) {
        let (ours, theirs) = if self.server {
            (SERVER_MESSAGE_PREFIX, CLIENT_MESSAGE_PREFIX)
        } else {
            (CLIENT_MESSAGE_PREFIX, SERVER_MESSAGE_PREFIX)
        };
        (
            Sealer {
                key: Arc::clone(&self.key),
                prefix: ours,
                last: self.ours,
            },
            Opener {
                key: self.key,
                prefix: theirs,
                last: self.peers,
            },
        )
    }
}

impl Client {
    /// A client for one connection, with a fresh short-term key pair.
    pub(crate) fn new(keys: Arc<ClientKeys>) -> Client {
        Client {
            keys,
            short: SecretKey::generate(),
            session: None,
        }
    }

    /// Appends our HELLO command (short nonce 1).
    pub(crate) fn hello(&self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        let nonce = 1u64.to_be_bytes();
        let key = SharedKey::between(&self.keys.server, &self.short)
            .map_err(|_| ProtocolError::WeakKey("the configured CURVE server key"))?;
        let signature = key.seal(&nacl::nonce(HELLO_PREFIX, &nonce), &[0; 64]);
        encode_raw_command(
            out,
            "HELLO",
            &[
                &VERSION,
                &[0; HELLO_PADDING],
                &self.short.public_key(),
                &nonce,
                &signature,
            ],
        );
        Ok(())
    }

    /// Takes the server's WELCOME and appends our INITIATE (short nonce 2),
    /// carrying `metadata` (our READY properties, encoded).
    pub(crate) fn on_welcome(&mut self, data: &[u8], metadata: &[u8], out: &mut BytesMut) -> Result<(), ProtocolError> {
        // One WELCOME only: a second (replayed) one would make us seal another INITIATE
        // under the same key and short nonce.
        if self.session.is_some() {
            return Err(ProtocolError::UnexpectedCommand {
                expected: "READY",
                received: "WELCOME".to_owned(),
            });
        }
        if data.len() != WELCOME_DATA_LEN {
            return Err(malformed("WELCOME", "not 160 bytes after its name"));
        }
        let (long_nonce, sealed) = data.split_at(LONG_NONCE_LEN);
        let opened = SharedKey::between(&self.keys.server, &self.short)
            .map_err(|_| ProtocolError::WeakKey("the configured CURVE server key"))?
            .open(&nacl::nonce(WELCOME_PREFIX, long_nonce), sealed)
            .map_err(|_| ProtocolError::BoxOpenFailed("the server's WELCOME box (is the server key right?)"))?;
        let (server_short, cookie) = opened.split_at(KEY_LEN);
        let server_short: PublicKey = server_short.try_into().expect("32 bytes");
        let session = Arc::new(
            SharedKey::between(&server_short, &self.short)
                .map_err(|_| ProtocolError::WeakKey("the server's short-term key"))?,
        );

        // vouch = Box[C' + S](C->S'), under a random long nonce.
        let vouch_nonce = nacl::random::<LONG_NONCE_LEN>();
        let mut vouched = [0; 2 * KEY_LEN];
        vouched[..KEY_LEN].copy_from_slice(&self.short.public_key());
        vouched[KEY_LEN..].copy_from_slice(&self.keys.server);
        let vouch = SharedKey::between(&server_short, &self.keys.secret)
            .map_err(|_| ProtocolError::WeakKey("the server's short-term key"))?
            .seal(&nacl::nonce(VOUCH_PREFIX, &vouch_nonce), &vouched);

        // Box[C + vouch + metadata](C'->S').
        let mut plaintext = Zeroizing::new(Vec::with_capacity(KEY_LEN + VOUCH_LEN + metadata.len()));
        plaintext.extend_from_slice(&self.keys.public);
        plaintext.extend_from_slice(&vouch_nonce);
        plaintext.extend_from_slice(&vouch);
        plaintext.extend_from_slice(metadata);
        let nonce = 2u64.to_be_bytes();
        let sealed = session.seal(&nacl::nonce(INITIATE_PREFIX, &nonce), &plaintext);
        encode_raw_command(out, "INITIATE", &[cookie, &nonce, &sealed]);
        self.session = Some(session);
        Ok(())
    }

    /// Takes the server's READY: its metadata (encoded) and the session.
    pub(crate) fn on_ready(&mut self, data: &[u8]) -> Result<(Zeroizing<Vec<u8>>, Session), ProtocolError> {
        let Some(key) = self.session.take() else {
            return Err(ProtocolError::UnexpectedCommand {
                expected: "WELCOME",
                received: "READY".to_owned(),
            });
        };
        if data.len() < MIN_READY_DATA_LEN {
            return Err(malformed("READY", "shorter than 24 bytes after its name"));
        }
        let (nonce, sealed) = data.split_at(SHORT_NONCE_LEN);
        let short_nonce = u64::from_be_bytes(nonce.try_into().expect("8 bytes"));
        if short_nonce == 0 {
            return Err(ProtocolError::NonceNotIncreasing {
                nonce: short_nonce,
                last: 0,
            });
        }
        let metadata = key
            .open(&nacl::nonce(READY_PREFIX, nonce), sealed)
            .map_err(|_| ProtocolError::BoxOpenFailed("the server's READY box"))?;
        Ok((
            metadata,
            Session {
                key,
                ours: 2,
                peers: short_nonce,
                server: false,
            },
        ))
    }
}

/// The server side of one connection's handshake.
pub(crate) struct Server {
    /// s, whose public half S the clients know.
    secret: Arc<SecretKey>,
    /// S.
    public: PublicKey,
    /// The HELLO's short nonce, which INITIATE's must exceed.
    hello_nonce: u64,
    /// K, made for our one WELCOME: all the state kept until INITIATE.
    cookie_key: Option<SharedKey>,
}

/// What the server learnt from a client's INITIATE.
pub(crate) struct Initiated {
    /// C: the client's long-term public key, the one ZAP is asked about.
    pub(crate) client: PublicKey,
    /// The client's READY properties, encoded.
    pub(crate) metadata: Zeroizing<Vec<u8>>,
    /// The session, whose first use is our READY.
    pub(crate) session: Session,
}

impl Server {
    /// A server for one connection, with the long-term secret key `secret`.
    pub(crate) fn new(secret: Arc<SecretKey>) -> Server {
        let public = secret.public_key();
        Server {
            secret,
            public,
            hello_nonce: 0,
            cookie_key: None,
        }
    }

    /// Takes the client's HELLO and appends our WELCOME.
    pub(crate) fn on_hello(&mut self, data: &[u8], out: &mut BytesMut) -> Result<(), ProtocolError> {
        // One HELLO only: another would replace the cookie key of our WELCOME.
        if self.cookie_key.is_some() {
            return Err(ProtocolError::UnexpectedCommand {
                expected: "INITIATE",
                received: "HELLO".to_owned(),
            });
        }
        if data.len() != HELLO_DATA_LEN {
            return Err(malformed("HELLO", "not 194 bytes after its name"));
        }
        let mut data = data;
        let (major, minor) = (data[0], data[1]);
        if [major, minor] != VERSION {
            return Err(ProtocolError::UnsupportedCurveVersion { major, minor });
        }
        data.advance(2 + HELLO_PADDING);
        let client_short: PublicKey = data[..KEY_LEN].try_into().expect("32 bytes");
        data.advance(KEY_LEN);
        let nonce = &data[..SHORT_NONCE_LEN];
        let short_nonce = u64::from_be_bytes(nonce.try_into().expect("8 bytes"));
        let signature = &data[SHORT_NONCE_LEN..];
        let key = SharedKey::between(&client_short, &self.secret)
            .map_err(|_| ProtocolError::WeakKey("the client's short-term key"))?;
        let zeros = key
            .open(&nacl::nonce(HELLO_PREFIX, nonce), signature)
            .map_err(|_| ProtocolError::BoxOpenFailed("the client's HELLO box (does it have our public key?)"))?;
        debug_assert_eq!(zeros.len(), 64);
        self.hello_nonce = short_nonce;

        // s' and S', for this connection; s' leaves in the cookie.
        let server_short = SecretKey::generate();
        let cookie_key = SharedKey::generate_secret();
        let cookie_nonce = nacl::random::<LONG_NONCE_LEN>();
        let mut in_cookie = Zeroizing::new([0; 2 * KEY_LEN]);
        in_cookie[..KEY_LEN].copy_from_slice(&client_short);
        in_cookie[KEY_LEN..].copy_from_slice(&*server_short.to_bytes());
        let cookie = cookie_key.seal(&nacl::nonce(COOKIE_PREFIX, &cookie_nonce), &*in_cookie);

        // Box[S' + cookie](S->C').
        let mut welcomed = Vec::with_capacity(KEY_LEN + COOKIE_LEN);
        welcomed.extend_from_slice(&server_short.public_key());
        welcomed.extend_from_slice(&cookie_nonce);
        welcomed.extend_from_slice(&cookie);
        let welcome_nonce = nacl::random::<LONG_NONCE_LEN>();
        let sealed = key.seal(&nacl::nonce(WELCOME_PREFIX, &welcome_nonce), &welcomed);
        encode_raw_command(out, "WELCOME", &[&welcome_nonce, &sealed]);
        self.cookie_key = Some(cookie_key);
        Ok(())
    }

    /// Takes the client's INITIATE: checks the cookie, the box, the vouch.
    pub(crate) fn on_initiate(&mut self, data: &[u8]) -> Result<Initiated, ProtocolError> {
        let Some(cookie_key) = self.cookie_key.take() else {
            return Err(ProtocolError::UnexpectedCommand {
                expected: "HELLO",
                received: "INITIATE".to_owned(),
            });
        };
        if data.len() < MIN_INITIATE_DATA_LEN {
            return Err(malformed("INITIATE", "shorter than 248 bytes after its name"));
        }
        let (cookie, rest) = data.split_at(COOKIE_LEN);
        let (nonce, sealed) = rest.split_at(SHORT_NONCE_LEN);
        let short_nonce = u64::from_be_bytes(nonce.try_into().expect("8 bytes"));
        if short_nonce <= self.hello_nonce {
            return Err(ProtocolError::NonceNotIncreasing {
                nonce: short_nonce,
                last: self.hello_nonce,
            });
        }
        // Our cookie gives back C' and s'.
        let (cookie_nonce, cookie_box) = cookie.split_at(LONG_NONCE_LEN);
        let in_cookie = cookie_key
            .open(&nacl::nonce(COOKIE_PREFIX, cookie_nonce), cookie_box)
            .map_err(|_| ProtocolError::BoxOpenFailed("the cookie in the client's INITIATE"))?;
        let client_short: PublicKey = in_cookie[..KEY_LEN].try_into().expect("32 bytes");
        let server_short = SecretKey::from_bytes(in_cookie[KEY_LEN..].try_into().expect("32 bytes"));
        let key = Arc::new(
            SharedKey::between(&client_short, &server_short)
                .map_err(|_| ProtocolError::WeakKey("the client's short-term key"))?,
        );
        let initiated = key
            .open(&nacl::nonce(INITIATE_PREFIX, nonce), sealed)
            .map_err(|_| ProtocolError::BoxOpenFailed("the client's INITIATE box"))?;
        let client: PublicKey = initiated[..KEY_LEN].try_into().expect("32 bytes");
        let vouch = &initiated[KEY_LEN..KEY_LEN + VOUCH_LEN];
        let (vouch_nonce, vouch_box) = vouch.split_at(LONG_NONCE_LEN);
        let vouched = SharedKey::between(&client, &server_short)
            .map_err(|_| ProtocolError::WeakKey("the client's key"))?
            .open(&nacl::nonce(VOUCH_PREFIX, vouch_nonce), vouch_box)
            .map_err(|_| ProtocolError::BoxOpenFailed("the vouch in the client's INITIATE"))?;
        // The client vouches, with its long-term key, for the short-term key
        // of this connection and for us as its server.
        let genuine = vouched[..KEY_LEN].ct_eq(&client_short) & vouched[KEY_LEN..].ct_eq(&self.public);
        if !bool::from(genuine) {
            return Err(ProtocolError::BoxOpenFailed(
                "the vouch in the client's INITIATE (it vouches for other keys)",
            ));
        }
        let metadata = Zeroizing::new(initiated[KEY_LEN + VOUCH_LEN..].to_vec());
        Ok(Initiated {
            client,
            metadata,
            session: Session {
                key,
                ours: 0,
                peers: short_nonce,
                server: true,
            },
        })
    }
}

/// Appends the server's READY, the session's first box (short nonce 1),
/// carrying `metadata` (our READY properties, encoded).
pub(crate) fn ready(session: &mut Session, metadata: &[u8], out: &mut BytesMut) {
    session.ours += 1;
    let nonce = session.ours.to_be_bytes();
    let sealed = session.key.seal(&nacl::nonce(READY_PREFIX, &nonce), metadata);
    encode_raw_command(out, "READY", &[&nonce, &sealed]);
}

/// Seals the frames and commands we send into MESSAGEs.
pub(crate) struct Sealer {
    key: Arc<SharedKey>,
    prefix: &'static [u8; 16],
    /// The last short nonce used.
    last: u64,
}

impl Sealer {
    /// Appends a MESSAGE carrying a frame: a message frame (`command`
    /// false, with its MORE flag) or a command (its body: name size, name,
    /// data), whose bytes `write` appends, `len` of them.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::NoncesExhausted`] after 2^64-2 messages: the
    /// connection must end.
    pub(crate) fn seal(
        &mut self,
        out: &mut BytesMut,
        more: bool,
        command: bool,
        len: usize,
        write: impl FnOnce(&mut BytesMut),
    ) -> Result<(), ProtocolError> {
        let nonce = self.last.checked_add(1).ok_or(ProtocolError::NoncesExhausted)?;
        self.last = nonce;
        let nonce = nonce.to_be_bytes();
        let flags = if more { BOXED_MORE } else { 0 } | if command { BOXED_COMMAND } else { 0 };
        // Sent as a message frame, as libzmq does.
        out.reserve(9 + MESSAGE_OVERHEAD + len);
        encode_header_with(out, 0, MESSAGE_OVERHEAD + len);
        out.extend_from_slice(MESSAGE_HEADER);
        out.extend_from_slice(&nonce);
        let tag_at = out.len();
        out.extend_from_slice(&[0; MAC_LEN]);
        let plaintext_at = out.len();
        out.extend_from_slice(&[flags]);
        write(out);
        debug_assert_eq!(out.len() - plaintext_at, 1 + len, "the MESSAGE's length was wrong");
        let tag = self
            .key
            .seal_in_place(&nacl::nonce(self.prefix, &nonce), &mut out[plaintext_at..]);
        out[tag_at..plaintext_at].copy_from_slice(&tag);
        Ok(())
    }
}

/// Opens the MESSAGEs the peer sends.
pub(crate) struct Opener {
    key: Arc<SharedKey>,
    prefix: &'static [u8; 16],
    /// The peer's last short nonce accepted.
    last: u64,
}

/// What a MESSAGE carried.
pub(crate) struct Opened {
    /// The MORE flag of the frame it carried.
    pub(crate) more: bool,
    /// Whether it carried a command (else a message frame).
    pub(crate) command: bool,
    /// The frame's body, or the command's (name size, name, data).
    pub(crate) body: Bytes,
}

impl Opener {
    /// Opens a MESSAGE frame's body in place.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::UnexpectedCommand`] for anything but a MESSAGE,
    /// [`ProtocolError::MalformedCommand`] if it is too short,
    /// [`ProtocolError::BoxOpenFailed`] if it is forged or altered, and
    /// [`ProtocolError::NonceNotIncreasing`] if it is replayed or
    /// reordered. Each ends the connection.
    pub(crate) fn open(&mut self, mut body: BytesMut) -> Result<Opened, ProtocolError> {
        if !body.starts_with(MESSAGE_HEADER) {
            // The peer's bytes, escaped to visible ASCII: an error is one line of a log.
            let name_len = usize::from(body.first().copied().unwrap_or(0));
            let name = body.get(1..1 + name_len).unwrap_or(&[]);
            return Err(ProtocolError::UnexpectedCommand {
                expected: "MESSAGE",
                received: name.escape_ascii().to_string(),
            });
        }
        if body.len() < MESSAGE_OVERHEAD {
            return Err(malformed("MESSAGE", "shorter than 33 bytes"));
        }
        let nonce: [u8; SHORT_NONCE_LEN] = body[MESSAGE_HEADER.len()..MESSAGE_HEADER.len() + SHORT_NONCE_LEN]
            .try_into()
            .expect("8 bytes");
        let short_nonce = u64::from_be_bytes(nonce);
        let tag_at = MESSAGE_HEADER.len() + SHORT_NONCE_LEN;
        let (head, plaintext) = body.split_at_mut(tag_at + MAC_LEN);
        self.key
            .open_in_place(&nacl::nonce(self.prefix, &nonce), plaintext, &head[tag_at..])
            .map_err(|_| ProtocolError::BoxOpenFailed("a MESSAGE box"))?;
        // Judged once authentic: a forged nonce cannot move the count.
        if short_nonce <= self.last {
            return Err(ProtocolError::NonceNotIncreasing {
                nonce: short_nonce,
                last: self.last,
            });
        }
        self.last = short_nonce;
        body.advance(tag_at + MAC_LEN);
        let flags = body[0];
        body.advance(1);
        Ok(Opened {
            more: flags & BOXED_MORE != 0,
            command: flags & BOXED_COMMAND != 0,
            body: body.freeze(),
        })
    }
}

/// An opener of the client's MESSAGEs under a fixed key, for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_opener() -> Opener {
    Opener {
        key: Arc::new(SharedKey::secret(&[7; KEY_LEN])),
        prefix: CLIENT_MESSAGE_PREFIX,
        last: 2,
    }
}

fn malformed(command: &'static str, problem: &'static str) -> ProtocolError {
    ProtocolError::MalformedCommand { command, problem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zmtp::command::split_name;
    use crate::zmtp::frame::parse_header;

    /// Splits a command frame written by `encode_raw_command` into its name and data.
    fn command(frame: &BytesMut) -> (String, Bytes) {
        let header = parse_header(frame).unwrap().unwrap();
        assert!(header.is_command());
        let body = Bytes::copy_from_slice(&frame[header.header_len..]);
        assert_eq!(body.len() as u64, header.body_len);
        let (name, data) = split_name(body).unwrap();
        (String::from_utf8(name.to_vec()).unwrap(), data)
    }

    struct Pair {
        client: Client,
        server: Server,
    }

    fn pair() -> Pair {
        let server_secret = SecretKey::generate();
        let client_secret = SecretKey::generate();
        let keys = ClientKeys {
            public: client_secret.public_key(),
            secret: client_secret,
            server: server_secret.public_key(),
        };
        Pair {
            client: Client::new(Arc::new(keys)),
            server: Server::new(Arc::new(server_secret)),
        }
    }

    /// Runs a handshake to the end and returns both sessions, with what the server learnt.
    fn handshake(pair: &mut Pair) -> (Session, Initiated) {
        let mut out = BytesMut::new();
        pair.client.hello(&mut out).unwrap();
        let (name, hello) = command(&out);
        assert_eq!((name.as_str(), hello.len()), ("HELLO", 194));
        out.clear();
        pair.server.on_hello(&hello, &mut out).unwrap();
        let (name, welcome) = command(&out);
        assert_eq!((name.as_str(), welcome.len()), ("WELCOME", 160));
        out.clear();
        pair.client.on_welcome(&welcome, b"client-metadata", &mut out).unwrap();
        let (name, initiate) = command(&out);
        assert_eq!((name.as_str(), initiate.len()), ("INITIATE", 248 + 15));
        let mut initiated = pair.server.on_initiate(&initiate).unwrap();
        assert_eq!(&initiated.metadata[..], b"client-metadata");
        out.clear();
        ready(&mut initiated.session, b"server-metadata", &mut out);
        let (name, ready) = command(&out);
        assert_eq!((name.as_str(), ready.len()), ("READY", 24 + 15));
        let (metadata, session) = pair.client.on_ready(&ready).unwrap();
        assert_eq!(&metadata[..], b"server-metadata");
        (session, initiated)
    }

    #[test]
    fn a_handshake_gives_both_sides_the_client_key_and_the_metadata() {
        let mut pair = pair();
        let client_public = pair.client.keys.public;
        let (_, initiated) = handshake(&mut pair);
        assert_eq!(initiated.client, client_public);
    }

    fn seal_frame(sealer: &mut Sealer, more: bool, body: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        sealer
            .seal(&mut out, more, false, body.len(), |out| out.extend_from_slice(body))
            .unwrap();
        out
    }

    /// The body of the one frame in `frame`, as the decoder would split it off.
    fn frame_body(frame: &BytesMut) -> BytesMut {
        let header = parse_header(frame).unwrap().unwrap();
        assert_eq!(
            header.flags & !0x02,
            0,
            "a MESSAGE goes as a message frame, not a command"
        );
        BytesMut::from(&frame[header.header_len..])
    }

    #[test]
    fn messages_travel_both_ways_and_replays_do_not() {
        let mut pair = pair();
        let (client_session, initiated) = handshake(&mut pair);
        let (mut client_sealer, mut client_opener) = client_session.split();
        let (mut server_sealer, mut server_opener) = initiated.session.split();

        for (more, body) in [(true, &b""[..]), (false, &[7; 300][..])] {
            let sealed = seal_frame(&mut client_sealer, more, body);
            let opened = server_opener.open(frame_body(&sealed)).unwrap();
            assert_eq!((opened.more, opened.command, &opened.body[..]), (more, false, body));
        }
        let mut out = BytesMut::new();
        server_sealer
            .seal(&mut out, false, true, 5, |out| out.extend_from_slice(b"\x04PING"))
            .unwrap();
        let opened = client_opener.open(frame_body(&out)).unwrap();
        assert!(opened.command && !opened.more);
        assert_eq!(&opened.body[..], b"\x04PING");

        // A replay, and an older message after a newer one, are refused.
        let first = seal_frame(&mut client_sealer, false, b"first");
        let second = seal_frame(&mut client_sealer, false, b"second");
        server_opener.open(frame_body(&first)).unwrap();
        assert!(matches!(
            server_opener.open(frame_body(&first)),
            Err(ProtocolError::NonceNotIncreasing { .. })
        ));
        server_opener.open(frame_body(&second)).unwrap();
        // A message sealed for the other direction does not open here.
        let from_server = seal_frame(&mut server_sealer, false, b"x");
        assert!(matches!(
            server_opener.open(frame_body(&from_server)),
            Err(ProtocolError::BoxOpenFailed(_))
        ));
        // Altered bytes do not open, and do not move the nonce count.
        let good = seal_frame(&mut client_sealer, false, b"tamper with me");
        let mut bad = frame_body(&good);
        let last = bad.len() - 1;
        bad[last] ^= 0x20;
        assert!(matches!(server_opener.open(bad), Err(ProtocolError::BoxOpenFailed(_))));
        server_opener.open(frame_body(&good)).unwrap();
    }

    #[test]
    fn a_second_welcome_or_hello_is_refused() {
        let mut pair = pair();
        let mut out = BytesMut::new();
        pair.client.hello(&mut out).unwrap();
        let (_, hello) = command(&out);
        out.clear();
        pair.server.on_hello(&hello, &mut out).unwrap();
        // A replayed HELLO would replace the cookie key of the WELCOME sent.
        assert!(matches!(
            pair.server.on_hello(&hello, &mut BytesMut::new()),
            Err(ProtocolError::UnexpectedCommand {
                expected: "INITIATE",
                ..
            })
        ));
        let (_, welcome) = command(&out);
        out.clear();
        pair.client.on_welcome(&welcome, b"", &mut out).unwrap();
        // A replayed WELCOME would make the client seal a second INITIATE under the same key
        // and short nonce.
        let mut again = BytesMut::new();
        assert!(matches!(
            pair.client.on_welcome(&welcome, b"", &mut again),
            Err(ProtocolError::UnexpectedCommand { expected: "READY", .. })
        ));
        assert!(again.is_empty(), "nothing sealed the second time");
    }

    #[test]
    fn a_client_with_the_wrong_server_key_is_refused_at_hello() {
        let mut pair = pair();
        let wrong = SecretKey::generate();
        pair.server = Server::new(Arc::new(wrong));
        let mut out = BytesMut::new();
        pair.client.hello(&mut out).unwrap();
        let (_, hello) = command(&out);
        assert!(matches!(
            pair.server.on_hello(&hello, &mut BytesMut::new()),
            Err(ProtocolError::BoxOpenFailed(_))
        ));
    }

    #[test]
    fn a_cookie_from_another_connection_does_not_open() {
        // Two handshakes with the same server key: the second connection's INITIATE carries the
        // first one's cookie (a replay).
        let mut first = pair();
        let mut out = BytesMut::new();
        first.client.hello(&mut out).unwrap();
        let (_, hello) = command(&out);
        out.clear();
        first.server.on_hello(&hello, &mut out).unwrap();
        let (_, welcome) = command(&out);
        out.clear();
        first.client.on_welcome(&welcome, b"", &mut out).unwrap();
        let (_, initiate) = command(&out);

        let mut second = Server::new(Arc::clone(&first.server.secret));
        out.clear();
        second.on_hello(&hello, &mut out).unwrap();
        assert!(matches!(
            second.on_initiate(&initiate),
            Err(ProtocolError::BoxOpenFailed(what)) if what.contains("cookie")
        ));
        // And the first server accepts it once, not twice.
        first.server.on_initiate(&initiate).unwrap();
        assert!(matches!(
            first.server.on_initiate(&initiate),
            Err(ProtocolError::UnexpectedCommand { .. })
        ));
    }

    #[test]
    fn malformed_commands_are_refused() {
        let mut pair = pair();
        let mut out = BytesMut::new();
        for len in [0, 193, 195] {
            assert!(matches!(
                pair.server.on_hello(&vec![0; len], &mut out),
                Err(ProtocolError::MalformedCommand { command: "HELLO", .. })
            ));
        }
        let mut hello = vec![0; HELLO_DATA_LEN];
        hello[0] = 2;
        assert_eq!(
            pair.server.on_hello(&hello, &mut out),
            Err(ProtocolError::UnsupportedCurveVersion { major: 2, minor: 0 })
        );
        assert!(matches!(
            pair.client.on_welcome(&[0; 10], b"", &mut out),
            Err(ProtocolError::MalformedCommand { command: "WELCOME", .. })
        ));
        let mut opener = Opener {
            key: Arc::new(SharedKey::generate_secret()),
            prefix: CLIENT_MESSAGE_PREFIX,
            last: 0,
        };
        assert!(matches!(
            opener.open(BytesMut::from(&b"\x07MESSAGE12345678"[..])),
            Err(ProtocolError::MalformedCommand { command: "MESSAGE", .. })
        ));
        assert!(matches!(
            opener.open(BytesMut::from(&b"\x04PING\0\0"[..])),
            Err(ProtocolError::UnexpectedCommand { expected: "MESSAGE", received }) if received == "PING"
        ));
    }
}
