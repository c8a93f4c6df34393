//! Where a manager's server listens: a Unix socket or a TCP address.

use std::fmt;
use std::net::SocketAddr;
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
