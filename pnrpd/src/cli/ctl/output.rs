//! Everything `pnrpctl` prints goes through here: a command's answer, as JSON with `--json` or
//! as text otherwise ([`Output::print`]), and failures ([`error`]); with the text pieces several
//! commands share (addresses, hex, endpoint details).
//!
//! An answer is a value of a `#[derive(Serialize)]` struct whose fields are the JSON keys (kept in
//! alphabetical order: the order scripts have always seen) and whose `Display` is the text, one
//! line per `writeln!`.

use std::fmt::{self, Display};

use pnrp_shared::ipc::{Protocol, ScopedAddr};
use serde::Serialize;

/// Where answers go, and in which form.
#[derive(Debug, Clone, Copy)]
pub(super) struct Output {
    json: bool,
}

impl Output {
    /// JSON when `json` is set, else text.
    pub(super) fn new(json: bool) -> Self {
        Output { json }
    }

    /// Prints an answer on standard output.
    pub(super) fn print<T: Serialize + Display>(self, answer: &T) {
        if self.json {
            let json = serde_json::to_string(answer).expect("answers are plain data");
            println!("{json}");
        } else {
            print!("{answer}");
        }
    }
}

/// Prints why the command failed on standard error.
pub(super) fn error(message: &str) {
    eprintln!("pnrpctl: {message}");
}

/// Lowercase hex digits.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `tcp` or `udp`.
pub(super) fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// `192.0.2.1` (for v4-mapped addresses), `2001:db8::1`, `fe80::1%eth0` (or `%7` for an
/// interface that has gone).
pub(super) fn address(address: &ScopedAddr) -> String {
    if let Some(v4) = address.ipv4() {
        return v4.to_string();
    }
    if address.scope_id == 0 {
        return address.ip.to_string();
    }
    match crate::interfaces::interface_name(address.scope_id) {
        Some(name) => format!("{}%{name}", address.ip),
        None => format!("{}%{}", address.ip, address.scope_id),
    }
}

/// The indented lines under a registration or a record: its addresses, port and comment.
pub(super) fn details(
    f: &mut fmt::Formatter<'_>,
    addresses: &[String],
    port: Option<u16>,
    protocol: &str,
    comment: Option<&str>,
) -> fmt::Result {
    if addresses.is_empty() {
        writeln!(f, "  no address yet")?;
    }
    for address in addresses {
        writeln!(f, "  {address}")?;
    }
    if let Some(port) = port {
        writeln!(f, "  port {port}/{protocol}")?;
    }
    if let Some(comment) = comment {
        writeln!(f, "  comment: {comment}")?;
    }
    Ok(())
}
