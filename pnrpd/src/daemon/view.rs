//! What can be answered without the run loop, and the snapshot file: the [`View`] the
//! connection tasks answer resolves from (swapped whole, behind an `Arc`), and the
//! [`Publisher`] that keeps it and the local-names snapshot in step with the engine.
//!
//! A resolve needs no cloud work when the engine would answer it at once: the name's answer is
//! in the freshness window, "not found" is in the negative window, or no cloud is active (then
//! this machine's registration, or "not found"). The view answers exactly those, as the engine
//! would, and leaves everything else to the run loop. The engine keeps its windows private, so
//! the publisher mirrors them from the answers it sees from a cloud, timed from when each resolve
//! *started* (an answer the engine gave at once, from its own windows, is not copied: the service
//! leaves those out): the mirror always expires before the engine's entry does, and never
//! answers what the engine would not.
//!
//! The snapshot (`pnrp_shared::snapshot`) holds only this machine's registrations, never what the
//! cloud answered; it is replaced by rename (a reader sees the old file or the new one, never a
//! mix), before a register or unregister is acknowledged and after the addresses change.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv6Addr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pnrp_proto::engine::{negative_window, Engine, QueryId};
use pnrp_shared::ipc::{Record, Request, Response, Source};
use pnrp_shared::{snapshot, PeerName};
use tracing::warn;

/// An immutable picture of what the daemon can answer at once.
#[derive(Debug, Default)]
pub struct View {
    /// Whether the view answers at all (not once the daemon is stopping).
    open: bool,
    /// This machine's registrations that have addresses, as the engine answers them.
    local: HashMap<PeerName, Record>,
    /// Other publishers' records of a name, and when the resolve that found them started.
    fresh: HashMap<PeerName, (Instant, Vec<Record>)>,
    freshness: Duration,
    /// Names the clouds did not find, and when the resolve that did not find them started.
    absent: HashMap<PeerName, Instant>,
    /// How long "not found" is reused (`pnrp_proto::engine::negative_window`).
    negative: Duration,
    /// Whether a resolve missing the window goes to a cloud.
    clouds_active: bool,
}

impl View {
    /// The answer to `request` at `now`, if it needs neither the cloud nor the run loop.
    pub fn answer(&self, now: Instant, request: &Request) -> Option<Response> {
        let Request::Resolve { name } = request else {
            return None;
        };
        self.resolve(now, name).map(|(response, _)| response)
    }

    /// The answer to a resolve of `name` at `now`, if it needs neither the cloud nor the run
    /// loop, and how long it stays fresh: `None` when it holds only this machine's names (they
    /// change only through this daemon), else what is left of the window of the cloud's answer.
    pub fn resolve(&self, now: Instant, name: &PeerName) -> Option<(Response, Option<Duration>)> {
        if !self.open {
            return None;
        }
        let local = self.local.get(name).cloned();
        let absent = || {
            self.absent
                .get(name)
                .is_some_and(|started| now.saturating_duration_since(*started) < self.negative)
        };
        let (records, fresh_for): (Vec<Record>, _) = match self.fresh.get(name) {
            Some((started, remote)) if now.saturating_duration_since(*started) < self.freshness => {
                let left = self.freshness - now.saturating_duration_since(*started);
                let fresh_for = (!remote.is_empty()).then_some(left);
                (
                    local.into_iter().chain(remote.iter().cloned()).collect(),
                    fresh_for,
                )
            }
            _ if local.is_none() && absent() => (Vec::new(), None),
            _ if self.clouds_active => return None,
            _ => (local.into_iter().collect(), None),
        };
        let response = if records.is_empty() {
            Response::NotFound
        } else {
            Response::Resolved(records)
        };
        Some((response, fresh_for))
    }

    /// The names this machine publishes at `ip`, and those the freshness window holds at it (a
    /// reverse lookup, for DNS PTR queries), with how long the answer stays fresh (as
    /// [`View::resolve`]). `None` once the daemon is stopping.
    pub fn names_at(
        &self,
        now: Instant,
        ip: Ipv6Addr,
    ) -> Option<(Vec<PeerName>, Option<Duration>)> {
        if !self.open {
            return None;
        }
        let at = |record: &Record| record.addresses.iter().any(|address| address.ip == ip);
        let mut names: Vec<PeerName> = self
            .local
            .values()
            .filter(|record| at(record))
            .map(|record| record.name.clone())
            .collect();
        let mut fresh_for: Option<Duration> = None;
        for (name, (started, remote)) in &self.fresh {
            let age = now.saturating_duration_since(*started);
            if age < self.freshness && remote.iter().any(at) && !names.contains(name) {
                names.push(name.clone());
                let left = self.freshness - age;
                fresh_for = Some(fresh_for.map_or(left, |shortest| shortest.min(left)));
            }
        }
        names.sort_by_key(ToString::to_string);
        Some((names, fresh_for))
    }
}

/// The current [`View`], shared by the run loop (which swaps it) and the connection tasks (which
/// take the `Arc` and let go of the lock at once).
#[derive(Debug, Clone, Default)]
pub struct SharedView(Arc<Mutex<Arc<View>>>);

impl SharedView {
    /// The view now.
    pub fn load(&self) -> Arc<View> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn store(&self, view: View) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(view);
    }
}

/// The run loop's side: mirrors the freshness window, builds the views, writes the snapshot.
#[derive(Debug, Default)]
pub struct Publisher {
    shared: SharedView,
    snapshot: Option<PathBuf>,
    /// The bytes last written to the snapshot, so that an unchanged one is not rewritten.
    written: Option<Vec<u8>>,
    /// The modification time given to the last snapshot written (readers key what they keep on
    /// it, with the inode: each snapshot gets one of its own).
    stamped: Option<SystemTime>,
    freshness: Duration,
    /// Resolves under way: their name and when they started.
    started: HashMap<QueryId, (PeerName, Instant)>,
    fresh: HashMap<PeerName, (Instant, Vec<Record>)>,
    absent: HashMap<PeerName, Instant>,
    open: bool,
}

