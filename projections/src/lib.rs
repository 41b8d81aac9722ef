//! Read models over the event log; filled by the projections issue.
