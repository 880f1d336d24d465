//! The service: what the daemon does with each request, synchronously, over the protocol
//! [`Engine`], the state directory and the identities. No sockets, no tasks, no clock of its own
//! (every call takes `now`): the unit tests drive it with a temporary state directory.
//!
//! Policy lives here: a name belongs to the local user who registered it (the caller's uid, from
//! the kernel), and only they or root may change it; each user publishes at most
//! [`MAX_REGISTRATIONS_PER_USER`] names and keeps at most [`MAX_IDENTITIES_PER_USER`]
//! identities; a secured name needs its authority's identity, owned by the caller. A register or
//! unregister is written to the state directory before the engine changes and the caller hears
//! "done"; a failed write changes nothing and says so. Once [`Service::start_publishing`] is
//! called, the view of what needs no cloud work and the snapshot of local names (`view.rs`)
//! follow every change, before the caller hears of it.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_proto::cloud::Reachability;
use pnrp_proto::engine::{self, Engine, Event, Published, QueryId};
use pnrp_shared::ipc::{
    self, CacheEntryInfo, CloudCounters, CloudInfo, ErrorKind, IdentityInfo, RegistrationInfo,
    Request, Response, Status, TraceInfo, MAX_REGISTRATIONS, MAX_REGISTRATIONS_PER_USER,
};
use pnrp_shared::{Authority, PeerName, Registration, ScopedAddr};
use tracing::{info, warn};

use crate::identity::{authority_of, Identities, Identity, IdentityError, MAX_IDENTITIES_PER_USER};
use crate::store::{random_bytes, OwnedRegistration, Store, StoreError};

use super::view::{Publisher, SharedView};
use super::DaemonError;

/// What became of a request.
#[derive(Debug)]
pub enum Handled {
    /// Answered at once.
    Done(Response),
    /// Answered later, by [`Service::poll_answer`], under this query.
    Pending(QueryId),
}

/// The daemon's state and policy.
#[derive(Debug)]
pub struct Service {
    engine: Engine,
    store: Store,
    identities: Identities,
    owners: HashMap<PeerName, u32>,
    started: Instant,
    answers: VecDeque<(QueryId, Response)>,
    fast: Publisher,
    /// The freshness mirror changed since the view was last published.
    outdated: bool,
    /// The seeds and log filter in effect, for `pnrpctl status`.
    configured: (Vec<String>, String),
}

/// Why a request is refused, before it becomes a [`Response::Error`].
#[derive(Debug)]
struct Refusal(ErrorKind, String);

impl From<Refusal> for Response {
    fn from(Refusal(kind, message): Refusal) -> Self {
        Response::Error { kind, message }
    }
}

impl Service {
    /// Opens the state directory (locking it), loads the identities and the registrations, and
    /// publishes them at the machine's `addresses`.
    pub fn open(
        state_dir: &Path,
        now: Instant,
        addresses: Vec<ScopedAddr>,
    ) -> Result<Self, DaemonError> {
        let store = Store::open(state_dir)?;
        let identities = Identities::open(state_dir)?;
        let mut engine = Engine::new();
        engine.handle_local_addresses(now, addresses);
        let saved = store.load()?;
        info!(count = saved.len(), dir = %store.dir().display(), "loaded registrations");
        let mut owners = HashMap::new();
        for saved in saved {
            let name = &saved.registration.name;
            let identity = identity_of(&identities, name).map(|identity| identity.key.clone());
            if name.is_secured() && identity.is_none() {
                warn!(%name, "its identity is gone: other nodes will refuse this name's CPAs");
            }
            owners.insert(name.clone(), saved.owner);
            engine.register(now, saved.registration, identity);
        }
        Ok(Service {
            engine,
            store,
            identities,
            owners,
            started: now,
            answers: VecDeque::new(),
            fast: Publisher::default(),
            outdated: false,
            configured: (Vec::new(), String::new()),
        })
    }

    /// Publishes from now on, at every change, the view of what needs no cloud work to `shared`
    /// and (unless `None`) the snapshot of local names to `snapshot`; `freshness` is the
    /// engine's window. Call it once the clouds are open.
    pub fn start_publishing(
        &mut self,
        now: Instant,
        shared: SharedView,
        snapshot: Option<PathBuf>,
        freshness: Duration,
    ) {
        self.fast.start(shared, snapshot, freshness);
        self.publish(now);
    }

