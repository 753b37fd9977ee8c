//! The 64-byte greeting each peer sends first: signature, version, security
//! mechanism.
//!
//! Layout (RFC 23 §"Formal Grammar", byte offsets as in RFC 37 §"Worked Example"):
//!
//! ```text
//! offset  0      1..=8    9      10     11     12..=31    32         33..=63
//!         %xFF   padding  %x7F   major  minor  mechanism  as-server  filler
//!         '--- signature ---'
//! ```

use super::error::ProtocolError;
use super::mechanism::{MECHANISM_LEN, Mechanism};

/// Size of a complete greeting: "The filler extends the greeting to 64 octets"
/// (RFC 23 §"Formal Grammar").
pub(crate) const GREETING_LEN: usize = 64;

/// Offset of the signature's first byte (RFC 23 §"Formal Grammar": `signature = %xFF padding %x7F`).
const SIGNATURE_START_OFFSET: usize = 0;
/// The signature's first byte (RFC 23 §"Formal Grammar").
const SIGNATURE_START: u8 = 0xFF;
/// Offset of the signature's 8 padding bytes, which carry no meaning: "A peer SHALL NOT assign
/// any significance to the padding field and MUST NOT validate this" (RFC 23 §"Version
/// Negotiation").
const PADDING_OFFSET: usize = 1;
/// Size of the padding (RFC 23 §"Formal Grammar": `padding = 8OCTET`).
const PADDING_LEN: usize = 8;
/// Offset of the signature's last byte (RFC 23 §"Formal Grammar").
const SIGNATURE_END_OFFSET: usize = PADDING_OFFSET + PADDING_LEN;
/// The signature's last byte (RFC 23 §"Formal Grammar").
const SIGNATURE_END: u8 = 0x7F;
/// Offset of the major version (RFC 23 §"Formal Grammar": `version = version-major version-minor`).
const MAJOR_OFFSET: usize = SIGNATURE_END_OFFSET + 1;
/// Offset of the minor version (RFC 23 §"Formal Grammar").
const MINOR_OFFSET: usize = MAJOR_OFFSET + 1;
/// Offset of the 20-byte mechanism name (RFC 23 §"Formal Grammar": `mechanism = 20mechanism-char`).
const MECHANISM_OFFSET: usize = MINOR_OFFSET + 1;
/// Offset of the as-server flag (RFC 23 §"Formal Grammar": `as-server = %x00 | %x01`).
const AS_SERVER_OFFSET: usize = MECHANISM_OFFSET + MECHANISM_LEN;
/// Offset of the zero filler (RFC 23 §"Formal Grammar": `filler = 31%x00`).
// Read only by the layout assertion below, which Rust 1.88 (the minimum)
// does not count as a use.
#[allow(dead_code)]
const FILLER_OFFSET: usize = AS_SERVER_OFFSET + 1;
/// Size of the filler (RFC 23 §"Formal Grammar").
#[allow(dead_code)]
const FILLER_LEN: usize = 31;
/// The major version this crate speaks: ZMTP 3 (RFC 37 §"Formal Grammar": `version-major = %x03`).
const OUR_MAJOR: u8 = 3;
/// The minor version this crate speaks: ZMTP 3.1 (RFC 37 §"Formal Grammar": `version-minor = %x01`).
const OUR_MINOR: u8 = 1;
/// Bytes of a greeting needed to judge its version: signature, major and minor. A peer that
/// detects old versions sends the first 11 bytes and waits for ours (RFC 37 §"Version
/// Negotiation"); since we send our whole greeting at once it then sends the rest, so waiting
/// for 12 bytes cannot deadlock.
const VERSION_END: usize = MINOR_OFFSET + 1;

// The layout adds up to the fixed greeting size.
const _: () = assert!(FILLER_OFFSET + FILLER_LEN == GREETING_LEN);

/// A ZMTP 3.x greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Greeting {
    /// Major protocol version (3 for every peer this crate accepts).
    pub(crate) major: u8,
    /// Minor protocol version (0 for a ZMTP 3.0 peer, 1 for 3.1).
    pub(crate) minor: u8,
    /// The security mechanism the sender uses.
    pub(crate) mechanism: Mechanism,
    /// Whether the sender acts as server in the mechanism's handshake (always false for NULL:
    /// "When a peer uses the NULL security mechanism, the as-server field MUST be zero").
    pub(crate) as_server: bool,
}