impl Publisher {
    /// Starts publishing to `shared` and (unless `None`) the snapshot at `snapshot`, mirroring a
    /// freshness window of `freshness` (the engine's).
    pub fn start(&mut self, shared: SharedView, snapshot: Option<PathBuf>, freshness: Duration) {
        self.shared = shared;
        self.snapshot = snapshot;
        self.freshness = freshness;
        self.written = None;
        self.open = true;
    }

    /// A resolve (not a trace) of `name` started at `now` as `query`.
    pub fn resolve_started(&mut self, query: QueryId, name: &PeerName, now: Instant) {
        if self.open && !self.freshness.is_zero() {
            self.started.insert(query, (name.clone(), now));
        }
    }

    /// A resolve finished with `records`; true when the view changed and must be published.
    pub fn resolved(&mut self, query: QueryId, records: &[Record]) -> bool {
        let Some((name, started)) = self.started.remove(&query) else {
            return false;
        };
        // The engine keeps a positive answer (its other publishers') for the freshness window,
        // and "not found" from a cloud (every resolve started here went to one) for the
        // negative window.
        if records.is_empty() {
            if negative_window(self.freshness).is_zero() {
                return false;
            }
            self.fresh.remove(&name);
            self.absent.insert(name, started);
            return true;
        }
        self.absent.remove(&name);
        let remote = records
            .iter()
            .filter(|record| record.source != Source::Local)
            .cloned()
            .collect();
        self.fresh.insert(name, (started, remote));
        true
    }

    /// The engine forgot its window's answer for `name` (it was registered or unregistered here).
    pub fn forget(&mut self, name: &PeerName) {
        self.fresh.remove(name);
        self.absent.remove(name);
    }

    /// Publishes a view of `engine` at `now`, and rewrites the snapshot if this machine's names
    /// or their addresses changed. A snapshot that cannot be written is removed (readers then
    /// ask the socket), so that it never holds a name that is gone.
    pub fn publish(&mut self, engine: &Engine, now: Instant) {
        if !self.open {
            return;
        }
        let freshness = self.freshness;
        self.fresh
            .retain(|_, (started, _)| now.saturating_duration_since(*started) < freshness);
        let negative = negative_window(freshness);
        self.absent
            .retain(|_, started| now.saturating_duration_since(*started) < negative);
        let registrations = engine.registrations();
        let local = registrations
            .iter()
            .filter(|published| !published.addresses.is_empty())
            .map(|published| {
                let registration = &published.registration;
                let record = Record {
                    name: registration.name.clone(),
                    addresses: published.addresses.clone(),
                    port: registration.port,
                    protocol: registration.protocol,
                    comment: registration.comment.clone(),
                    payload: registration.payload.clone(),
                    source: Source::Local,
                };
                (registration.name.clone(), record)
            })
            .collect();
        self.shared.store(View {
            open: true,
            local,
            fresh: self.fresh.clone(),
            freshness,
            absent: self.absent.clone(),
            negative,
            clouds_active: engine
                .clouds()
                .iter()
                .any(|cloud| !cloud.endpoints.is_empty()),
        });
        let Some(path) = &self.snapshot else {
            return;
        };
        let bytes = snapshot::encode(
            registrations
                .iter()
                .map(|published| (&published.registration.name, published.addresses.as_slice())),
        );
        if self.written.as_ref() == Some(&bytes) {
            return;
        }
        match write_snapshot(path, &bytes, self.stamped) {
            Ok(stamp) => {
                self.written = Some(bytes);
                self.stamped = Some(stamp);
            }
            Err(error) => {
                warn!(%error, path = %path.display(), "could not write the snapshot of local names; removing it");
                remove_snapshot(path);
                self.written = None;
            }
        }
    }

    /// The daemon is stopping: the view answers nothing more (the run loop says it is stopping)
    /// and the snapshot is removed, so that no reader believes a daemon that is gone.
    pub fn close(&mut self) {
        self.open = false;
        self.shared.store(View::default());
        if let Some(path) = &self.snapshot {
            remove_snapshot(path);
        }
        self.written = None;
    }
}

/// Writes `bytes` to a temporary file beside `path` (mode 0644 whatever the umask: every user
/// reads it, only the daemon's user writes it) and renames it over `path`. No fsync: the runtime
/// directory does not outlive the machine, and readers see the rename at once.
///
/// The file's modification time is set to now, or a nanosecond past `previous` if the clock has
/// not moved past it: readers keep a snapshot between lookups keyed by inode and modification
/// time, and a file system may give the new file the inode of one replaced within the same tick
/// of its coarse clock. Returns the time given.
fn write_snapshot(
    path: &Path,
    bytes: &[u8],
    previous: Option<SystemTime>,
) -> std::io::Result<SystemTime> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    // A leftover (or something planted) is replaced, never written through.
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temporary)?;
    let now = SystemTime::now();
    let stamp = match previous {
        Some(previous) if previous >= now => previous + Duration::from_nanos(1),
        _ => now,
    };
    let written = file
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.set_modified(stamp));
    drop(file);
    written
        .and_then(|()| std::fs::rename(&temporary, path))
        .map(|()| stamp)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
}

fn remove_snapshot(path: &Path) {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            warn!(%error, path = %path.display(), "could not remove the snapshot of local names");
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
