//! Security mechanisms: the name in the greeting, and which ones exist.

use std::fmt;

use super::error::ProtocolError;

/// Size of the greeting's mechanism field: "The security mechanism is an ASCII string,
/// null-padded as needed to fit 20 octets" (RFC 23 §"Authentication and Confidentiality").
pub(crate) const MECHANISM_LEN: usize = 20;

/// Name of the NULL mechanism: no authentication, no confidentiality (RFC 23 §"The NULL
/// Security Mechanism").
const NULL_NAME: &str = "NULL";
/// Name of the PLAIN mechanism: user name and password in clear (RFC 24).
const PLAIN_NAME: &str = "PLAIN";
/// Name of the CURVE mechanism: CurveZMQ, authenticated and encrypted (RFC 26).
const CURVE_NAME: &str = "CURVE";

/// A ZMTP security mechanism (libzmq's `ZMQ_MECHANISM`), announced in the
/// greeting.
///
/// Both peers must use the same one; a peer announcing another is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// No authentication and no confidentiality; the handshake is one READY
    /// command each way (RFC 23 §"The NULL Security Mechanism").
    Null,
    /// A user name and password from client to server, in clear (RFC 24).
    Plain,
    /// CurveZMQ: the server authenticated by its public key, the client by
    /// its own, everything after the handshake encrypted (RFC 26).
    Curve,
}

impl Mechanism {
    /// The mechanism's name as it appears in the greeting, e.g. `"NULL"`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Null => NULL_NAME,
            Mechanism::Plain => PLAIN_NAME,
            Mechanism::Curve => CURVE_NAME,
        }
    }

    /// The greeting's mechanism field: the name followed by zero bytes up to 20 bytes.
    pub(crate) fn to_wire(self) -> [u8; MECHANISM_LEN] {
        let mut field = [0; MECHANISM_LEN];
        let name = self.name().as_bytes();
        field[..name.len()].copy_from_slice(name);
        field
    }

    /// The mechanism a greeting's mechanism field names.
    ///
    /// The field must be exactly a known name padded with zero bytes, as libzmq
    /// compares it: "NULL" followed by anything but zeros is not NULL.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::UnsupportedMechanism`] with the name up to the first
    /// zero byte (lossily decoded) if the field is not a known mechanism.
    pub(crate) fn from_wire(field: &[u8; MECHANISM_LEN]) -> Result<Mechanism, ProtocolError> {
        for mechanism in [Mechanism::Null, Mechanism::Plain, Mechanism::Curve] {
            if *field == mechanism.to_wire() {
                return Ok(mechanism);
            }
        }
        let end = field.iter().position(|&b| b == 0).unwrap_or(MECHANISM_LEN);
        Err(ProtocolError::UnsupportedMechanism(
            String::from_utf8_lossy(&field[..end]).into_owned(),
        ))
    }
}

impl fmt::Display for Mechanism {
    /// Writes the mechanism's wire name, e.g. `NULL`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_is_padded_with_zeros() {
        let field = Mechanism::Null.to_wire();
        assert_eq!(&field[..4], b"NULL");
        assert!(field[4..].iter().all(|&b| b == 0));
        assert_eq!(Mechanism::from_wire(&field), Ok(Mechanism::Null));
        assert_eq!(Mechanism::Null.to_string(), "NULL");
    }

    #[test]
    fn other_names_are_unsupported() {
        let mut gssapi = [0; MECHANISM_LEN];
        gssapi[..6].copy_from_slice(b"GSSAPI");
        assert_eq!(
            Mechanism::from_wire(&gssapi),
            Err(ProtocolError::UnsupportedMechanism("GSSAPI".into()))
        );
        for mechanism in [Mechanism::Plain, Mechanism::Curve] {
            assert_eq!(Mechanism::from_wire(&mechanism.to_wire()), Ok(mechanism));
        }

        let mut garbage_after_null = Mechanism::Null.to_wire();
        garbage_after_null[10] = b'X';
        assert_eq!(
            Mechanism::from_wire(&garbage_after_null),
            Err(ProtocolError::UnsupportedMechanism("NULL".into()))
        );

        let full = [b'A'; MECHANISM_LEN];
        assert_eq!(
            Mechanism::from_wire(&full),
            Err(ProtocolError::UnsupportedMechanism("A".repeat(20)))
        );
    }
}
