//! `GET /v1/collections/{name}/suggest`: type-ahead completions, built for one
//! request per keystroke; HTTP over [`App::suggest`](crate::state::App::suggest).

use axum::Extension;
use axum::extract::State;

use crate::access::TenantFilter;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, QueryParams};
use crate::routes::cached_json::CachedJson;
#[allow(unused_imports)] // `Suggestions` is named by the OpenAPI attributes.
use crate::service::search::{SuggestParams, Suggestions};
use crate::state::AppState;

/// Type-ahead suggestions
///
/// Completions for what was typed: the display field (the text field with the
/// highest boost) of the best matching documents, with typo tolerance and the last
/// word as a prefix, the typed part marked.
#[utoipa::path(
    get,
    path = "/v1/collections/{name}/suggest",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products"), SuggestParams),
    responses(
        (status = 200, description = "Completions, best first", body = Suggestions,
            headers(("x-cache" = String, description = "`l1`, `l2` or `miss`, as the `cache` field"))),
        (status = 400, description = "`invalid_query_parameter`, `invalid_search_query` or `invalid_collection_name`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `index_not_ready` or `search_queue_full`; see `Retry-After`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn suggest(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    QueryParams(params): QueryParams<SuggestParams>,
    tenant: Option<Extension<TenantFilter>>,
) -> Result<CachedJson, ApiError> {
    let tenant = tenant.map(|Extension(filter)| filter);
    Ok(state.suggest(&name, params, tenant.as_ref()).await?.into())
}
