//! The runner's side of [`MemoryFold`]: which projections a catch-up folds in memory, how far
//! each got, and why one stopped.

use std::sync::{Arc, Mutex};

use kasane_store::OpenedEvent;

use crate::{Envelope, MemoryFold, Projection, ProjectionError};

/// How far one projection's fold got.
#[derive(Clone, Debug, Default)]
pub(crate) struct FoldState {
    /// The last position folded (0: nothing yet).
    pub folded_to: u64,
    /// Why the fold stopped, as recorded with the checkpoint (`[CODE] sentence`).
    pub failed: Option<String>,
    /// Set once the rows are written (or the fold given up), so dropping forgets nothing else.
    pub settled: bool,
}

/// The projections one catch-up folds in memory (by index into the runner's list). Dropping it
/// abandons every fold not yet written, so a cancelled catch-up does not keep the rows.
pub(crate) struct MemoryFolds {
    projections: Arc<Vec<Box<dyn Projection>>>,
    states: Mutex<Vec<(usize, FoldState)>>,
}

impl MemoryFolds {
    /// Starts an empty fold for each projection at `indexes`.
    pub fn begin(projections: Arc<Vec<Box<dyn Projection>>>, indexes: Vec<usize>) -> Self {
        for &i in &indexes {
            fold_of(&projections, i).begin();
        }
        MemoryFolds {
            projections,
            states: Mutex::new(
                indexes
                    .into_iter()
                    .map(|i| (i, FoldState::default()))
                    .collect(),
            ),
        }
    }

    /// Whether the projection at `index` is folded in memory (so `apply` must skip it).
    pub fn contains(&self, index: usize) -> bool {
        self.lock().iter().any(|(i, _)| *i == index)
    }

    /// True when no projection is folded in memory.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Folds a decoded batch (ascending positions) into every fold that has not failed.
    pub fn fold(
        &self,
        events: &[OpenedEvent],
        decoded: &[Option<Result<kasane_domain::Event, String>>],
    ) {
        let mut states = self.lock();
        for (index, state) in states.iter_mut() {
            if state.failed.is_some() {
                continue;
            }
            let fold = fold_of(&self.projections, *index);
            let result = events.iter().zip(decoded).try_for_each(|(opened, event)| {
                let event = match event {
                    Some(Ok(event)) => event,
                    Some(Err(detail)) => {
                        return Err(ProjectionError::Decode {
                            position: opened.global_position,
                            detail: detail.clone(),
                        });
                    }
                    None => {
                        return Err(ProjectionError::Corrupt(format!(
                            "event at position {} reached a fold undecoded (a runner bug)",
                            opened.global_position
                        )));
                    }
                };
                fold.fold(&Envelope::opened(opened, event))?;
                state.folded_to = opened.global_position;
                Ok(())
            });
            if let Err(e) = result {
                let name = self.projections[*index].name();
                tracing::warn!(projection = name, error = %e, "projection failed; it stays at position 0");
                fold.abandon();
                state.failed = Some(format!("[{}] {e}", e.code()));
            }
        }
    }

    /// Readies every fold that has not failed for writing ([`MemoryFold::prepare`]).
    pub fn prepare(&self) {
        for (index, state) in self.lock().iter() {
            if state.failed.is_none() {
                fold_of(&self.projections, *index).prepare();
            }
        }
    }

    /// Each fold's index and state, for the runner to write or record.
    pub fn states(&self) -> Vec<(usize, FoldState)> {
        self.lock().clone()
    }

    /// Marks the fold at `index` as written or given up.
    pub fn settle(&self, index: usize) {
        if let Some((_, state)) = self.lock().iter_mut().find(|(i, _)| *i == index) {
            state.settled = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, FoldState)>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for MemoryFolds {
    fn drop(&mut self) {
        for (index, state) in self.lock().iter() {
            if !state.settled {
                fold_of(&self.projections, *index).abandon();
            }
        }
    }
}

/// The fold of the projection at `index`, which [`MemoryFolds::begin`] was only given if it
/// has one.
pub(crate) fn fold_of(projections: &[Box<dyn Projection>], index: usize) -> &dyn MemoryFold {
    projections[index]
        .memory_fold()
        .expect("only projections with a memory fold are folded in memory")
}

/// Tenant names, each kept once, so that a fold's rows name their tenant by a small number.
#[derive(Debug, Default)]
pub(crate) struct Tenants {
    names: Vec<String>,
}

/// A tenant, by its number in [`Tenants`].
pub(crate) type Tenant = u32;

impl Tenants {
    /// The number of tenant `name`, given one on first sight.
    pub fn of(&mut self, name: &str) -> Tenant {
        match self.names.iter().rposition(|t| t == name) {
            Some(i) => i as Tenant,
            None => {
                self.names.push(name.to_owned());
                (self.names.len() - 1) as Tenant
            }
        }
    }

    /// The name of tenant `t`.
    pub fn name(&self, t: Tenant) -> &str {
        &self.names[t as usize]
    }

    /// Each tenant's rank in SQLite's order of their names (TEXT compares by bytes), by
    /// number: rows sorted by it go in a table keyed by `(tenant, …)` in key order.
    pub fn ranks(&self) -> Vec<usize> {
        let mut by_name: Vec<usize> = (0..self.names.len()).collect();
        by_name.sort_by(|a, b| self.names[*a].cmp(&self.names[*b]));
        let mut rank = vec![0; by_name.len()];
        for (r, t) in by_name.into_iter().enumerate() {
            rank[t] = r;
        }
        rank
    }
}

/// Rows kept in fixed-size chunks: a fold's tables grow to hundreds of MB, and a `Vec` that
/// doubles copies them each time into fresh memory the kernel must zero first.
#[derive(Debug)]
pub(crate) struct Chunks<T> {
    chunks: Vec<Vec<T>>,
}

/// Rows per chunk.
const CHUNK: usize = 1 << 16;

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks { chunks: Vec::new() }
    }
}

impl<T> Chunks<T> {
    /// Adds a row at the end.
    pub fn push(&mut self, row: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(row),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(row);
                self.chunks.push(chunk);
            }
        }
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// The row at `index` (in push order).
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)
    }

    /// Every row in push order, in one `Vec` (to be sorted).
    pub fn into_vec(self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len());
        for chunk in self.chunks {
            all.extend(chunk);
        }
        all
    }

    /// Every row in push order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}
