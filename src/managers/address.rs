//! Where a manager's server listens: a Unix socket or a TCP address.

use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a manager's server listens.
///
/// It parses from text: a socket address (`127.0.0.1:50000`, `[::1]:50000`)
/// is TCP, a path (anything with a `/`) is a Unix socket.
///
/// ```
/// use forklore::managers::Address;
///
/// let a: Address = "127.0.0.1:50000".parse().unwrap();
/// assert_eq!(a, Address::Tcp("127.0.0.1:50000".parse().unwrap()));
/// assert_eq!(a.to_string(), "127.0.0.1:50000");
/// assert!(matches!("/tmp/m.sock".parse().unwrap(), Address::Unix(_)));
/// assert!("localhost".parse::<Address>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// A Unix-domain socket at this path.
    Unix(PathBuf),
    /// A TCP socket address, for clients on other hosts.
    Tcp(SocketAddr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

impl std::str::FromStr for Address {
    type Err = Error;

    /// # Errors
    /// [`Error::InvalidArgument`] for text that is neither a path nor an
    /// `IP:PORT` socket address (host names are not resolved here; resolve
    /// them with `std::net::ToSocketAddrs` first).
    fn from_str(s: &str) -> Result<Address> {
        if s.contains('/') {
            return Ok(Address::Unix(PathBuf::from(s)));
        }
        s.parse::<SocketAddr>().map(Address::Tcp).map_err(|_| {
            Error::InvalidArgument(format!(
                "{s:?} is not a manager address: give IP:PORT (like 127.0.0.1:50000) \
                 or the path of a Unix socket"
            ))
        })
    }
}

/// Make a fresh private directory (mode 0700) for the socket.
pub(super) fn private_dir() -> Result<PathBuf> {
    let mut base = std::env::temp_dir();
    // sun_path holds 108 bytes; keep well inside it.
    if base.as_os_str().len() > 60 {
        base = PathBuf::from("/tmp");
    }
    for _ in 0..16 {
        let mut r = [0u8; 8];
        crate::connection::random_bytes(&mut r)?;
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("forklore-manager-{name}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(Error::Io {
                    op: "create the manager's socket directory",
                    source,
                })
            }
        }
    }
    Err(Error::Io {
        op: "create the manager's socket directory",
        source: std::io::Error::other("16 random names were all taken"),
    })
}
