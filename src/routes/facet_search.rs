//! `POST /v1/collections/{name}/facet-search`: search a facet's values; HTTP over
//! [`App::facet_search`](crate::state::App::facet_search).

use axum::Extension;
use axum::extract::State;

use crate::access::TenantFilter;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{CollectionPath, Json};
use crate::service::facet_search::{FacetSearchAnswer, FacetSearchParams};
use crate::state::AppState;

/// Search the values of a facet
///
/// The values of a keyword facet that begin with what was typed (each typed word the
/// start of a word of the value, with typos as the collection allows), counted over the
/// documents a search matches (`q` and `filter`), most frequent first: the box that
/// narrows a long list of brands in a filter panel.
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/facet-search",
    tag = "search",
    params(("name" = String, Path, description = "Collection name", pattern = r"^[a-z0-9_-]{1,64}$", example = "products")),
    request_body = FacetSearchParams,
    responses(
        (status = 200, description = "The values found, with counts", body = FacetSearchAnswer),
        (status = 400, description = "`invalid_json`, `invalid_request_body`, `invalid_facets`, `invalid_search_query`, `invalid_filter` or `invalid_collection_name`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 421, description = "`collection_elsewhere`: this replica does not serve the collection (`SIFT_COLLECTIONS`)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorResponse),
        (status = 503, description = "`server_busy`, `index_not_ready` or `search_queue_full`; see `Retry-After`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (with `SIFT_RATE_LIMIT`); see `Retry-After` and `RateLimit-*`", body = ErrorResponse),
    )
)]
pub async fn facet_search(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    tenant: Option<Extension<TenantFilter>>,
    Json(params): Json<FacetSearchParams>,
) -> Result<axum::Json<FacetSearchAnswer>, ApiError> {
    let tenant = tenant.map(|Extension(filter)| filter);
    Ok(axum::Json(
        state.facet_search(&name, params, tenant.as_ref()).await?,
    ))
}
