//! A ZAP handler ready to use: allow or deny peers by address, check PLAIN
//! passwords and CURVE public keys, as pyzmq's `zmq.auth` does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use dhaga_runtime::JoinHandle;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::security::parse_key;
use crate::zmtp::ZAP_ENDPOINT;
use crate::{Msg, Socket, SocketType};

/// The domain a configuration applies to when it names none, as in pyzmq.
const ANY_DOMAIN: &str = "*";

/// A ZAP handler (RFC 27) serving the sockets of one context from a
/// micro-thread, with pyzmq's `ThreadAuthenticator` rules:
///
/// 1. An address on the allow list is admitted to the mechanism's check; one
///    not on it is refused, if the list is not empty. Otherwise an address
///    on the deny list is refused.
/// 2. NULL peers not refused by address are admitted. PLAIN peers must give
///    a user name and password configured for the socket's ZAP domain;
///    CURVE peers must hold a public key configured for it (or the domain
///    admits any key, encrypting without authenticating).
///
/// Admitted peers get a user id, which every message from them carries as
/// its `User-Id` property: the user name (PLAIN), the public key in Z85
/// (CURVE), `anonymous` (NULL). Refused ones get status 400 and the reason,
/// which their side reports as an authentication failure.
///
/// The handler binds `inproc://zeromq.zap.01` and answers until stopped
/// or dropped; configuration changes apply to the next handshake.
///
/// ```no_run
/// use dhaga_mq::{Authenticator, Socket, SocketType};
///
/// let auth = Authenticator::new()?;
/// auth.allow("127.0.0.1");
/// auth.configure_plain("*", [("admin", "secret")]);
///
/// let server = Socket::new(SocketType::Rep);
/// server.set_plain_server(true);
/// server.bind("tcp://127.0.0.1:5555")?;
/// # Ok::<(), dhaga_mq::Error>(())
/// ```
pub struct Authenticator {
    rules: Arc<Mutex<Rules>>,
    handler: Option<JoinHandle<()>>,
}

/// What the handler admits.
#[derive(Default)]
struct Rules {
    allowed: HashSet<String>,
    denied: HashSet<String>,
    /// Per domain: user name to password (zeroed when dropped).
    passwords: HashMap<String, HashMap<Vec<u8>, Zeroizing<Vec<u8>>>>,
    /// Per domain: the public keys admitted, or `None` for any.
    curve: HashMap<String, Option<HashSet<[u8; 32]>>>,
}

impl Authenticator {
    /// Starts a handler for the sockets of the shared context (the one
    /// [`Socket::new`] uses).
    ///
    /// # Errors
    ///
    /// [`Error::AddrInUse`] if a ZAP handler is bound there already.
    pub fn new() -> Result<Authenticator> {
        Authenticator::with_context(&Context::shared())
    }

    /// Starts a handler for the sockets of `context`.
    ///
    /// # Errors
    ///
    /// [`Error::AddrInUse`] if a ZAP handler is bound there already.
    pub fn with_context(context: &Context) -> Result<Authenticator> {
        let socket = context.socket(SocketType::Rep);
        socket.bind(format!("inproc://{ZAP_ENDPOINT}"))?;
        let rules = Arc::new(Mutex::new(Rules::default()));
        let handler = {
            let rules = Arc::clone(&rules);
            dhaga_runtime::spawn(move || serve(&socket, &rules))
        };
        Ok(Authenticator {
            rules,
            handler: Some(handler),
        })
    }

