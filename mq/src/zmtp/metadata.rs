//! Connection metadata: the name/value properties a READY command carries.
//!
//! ```text
//! property = name-size (1 byte) name (1..=255 bytes) value-size (4 bytes, big-endian) value
//! ```
//!
//! (RFC 23 §"The NULL Security Mechanism", `metadata = *property`.)

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::ProtocolError;
use crate::socket_type::SocketType;

/// Size of a property name's length field (RFC 23 §"The NULL Security Mechanism":
/// `name = short-size 1*255name-char`).
const NAME_SIZE_LEN: usize = 1;
/// Longest property name: "The name SHALL be 1 to 255 characters" (RFC 23 §"The NULL Security
/// Mechanism").
const MAX_NAME_LEN: usize = 255;
/// Size of a property value's length field: "The value size field SHALL be four octets, in
/// network byte order" (RFC 23 §"The NULL Security Mechanism").
const VALUE_SIZE_LEN: usize = 4;
/// Longest property value: "0 to 2,147,483,647 (2^31-1 or INT32_MAX in C/C++) octets" (RFC 23
/// §"The NULL Security Mechanism").
const MAX_VALUE_LEN: usize = i32::MAX as usize;
/// Name of the property announcing the sender's socket type (RFC 23 §"The Socket-Type Property").
pub(crate) const SOCKET_TYPE: &str = "Socket-Type";
/// Name of the property announcing the sender's identity, used by ROUTER peers as its routing id
/// (RFC 23 §"The Identity Property").
pub(crate) const IDENTITY: &str = "Identity";

/// Whether `c` may appear in a property name (RFC 23 §"The NULL Security Mechanism":
/// `name-char = ALPHA | DIGIT | "-" | "_" | "." | "+"`).
fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+')
}

/// Why `name` cannot be a property name, if it cannot.
fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("empty property name")
    } else if name.len() > MAX_NAME_LEN {
        Err("property name longer than 255 bytes")
    } else if !name.iter().copied().all(is_name_char) {
        Err("invalid character in property name")
    } else {
        Ok(())
    }
}

/// The metadata of a connection: an ordered list of (name, value) properties.
///
/// Names are compared without regard to ASCII case ("The case (upper or lower) of names SHALL
/// NOT be significant"); the order and spelling they were sent in are kept. If a name appears
/// twice, [`get`](Metadata::get) returns the first value, as libzmq does.
///
/// Values decoded from the wire share the command's buffer (no copy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Metadata {
    /// The properties in wire order. Names are valid property names (checked on insertion and
    /// on decoding), values at most 2^31-1 bytes.
    properties: Vec<(String, Bytes)>,
}

impl Metadata {
    /// Empty metadata.
    pub(crate) fn new() -> Metadata {
        Metadata::default()
    }

    /// Adds a property, builder style: `Metadata::new().with("Socket-Type", b"REQ")`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid property name (1 to 255 of `A-Z a-z 0-9 - _ . +`) or `value` is
    /// longer than 2^31-1 bytes. Names are chosen by code, not by peers, so a bad one is a bug.
    pub(crate) fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Metadata {
        if let Err(problem) = check_name(name.as_bytes()) {
            panic!("{problem}: {name:?}");
        }
        let value = value.as_ref();
        assert!(
            value.len() <= MAX_VALUE_LEN,
            "property {name} value of {} bytes is too long",
            value.len()
        );
        self.properties.push((name.to_owned(), Bytes::copy_from_slice(value)));
        self
    }

    /// These properties but those called one of `names` (ignoring ASCII case).
    pub(crate) fn without(mut self, names: &[&str]) -> Metadata {
        self.properties
            .retain(|(name, _)| !names.iter().any(|reserved| name.eq_ignore_ascii_case(reserved)));
        self
    }

    /// Adds the properties of `other` after these.
    pub(crate) fn with_all(mut self, other: &Metadata) -> Metadata {
        self.properties.extend(other.properties.iter().cloned());
        self
    }

