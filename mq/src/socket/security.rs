//! The security options of a socket, with libzmq's names and rules: the
//! last option set chooses the mechanism and the role.
//!
//! - `set_curve_server(true)` makes the socket a CURVE server,
//!   `set_curve_server(false)` returns it to NULL;
//! - `set_curve_serverkey` makes it a CURVE client of that server;
//! - `set_curve_publickey` and `set_curve_secretkey` set the keys (and the
//!   mechanism to CURVE, keeping the role);
//! - `set_plain_server(true)` makes it a PLAIN server (`false`: NULL);
//! - `set_plain_username` and `set_plain_password` make it a PLAIN client
//!   (an empty value returns it to NULL).
//!
//! A server that authenticates its clients (a PLAIN server always does)
//! asks the ZAP handler the application binds at
//! `inproc://zeromq.zap.01` in the socket's context; see
//! [`Authenticator`](crate::Authenticator).
//!
//! They apply to connections made afterwards; a socket whose options do not
//! add up (a client without a secret key) is refused at `bind` and
//! `connect`.

use std::sync::Arc;

use bytes::Bytes;
use zeroize::Zeroizing;

use super::Socket;
use crate::error::{Error, Result};
use crate::options::Password;
use crate::security::parse_key;
use crate::zmtp::{MAX_CREDENTIAL_LEN, Mechanism, SecretKey};

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

    /// `ZMQ_PLAIN_SERVER`: `true` makes this socket a PLAIN server, whose
    /// ZAP handler checks each client's user name and password (without
    /// one, every client is refused, as in libzmq); `false` returns it to
    /// NULL.
    pub fn set_plain_server(&self, on: bool) {
        let mut options = self.core.options();
        options.as_server = on;
        options.mechanism = if on { Mechanism::Plain } else { Mechanism::Null };
    }

    /// Whether this socket is a PLAIN server.
    pub fn plain_server(&self) -> bool {
        let options = self.core.options();
        options.mechanism == Mechanism::Plain && options.as_server
    }

    /// `ZMQ_PLAIN_USERNAME`: the user name this socket gives PLAIN servers
    /// (at most 255 bytes). Makes it a PLAIN client; an empty name returns
    /// it to NULL, as libzmq's null value does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a name over 255 bytes.
    pub fn set_plain_username(&self, username: impl AsRef<[u8]>) -> Result<()> {
        let username = credential("plain_username", username.as_ref())?;
        let mut options = self.core.options();
        options.mechanism = if username.is_empty() {
            Mechanism::Null
        } else {
            Mechanism::Plain
        };
        options.as_server = false;
        options.plain_username = Bytes::copy_from_slice(username);
        Ok(())
    }

    /// The PLAIN user name.
    pub fn plain_username(&self) -> Bytes {
        self.core.options().plain_username.clone()
    }

    /// `ZMQ_PLAIN_PASSWORD`: the password this socket gives PLAIN servers
    /// (at most 255 bytes; kept zeroed-on-drop, never shown). Makes it a
    /// PLAIN client; an empty password returns it to NULL, as libzmq's null
    /// value does. PLAIN sends it in clear.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a password over 255 bytes.
    pub fn set_plain_password(&self, password: impl AsRef<[u8]>) -> Result<()> {
        let password = credential("plain_password", password.as_ref())?;
        let mut options = self.core.options();
        options.mechanism = if password.is_empty() {
            Mechanism::Null
        } else {
            Mechanism::Plain
        };
        options.as_server = false;
        options.plain_password = Password(Arc::new(Zeroizing::new(password.to_vec())));
        Ok(())
    }

    /// `ZMQ_ZAP_DOMAIN`: the domain this socket's ZAP requests name, for a
    /// handler serving several (at most 255 bytes; default empty). With
    /// NULL, setting one makes every connection ask the ZAP handler too,
    /// as in libzmq.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a domain over 255 bytes.
    pub fn set_zap_domain(&self, domain: impl AsRef<[u8]>) -> Result<()> {
        let domain = credential("zap_domain", domain.as_ref())?;
        self.core.options().zap_domain = Bytes::copy_from_slice(domain);
        Ok(())
    }

    /// The ZAP domain.
    pub fn zap_domain(&self) -> Bytes {
        self.core.options().zap_domain.clone()
    }

    /// `ZMQ_ZAP_ENFORCE_DOMAIN`: with `true`, a handshake that must ask the
    /// ZAP handler and finds none refuses the peer. By default (as in
    /// libzmq) a CURVE server then admits any client — encrypted, not
    /// authenticated — and a NULL socket with a ZAP domain any peer; a
    /// server that means to authenticate should set this, so that a
    /// handler bound late, or stopped, does not let peers in unchecked.
    pub fn set_zap_enforce_domain(&self, on: bool) {
        self.core.options().zap_enforce_domain = on;
    }

    /// Whether the ZAP domain is enforced.
    pub fn zap_enforce_domain(&self) -> bool {
        self.core.options().zap_enforce_domain
    }

    /// Checks that the security options add up, before a `bind` or
    /// `connect` relies on them.
    pub(super) fn check_security(&self) -> Result<()> {
        self.core.options().security().map(drop)
    }
}

/// A user name, password or ZAP domain: at most 255 bytes.
fn credential<'a>(option: &'static str, value: &'a [u8]) -> Result<&'a [u8]> {
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(Error::InvalidOption {
            option,
            reason: "at most 255 bytes",
        });
    }
    Ok(value)
}

fn invalid(option: &'static str) -> Error {
    Error::InvalidOption {
        option,
        reason: KEY_FORM,
    }
}
