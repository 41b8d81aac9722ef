//! Read connections to the read models, used off the async threads.
//!
//! Projection queries are synchronous SQLite calls; each runs on tokio's blocking pool with a
//! connection taken from a small pool (so prepared statements stay cached between requests).

use crate::error::{ApiError, ApiResult};
use kasane_projections::ProjectionError;
use kasane_projections::runner::open_read;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Queries running at once. Queries are CPU-bound; a few warm connections (each with its own
/// page cache) beat many cold ones, and waiting requests queue here instead of on the
/// blocking pool.
const MAX_CONCURRENT: usize = 4;

/// A pool of read-only connections to the store file that holds the read models.
#[derive(Clone)]
pub struct ReadPool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

impl ReadPool {
    /// A pool over the SQLite file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                path: path.into(),
                idle: Mutex::new(Vec::new()),
                permits: tokio::sync::Semaphore::new(MAX_CONCURRENT),
            }),
        }
    }

    /// Runs `query` with a connection on the blocking pool.
    pub async fn run<T, F>(&self, query: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ProjectionError> + Send + 'static,
    {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the read pool's semaphore is never closed");
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match inner.idle.lock().expect("read pool").pop() {
                Some(c) => c,
                None => open_read(&inner.path)?,
            };
            let result = query(&conn);
            inner.idle.lock().expect("read pool").push(conn);
            result
        })
        .await?
        .map_err(ApiError::from)
    }
}
