//! Endpoint strings: `tcp://host:port`, `ipc:///path`, `inproc://name`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where a socket binds or connects, parsed from libzmq's endpoint syntax.
///
/// - `tcp://host:port`: `host` is an IP address (IPv6 in brackets), a name
///   (resolved when connecting), or `*` for every interface when binding;
///   `port` is a number, or `*`/`0` when binding for a port the system
///   picks (read it back with `Socket::last_endpoint`).
/// - `ipc://path`: a Unix domain socket at `path` (`ipc:///tmp/feed` is
///   the absolute path `/tmp/feed`); `ipc://@name` is Linux's abstract
///   namespace.
/// - `inproc://name`: another socket of the same context, no serialisation.
///
/// # Examples
///
/// ```
/// use dhaga_mq::Endpoint;
///
/// let endpoint: Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
/// assert_eq!(endpoint.to_string(), "tcp://127.0.0.1:5555");
/// assert!("tcp://127.0.0.1".parse::<Endpoint>().is_err()); // no port
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// TCP.
    Tcp {
        /// The host: an address, a name, or `*` (any interface).
        host: Host,
        /// The port; 0 when binding lets the system pick one.
        port: u16,
    },
    /// A Unix domain socket.
    Ipc(IpcAddr),
    /// In-process: a name within the context.
    Inproc(String),
}

/// The host part of a TCP endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every interface (binding only).
    Any,
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A name to resolve.
    Name(String),
}

/// The address of an `ipc` endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IpcAddr {
    /// A file system path.
    Path(PathBuf),
    /// A name in Linux's abstract socket namespace (`ipc://@name`).
    Abstract(String),
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(text: &str) -> Result<Endpoint> {
        let invalid = |reason| Error::InvalidEndpoint {
            endpoint: text.to_owned(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid("expected transport://address"))?;
        match scheme {
            "tcp" => {
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| invalid("a tcp endpoint needs host:port"))?;
                let port = match port {
                    "*" => 0,
                    port => port
                        .parse()
                        .map_err(|_| invalid("the port is not a number from 0 to 65535"))?,
                };
                let host = if host == "*" {
                    Host::Any
                } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                    Host::Ip(v6.parse().map_err(|_| invalid("invalid IPv6 address"))?)
                } else if let Ok(ip) = host.parse::<IpAddr>() {
                    Host::Ip(ip)
                } else if host.is_empty() {
                    return Err(invalid("the host is empty"));
                } else if host.contains([':', '/', ';', ' ']) {
                    return Err(invalid("the host is neither an address nor a name"));
                } else {
                    Host::Name(host.to_owned())
                };
                Ok(Endpoint::Tcp { host, port })
            }
            "ipc" => {
                if rest.is_empty() {
                    return Err(invalid("the ipc path is empty"));
                }
                if let Some(name) = rest.strip_prefix('@') {
                    return Ok(Endpoint::Ipc(IpcAddr::Abstract(name.to_owned())));
                }
                Ok(Endpoint::Ipc(IpcAddr::Path(PathBuf::from(rest))))
            }
            "inproc" => {
                if rest.is_empty() {
                    return Err(invalid("the inproc name is empty"));
                }
                Ok(Endpoint::Inproc(rest.to_owned()))
            }
            "pgm" | "epgm" | "tipc" | "vmci" | "udp" | "norm" | "ws" | "wss" => {
                Err(invalid("transport not supported (tcp, ipc and inproc are)"))
            }
            _ => Err(invalid("unknown transport (tcp, ipc and inproc are supported)")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => match host {
                Host::Any => write!(f, "tcp://*:{port}"),
                Host::Ip(IpAddr::V6(ip)) => write!(f, "tcp://[{ip}]:{port}"),
                Host::Ip(ip) => write!(f, "tcp://{ip}:{port}"),
                Host::Name(name) => write!(f, "tcp://{name}:{port}"),
            },
            Endpoint::Ipc(IpcAddr::Path(path)) => write!(f, "ipc://{}", path.display()),
            Endpoint::Ipc(IpcAddr::Abstract(name)) => write!(f, "ipc://@{name}"),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

impl Endpoint {
    /// The endpoint of a bound TCP listener, as libzmq reports it.
    pub(crate) fn from_tcp(addr: SocketAddr) -> Endpoint {
        Endpoint::Tcp {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        }
    }

    /// Where to connect to reach a listener bound at `self`: a wildcard
    /// address is reached through loopback.
    pub(crate) fn reachable(&self) -> Endpoint {
        match self {
            Endpoint::Tcp { host: Host::Any, port } => Endpoint::Tcp {
                host: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                port: *port,
            },
            Endpoint::Tcp {
                host: Host::Ip(ip),
                port,
            } if ip.is_unspecified() => Endpoint::Tcp {
                host: Host::Ip(match ip {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                }),
                port: *port,
            },
            other => other.clone(),
        }
    }

    /// The address to bind a TCP listener to (`*` is IPv4's any address, as
    /// libzmq binds without `ZMQ_IPV6`). `None` for a name: bind resolves it.
    pub(crate) fn tcp_bind_ip(host: &Host) -> Option<IpAddr> {
        match host {
            Host::Any => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }
}

/// Anything that names an endpoint: a string or a parsed [`Endpoint`].
pub trait ToEndpoint {
    /// Parses (or clones) the endpoint.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] for a malformed string.
    fn to_endpoint(&self) -> Result<Endpoint>;
}

impl ToEndpoint for Endpoint {
    fn to_endpoint(&self) -> Result<Endpoint> {
        Ok(self.clone())
    }
}

impl ToEndpoint for str {
    fn to_endpoint(&self) -> Result<Endpoint> {
        self.parse()
    }
}

impl ToEndpoint for String {
    fn to_endpoint(&self) -> Result<Endpoint> {
        self.parse()
    }
}

impl<T: ToEndpoint + ?Sized> ToEndpoint for &T {
    fn to_endpoint(&self) -> Result<Endpoint> {
        (**self).to_endpoint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Endpoint {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn valid_endpoints_round_trip() {
        for text in [
            "tcp://127.0.0.1:5555",
            "tcp://*:5555",
            "tcp://[::1]:80",
            "tcp://localhost:1",
            "ipc:///tmp/dhaga.sock",
            "ipc://relative/path",
            "ipc://@abstract",
            "inproc://workers",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
        assert_eq!(parse("tcp://*:*"), parse("tcp://*:0"));
        assert_eq!(
            parse("tcp://10.0.0.1:9"),
            Endpoint::Tcp {
                host: Host::Ip("10.0.0.1".parse().unwrap()),
                port: 9
            }
        );
    }

    #[test]
    fn malformed_endpoints_say_why() {
        for (text, reason) in [
            ("127.0.0.1:5555", "transport://"),
            ("tcp://127.0.0.1", "host:port"),
            ("tcp://127.0.0.1:99999", "port"),
            ("tcp://127.0.0.1:http", "port"),
            ("tcp://:5555", "empty"),
            ("tcp://[::1:5555", "neither"),
            ("tcp://[zz]:5555", "IPv6"),
            ("ipc://", "empty"),
            ("inproc://", "empty"),
            ("pgm://eth0;239.0.0.1:5555", "not supported"),
            ("carrier-pigeon://home", "unknown transport"),
        ] {
            match text.parse::<Endpoint>() {
                Err(Error::InvalidEndpoint { endpoint, reason: why }) => {
                    assert_eq!(endpoint, text);
                    assert!(why.contains(reason), "{text}: {why}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
