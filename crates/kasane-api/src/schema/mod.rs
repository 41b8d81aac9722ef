//! The GraphQL schema: queries, one mutation per command, and live subscriptions.

pub mod mutation;
pub mod oversight;
pub mod query;
pub mod resident;
pub mod subscription;
pub mod types;

use crate::context::ApiState;
use crate::settings::Limits;
use async_graphql::{MergedObject, Schema};
use std::sync::Arc;

/// The query root: casework queries and oversight (access ledger, monthly reports).
#[derive(MergedObject)]
pub struct QueryRoot(query::Query, oversight::OversightQuery);

/// Kasane's schema type.
pub type KasaneSchema = Schema<QueryRoot, mutation::Mutation, subscription::Subscription>;

/// The schema serving `state`, with the depth and complexity limits applied.
pub fn build(state: Arc<ApiState>) -> KasaneSchema {
    let limits: &Limits = &state.settings.limits;
    Schema::build(
        QueryRoot(query::Query, oversight::OversightQuery),
        mutation::Mutation,
        subscription::Subscription,
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .data(state.clone())
    .finish()
}

/// The schema in SDL, as checked in at `schema/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot(query::Query, oversight::OversightQuery),
        mutation::Mutation,
        subscription::Subscription,
    )
    .finish()
    .sdl()
}