impl Greeting {
    /// Our greeting: ZMTP 3.1 with the given mechanism and role.
    pub(crate) fn ours(mechanism: Mechanism, as_server: bool) -> Greeting {
        Greeting {
            major: OUR_MAJOR,
            minor: OUR_MINOR,
            mechanism,
            as_server,
        }
    }

    /// The greeting's 64 bytes, with zero padding and filler.
    pub(crate) fn encode(&self) -> [u8; GREETING_LEN] {
        let mut bytes = [0; GREETING_LEN];
        bytes[SIGNATURE_START_OFFSET] = SIGNATURE_START;
        bytes[SIGNATURE_END_OFFSET] = SIGNATURE_END;
        bytes[MAJOR_OFFSET] = self.major;
        bytes[MINOR_OFFSET] = self.minor;
        bytes[MECHANISM_OFFSET..AS_SERVER_OFFSET].copy_from_slice(&self.mechanism.to_wire());
        bytes[AS_SERVER_OFFSET] = u8::from(self.as_server);
        bytes
    }

    /// Parses a complete 64-byte greeting.
    ///
    /// The padding and the filler are not validated (RFC 23 forbids validating the padding;
    /// libzmq ignores the filler). Any non-zero as-server byte reads as `true`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BadSignature`] if the signature is wrong,
    /// [`ProtocolError::UnsupportedVersion`] if the major version is below 3,
    /// [`ProtocolError::UnsupportedMechanism`] if the mechanism name is unknown.
    pub(crate) fn decode(bytes: &[u8; GREETING_LEN]) -> Result<Greeting, ProtocolError> {
        Greeting::check_prefix(bytes)?;
        let mut mechanism = [0; MECHANISM_LEN];
        mechanism.copy_from_slice(&bytes[MECHANISM_OFFSET..AS_SERVER_OFFSET]);
        Ok(Greeting {
            major: bytes[MAJOR_OFFSET],
            minor: bytes[MINOR_OFFSET],
            mechanism: Mechanism::from_wire(&mechanism)?,
            as_server: bytes[AS_SERVER_OFFSET] != 0,
        })
    }

    /// Checks as much of a greeting as `prefix` holds (any length, possibly more than 64 bytes
    /// of which only the first 64 are looked at): the signature bytes present, and the version
    /// once the first 12 bytes are there.
    ///
    /// This lets a connection drop a ZMTP 1.0/2.0 peer or a non-ZeroMQ client as soon as its
    /// first bytes arrive, instead of waiting for 64 bytes such a peer may never send.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BadSignature`] or [`ProtocolError::UnsupportedVersion`].
    pub(crate) fn check_prefix(prefix: &[u8]) -> Result<(), ProtocolError> {
        let expected = [
            (SIGNATURE_START_OFFSET, SIGNATURE_START),
            (SIGNATURE_END_OFFSET, SIGNATURE_END),
        ];
        for (offset, byte) in expected {
            match prefix.get(offset) {
                Some(&found) if found != byte => return Err(ProtocolError::BadSignature { offset, found }),
                Some(_) => {}
                None => return Ok(()),
            }
        }
        if prefix.len() >= VERSION_END && prefix[MAJOR_OFFSET] < OUR_MAJOR {
            return Err(ProtocolError::UnsupportedVersion {
                major: prefix[MAJOR_OFFSET],
                minor: prefix[MINOR_OFFSET],
            });
        }
        Ok(())
    }

