//! Security on the wire: CURVE keys (RFC 26), their Z85 text (RFC 32), and
//! the mechanism a socket uses.
//!
//! A socket speaks NULL unless told otherwise: no authentication and no
//! encryption, like libzmq's default. With CURVE, every byte after the
//! handshake is encrypted and authenticated, the client knows it talks to
//! the server whose public key it was given, and the server learns the
//! client's public key (which a ZAP handler may check).
//!
//! ```no_run
//! use dhaga_mq::{Socket, SocketType, curve_keypair};
//!
//! let server_keys = curve_keypair();
//! let server = Socket::new(SocketType::Rep);
//! server.set_curve_server(true);
//! server.set_curve_secretkey(server_keys.secret())?;
//! server.bind("tcp://127.0.0.1:5555")?;
//!
//! let client_keys = curve_keypair();
//! let client = Socket::new(SocketType::Req);
//! client.set_curve_serverkey(server_keys.public())?;
//! client.set_curve_publickey(client_keys.public())?;
//! client.set_curve_secretkey(client_keys.secret())?;
//! client.connect("tcp://127.0.0.1:5555")?;
//! # Ok::<(), dhaga_mq::Error>(())
//! ```

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::zmtp::{KEY_LEN, SecretKey};

pub use crate::zmtp::Mechanism;

/// Length of a key written in Z85: 32 bytes make 40 characters.
const Z85_KEY_LEN: usize = 40;

/// A CURVE key pair, as [`curve_keypair`] makes it: both keys in Z85 text
/// (40 characters), the form libzmq's `zmq_curve_keypair` and pyzmq's
/// `zmq.curve_keypair` give and every key setter accepts. The secret is
/// zeroed when the pair is dropped, and `Debug` does not show it.
pub struct CurveKeyPair {
    public: String,
    secret: Zeroizing<String>,
}

impl CurveKeyPair {
    /// The public key, to give to peers.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// The secret key, to keep.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A new CURVE key pair from the operating system's random source
/// (libzmq's `zmq_curve_keypair`).
pub fn curve_keypair() -> CurveKeyPair {
    let secret = SecretKey::generate();
    CurveKeyPair {
        public: z85::encode(secret.public_key()),
        secret: Zeroizing::new(z85::encode(*secret.to_bytes())),
    }
}

/// The public key of a CURVE secret key given as 32 bytes or 40 characters
/// of Z85, in Z85 (libzmq's `zmq_curve_public`).
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `secret` is neither 32 bytes nor 40 Z85
/// characters.
pub fn curve_public(secret: impl AsRef<[u8]>) -> Result<String> {
    let secret = parse_key(secret.as_ref()).ok_or(Error::InvalidArgument(
        "a CURVE secret key is 32 bytes or 40 characters of Z85",
    ))?;
    Ok(z85::encode(SecretKey::from_bytes(&secret).public_key()))
}

/// Encodes `data` in Z85 (RFC 32; libzmq's `zmq_z85_encode`).
///
/// # Errors
///
/// [`Error::InvalidArgument`] if its length is not a multiple of 4.
pub fn z85_encode(data: impl AsRef<[u8]>) -> Result<String> {
    let data = data.as_ref();
    if data.len() % 4 != 0 {
        return Err(Error::InvalidArgument("Z85 encodes a multiple of 4 bytes"));
    }
    Ok(z85::encode(data))
}

/// Decodes Z85 text (RFC 32; libzmq's `zmq_z85_decode`).
///
/// # Errors
///
/// [`Error::InvalidArgument`] if its length is not a multiple of 5 or it
/// holds a character outside Z85's alphabet.
pub fn z85_decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>> {
    let text = text.as_ref();
    if text.len() % 5 != 0 {
        return Err(Error::InvalidArgument("Z85 text is a multiple of 5 characters"));
    }
    z85::decode(text).map_err(|_| Error::InvalidArgument("Z85 text holds a character outside its alphabet"))
}

/// A key given as 32 bytes, or as 40 characters of Z85; the copy made while
/// decoding is zeroed.
pub(crate) fn parse_key(key: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    match key.len() {
        KEY_LEN => Some(Zeroizing::new(key.try_into().expect("32 bytes"))),
        Z85_KEY_LEN => {
            let decoded = Zeroizing::new(z85::decode(key).ok()?);
            Some(Zeroizing::new((*decoded).as_slice().try_into().ok()?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // libzmq's test key pairs (zmq_curve(7), "Test key values").
    const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
    const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
    const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

    #[test]
    fn the_public_key_of_libzmqs_test_keys() {
        assert_eq!(curve_public(CLIENT_SECRET).unwrap(), CLIENT_PUBLIC);
        assert_eq!(curve_public(SERVER_SECRET).unwrap(), SERVER_PUBLIC);
        // The same key as 32 bytes.
        let secret = z85_decode(SERVER_SECRET).unwrap();
        assert_eq!(
            hex(&secret),
            "8e0bdd697628b91d8f245587ee95c5b04d48963f79259877b49cd9063aead3b7"
        );
        assert_eq!(curve_public(&secret).unwrap(), SERVER_PUBLIC);
        assert!(matches!(curve_public("too short"), Err(Error::InvalidArgument(_))));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn z85_follows_rfc_32() {
        // RFC 32's worked example.
        let hello = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(z85_encode(hello).unwrap(), "HelloWorld");
        assert_eq!(z85_decode("HelloWorld").unwrap(), hello);
        assert!(z85_encode([1, 2, 3]).is_err());
        assert!(z85_decode("Hello").is_ok());
        assert!(z85_decode("Hell").is_err());
        assert!(z85_decode("Hell~").is_err(), "~ is not in Z85's alphabet");
    }

    #[test]
    fn key_pairs_are_fresh_and_consistent() {
        let (a, b) = (curve_keypair(), curve_keypair());
        assert_ne!(a.secret(), b.secret());
        assert_eq!((a.public().len(), a.secret().len()), (40, 40));
        assert_eq!(curve_public(a.secret()).unwrap(), a.public());
        assert!(!format!("{a:?}").contains(a.secret()), "Debug shows no secret");
    }

    #[test]
    fn keys_parse_from_bytes_or_z85() {
        assert_eq!(*parse_key(&[7; 32]).unwrap(), [7; 32]);
        let z85 = z85_encode([7; 32]).unwrap();
        assert_eq!(*parse_key(z85.as_bytes()).unwrap(), [7; 32]);
        assert!(parse_key(&[7; 31]).is_none());
        assert!(parse_key(&[b'~'; 40]).is_none());
    }
}
