//! Options about what a socket tells its peers and sends them first, named
//! after libzmq's: `ZMQ_METADATA`, `ZMQ_PROBE_ROUTER`,
//! `ZMQ_XPUB_WELCOME_MSG` and `ZMQ_CONNECT_ROUTING_ID`.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::socket::Socket;

/// The longest property name ZMTP carries (one length byte).
const MAX_NAME_LEN: usize = 255;

impl Socket {
    /// `ZMQ_METADATA`: adds an application property, `"X-name:value"`,
    /// that the socket announces to its peers in every handshake from now
    /// on (libzmq's form: the name starts with `X-` and has at most 255
    /// bytes, the value is not empty). The peer reads it from each message
    /// of this socket: `msg.gets("X-name")`. Setting a name again replaces
    /// its value. Properties travel in the ZMTP handshake, so over `tcp`
    /// and `ipc`; `inproc` has no handshake and carries none (as in
    /// libzmq).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a property not of that form.
    ///
    /// # Examples
    ///
    /// ```
    /// use dhaga_mq::{Socket, SocketType};
    ///
    /// let server = Socket::new(SocketType::Rep);
    /// server.bind("tcp://127.0.0.1:*").unwrap();
    /// let client = Socket::new(SocketType::Req);
    /// client.set_metadata("X-Region:eu-west").unwrap();
    /// client.connect(server.last_endpoint().unwrap()).unwrap();
    /// client.send("Hello").unwrap();
    /// assert_eq!(server.recv().unwrap().gets("X-Region"), Some("eu-west"));
    /// ```
    pub fn set_metadata(&self, property: &str) -> Result<()> {
        let invalid = |reason| {
            Err(Error::InvalidOption {
                option: "metadata",
                reason,
            })
        };
        let Some((name, value)) = property.split_once(':') else {
            return invalid("a property is \"X-name:value\"");
        };
        if !name.starts_with("X-") || name.len() > MAX_NAME_LEN {
            return invalid("a property's name starts with \"X-\" and has at most 255 bytes");
        }
        if value.is_empty() {
            return invalid("a property's value is not empty");
        }
        let mut options = self.core().options();
        let value = Bytes::copy_from_slice(value.as_bytes());
        match options.metadata.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(existing) => existing.1 = value,
            None => options.metadata.push((name.to_owned(), value)),
        }
        Ok(())
    }

    /// The application properties set with
    /// [`set_metadata`](Socket::set_metadata), as `(name, value)`.
    pub fn metadata(&self) -> Vec<(String, Bytes)> {
        self.core().options().metadata.clone()
    }

    /// `ZMQ_PROBE_ROUTER`: a REQ, DEALER or ROUTER sends an empty message
    /// to each peer as soon as it connects (default off), so that a ROUTER
    /// on the other side learns the peer's routing id before it speaks.
    /// The application on that side must expect and drop such messages.
    /// Applies to connections made afterwards; other types ignore it.
    pub fn set_probe_router(&self, on: bool) {
        self.core().options().probe_router = on;
    }

    /// Whether [`set_probe_router`](Socket::set_probe_router) is on.
    pub fn probe_router(&self) -> bool {
        self.core().options().probe_router
    }

    /// `ZMQ_XPUB_WELCOME_MSG`: an XPUB sends `msg` to each new subscriber
    /// before anything else (`None`, the default: nothing). The subscriber
    /// receives it only if it subscribed to a prefix of it, as with any
    /// message. Other types ignore it.
    pub fn set_xpub_welcome_msg(&self, msg: Option<impl Into<Bytes>>) {
        self.core().options().xpub_welcome_msg = msg.map(Into::into);
    }

    /// `ZMQ_CONNECT_ROUTING_ID`: the routing id a ROUTER gives the peer of
    /// its next [`connect`](Socket::connect), whatever the peer announces;
    /// that `connect` takes it. 1 to 255 bytes, not starting with a zero
    /// byte. The connection is refused, as with any routing id, if another
    /// peer has it. Other types ignore it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for an id not of that form.
    pub fn set_connect_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_NAME_LEN || id[0] == 0 {
            return Err(Error::InvalidOption {
                option: "connect_routing_id",
                reason: "a routing id is 1 to 255 bytes and does not start with a zero byte",
            });
        }
        self.core().options().connect_routing_id = Some(id);
        Ok(())
    }

    /// `ZMQ_RECONNECT_STOP`: when a [`connect`](Socket::connect) gives up
    /// instead of trying again (default [`ReconnectStop::NEVER`](crate::ReconnectStop::NEVER)): when the
    /// connection is refused, when the handshake fails, after an
    /// established connection is lost, or any of these together
    /// (`ReconnectStop::CONN_REFUSED | ReconnectStop::HANDSHAKE_FAILED`).
    /// The endpoint is then as if disconnected. Applies to connections
    /// attempted afterwards, also of earlier `connect`s.
    pub fn set_reconnect_stop(&self, when: crate::ReconnectStop) {
        self.core().options().reconnect_stop = when;
    }

    /// The [`set_reconnect_stop`](Socket::set_reconnect_stop) conditions.
    pub fn reconnect_stop(&self) -> crate::ReconnectStop {
        self.core().options().reconnect_stop
    }
}
