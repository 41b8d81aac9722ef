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
/// abandons every fold not yet written, so a cancelled catch-up does not keep the rows; it
/// also holds the runner's turn, so that the next catch-up cannot begin these folds again
/// while a task of a cancelled one still folds into them.
pub(crate) struct MemoryFolds {
    projections: Arc<Vec<Box<dyn Projection>>>,
    /// Which projections, fixed at the start: `apply` asks without waiting for a fold.
    indexes: Vec<usize>,
    /// One state per index, each locked only by its own fold.
    states: Vec<Mutex<FoldState>>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl MemoryFolds {
    /// Starts an empty fold for each projection at `indexes`, holding the runner's `turn`.
    pub fn begin(
        projections: Arc<Vec<Box<dyn Projection>>>,
        indexes: Vec<usize>,
        turn: tokio::sync::OwnedMutexGuard<()>,
    ) -> Self {
        for &i in &indexes {
            fold_of(&projections, i).begin();
        }
        MemoryFolds {
            projections,
            states: indexes.iter().map(|_| Mutex::default()).collect(),
            indexes,
            _turn: turn,
        }
    }

    /// Whether the projection at `index` is folded in memory (so `apply` must skip it).
    pub fn contains(&self, index: usize) -> bool {
        self.indexes.contains(&index)
    }

    /// True when no projection is folded in memory.
    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }

    /// Folds a decoded batch (ascending positions) into every fold that has not failed. A
    /// fold that fails (or panics) is given up, with its error kept for the checkpoint.
    pub fn fold(
        &self,
        events: &[OpenedEvent],
        decoded: &[Option<Result<kasane_domain::Event, String>>],
    ) {
        for (index, state) in self.indexes.iter().zip(&self.states) {
            let mut state = lock(state);
            if state.failed.is_some() {
                continue;
            }
            let fold = fold_of(&self.projections, *index);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fold_batch(fold, events, decoded, &mut state.folded_to)
            }))
            .unwrap_or_else(|_| {
                Err(ProjectionError::Corrupt(
                    "the projection's fold panicked".into(),
                ))
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
        for (index, state) in self.indexes.iter().zip(&self.states) {
            if lock(state).failed.is_none() {
                fold_of(&self.projections, *index).prepare();
            }
        }
    }

    /// Each fold's index and state, for the runner to write or record.
    pub fn states(&self) -> Vec<(usize, FoldState)> {
        let states = self.states.iter().map(|s| lock(s).clone());
        self.indexes.iter().copied().zip(states).collect()
    }

    /// Marks the fold at `index` as written or given up.
    pub fn settle(&self, index: usize) {
        if let Some(at) = self.indexes.iter().position(|i| *i == index) {
            lock(&self.states[at]).settled = true;
        }
    }
}

/// Folds `events` in order, moving `folded_to` past each one folded.
fn fold_batch(
    fold: &dyn MemoryFold,
    events: &[OpenedEvent],
    decoded: &[Option<Result<kasane_domain::Event, String>>],
    folded_to: &mut u64,
) -> Result<(), ProjectionError> {
    for (opened, event) in events.iter().zip(decoded) {
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
        *folded_to = opened.global_position;
    }
    Ok(())
}

fn lock(state: &Mutex<FoldState>) -> std::sync::MutexGuard<'_, FoldState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for MemoryFolds {
    fn drop(&mut self) {
        for (index, state) in self.indexes.iter().zip(&self.states) {
            if !lock(state).settled {
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
}