    /// The value of the first property called `name`, ignoring ASCII case.
    pub(crate) fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The properties in the order they were added or received.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for the monitor's handshake events (issue 6)")
    )]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.properties.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// The socket type the `Socket-Type` property announces.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::MissingSocketType`] if there is no such property,
    /// [`ProtocolError::UnknownSocketType`] if it names no type this crate implements.
    pub(crate) fn socket_type(&self) -> Result<SocketType, ProtocolError> {
        let value = self.get(SOCKET_TYPE).ok_or(ProtocolError::MissingSocketType)?;
        SocketType::from_name(value).ok_or_else(|| {
            // Quote at most a name's worth of a hostile value in the error.
            let quoted = &value[..value.len().min(MAX_NAME_LEN)];
            ProtocolError::UnknownSocketType(String::from_utf8_lossy(quoted).into_owned())
        })
    }

    /// The `Identity` property's value, if present (it may be empty).
    pub(crate) fn identity(&self) -> Option<&Bytes> {
        self.get(IDENTITY)
    }

    /// Size of the encoded properties in bytes.
    pub(crate) fn encoded_len(&self) -> usize {
        self.properties
            .iter()
            .map(|(name, value)| NAME_SIZE_LEN + name.len() + VALUE_SIZE_LEN + value.len())
            .sum()
    }

    /// Appends the encoded properties to `out` ([`encoded_len`](Metadata::encoded_len) bytes).
    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        for (name, value) in &self.properties {
            // Both conversions hold by the invariants `with` and `decode` establish.
            out.put_u8(name.len() as u8);
            out.put_slice(name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }

    /// Parses a whole metadata block (the rest of a READY command's body). Values are slices of
    /// `data`; nothing is allocated beyond the names and the list, both bounded by `data`'s
    /// length.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::MalformedMetadata`] if a property is truncated (a length runs past the
    /// end of `data`), a name is empty or has a character outside the name charset, or a value
    /// is longer than 2^31-1 bytes.
    pub(crate) fn decode(mut data: Bytes) -> Result<Metadata, ProtocolError> {
        let mut properties = Vec::new();
        while data.has_remaining() {
            let name_len = usize::from(data.get_u8());
            if data.len() < name_len {
                return Err(ProtocolError::MalformedMetadata("property name truncated"));
            }
            let name = data.split_to(name_len);
            check_name(&name).map_err(ProtocolError::MalformedMetadata)?;
            if data.len() < VALUE_SIZE_LEN {
                return Err(ProtocolError::MalformedMetadata("property value size truncated"));
            }
            let value_len = data.get_u32();
            if value_len as usize > MAX_VALUE_LEN {
                return Err(ProtocolError::MalformedMetadata(
                    "property value longer than 2^31-1 bytes",
                ));
            }
            // At most 2^31-1, so it fits in usize.
            let value_len = value_len as usize;
            if data.len() < value_len {
                return Err(ProtocolError::MalformedMetadata("property value truncated"));
            }
            let value = data.split_to(value_len);
            // `check_name` accepted only ASCII, so this cannot fail.
            let name = String::from_utf8(name.to_vec())
                .map_err(|_| ProtocolError::MalformedMetadata("invalid character in property name"))?;
            properties.push((name, value));
        }
        Ok(Metadata { properties })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(metadata: &Metadata) -> Bytes {
        let mut out = BytesMut::new();
        metadata.encode(&mut out);
        assert_eq!(out.len(), metadata.encoded_len());
        out.freeze()
    }

    #[test]
    fn round_trip_keeps_order_and_spelling() {
        let metadata = Metadata::new()
            .with("Socket-Type", b"DEALER")
            .with("Identity", b"")
            .with("X-Big", vec![9; 300])
            .with(&"n".repeat(255), b"v");
        let decoded = Metadata::decode(encoded(&metadata)).unwrap();
        assert_eq!(decoded, metadata);
        let names: Vec<_> = decoded.iter().map(|(name, _)| name.to_owned()).collect();
        assert_eq!(names[..3], ["Socket-Type", "Identity", "X-Big"]);
    }

    #[test]
    fn layout_is_the_rfc_worked_example() {
        // RFC 37 §"Worked Example", bytes 8 to 42 of the DEALER's READY.
        let mut expected = vec![11];
        expected.extend(b"Socket-Type");
        expected.extend([0, 0, 0, 6]);
        expected.extend(b"DEALER");
        expected.push(8);
        expected.extend(b"Identity");
        expected.extend([0, 0, 0, 0]);
        let metadata = Metadata::new().with("Socket-Type", b"DEALER").with("Identity", b"");
        assert_eq!(encoded(&metadata), expected);
    }

    #[test]
    fn names_are_case_insensitive() {
        let metadata = Metadata::decode(encoded(&Metadata::new().with("sOcKeT-tYpE", b"rep"))).unwrap();
        assert_eq!(metadata.get("Socket-Type").map(|v| &v[..]), Some(&b"rep"[..]));
        assert_eq!(metadata.socket_type(), Ok(SocketType::Rep));
        assert_eq!(metadata.identity(), None);
    }

    #[test]
    fn first_duplicate_wins() {
        let metadata = Metadata::new().with("Identity", b"a").with("identity", b"b");
        assert_eq!(metadata.identity().map(|v| &v[..]), Some(&b"a"[..]));
    }

    #[test]
    fn socket_type_errors() {
        assert_eq!(Metadata::new().socket_type(), Err(ProtocolError::MissingSocketType));
        assert_eq!(
            Metadata::new().with("Socket-Type", b"CLIENT").socket_type(),
            Err(ProtocolError::UnknownSocketType("CLIENT".into()))
        );
    }

    #[test]
    fn values_share_the_input_buffer() {
        let input = encoded(&Metadata::new().with("A", vec![1; 100]));
        let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
        let decoded = Metadata::decode(input.clone()).unwrap();
        assert!(range.contains(&(decoded.get("a").unwrap().as_ptr() as usize)));
    }

    #[test]
    fn malformed_blocks_are_refused() {
        let problem = |bytes: &[u8]| match Metadata::decode(Bytes::copy_from_slice(bytes)) {
            Err(ProtocolError::MalformedMetadata(problem)) => problem,
            other => panic!("{bytes:?} gave {other:?}"),
        };
        assert_eq!(problem(&[0]), "empty property name");
        assert_eq!(problem(&[0, 0, 0, 0, 0]), "empty property name");
        assert_eq!(problem(&[3, b'a', b'b']), "property name truncated");
        assert_eq!(
            problem(&[2, b'a', b' ', 0, 0, 0, 0]),
            "invalid character in property name"
        );
        assert_eq!(problem(&[1, 0xC3, 0, 0, 0, 0]), "invalid character in property name");
        assert_eq!(problem(&[1, b'a', 0, 0]), "property value size truncated");
        assert_eq!(problem(&[1, b'a', 0, 0, 0, 2, b'x']), "property value truncated");
        assert_eq!(
            problem(&[1, b'a', 0xFF, 0xFF, 0xFF, 0xFF]),
            "property value longer than 2^31-1 bytes"
        );
        // A good property followed by a stray byte.
        assert_eq!(problem(&[1, b'a', 0, 0, 0, 0, 5]), "property name truncated");
        assert_eq!(Metadata::decode(Bytes::new()), Ok(Metadata::new()));
    }

    #[test]
    #[should_panic(expected = "invalid character in property name")]
    fn builder_refuses_bad_names() {
        let _ = Metadata::new().with("Socket Type", b"REQ");
    }

    #[test]
    #[should_panic(expected = "property name longer than 255 bytes")]
    fn builder_refuses_long_names() {
        let _ = Metadata::new().with(&"n".repeat(256), b"");
    }
}
