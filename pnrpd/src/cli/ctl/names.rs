//! Converting names without asking the daemon: `pnrpctl hostname` and `peername`.

use std::fmt;

use pnrp_shared::{host_name_of, peer_name_of_host, PeerName};
use serde::Serialize;

use super::output::Output;
use super::request::Failure;

/// `pnrpctl hostname`: the host name of a peer name.
pub(super) fn hostname(out: Output, peer_name: &PeerName) {
    out.print(&HostNameOf {
        host_name: host_name_of(peer_name),
        peer_name: peer_name.to_string(),
    });
}

/// `pnrpctl peername`: the peer name of a host name under `pnrp.net`.
pub(super) fn peername(out: Output, host_name: &str) -> Result<(), Failure> {
    let peer_name =
        peer_name_of_host(host_name).map_err(|error| Failure::error(error.to_string()))?;
    out.print(&PeerNameOf {
        host_name: host_name.to_string(),
        peer_name: peer_name.to_string(),
    });
    Ok(())
}

/// A peer name and its host name, shown as the host name.
#[derive(Debug, Serialize)]
struct HostNameOf {
    host_name: String,
    peer_name: String,
}

impl fmt::Display for HostNameOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.host_name)
    }
}

/// A host name and its peer name, shown as the peer name.
#[derive(Debug, Serialize)]
struct PeerNameOf {
    host_name: String,
    peer_name: String,
}

impl fmt::Display for PeerNameOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.peer_name)
    }
}
