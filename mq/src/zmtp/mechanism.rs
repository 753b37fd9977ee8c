//! Security mechanisms: the name in the greeting, and which ones exist.

use std::fmt;

use super::error::ProtocolError;

/// Size of the greeting's mechanism field: "The security mechanism is an ASCII string,
/// null-padded as needed to fit 20 octets" (RFC 23 §"Authentication and Confidentiality").
pub(crate) const MECHANISM_LEN: usize = 20;

/// Name of the NULL mechanism: no authentication, no confidentiality (RFC 23 §"The NULL
/// Security Mechanism").
const NULL_NAME: &str = "NULL";

/// A ZMTP security mechanism, announced in the greeting.
///
/// Both peers must announce the same one. Only NULL exists so far; PLAIN
/// (RFC 24) and CURVE (RFC 25) will be further variants. A greeting naming any
/// other mechanism is refused with [`ProtocolError::UnsupportedMechanism`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Mechanism {
    /// No authentication and no confidentiality; the handshake is one READY
    /// command each way (RFC 23 §"The NULL Security Mechanism").
    Null,
}

impl Mechanism {
    /// The mechanism's name as it appears in the greeting, e.g. `"NULL"`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Null => NULL_NAME,
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
        if *field == Mechanism::Null.to_wire() {
            return Ok(Mechanism::Null);
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
        let mut plain = [0; MECHANISM_LEN];
        plain[..5].copy_from_slice(b"PLAIN");
        assert_eq!(
            Mechanism::from_wire(&plain),
            Err(ProtocolError::UnsupportedMechanism("PLAIN".into()))
        );

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
