//! The security options of a socket, with libzmq's names and rules: the
//! last option set chooses the mechanism and the role.
//!
//! - `set_curve_server(true)` makes the socket a CURVE server,
//!   `set_curve_server(false)` returns it to NULL;
//! - `set_curve_serverkey` makes it a CURVE client of that server;
//! - `set_curve_publickey` and `set_curve_secretkey` set the keys (and the
//!   mechanism to CURVE, keeping the role).
//!
//! They apply to connections made afterwards; a socket whose options do not
//! add up (a client without a secret key) is refused at `bind` and
//! `connect`.

use std::sync::Arc;

use super::Socket;
use crate::error::{Error, Result};
use crate::security::parse_key;
use crate::zmtp::{Mechanism, SecretKey};

/// What the key setters accept.
const KEY_FORM: &str = "a CURVE key is 32 bytes or 40 characters of Z85";

impl Socket {
    /// `ZMQ_MECHANISM`: the security mechanism the socket's connections
    /// use (default [`Mechanism::Null`]).
    pub fn mechanism(&self) -> Mechanism {
        self.core.options().mechanism
    }

    /// `ZMQ_CURVE_SERVER`: `true` makes this socket a CURVE server (it
    /// also needs [`set_curve_secretkey`](Socket::set_curve_secretkey));
    /// `false` returns it to NULL, as in libzmq. The role does not depend
    /// on whether the socket binds or connects.
    pub fn set_curve_server(&self, on: bool) {
        let mut options = self.core.options();
        options.as_server = on;
        options.mechanism = if on { Mechanism::Curve } else { Mechanism::Null };
    }

    /// Whether this socket is a CURVE server.
    pub fn curve_server(&self) -> bool {
        let options = self.core.options();
        options.mechanism == Mechanism::Curve && options.as_server
    }

    /// `ZMQ_CURVE_SECRETKEY`: this socket's long-term secret key, as 32
    /// bytes or 40 characters of Z85. Sets the mechanism to CURVE. The key
    /// is kept zeroed-on-drop and is never shown.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] if the key is neither form.
    pub fn set_curve_secretkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = parse_key(key.as_ref()).ok_or(invalid("curve_secretkey"))?;
        let mut options = self.core.options();
        options.curve_secret = Some(Arc::new(SecretKey::from_bytes(&key)));
        options.mechanism = Mechanism::Curve;
        Ok(())
    }

    /// `ZMQ_CURVE_PUBLICKEY`: a CURVE client's long-term public key, as 32
    /// bytes or 40 characters of Z85; it must be the public half of the
    /// secret key (and may be left out: the secret key gives it). Sets the
    /// mechanism to CURVE.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] if the key is neither form.
    pub fn set_curve_publickey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = parse_key(key.as_ref()).ok_or(invalid("curve_publickey"))?;
        let mut options = self.core.options();
        options.curve_public = Some(*key);
        options.mechanism = Mechanism::Curve;
        Ok(())
    }

    /// The CURVE public key: as set, or else the public half of the secret
    /// key; in Z85. `None` if neither is set.
    pub fn curve_publickey(&self) -> Option<String> {
        let options = self.core.options();
        let public = options
            .curve_public
            .or_else(|| options.curve_secret.as_ref().map(|secret| secret.public_key()))?;
        Some(z85::encode(public))
    }

    /// `ZMQ_CURVE_SERVERKEY`: the long-term public key of the server this
    /// socket connects to (or accepts), as 32 bytes or 40 characters of
    /// Z85. Makes the socket a CURVE client.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] if the key is neither form.
    pub fn set_curve_serverkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = parse_key(key.as_ref()).ok_or(invalid("curve_serverkey"))?;
        let mut options = self.core.options();
        options.curve_server_key = Some(*key);
        options.mechanism = Mechanism::Curve;
        options.as_server = false;
        Ok(())
    }

    /// The server key set with
    /// [`set_curve_serverkey`](Socket::set_curve_serverkey), in Z85.
    pub fn curve_serverkey(&self) -> Option<String> {
        self.core.options().curve_server_key.map(z85::encode)
    }

    /// Checks that the security options add up, before a `bind` or
    /// `connect` relies on them.
    pub(super) fn check_security(&self) -> Result<()> {
        self.core.options().security().map(drop)
    }
}

fn invalid(option: &'static str) -> Error {
    Error::InvalidOption {
        option,
        reason: KEY_FORM,
    }
}
