//! The key hierarchy: one master key per store wraps one random data key per
//! (tenant, data subject); data keys seal personal values and can be destroyed.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::seal::{open_bytes, seal_bytes};

const WRAP_KEY_TAG: &[u8] = b"kasane-key-wrap-v1";
const CHECK_VALUE_TAG: &[u8] = b"kasane-master-check-v1";
const WRAP_AAD_TAG: &[u8] = b"kasane-data-key-v1";

/// The store's root secret (32 bytes); it never leaves memory except in its key file.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A new random master key, for a new store.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        MasterKey(k)
    }

    /// A master key from raw bytes (e.g. from a secrets manager).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    /// A master key from 64 hex characters (surrounding whitespace is ignored).
    pub fn from_hex(s: &str) -> Result<Self, StoreError> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut k).map_err(|e| {
            StoreError::InvalidMasterKey(format!("expected 64 hex characters: {e}"))
        })?;
        Ok(MasterKey(k))
    }

    /// The key as 64 lowercase hex characters, for writing a key file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads the hex key file at `path`, or creates it (mode 0600) with a new key;
    /// the flag is `true` when the key was generated now.
    pub fn load_or_generate(path: &Path) -> Result<(MasterKey, bool), StoreError> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok((Self::from_key_file(path, &text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(e)),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let key = MasterKey::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(format!("{}\n", key.to_hex()).as_bytes())?;
                file.sync_all()?;
                Ok((key, true))
            }
            // Someone else created it in the meantime: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path)?;
                Ok((Self::from_key_file(path, &text)?, false))
            }
            Err(e) => Err(StoreError::Io(e)),
        }
    }

    fn from_key_file(path: &Path, text: &str) -> Result<MasterKey, StoreError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    "master key file is readable by other users; run chmod 600 on it"
                );
            }
        }
        MasterKey::from_hex(text).map_err(|_| {
            StoreError::InvalidMasterKey(format!(
                "{} does not hold 64 hex characters",
                path.display()
            ))
        })
    }

    /// A value stored in the store at creation that proves a later key is the same key.
    pub(crate) fn check_value(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(CHECK_VALUE_TAG);
        h.update(self.0);
        h.finalize().into()
    }

    /// The key-encryption key derived from the master key (never the master key itself).
    fn wrapping_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(WRAP_KEY_TAG);
        h.update(self.0);
        h.finalize().into()
    }

    /// Encrypts a data key for storage in the `data_keys` table.
    pub(crate) fn wrap(&self, tenant: &str, subject: &str, key: &DataKey) -> Vec<u8> {
        seal_bytes(&self.wrapping_key(), &wrap_aad(tenant, subject), &key.0)
    }

    /// Decrypts a data key read from the `data_keys` table.
    pub(crate) fn unwrap(
        &self,
        tenant: &str,
        subject: &str,
        wrapped: &[u8],
    ) -> Result<DataKey, StoreError> {
        let plain = open_bytes(&self.wrapping_key(), &wrap_aad(tenant, subject), wrapped)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the data key of subject {subject} in tenant {tenant} does not decrypt"
                ))
            })?;
        let bytes: [u8; 32] = plain.try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "the data key of subject {subject} in tenant {tenant} has the wrong length"
            ))
        })?;
        Ok(DataKey(bytes))
    }
}

fn wrap_aad(tenant: &str, subject: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_AAD_TAG.len() + 8 + tenant.len() + subject.len());
    aad.extend_from_slice(WRAP_AAD_TAG);
    for part in [tenant, subject] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// A data subject's key: seals that subject's personal values; destroying it erases them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DataKey(pub(crate) [u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// A new random data key.
    pub(crate) fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        DataKey(k)
    }
}

/// What is known about a subject's key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyState {
    /// The key exists; here it is, unwrapped.
    Live(DataKey),
    /// The key was destroyed: the subject's personal values are erased.
    Destroyed,
}

/// Unwrapped keys shared by readers, so a read does not unwrap the same key again.
///
/// Invariant that keeps erasure safe: readers only ever add entries that are absent
/// (`insert_if_absent`); only the writer overwrites (to `Destroyed` after a destroy commits),
/// so a reader that fetched a key just before its destruction cannot resurrect it.
#[derive(Default)]
pub(crate) struct KeyCache {
    map: Mutex<HashMap<String, HashMap<String, KeyState>>>,
}

impl KeyCache {
    pub(crate) fn get(&self, tenant: &str, subject: &str) -> Option<KeyState> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(tenant).and_then(|m| m.get(subject)).copied()
    }

    /// Adds what a reader learned, unless something is already known (see type docs).
    pub(crate) fn insert_if_absent(
        &self,
        tenant: &str,
        subject: &str,
        state: KeyState,
    ) -> KeyState {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(tenant.to_owned())
            .or_default()
            .entry(subject.to_owned())
            .or_insert(state)
    }

    /// Writer only: records a committed fact, replacing what was known.
    pub(crate) fn set(&self, tenant: &str, subject: &str, state: KeyState) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(tenant.to_owned())
            .or_default()
            .insert(subject.to_owned(), state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_redacted_debug() {
        let k = MasterKey::generate();
        let again = MasterKey::from_hex(&format!(" {}\n", k.to_hex())).unwrap();
        assert_eq!(k, again);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&k.to_hex()[..8]), "{dbg}");
        assert!(MasterKey::from_hex("zz").is_err());
        assert_eq!(
            MasterKey::from_hex("abc").unwrap_err().code(),
            "MASTER_KEY_INVALID"
        );
    }

    #[test]
    fn wrap_unwrap_binds_tenant_and_subject() {
        let mk = MasterKey::generate();
        let dk = DataKey::generate();
        let w = mk.wrap("t", "s", &dk);
        assert_eq!(mk.unwrap("t", "s", &w).unwrap(), dk);
        assert!(mk.unwrap("t", "other", &w).is_err());
        assert!(MasterKey::generate().unwrap("t", "s", &w).is_err());
    }

    #[test]
    fn load_or_generate_creates_0600_file_then_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let (k1, generated) = MasterKey::load_or_generate(&path).unwrap();
        assert!(generated);
        let (k2, generated) = MasterKey::load_or_generate(&path).unwrap();
        assert!(!generated);
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn reader_cannot_resurrect_a_destroyed_key() {
        let cache = KeyCache::default();
        cache.set("t", "s", KeyState::Destroyed);
        let state = cache.insert_if_absent("t", "s", KeyState::Live(DataKey::generate()));
        assert!(matches!(state, KeyState::Destroyed));
        assert!(matches!(cache.get("t", "s"), Some(KeyState::Destroyed)));
    }
}