    /// Publishes the view and the snapshot again (after the addresses or the clouds changed).
    pub fn publish(&mut self, now: Instant) {
        self.outdated = false;
        self.fast.publish(&self.engine, now);
    }

    /// Publishes the view again if answers came that it should hold.
    pub fn publish_if_outdated(&mut self, now: Instant) {
        if self.outdated {
            self.publish(now);
        }
    }

    /// Stops publishing: the view answers nothing more and the snapshot is removed.
    pub fn stop_publishing(&mut self) {
        self.fast.close();
    }

    /// The protocol engine, for the network side of the daemon.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The protocol engine, to feed it datagrams, timers and addresses.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Records the seeds and the log filter in effect (at start and at each reload), which
    /// `pnrpctl status` shows.
    pub fn set_configured(&mut self, seeds: Vec<String>, log_level: String) {
        self.configured = (seeds, log_level);
    }

    /// The engine and the state directory at once, to open the cloud's sockets.
    pub fn engine_and_store(&mut self) -> (&mut Engine, &Store) {
        (&mut self.engine, &self.store)
    }

    /// Handles one request from local user `uid`.
    pub fn handle(&mut self, now: Instant, uid: u32, request: Request) -> Handled {
        let response = match request {
            Request::Resolve { name } => {
                let query = self.engine.start_resolve(now, &name);
                // An answer the engine had at once came from its own window (timed from an
                // earlier resolve) or needed no cloud: only answers from a cloud, timed from
                // now, may enter the view's mirror of the window.
                self.collect_events();
                if !self.answers.iter().any(|(answered, _)| *answered == query) {
                    self.fast.resolve_started(query, &name, now);
                }
                return Handled::Pending(query);
            }
            Request::Traceroute { name } => {
                return Handled::Pending(self.engine.start_trace(now, &name))
            }
            Request::ResolveAddress { address } => {
                let names = self.engine.names_at(&address);
                if names.is_empty() {
                    Response::NotFound
                } else {
                    Response::Names(names)
                }
            }
            Request::Register(registration) => self.register(now, uid, registration),
            Request::Unregister { name } => self.unregister(now, uid, &name),
            Request::List => Response::Registrations(
                self.engine
                    .registrations()
                    .into_iter()
                    .map(|published| self.info(published))
                    .collect(),
            ),
            Request::Clouds => {
                Response::Clouds(self.engine.clouds().into_iter().map(cloud_info).collect())
            }
            Request::Cache => Response::Cache(
                self.engine
                    .cached(now)
                    .into_iter()
                    .map(|node| CacheEntryInfo {
                        cloud: node.cloud,
                        id: node.id.to_string(),
                        endpoints: node.endpoints.iter().map(ToString::to_string).collect(),
                        age_secs: node.age.as_secs(),
                    })
                    .collect(),
            ),
            Request::IdentityCreate { secret } => self.create_identity(uid, secret),
            Request::IdentityList => Response::Identities(
                self.identities
                    .iter()
                    .filter(|(_, identity)| uid == 0 || identity.owner == uid)
                    .map(|(_, identity)| self.identity_info(identity))
                    .collect(),
            ),
            Request::IdentityExport { authority, secret } => {
                match owned_identity(&self.identities, &authority, uid) {
                    Err(refusal) => refusal.into(),
                    Ok(identity) if secret => Response::IdentitySecret {
                        identity: self.identity_info(identity),
                        secret: identity.key.to_bytes(),
                    },
                    Ok(identity) => Response::Identities(vec![self.identity_info(identity)]),
                }
            }
            Request::IdentityDelete { authority } => self.delete_identity(uid, &authority),
            Request::Status => Response::Status(Status {
                version: env!("CARGO_PKG_VERSION").into(),
                uptime_secs: now.saturating_duration_since(self.started).as_secs(),
                registrations: self.engine.registered() as u32,
                state_dir: self.store.dir().display().to_string(),
                firewalled_clouds: self.firewalled_clouds(),
                // The DNS front end's sockets are not the service's: the run loop adds them.
                dns: Vec::new(),
                seeds: self.configured.0.clone(),
                log_level: self.configured.1.clone(),
            }),
        };
        Handled::Done(response)
    }