    fn rules(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits peers from `address` (an IP address as text, as ZAP gives
    /// it), refusing every address not allowed.
    pub fn allow(&self, address: impl Into<String>) {
        self.rules().allowed.insert(address.into());
    }

    /// Refuses peers from `address`; ignored while any address is allowed.
    pub fn deny(&self, address: impl Into<String>) {
        self.rules().denied.insert(address.into());
    }

    /// The user names and passwords PLAIN peers of sockets with ZAP domain
    /// `domain` may give (`"*"` or `""`: sockets without a domain);
    /// replaces the domain's list.
    pub fn configure_plain<U: AsRef<[u8]>, P: AsRef<[u8]>>(
        &self,
        domain: &str,
        passwords: impl IntoIterator<Item = (U, P)>,
    ) {
        let passwords = passwords
            .into_iter()
            .map(|(user, password)| (user.as_ref().to_vec(), Zeroizing::new(password.as_ref().to_vec())))
            .collect();
        self.rules().passwords.insert(domain_key(domain), passwords);
    }

    /// The public keys (32 bytes or 40 characters of Z85) CURVE peers of
    /// sockets with ZAP domain `domain` may hold; replaces the domain's
    /// list.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a key in neither form (the list is
    /// then left as it was).
    pub fn configure_curve<K: AsRef<[u8]>>(&self, domain: &str, keys: impl IntoIterator<Item = K>) -> Result<()> {
        let keys = keys
            .into_iter()
            .map(|key| {
                parse_key(key.as_ref()).map(|key| *key).ok_or(Error::InvalidArgument(
                    "a CURVE key is 32 bytes or 40 characters of Z85",
                ))
            })
            .collect::<Result<HashSet<_>>>()?;
        self.rules().curve.insert(domain_key(domain), Some(keys));
        Ok(())
    }

    /// Admits CURVE peers of sockets with ZAP domain `domain` whatever
    /// their key: the connection is encrypted, the client not
    /// authenticated (pyzmq's `CURVE_ALLOW_ANY`).
    pub fn configure_curve_any(&self, domain: &str) {
        self.rules().curve.insert(domain_key(domain), None);
    }

    /// Stops the handler and unbinds it; handshakes asking afterwards find
    /// none (PLAIN peers are then refused, CURVE and NULL ones admitted).
    pub fn stop(mut self) {
        self.stop_handler();
    }

    fn stop_handler(&mut self) {
        if let Some(handler) = self.handler.take() {
            handler.cancel();
            let _ = handler.join();
        }
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        self.stop_handler();
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

/// `"*"` and `""` both mean sockets without a ZAP domain.
fn domain_key(domain: &str) -> String {
    if domain.is_empty() { ANY_DOMAIN } else { domain }.to_owned()
}

/// Answers requests until the micro-thread is cancelled.
fn serve(socket: &Socket, rules: &Mutex<Rules>) {
    while let Ok(request) = socket.recv() {
        let reply = {
            let rules = rules.lock().unwrap_or_else(PoisonError::into_inner);
            answer(&rules, request.frames())
        };
        if socket.send(reply).is_err() {
            return;
        }
    }
}

/// The reply to one request's frames (version, id, domain, address,
/// routing id, mechanism, credentials).
fn answer(rules: &Rules, request: &[Bytes]) -> Msg {
    let reply = |id: &Bytes, status: &'static str, text: &str, user_id: &[u8]| -> Msg {
        [
            Bytes::from_static(b"1.0"),
            id.clone(),
            Bytes::from_static(status.as_bytes()),
            Bytes::copy_from_slice(text.as_bytes()),
            Bytes::copy_from_slice(user_id),
            Bytes::new(),
        ]
        .into_iter()
        .collect()
    };
    let [version, id, domain, address, _routing_id, mechanism, credentials @ ..] = request else {
        return reply(&Bytes::new(), "500", "malformed ZAP request", b"");
    };
    if &version[..] != b"1.0" {
        return reply(id, "500", "unsupported ZAP version", b"");
    }
    let address = String::from_utf8_lossy(address);
    let domain = domain_key(&String::from_utf8_lossy(domain));

    if !rules.allowed.is_empty() {
        if !rules.allowed.contains(address.as_ref()) {
            return reply(id, "400", "address not allowed", b"");
        }
    } else if rules.denied.contains(address.as_ref()) {
        return reply(id, "400", "address denied", b"");
    }
    match (&mechanism[..], credentials) {
        (b"NULL", []) => reply(id, "200", "OK", b"anonymous"),
        (b"PLAIN", [username, password]) => match rules.passwords.get(&domain) {
            Some(passwords)
                if passwords
                    .get(&username[..])
                    .is_some_and(|p| bool::from(p[..].ct_eq(&password[..]))) =>
            {
                reply(id, "200", "OK", username)
            }
            Some(_) => reply(id, "400", "invalid user name or password", b""),
            None => reply(id, "400", "no passwords for this domain", b""),
        },
        (b"CURVE", [key]) => {
            let user_id = z85::encode(key);
            match rules.curve.get(&domain) {
                Some(None) => reply(id, "200", "OK", user_id.as_bytes()),
                Some(Some(keys)) if <[u8; 32]>::try_from(&key[..]).is_ok_and(|key| keys.contains(&key)) => {
                    reply(id, "200", "OK", user_id.as_bytes())
                }
                Some(Some(_)) => reply(id, "400", "unknown key", b""),
                None => reply(id, "400", "no keys for this domain", b""),
            }
        }
        _ => reply(id, "400", "unsupported mechanism", b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(address: &str, mechanism: &str, credentials: &[&[u8]]) -> Vec<Bytes> {
        let mut frames: Vec<Bytes> = [
            b"1.0" as &[u8],
            b"1",
            b"",
            address.as_bytes(),
            b"",
            mechanism.as_bytes(),
        ]
        .into_iter()
        .map(Bytes::copy_from_slice)
        .collect();
        frames.extend(credentials.iter().map(|c| Bytes::copy_from_slice(c)));
        frames
    }

    fn status(rules: &Rules, frames: &[Bytes]) -> (String, String) {
        let reply = answer(rules, frames);
        (
            String::from_utf8_lossy(&reply[2]).into_owned(),
            String::from_utf8_lossy(&reply[4]).into_owned(),
        )
    }

    #[test]
    fn addresses_then_credentials_decide() {
        let mut rules = Rules::default();
        let null = request("10.0.0.1", "NULL", &[]);
        assert_eq!(status(&rules, &null), ("200".into(), "anonymous".into()));
        rules.denied.insert("10.0.0.1".into());
        assert_eq!(status(&rules, &null).0, "400");
        rules.allowed.insert("10.0.0.2".into());
        assert_eq!(
            status(&rules, &request("10.0.0.3", "NULL", &[])).0,
            "400",
            "not allowed"
        );
        assert_eq!(status(&rules, &request("10.0.0.2", "NULL", &[])).0, "200");

        rules.allowed.clear();
        let plain = |user: &[u8], password: &[u8]| request("10.0.0.9", "PLAIN", &[user, password]);
        assert_eq!(status(&rules, &plain(b"admin", b"secret")).0, "400", "no passwords yet");
        rules.passwords.insert(
            "*".into(),
            HashMap::from([(b"admin".to_vec(), Zeroizing::new(b"secret".to_vec()))]),
        );
        assert_eq!(
            status(&rules, &plain(b"admin", b"secret")),
            ("200".into(), "admin".into())
        );
        assert_eq!(status(&rules, &plain(b"admin", b"wrong")).0, "400");
        assert_eq!(status(&rules, &plain(b"root", b"secret")).0, "400");

        let key = [9u8; 32];
        let curve = request("10.0.0.9", "CURVE", &[&key]);
        assert_eq!(status(&rules, &curve).0, "400", "no keys yet");
        rules.curve.insert("*".into(), Some(HashSet::from([[1u8; 32]])));
        assert_eq!(status(&rules, &curve).0, "400", "unknown key");
        rules.curve.insert("*".into(), Some(HashSet::from([key])));
        assert_eq!(status(&rules, &curve), ("200".into(), z85::encode(key)));
        rules.curve.insert("*".into(), None);
        assert_eq!(
            status(&rules, &request("10.0.0.9", "CURVE", &[&[1; 32]])).0,
            "200",
            "any key"
        );
    }

    #[test]
    fn malformed_requests_get_500() {
        let rules = Rules::default();
        assert_eq!(status(&rules, &request("", "NULL", &[])[..3]).0, "500");
    }
}
