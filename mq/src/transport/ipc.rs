//! `ipc://`: Unix domain stream sockets.

use std::io;
use std::path::PathBuf;

use dhaga_net::{UnixListener, UnixStream};

use super::stream::Stream;
use crate::endpoint::IpcAddr;

/// A bound Unix listener; its socket file is removed when it is dropped,
/// if it is still the one this listener made (another socket may have
/// taken the path over meanwhile, as libzmq's bind does).
pub(crate) struct IpcListener {
    listener: UnixListener,
    /// The socket file, with its (device, inode) when bound.
    path: Option<(PathBuf, Option<(u64, u64)>)>,
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
                let listener = UnixListener::bind_with_backlog(path, backlog)?;
                Ok(IpcListener {
                    listener,
                    path: Some((path.clone(), file_id(path))),
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
        // Only the file this listener bound: a later binder's stays. (What
        // replaces it between the check and the removal is lost; the window
        // is a few system calls.)
        if let Some((path, Some(bound))) = &self.path
            && file_id(path) == Some(*bound)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The (device, inode) of the socket file at `path`, if there is one.
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .filter(is_socket)
        .map(|m| (m.dev(), m.ino()))
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
