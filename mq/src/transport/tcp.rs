//! `tcp://`: TCP with Nagle's algorithm off (ZeroMQ batches on its own).

use std::io;
use std::net::SocketAddr;

use dhaga_net::{TcpListener, TcpStream};

use crate::endpoint::{Endpoint, Host};
use crate::transport::Stream;

/// A bound TCP listener.
pub(crate) struct TcpAcceptor(TcpListener);

impl TcpAcceptor {
    /// Binds `host:port`, keeping `backlog` connections waiting to be
    /// accepted.
    pub(crate) fn bind(host: &Host, port: u16, backlog: u32) -> io::Result<(TcpAcceptor, Endpoint)> {
        let listener = match (Endpoint::tcp_bind_ip(host), host) {
            (Some(ip), _) => TcpListener::bind_with_backlog(SocketAddr::new(ip, port), backlog)?,
            (None, Host::Name(name)) => TcpListener::bind_with_backlog((name.as_str(), port), backlog)?,
            (None, _) => unreachable!("only names lack an address"),
        };
        let bound = Endpoint::from_tcp(listener.local_addr()?);
        Ok((TcpAcceptor(listener), bound))
    }

    pub(crate) fn accept(&self) -> io::Result<Stream> {
        let (stream, _) = self.0.accept()?;
        stream.set_nodelay(true)?;
        Ok(Stream::Tcp(stream))
    }
}

pub(crate) fn connect(host: &Host, port: u16) -> io::Result<Stream> {
    let stream = match host {
        Host::Ip(ip) => TcpStream::connect(SocketAddr::new(*ip, port))?,
        Host::Name(name) => TcpStream::connect((name.as_str(), port))?,
        Host::Any => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot connect to `*`: name a host",
            ));
        }
    };
    stream.set_nodelay(true)?;
    Ok(Stream::Tcp(stream))
}
