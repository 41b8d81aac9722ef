//! API errors: every error a client can cause reaches it as a GraphQL error whose
//! `extensions.code` is stable (docs/api.md lists them) and whose message says what to do.

use async_graphql::ErrorExtensions;
use kasane_app::AppError;
use kasane_projections::ProjectionError;
use kasane_store::StoreError;

/// Codes that belong to the API layer itself (domain, store and projection codes pass through).
pub mod codes {
    /// No bearer token was sent.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The token is malformed or its signature does not verify.
    pub const TOKEN_INVALID: &str = "TOKEN_INVALID";
    /// The token's `exp` has passed.
    pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
    /// The token was issued for another tenant.
    pub const FOREIGN_TENANT: &str = "FOREIGN_TENANT";
    /// The token names a member this tenant does not know.
    pub const UNKNOWN_MEMBER: &str = "UNKNOWN_MEMBER";
    /// The token's member is suspended.
    pub const MEMBER_SUSPENDED: &str = "MEMBER_SUSPENDED";
    /// An id argument is not a UUID.
    pub const BAD_ID: &str = "BAD_ID";
    /// An argument is out of range or malformed.
    pub const INVALID_INPUT: &str = "INVALID_INPUT";
    /// The caller lacks the role a query needs (e.g. center_admin for reports); the same
    /// code the domain gives a command refused for a missing role.
    pub const ROLE_REQUIRED: &str = "ROLE_REQUIRED";
    /// `first` asks for more items than a page may hold.
    pub const PAGE_TOO_LARGE: &str = "PAGE_TOO_LARGE";
    /// The query nests deeper than allowed.
    pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    /// The query asks for too much at once.
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// The request body is larger than allowed.
    pub const BODY_TOO_LARGE: &str = "BODY_TOO_LARGE";
    /// The token sent more requests than its rate allows.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The read could not be recorded, so nothing was returned.
    pub const ACCESS_NOT_RECORDED: &str = "ACCESS_NOT_RECORDED";
    /// The request is not valid GraphQL for this schema.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// Something failed inside the server; the request can be retried.
    pub const INTERNAL: &str = "INTERNAL";
}

/// An error on its way to the client: a stable code, a sentence, and optional extra fields.
///
/// It deliberately does not implement `Display`, so it cannot be turned into a GraphQL error
/// without its code.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The stable code (`extensions.code`).
    pub code: &'static str,
    /// What happened and what to do next.
    pub message: String,
    /// For VERSION_CONFLICT: the stream's current version.
    pub current_version: Option<u64>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            current_version: None,
        }
    }

    /// The sentence of the error.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `first` above the page limit.
    pub fn page_too_large(first: usize, max: usize) -> Self {
        Self::new(
            codes::PAGE_TOO_LARGE,
            format!(
                "first: {first} is above the page limit of {max}: ask for at most {max} and page on with `after`"
            ),
        )
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        let mut err = async_graphql::Error::new(e.message);
        let code = e.code;
        let current = e.current_version;
        err = err.extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(v) = current {
                ext.set("currentVersion", v);
            }
        });
        err
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(s) => s.into(),
            AppError::Domain(d) => ApiError::new(d.code.as_str(), d.message),
            other => {
                let code = other.code();
                ApiError::new(code, other.to_string())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = e.code();
        match &e {
            StoreError::VersionConflict { actual, .. } => ApiError {
                current_version: Some(actual.unwrap_or(0)),
                ..ApiError::new(code, e.to_string())
            },
            StoreError::DuplicateEventId { .. } => ApiError::new(
                code,
                "this idempotency key was already used for a different command: send a new key for a new command",
            ),
            _ => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(code, e.to_string())
            }
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match &e {
            ProjectionError::Refused(_) | ProjectionError::BadCursor(_) => {}
            _ => tracing::error!(error = %e, "read model failure"),
        }
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "a read task failed");
        ApiError::new(codes::INTERNAL, "the read failed inside the server: retry")
    }
}

/// The result type of resolvers: always carries a code.
pub type ApiResult<T> = Result<T, ApiError>;

/// Converts any error with a code into the GraphQL error a resolver returns.
pub fn gql<E: Into<ApiError>>(e: E) -> async_graphql::Error {
    e.into().into()
}