    /// The next answer to a [`Handled::Pending`] request.
    pub fn poll_answer(&mut self) -> Option<(QueryId, Response)> {
        self.collect_events();
        self.answers.pop_front()
    }

    /// Takes the engine's finished resolves and traces as answers, in order.
    fn collect_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            self.answers.push_back(match event {
                Event::Resolved { query, records } if records.is_empty() => {
                    self.outdated |= self.fast.resolved(query, &[]);
                    (query, Response::NotFound)
                }
                Event::Resolved { query, records } => {
                    let records: Vec<ipc::Record> = records.into_iter().map(record).collect();
                    self.outdated |= self.fast.resolved(query, &records);
                    (query, Response::Resolved(records))
                }
                Event::Traced { query, traces } => (
                    query,
                    Response::Trace(
                        traces
                            .into_iter()
                            .map(|trace| TraceInfo {
                                cloud: trace.cloud,
                                hops: trace.hops.iter().map(ToString::to_string).collect(),
                                publishers: trace
                                    .publishers
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect(),
                            })
                            .collect(),
                    ),
                ),
            });
        }
    }

    /// The clouds in which nobody reaches this node unsolicited, by name.
    pub fn firewalled_clouds(&self) -> Vec<String> {
        self.engine
            .clouds()
            .into_iter()
            .filter(|cloud| cloud.reachability == Reachability::Firewalled)
            .map(|cloud| cloud.name)
            .collect()
    }

    /// Remembers the clouds' cached nodes (those most recently proven alive first), so that a
    /// restart rejoins without seeds.
    pub fn save_known_nodes(&self, limit: usize) {
        let nodes = self.engine.known_nodes(limit);
        if nodes.is_empty() {
            return;
        }
        if let Err(error) = self.store.save_peers(&nodes) {
            warn!(%error, "could not remember cloud nodes");
        }
    }

    fn register(&mut self, now: Instant, uid: u32, registration: Registration) -> Response {
        let registration = match registration.checked() {
            Ok(registration) => registration,
            Err(message) => {
                return Response::Error {
                    kind: ErrorKind::BadRequest,
                    message,
                }
            }
        };
        let identity = match self
            .may_register(&registration.name, uid)
            .and_then(|()| signing_identity(&self.identities, &registration.name, uid))
        {
            Ok(identity) => identity,
            Err(refusal) => return refusal.into(),
        };
        // Re-registering keeps the original owner (root may update anyone's name).
        let owner = self.owners.get(&registration.name).copied().unwrap_or(uid);
        let mut saved = self.saved_registrations();
        saved.retain(|existing| existing.registration.name != registration.name);
        saved.push(OwnedRegistration {
            owner,
            registration: registration.clone(),
        });
        if let Err(error) = self.store.save(&saved) {
            return storage_error(error);
        }
        info!(name = %registration.name, owner, "registered");
        self.owners.insert(registration.name.clone(), owner);
        self.fast.forget(&registration.name);
        let published = self.engine.register(now, registration, identity);
        self.publish(now);
        Response::Registered(self.info(published))
    }

    fn unregister(&mut self, now: Instant, uid: u32, name: &PeerName) -> Response {
        if self.engine.registration(name).is_none() {
            return Response::Error {
                kind: ErrorKind::NotRegistered,
                message: format!("{name} is not registered on this node"),
            };
        }
        if let Err(refusal) = self.owns(name, uid) {
            return refusal.into();
        }
        let mut saved = self.saved_registrations();
        saved.retain(|existing| &existing.registration.name != name);
        if let Err(error) = self.store.save(&saved) {
            return storage_error(error);
        }
        self.engine.unregister(now, name);
        self.owners.remove(name);
        self.fast.forget(name);
        self.publish(now);
        info!(%name, uid, "unregistered");
        Response::Unregistered
    }

    /// The registrations as they are persisted, with their owners.
    fn saved_registrations(&self) -> Vec<OwnedRegistration> {
        self.engine
            .registrations()
            .into_iter()
            .map(|published| OwnedRegistration {
                owner: self.owner_of(&published.registration.name),
                registration: published.registration,
            })
            .collect()
    }

    fn owner_of(&self, name: &PeerName) -> u32 {
        self.owners.get(name).copied().unwrap_or(0)
    }

    fn info(&self, published: Published) -> RegistrationInfo {
        RegistrationInfo {
            owner: self.owner_of(&published.registration.name),
            registration: published.registration,
            published: published.addresses,
        }
    }

    /// Whether `uid` may change `name`: its owner and root may.
    fn owns(&self, name: &PeerName, uid: u32) -> Result<(), Refusal> {
        match self.owners.get(name) {
            Some(&owner) if owner != uid && uid != 0 => Err(Refusal(
                ErrorKind::NotOwner,
                format!(
                    "{name} belongs to another user (uid {owner}); only they or root may change it"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Whether `uid` may (re-)register `name`: ownership, the user's quota, the node's limit.
    fn may_register(&self, name: &PeerName, uid: u32) -> Result<(), Refusal> {
        if self.engine.registration(name).is_some() {
            return self.owns(name, uid);
        }
        let registered_by = self.owners.values().filter(|owner| **owner == uid).count();
        if uid != 0 && registered_by >= MAX_REGISTRATIONS_PER_USER {
            return Err(Refusal(
                ErrorKind::Quota,
                format!(
                    "you already publish {MAX_REGISTRATIONS_PER_USER} names, the most one user \
                     may; unregister one first"
                ),
            ));
        }
        if self.engine.registered() >= MAX_REGISTRATIONS {
            return Err(Refusal(
                ErrorKind::BadRequest,
                format!("this node already publishes {MAX_REGISTRATIONS} names, the most it may"),
            ));
        }
        Ok(())
    }

    fn create_identity(&mut self, uid: u32, secret: Option<[u8; 32]>) -> Response {
        if uid != 0 && self.identities.owned_by(uid) >= MAX_IDENTITIES_PER_USER {
            return Refusal(
                ErrorKind::Quota,
                format!(
                    "you already keep {MAX_IDENTITIES_PER_USER} identities, the most one user \
                     may; delete one first"
                ),
            )
            .into();
        }
        let secret = match secret.map_or_else(random_bytes::<32>, Ok) {
            Ok(secret) => secret,
            Err(error) => {
                return Response::Error {
                    kind: ErrorKind::Unavailable,
                    message: format!("no random key: {error}"),
                }
            }
        };
        let key = SigningKey::from_bytes(&secret);
        if let Some(existing) = self.identities.get(&authority_of(&key)) {
            if existing.owner != uid {
                return Refusal(
                    ErrorKind::NotOwner,
                    "this key is already another user's identity on this node".into(),
                )
                .into();
            }
        }
        match self.identities.insert(key, uid) {
            Ok(identity) => {
                info!(authority = %identity.authority(), uid, "identity created");
                Response::Identities(vec![self.identity_info(&identity)])
            }
            Err(error) => identity_storage_error(error),
        }
    }

    fn delete_identity(&mut self, uid: u32, authority: &str) -> Response {
        let identity = match owned_identity(&self.identities, authority, uid) {
            Ok(identity) => identity,
            Err(refusal) => return refusal.into(),
        };
        let info = self.identity_info(identity);
        if !info.names.is_empty() {
            let names: Vec<String> = info.names.iter().map(ToString::to_string).collect();
            return Response::Error {
                kind: ErrorKind::BadRequest,
                message: format!(
                    "identity {authority} still publishes {}: unregister first",
                    names.join(", ")
                ),
            };
        }
        let authority = identity.authority();
        match self.identities.remove(&authority) {
            Ok(()) => {
                info!(%authority, uid, "identity deleted");
                Response::IdentityDeleted
            }
            Err(error) => identity_storage_error(error),
        }
    }

    fn identity_info(&self, identity: &Identity) -> IdentityInfo {
        let authority = identity.authority();
        IdentityInfo {
            authority: authority.to_string(),
            public_key: identity.key.verifying_key().to_bytes(),
            owner: identity.owner,
            names: self
                .engine
                .registrations()
                .into_iter()
                .map(|published| published.registration.name)
                .filter(|name| name.authority() == authority)
                .collect(),
        }
    }
}

/// A secured name's identity, when this node has it (`None` for an unsecured name).
fn identity_of<'a>(identities: &'a Identities, name: &PeerName) -> Option<&'a Identity> {
    name.is_secured()
        .then(|| identities.get(&name.authority()))
        .flatten()
}

/// The key that signs `name`'s CPAs: none for an unsecured name (the node's key serves); for a
/// secured name, the identity of its authority, which must be the caller's (or root's to use).
fn signing_identity(
    identities: &Identities,
    name: &PeerName,
    uid: u32,
) -> Result<Option<SigningKey>, Refusal> {
    if !name.is_secured() {
        return Ok(None);
    }
    match identity_of(identities, name) {
        Some(identity) if identity.owner == uid || uid == 0 => Ok(Some(identity.key.clone())),
        _ => Err(Refusal(
            ErrorKind::NoIdentity,
            format!(
                "{name} is a secured name: only the holder of identity {} may publish it, and \
                 you have no such identity on this node (see `pnrpctl identity list`)",
                name.authority()
            ),
        )),
    }
}

/// An identity the caller may export or delete: its owner's, or any for root. Another user's
/// identity is reported as missing, so that authorities cannot be probed.
fn owned_identity<'a>(
    identities: &'a Identities,
    authority: &str,
    uid: u32,
) -> Result<&'a Identity, Refusal> {
    let parsed = match Authority::parse(authority) {
        Ok(parsed @ Authority::Secured(_)) => parsed,
        _ => {
            return Err(Refusal(
                ErrorKind::BadRequest,
                format!("{authority:?} is not an authority (40 hex digits)"),
            ))
        }
    };
    identities
        .get(&parsed)
        .filter(|identity| identity.owner == uid || uid == 0)
        .ok_or_else(|| {
            Refusal(
                ErrorKind::NoIdentity,
                format!("no identity {authority} of yours on this node"),
            )
        })
}

