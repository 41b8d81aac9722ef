//! Event store: filled in by the next commit.
