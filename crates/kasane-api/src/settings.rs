//! Server settings the API reads: the tenant, its time zone, and the limits of a request.

use chrono_tz::Tz;
use kasane_domain::TenantId;

/// Limits that protect the server and other users from one request or one client.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Deepest nesting of selections a query may have.
    pub max_depth: usize,
    /// Largest query complexity (fields, with lists weighted by their `first`).
    pub max_complexity: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest `first` of any connection.
    pub max_page: usize,
    /// Sustained requests per second one token may make.
    pub requests_per_second: u32,
    /// Requests one token may make in a burst above the sustained rate.
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_body_bytes: 256 * 1024,
            max_page: 100,
            requests_per_second: 100,
            burst: 400,
        }
    }
}

/// What the API needs to know about the deployment.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// The tenant this server serves.
    pub tenant: TenantId,
    /// The tenant's zone: dates such as `dueOn` and "today" are taken there.
    pub time_zone: Tz,
    /// Request limits.
    pub limits: Limits,
}
