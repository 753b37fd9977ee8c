//! PLAIN (RFC 24): a user name and a password from client to server, in
//! clear; the server asks its ZAP handler whether they are good.
//!
//! ```text
//! client                               server
//!   HELLO    username, password  ->
//!                                <-  WELCOME          (after ZAP said 200)
//!   INITIATE metadata            ->
//!                                <-  READY    metadata
//! ```
//!
//! Nothing is encrypted, before or after: PLAIN is for networks the
//! operator trusts, as RFC 24 says.

use bytes::{Bytes, BytesMut};

use super::error::ProtocolError;
use super::frame::encode_raw_command;

/// The longest user name or password: each travels after a one-byte size.
pub(crate) const MAX_CREDENTIAL_LEN: usize = 255;

/// Appends the client's HELLO with its user name and password.
///
/// # Panics
///
/// If either is longer than [`MAX_CREDENTIAL_LEN`] (the socket option
/// setters refuse such values).
pub(crate) fn hello(out: &mut BytesMut, username: &[u8], password: &[u8]) {
    let username_len = u8::try_from(username.len()).expect("a PLAIN user name is at most 255 bytes");
    let password_len = u8::try_from(password.len()).expect("a PLAIN password is at most 255 bytes");
    encode_raw_command(out, "HELLO", &[&[username_len], username, &[password_len], password]);
}

/// The user name and password of a client's HELLO.
///
/// # Errors
///
/// [`ProtocolError::MalformedCommand`] if a size runs past the end or bytes
/// follow the password (libzmq refuses both).
pub(crate) fn parse_hello(data: &Bytes) -> Result<(Bytes, Bytes), ProtocolError> {
    let malformed = |problem| ProtocolError::MalformedCommand {
        command: "HELLO",
        problem,
    };
    let username_len = usize::from(*data.first().ok_or(malformed("no user name"))?);
    let username = data.get(1..1 + username_len).ok_or(malformed("user name truncated"))?;
    let rest = &data[1 + username_len..];
    let password_len = usize::from(*rest.first().ok_or(malformed("no password"))?);
    if rest.len() != 1 + password_len {
        return Err(malformed("password truncated, or bytes after it"));
    }
    let username = data.slice_ref(username);
    let password = data.slice_ref(&rest[1..]);
    Ok((username, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zmtp::command::split_name;
    use crate::zmtp::frame::parse_header;

    #[test]
    fn hello_round_trips_and_matches_rfc_24() {
        let mut out = BytesMut::new();
        hello(&mut out, b"admin", b"secret");
        // RFC 24: hello = command-size %d5 "HELLO" username password, each a short size
        // and its bytes.
        assert_eq!(&out[..], b"\x04\x13\x05HELLO\x05admin\x06secret");
        let header = parse_header(&out).unwrap().unwrap();
        let (name, data) = split_name(Bytes::copy_from_slice(&out[header.header_len..])).unwrap();
        assert_eq!(&name[..], b"HELLO");
        let (username, password) = parse_hello(&data).unwrap();
        assert_eq!((&username[..], &password[..]), (&b"admin"[..], &b"secret"[..]));
        // Empty ones are allowed.
        assert_eq!(
            parse_hello(&Bytes::from_static(b"\x00\x00")).unwrap(),
            (Bytes::new(), Bytes::new())
        );
    }

    #[test]
    fn malformed_hellos_are_refused() {
        for data in [
            &b""[..],
            b"\x05adm",
            b"\x05admin",
            b"\x05admin\x06sec",
            b"\x05admin\x06secretX",
        ] {
            assert!(
                matches!(
                    parse_hello(&Bytes::copy_from_slice(data)),
                    Err(ProtocolError::MalformedCommand { command: "HELLO", .. })
                ),
                "{data:?}"
            );
        }
    }
}
