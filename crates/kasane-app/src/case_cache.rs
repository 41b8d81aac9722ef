//! The write path's cache of case files: bounded, least recently used out first.

use kasane_domain::{CaseFile, ResidentId};
use std::collections::HashMap;
use std::sync::Arc;

/// Case files kept by default (a demo case file of a year is ~100 KB in memory).
pub const DEFAULT_CAPACITY: usize = 4_096;

/// Case files with the stream version they were folded to, and when each was last used.
#[derive(Debug)]
pub struct CaseCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<ResidentId, Entry>,
}

#[derive(Debug)]
struct Entry {
    state: Arc<CaseFile>,
    version: u64,
    used: u64,
}

impl CaseCache {
    /// A cache holding at most `capacity` case files (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// The cached state and version of `id`, marking it used.
    pub fn get(&mut self, id: &ResidentId) -> Option<(Arc<CaseFile>, u64)> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(id).map(|e| {
            e.used = tick;
            (e.state.clone(), e.version)
        })
    }

    /// The cached version of `id`, without marking it used.
    pub fn version(&self, id: &ResidentId) -> Option<u64> {
        self.entries.get(id).map(|e| e.version)
    }

    /// Caches `state` at `version`; when full, the least recently used tenth goes first.
    pub fn insert(&mut self, id: ResidentId, state: Arc<CaseFile>, version: u64) {
        self.tick += 1;
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&id) {
            let mut by_use: Vec<(u64, ResidentId)> =
                self.entries.iter().map(|(k, e)| (e.used, *k)).collect();
            by_use.sort_unstable();
            let evict = (self.capacity / 10).max(1);
            for (_, k) in by_use.into_iter().take(evict) {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(
            id,
            Entry {
                state,
                version,
                used: self.tick,
            },
        );
    }

    /// Forgets `id`.
    pub fn remove(&mut self, id: &ResidentId) {
        self.entries.remove(id);
    }

    /// How many case files are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> ResidentId {
        ResidentId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn the_least_recently_used_case_files_go_first_and_the_size_stays_bounded() {
        let mut cache = CaseCache::new(10);
        for n in 0..10 {
            cache.insert(id(n), Arc::new(CaseFile::default()), n as u64);
        }
        assert!(cache.get(&id(0)).is_some(), "touch 0 so it is recent");
        cache.insert(id(10), Arc::new(CaseFile::default()), 10);
        assert_eq!(cache.len(), 10);
        assert!(cache.get(&id(0)).is_some(), "recently used survives");
        assert!(
            cache.get(&id(1)).is_none(),
            "least recently used was evicted"
        );
        for n in 11..100 {
            cache.insert(id(n), Arc::new(CaseFile::default()), n as u64);
            assert!(cache.len() <= 10);
        }
        assert_eq!(cache.version(&id(99)), Some(99));
    }
}