fn identity_storage_error(error: IdentityError) -> Response {
    warn!(%error, "could not change an identity");
    Response::Error {
        kind: ErrorKind::Storage,
        message: format!("nothing changed: {error}"),
    }
}

fn storage_error(error: StoreError) -> Response {
    warn!(%error, "could not persist registrations");
    Response::Error {
        kind: ErrorKind::Storage,
        message: format!("not saved, nothing changed: {error}"),
    }
}

/// A record as the socket protocol carries it.
fn record(record: engine::Record) -> ipc::Record {
    ipc::Record {
        name: record.name,
        addresses: record.addresses,
        port: record.port,
        protocol: record.protocol,
        comment: record.comment,
        payload: record.payload,
        source: match record.source {
            engine::Source::Local => ipc::Source::Local,
            engine::Source::Cloud { cloud, publisher } => ipc::Source::Cloud {
                cloud,
                publisher: publisher.to_string(),
            },
        },
    }
}

/// A cloud as the socket protocol carries it.
fn cloud_info(status: engine::CloudStatus) -> CloudInfo {
    let counters = status.counters;
    CloudInfo {
        name: status.name,
        endpoints: status.endpoints.iter().map(ToString::to_string).collect(),
        cached: status.cached as u32,
        published: status
            .published
            .into_iter()
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .collect(),
        counters: CloudCounters {
            sent: counters.sent,
            received: counters.received,
            malformed: counters.malformed,
            bad_cpas: counters.bad_cpas,
            rate_limited: counters.rate_limited,
            withheld: counters.withheld,
        },
        estimated_size: status.estimated_size,
        reachability: reachability(status.reachability),
    }
}

/// A cloud's reachability as the socket protocol carries it.
fn reachability(reachability: Reachability) -> ipc::Reachability {
    match reachability {
        Reachability::Unknown => ipc::Reachability::Unknown,
        Reachability::Reachable => ipc::Reachability::Reachable,
        Reachability::Firewalled => ipc::Reachability::Firewalled,
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
