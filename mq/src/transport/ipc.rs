//! `ipc://`: Unix domain stream sockets.

use std::io;
use std::path::PathBuf;

use dhaga_net::{UnixListener, UnixStream};

use crate::endpoint::IpcAddr;
use crate::transport::Stream;

/// A bound Unix listener; its socket file is removed when it is dropped.
pub(crate) struct IpcListener {
    listener: UnixListener,
    path: Option<PathBuf>,
}

impl IpcListener {
    /// Binds `addr`, keeping `backlog` connections waiting to be accepted.
    /// As libzmq does, a socket file left behind by an earlier process at
    /// that path is removed first.
    pub(crate) fn bind(addr: &IpcAddr, backlog: u32) -> io::Result<IpcListener> {
        match addr {
            IpcAddr::Path(path) => {
                if std::fs::symlink_metadata(path).is_ok_and(|m| is_socket(&m)) {
                    std::fs::remove_file(path)?;
                }
                Ok(IpcListener {
                    listener: UnixListener::bind_with_backlog(path, backlog)?,
                    path: Some(path.clone()),
                })
            }
            IpcAddr::Abstract(name) => Ok(IpcListener {
                listener: UnixListener::bind_addr_with_backlog(&abstract_addr(name)?, backlog)?,
                path: None,
            }),
        }
    }

    pub(crate) fn accept(&self) -> io::Result<Stream> {
        let (stream, _) = self.listener.accept()?;
        Ok(Stream::Ipc(stream))
    }
}

impl Drop for IpcListener {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub(crate) fn connect(addr: &IpcAddr) -> io::Result<Stream> {
    let stream = match addr {
        IpcAddr::Path(path) => UnixStream::connect(path)?,
        IpcAddr::Abstract(name) => UnixStream::connect_addr(&abstract_addr(name)?)?,
    };
    Ok(Stream::Ipc(stream))
}

fn is_socket(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    metadata.file_type().is_socket()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract ipc names (ipc://@name) exist only on Linux",
    ))
}
