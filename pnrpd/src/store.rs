//! Registrations persisted in the state directory.
//!
//! One JSON file, `registrations.json`, replaced atomically (write a temporary file, fsync it,
//! rename it over the old one, fsync the directory) before a change is acknowledged, so that
//! `kill -9` at any moment leaves either the old or the new set, never a torn file. A lock file
//! keeps two daemons off the same directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use pnrp_shared::Registration;
use serde::{Deserialize, Serialize};

const FILE_NAME: &str = "registrations.json";
const LOCK_NAME: &str = "lock";
const KEY_NAME: &str = "node.key";
const PEERS_NAME: &str = "cache.json";

/// `N` bytes from the kernel's random source.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut bytes = [0; N];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another daemon holds the state directory.
    #[error("{0} is in use by another pnrpd")]
    Locked(PathBuf),
    /// The registrations file is not ours or is damaged; it is left untouched.
    #[error("{path} is damaged ({message}); move it aside to start afresh")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A registration with the local user who made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedRegistration {
    /// The registering user's uid.
    pub owner: u32,
    /// What was registered.
    pub registration: Registration,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    registrations: Vec<OwnedRegistration>,
}

/// Format 1 had no owners: its registrations belong to root.
#[derive(Deserialize)]
struct SavedV1 {
    registrations: Vec<Registration>,
}

#[derive(Deserialize)]
struct Version {
    version: u32,
}

/// The state directory, locked for this process while the value lives.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    _lock: File,
}

/// Replaces `path` with `bytes` atomically and durably: a temporary file of `mode` beside it,
/// written and fsynced, renamed over `path`, then the directory fsynced. `kill -9` at any moment
/// leaves the old file or the new, never a torn one. On failure: the file that failed, and why.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), (PathBuf, std::io::Error)> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |error| (path, error)
    };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(&temporary)
        .map_err(at(&temporary))?;
    file.write_all(bytes).map_err(at(&temporary))?;
    file.sync_all().map_err(at(&temporary))?;
    fs::rename(&temporary, path).map_err(at(path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(at(dir))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.into(),
        source,
    }
}

