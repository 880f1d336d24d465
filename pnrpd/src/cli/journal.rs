//! Log lines for journald: when systemd connected standard error to the journal
//! (`JOURNAL_STREAM` names its device and inode), each line starts with its syslog priority
//! (`<4>` for a warning, sd-daemon(3)) and carries no timestamp of our own (the journal stamps
//! it), so that `journalctl -p warning -u pnrpd` shows exactly the warnings.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether standard error is the journal stream systemd gave us (`JOURNAL_STREAM` matches its
/// device and inode; a child that inherited the variable but not the stream does not match).
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    // SAFETY: fstat writes into the zeroed struct it is given and reads nothing else.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(libc::STDERR_FILENO, &mut stat) } != 0 {
        return false;
    }
    // Narrower than u64 on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let (device, inode) = (u64::from(stat.st_dev), u64::from(stat.st_ino));
    names_stream(&stream, device, inode)
}

/// Whether a `JOURNAL_STREAM` value (`device:inode`, decimal) names this device and inode.
fn names_stream(value: &std::ffi::OsStr, device: u64, inode: u64) -> bool {
    let Some((named_device, named_inode)) = value.to_str().and_then(|text| text.split_once(':'))
    else {
        return false;
    };
    named_device.parse() == Ok(device) && named_inode.parse() == Ok(inode)
}

/// The sd-daemon(3) priority of a level: error 3, warning 4, info 6, debug and trace 7.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// `<priority>target: message key=value…`, one line per event.
#[derive(Debug, Default, Clone, Copy)]
pub struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        write!(
            writer,
            "<{}>{}: ",
            priority(metadata.level()),
            metadata.target()
        )?;
        context.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_starts_with_its_priority_and_has_no_timestamp() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(JournalFormat)
            .with_max_level(Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(port = 3540, "cannot bind");
            tracing::warn!("cloud firewalled");
            tracing::info!("listening");
            tracing::debug!("detail");
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let target = module_path!();
        assert_eq!(
            lines,
            [
                format!("<3>{target}: cannot bind port=3540"),
                format!("<4>{target}: cloud firewalled"),
                format!("<6>{target}: listening"),
                format!("<7>{target}: detail"),
            ]
        );
    }

    #[test]
    fn only_the_stream_systemd_named_counts() {
        let named = |value: &str| names_stream(std::ffi::OsStr::new(value), 25, 4011);
        assert!(named("25:4011"));
        assert!(
            !named("25:4012"),
            "another inode: a stream inherited, then replaced"
        );
        assert!(!named("26:4011"));
        assert!(!named("garbage"));
        assert!(!named("25:"));
    }
}
