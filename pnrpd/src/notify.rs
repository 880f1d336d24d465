//! sd_notify: tells systemd (or any supervisor that sets `NOTIFY_SOCKET`) that the daemon is
//! ready, reloading, alive (the watchdog) or stopping.

use std::os::unix::net::UnixDatagram;

/// Sends a state line such as `READY=1` when `NOTIFY_SOCKET` is set. Errors are returned for the
/// caller to log; a missing variable is not an error.
pub fn notify(state: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
        socket.send_to_addr(state.as_bytes(), &address)?;
    } else {
        socket.send_to(state.as_bytes(), path)?;
    }
    Ok(())
}

/// How often to send `WATCHDOG=1`: half the interval systemd gives in `WATCHDOG_USEC`
/// (sd_watchdog_enabled(3)), when it is meant for this process (`WATCHDOG_PID`, if set, is ours).
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| std::time::Duration::from_micros(usec / 2))
}