impl Store {
    /// Creates the directory if needed and takes its lock.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_error(dir))?;
        let lock_path = dir.join(LOCK_NAME);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        // SAFETY: flock on a descriptor we own; it is released when the file closes.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            return Err(StoreError::Locked(dir.into()));
        }
        Ok(Store {
            dir: dir.into(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the saved registrations (none when nothing was ever saved).
    pub fn load(&self) -> Result<Vec<OwnedRegistration>, StoreError> {
        let path = self.dir.join(FILE_NAME);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.clone(),
            message,
        };
        let version: Version =
            serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
        match version.version {
            1 => {
                let saved: SavedV1 =
                    serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
                Ok(saved
                    .registrations
                    .into_iter()
                    .map(|registration| OwnedRegistration {
                        owner: 0,
                        registration,
                    })
                    .collect())
            }
            2 => {
                let saved: Saved =
                    serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
                Ok(saved.registrations)
            }
            other => Err(corrupt(format!("unknown format version {other}"))),
        }
    }

    /// This node's signing key seed (32 bytes, `node.key`, mode 0600), made on first use from the
    /// kernel's random source.
    pub fn node_key(&self) -> Result<[u8; 32], StoreError> {
        let path = self.dir.join(KEY_NAME);
        match fs::read(&path) {
            Ok(bytes) => {
                return bytes.try_into().map_err(|_| StoreError::Corrupt {
                    path: path.clone(),
                    message: "not 32 bytes".into(),
                })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        let key = random_bytes::<32>().map_err(io_error(Path::new("/dev/urandom")))?;
        replace_file(&path, &key, 0o600)
            .map_err(|(path, source)| StoreError::Io { path, source })?;
        Ok(key)
    }

    /// Cloud nodes remembered from the last run (`cache.json`), to rejoin through; none when
    /// there is no such file or it does not parse (it is only a hint).
    pub fn load_peers(&self) -> Vec<std::net::SocketAddrV6> {
        fs::read(self.dir.join(PEERS_NAME))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<std::net::SocketAddrV6>>(&bytes).ok())
            .unwrap_or_default()
    }

    /// Remembers cloud nodes for the next start (replaced atomically; not synced: a hint).
    pub fn save_peers(&self, peers: &[std::net::SocketAddrV6]) -> Result<(), StoreError> {
        let path = self.dir.join(PEERS_NAME);
        let temporary = self.dir.join(format!("{PEERS_NAME}.tmp"));
        let bytes = serde_json::to_vec(peers).map_err(|error| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(error),
        })?;
        fs::write(&temporary, bytes).map_err(io_error(&temporary))?;
        fs::rename(&temporary, &path).map_err(io_error(&path))
    }

    /// Replaces the saved registrations atomically and durably.
    pub fn save(&self, registrations: &[OwnedRegistration]) -> Result<(), StoreError> {
        let path = self.dir.join(FILE_NAME);
        let saved = Saved {
            version: 2,
            registrations: registrations.to_vec(),
        };
        let mut bytes = serde_json::to_vec_pretty(&saved).map_err(|error| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(error),
        })?;
        bytes.push(b'\n');
        replace_file(&path, &bytes, 0o644).map_err(|(path, source)| StoreError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(name: &str) -> OwnedRegistration {
        OwnedRegistration {
            owner: 1000,
            registration: plain(name),
        }
    }

    fn plain(name: &str) -> Registration {
        Registration {
            name: name.parse().unwrap(),
            addresses: vec![],
            port: Some(80),
            protocol: Default::default(),
            comment: Some("hi".into()),
            payload: None,
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pnrpd-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saves_and_loads() {
        let dir = temp_dir("roundtrip");
        let store = Store::open(&dir).unwrap();
        assert!(store.load().unwrap().is_empty());
        let registrations = vec![registration("0.a"), registration("0.b")];
        store.save(&registrations).unwrap();
        assert_eq!(store.load().unwrap(), registrations);
        store.save(&registrations[..1]).unwrap();
        assert_eq!(store.load().unwrap(), registrations[..1]);
        assert!(!dir.join("registrations.json.tmp").exists());
        drop(store);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn node_key_is_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("key");
        let store = Store::open(&dir).unwrap();
        let key = store.node_key().unwrap();
        assert_eq!(store.node_key().unwrap(), key);
        let mode = fs::metadata(dir.join(KEY_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn remembers_peers() {
        let dir = temp_dir("peers");
        let store = Store::open(&dir).unwrap();
        assert!(store.load_peers().is_empty());
        let peers: Vec<std::net::SocketAddrV6> = vec!["[fd71::3]:3540".parse().unwrap()];
        store.save_peers(&peers).unwrap();
        assert_eq!(store.load_peers(), peers);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reads_the_first_format_as_roots() {
        let dir = temp_dir("v1");
        let store = Store::open(&dir).unwrap();
        let v1 = serde_json::json!({ "version": 1, "registrations": [plain("0.old")] });
        fs::write(dir.join(FILE_NAME), v1.to_string()).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(
            loaded,
            vec![OwnedRegistration {
                owner: 0,
                registration: plain("0.old")
            }]
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn second_open_is_locked() {
        let dir = temp_dir("lock");
        let store = Store::open(&dir).unwrap();
        assert!(matches!(Store::open(&dir), Err(StoreError::Locked(_))));
        drop(store);
        assert!(Store::open(&dir).is_ok());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_file_is_reported_not_replaced() {
        let dir = temp_dir("corrupt");
        let store = Store::open(&dir).unwrap();
        fs::write(dir.join(FILE_NAME), b"{not json").unwrap();
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
        assert_eq!(fs::read(dir.join(FILE_NAME)).unwrap(), b"{not json");
        fs::remove_dir_all(dir).unwrap();
    }
}
