//! Identities: the Ed25519 key pairs that own secured peer names.
//!
//! A secured name is `<authority>.<classifier>`, where the authority is SHA-1 of the identity's
//! 32-byte Ed25519 public key (RFC 8032 encoding: exactly the CPA's PublicKey Data). The daemon
//! keeps each key in its state directory as `identities/<uid>/<authority>.pem`: PKCS#8 PEM, the
//! form `openssl genpkey -algorithm ed25519` writes, mode 0600 in directories of mode 0700. The
//! directory name is the owning user; the file name must match the key inside.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::SigningKey;
use pnrp_shared::Authority;

use crate::store::replace_file;
use pnrp_proto::wire::CpaPublicKey;

const DIR_NAME: &str = "identities";
/// How many identities one user may keep (root is exempt).
pub const MAX_IDENTITIES_PER_USER: usize = 16;

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file does not hold the key its name says; it is left untouched.
    #[error("{path} is damaged ({message}); move it aside")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The key pair.
    pub key: SigningKey,
    /// The local user who owns it.
    pub owner: u32,
}

impl Identity {
    /// The authority of the names it owns: SHA-1 of the public key.
    pub fn authority(&self) -> Authority {
        authority_of(&self.key)
    }
}

/// The authority an Ed25519 key owns: SHA-1 of its 32-byte public key, as a CPA carries it.
pub fn authority_of(key: &SigningKey) -> Authority {
    Authority::Secured(CpaPublicKey::of(key).authority_hash())
}

/// The identities kept in a state directory, loaded at start and written through.
#[derive(Debug)]
pub struct Identities {
    dir: PathBuf,
    by_authority: BTreeMap<Authority, Identity>,
}

impl Identities {
    /// Loads every identity under `state_dir/identities` (creating it, mode 0700).
    pub fn open(state_dir: &Path) -> Result<Self, IdentityError> {
        let dir = state_dir.join(DIR_NAME);
        make_private_dir(&dir)?;
        let mut by_authority = BTreeMap::new();
        for user_dir in read_dir(&dir)? {
            let Some(owner) = file_name(&user_dir).and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            for path in read_dir(&user_dir)? {
                let Some(stem) = file_name(&path).and_then(|name| name.strip_suffix(".pem")) else {
                    continue;
                };
                let key = read_key(&path)?;
                let authority = authority_of(&key);
                if authority.to_string() != stem {
                    return Err(IdentityError::Corrupt {
                        path,
                        message: format!("it holds the key of authority {authority}"),
                    });
                }
                by_authority.insert(authority, Identity { key, owner });
            }
        }
        Ok(Identities { dir, by_authority })
    }

    /// The identity of an authority.
    pub fn get(&self, authority: &Authority) -> Option<&Identity> {
        self.by_authority.get(authority)
    }

    /// Every identity, by authority.
    pub fn iter(&self) -> impl Iterator<Item = (&Authority, &Identity)> {
        self.by_authority.iter()
    }

    /// How many identities `owner` keeps.
    pub fn owned_by(&self, owner: u32) -> usize {
        self.by_authority
            .values()
            .filter(|identity| identity.owner == owner)
            .count()
    }

    /// Stores a key for `owner` durably, then keeps it. A key already kept is returned as it is
    /// (with its first owner).
    pub fn insert(&mut self, key: SigningKey, owner: u32) -> Result<Identity, IdentityError> {
        let authority = authority_of(&key);
        if let Some(existing) = self.by_authority.get(&authority) {
            return Ok(existing.clone());
        }
        let user_dir = self.dir.join(owner.to_string());
        make_private_dir(&user_dir)?;
        let path = user_dir.join(format!("{authority}.pem"));
        let pem = private_key_pem(&key).map_err(|message| IdentityError::Io {
            path: path.clone(),
            source: std::io::Error::other(message),
        })?;
        replace_file(&path, pem.as_bytes(), 0o600)
            .map_err(|(path, source)| IdentityError::Io { path, source })?;
        let identity = Identity { key, owner };
        self.by_authority.insert(authority, identity.clone());
        Ok(identity)
    }

    /// Deletes an identity's key file, then forgets it.
    pub fn remove(&mut self, authority: &Authority) -> Result<(), IdentityError> {
        let Some(identity) = self.by_authority.get(authority) else {
            return Ok(());
        };
        let user_dir = self.dir.join(identity.owner.to_string());
        let path = user_dir.join(format!("{authority}.pem"));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(IdentityError::Io { path, source }),
        }
        sync_dir(&user_dir)?;
        self.by_authority.remove(authority);
        Ok(())
    }
}

/// A private key as PKCS#8 v1 PEM (no public key inside): the form OpenSSL writes and reads.
pub fn private_key_pem(key: &SigningKey) -> Result<zeroize::Zeroizing<String>, String> {
    KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(Default::default())
    .map_err(|error| error.to_string())
}

/// Reads a PKCS#8 PEM Ed25519 private key (v1, or v2 with its public key).
pub fn parse_private_key_pem(text: &str) -> Result<SigningKey, String> {
    SigningKey::from_pkcs8_pem(text).map_err(|error| error.to_string())
}

fn read_key(path: &Path) -> Result<SigningKey, IdentityError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    parse_private_key_pem(&text).map_err(|message| IdentityError::Corrupt {
        path: path.to_path_buf(),
        message,
    })
}

fn make_private_dir(dir: &Path) -> Result<(), IdentityError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, IdentityError> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        paths.push(entry.map_err(io_error(dir))?.path());
    }
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|name| name.to_str())
}

fn sync_dir(dir: &Path) -> Result<(), IdentityError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pnrp-identity-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn keys_survive_a_restart_privately() {
        let dir = temp_dir("restart");
        let mut identities = Identities::open(&dir).unwrap();
        let key = SigningKey::from_bytes(&[5; 32]);
        let identity = identities.insert(key.clone(), 1000).unwrap();
        let authority = identity.authority();
        let file = dir.join(format!("identities/1000/{authority}.pem"));
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(dir.join("identities/1000"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let reopened = Identities::open(&dir).unwrap();
        let loaded = reopened.get(&authority).unwrap();
        assert_eq!(loaded.owner, 1000);
        assert_eq!(loaded.key.to_bytes(), key.to_bytes());
        assert_eq!(reopened.owned_by(1000), 1);
        assert_eq!(reopened.owned_by(0), 0);
        let mut reopened = reopened;
        reopened.remove(&authority).unwrap();
        assert!(!file.exists());
        assert!(Identities::open(&dir).unwrap().get(&authority).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_authority_is_sha1_of_the_raw_public_key() {
        use sha1::{Digest, Sha1};
        let key = SigningKey::from_bytes(&[7; 32]);
        let expected: [u8; 20] = Sha1::digest(key.verifying_key().as_bytes()).into();
        assert_eq!(authority_of(&key), Authority::Secured(expected));
    }

    #[test]
    fn a_key_file_under_the_wrong_name_is_reported() {
        let dir = temp_dir("wrong-name");
        let mut identities = Identities::open(&dir).unwrap();
        let authority = identities
            .insert(SigningKey::from_bytes(&[1; 32]), 7)
            .unwrap()
            .authority();
        fs::rename(
            dir.join(format!("identities/7/{authority}.pem")),
            dir.join(format!("identities/7/{}.pem", "0".repeat(40))),
        )
        .unwrap();
        assert!(matches!(
            Identities::open(&dir),
            Err(IdentityError::Corrupt { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
