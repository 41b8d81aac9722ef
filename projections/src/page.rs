//! Cursor pagination shared by every list query.

use crate::ProjectionError;
use serde::Serialize;

/// One page of a list, newest or first items first as the query defines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Largest page any query returns, whatever was asked.
pub const MAX_PAGE: usize = 500;

/// A cursor as handed out: the position (or other integer key) of the last item returned.
pub fn cursor(key: i64) -> String {
    format!("c{key}")
}

/// The key inside a cursor that [`cursor`] made.
pub fn parse_cursor(cursor: &str) -> Result<i64, ProjectionError> {
    cursor
        .strip_prefix('c')
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| ProjectionError::BadCursor(cursor.to_owned()))
}