    /// The minor version both sides speak once this (the peer's) greeting is accepted:
    /// 0 for a ZMTP 3.0 peer, 1 for 3.1 and anything newer ("A peer SHALL always use its own
    /// protocol (including framing) when talking to an equal or higher protocol peer", RFC 37
    /// §"Version Negotiation"). libzmq negotiates the same way.
    pub(crate) fn negotiated_minor(&self) -> u8 {
        if self.major == OUR_MAJOR {
            self.minor.min(OUR_MINOR)
        } else {
            OUR_MINOR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our greeting, byte by byte, as RFC 37 §"Worked Example" draws it.
    fn rfc_example() -> [u8; GREETING_LEN] {
        let mut expected = Vec::new();
        expected.push(0xFF);
        expected.extend([0; 8]);
        expected.push(0x7F);
        expected.extend([3, 1]);
        expected.extend(b"NULL");
        expected.extend([0; 16]);
        expected.push(0); // as-server
        expected.extend([0; 31]);
        expected.try_into().unwrap()
    }

    #[test]
    fn ours_is_byte_exact_with_the_rfc_example() {
        assert_eq!(Greeting::ours(Mechanism::Null, false).encode(), rfc_example());
        let mut server = rfc_example();
        server[32] = 1;
        assert_eq!(Greeting::ours(Mechanism::Null, true).encode(), server);
    }

    #[test]
    fn round_trip() {
        for as_server in [false, true] {
            let greeting = Greeting::ours(Mechanism::Null, as_server);
            assert_eq!(Greeting::decode(&greeting.encode()), Ok(greeting));
        }
    }

    #[test]
    fn padding_and_filler_are_not_validated() {
        let mut bytes = rfc_example();
        bytes[1..9].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // a 1.0-detecting peer's "size"
        bytes[40] = 0xAA;
        let greeting = Greeting::decode(&bytes).unwrap();
        assert_eq!(
            (greeting.major, greeting.minor, greeting.mechanism),
            (3, 1, Mechanism::Null)
        );
    }

    #[test]
    fn bad_signature_is_refused_from_the_first_byte() {
        assert_eq!(Greeting::check_prefix(&[]), Ok(()));
        assert_eq!(
            Greeting::check_prefix(&[0x01]),
            Err(ProtocolError::BadSignature { offset: 0, found: 0x01 })
        );
        let mut bytes = rfc_example();
        assert_eq!(Greeting::check_prefix(&bytes[..9]), Ok(()));
        bytes[9] = 0x7E;
        assert_eq!(
            Greeting::check_prefix(&bytes[..10]),
            Err(ProtocolError::BadSignature { offset: 9, found: 0x7E })
        );
        assert_eq!(
            Greeting::decode(&bytes),
            Err(ProtocolError::BadSignature { offset: 9, found: 0x7E })
        );
    }

    #[test]
    fn versions_below_3_are_refused() {
        for major in [0, 1, 2] {
            let mut bytes = rfc_example();
            bytes[10] = major;
            bytes[11] = 0;
            assert_eq!(
                Greeting::check_prefix(&bytes[..11]),
                Ok(()),
                "the minor is not there yet"
            );
            let error = ProtocolError::UnsupportedVersion { major, minor: 0 };
            assert_eq!(Greeting::check_prefix(&bytes[..12]), Err(error.clone()));
            assert_eq!(Greeting::decode(&bytes), Err(error));
        }
        let mut bytes = rfc_example();
        bytes[10] = 2;
        bytes[11] = 0;
        assert_eq!(
            Greeting::decode(&bytes).unwrap_err().to_string(),
            "unsupported ZMTP version 2.0"
        );
    }

    #[test]
    fn version_negotiation() {
        for (major, minor, negotiated) in [(3, 0, 0), (3, 1, 1), (3, 2, 1), (4, 0, 1), (255, 255, 1)] {
            let mut bytes = rfc_example();
            bytes[10] = major;
            bytes[11] = minor;
            let greeting = Greeting::decode(&bytes).unwrap();
            assert_eq!((greeting.major, greeting.minor), (major, minor));
            assert_eq!(greeting.negotiated_minor(), negotiated, "{major}.{minor}");
        }
    }

    #[test]
    fn unknown_mechanism_is_refused() {
        let mut bytes = rfc_example();
        bytes[12..18].copy_from_slice(b"GSSAPI");
        assert_eq!(
            Greeting::decode(&bytes),
            Err(ProtocolError::UnsupportedMechanism("GSSAPI".into()))
        );
    }
}
