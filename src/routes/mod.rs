//! The HTTP API: one module per path family, and the router that registers them with
//! `utoipa_axum::routes!`, so the OpenAPI document is generated from the handlers
//! themselves and cannot drift from them.
//!
//! | path | module |
//! |---|---|
//! | `/v1/collections`, `/v1/collections/{name}` | [`collections`] |
//! | `/v1/collections/{name}/documents`, `.../documents/{id}`, `.../documents:delete` | [`documents`] |
//! | `/v1/collections/{name}/documents:import` | [`import`] |
//! | `/v1/collections/{name}/search` | [`search`] |
//! | `/v1/collections/{name}/suggest` | [`suggest`] |
//! | `/v1/collections/{name}/facet-search` | [`facet_search`] |
//! | `/v1/multi-search` | [`multi_search`] |
//! | `/v1/collections/{name}/analytics`, `.../events` | [`analytics`] |
//! | `/v1/collections/{name}/reindex` | [`reindex`] |
//! | `/live`, `/ready`, `/health` | [`health`] |
//! | `/metrics` | [`metrics`] |

pub mod analytics;
pub mod cached_json;
pub mod collections;
pub mod documents;
pub mod facet_search;
pub mod health;
pub mod import;
pub mod keys;
pub mod metrics;
pub mod multi_search;
pub mod page;
pub mod reindex;
pub mod search;
pub mod suggest;

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ErrorCode;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sift",
        description = "A search service: PostgreSQL is the source of truth; collections of JSON documents are validated against a schema and searchable through an embedded index.\n\nEvery error has the shape `{\"error\": {\"code\", \"message\", \"requestId\"}}`; the codes are listed below. Writes need `Authorization: Bearer <admin key>` when the service has one (`SIFT_API_KEY`).",
        license(name = "MIT"),
    ),
    modifiers(&ApiExtras),
    tags(
        (name = "collections", description = "Named sets of documents with a schema"),
        (name = "documents", description = "Documents of a collection, stored in PostgreSQL"),
        (name = "search", description = "Ranked, typo-tolerant, type-ahead search, and the same search in PostgreSQL for comparison"),
        (name = "keys", description = "API keys: what each may do, on which collections, until when"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// Adds what the derive cannot: the admin-key security scheme and the error table.
struct ApiExtras;

impl utoipa::Modify for ApiExtras {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The admin key (`SIFT_API_KEY`); needed for writes when the service has one"))
                    .build(),
            ),
        );
        let mut table =
            String::from("\n\n## Error codes\n\n| code | status | when |\n|---|---|---|\n");
        for code in ErrorCode::ALL {
            table.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.status().as_u16(),
                code.description()
            ));
        }
        let description = openapi.info.description.get_or_insert_with(String::new);
        description.push_str(&table);
    }
}

/// Every route with its OpenAPI description. The caller adds state and middleware.
///
/// Imports are kept apart (`import_routes`) because they stream bodies of any size for
/// as long as it takes: the request timeout does not apply to them.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            collections::create_collection,
            collections::list_collections
        ))
        .routes(routes!(
            collections::get_collection,
            collections::update_collection,
            collections::delete_collection
        ))
        .routes(routes!(
            documents::create_document,
            documents::list_documents
        ))
        .routes(routes!(
            documents::get_document,
            documents::put_document,
            documents::patch_document,
            documents::delete_document
        ))
        .routes(routes!(documents::delete_documents))
        .routes(routes!(search::search_get, search::search_post))
        .routes(routes!(suggest::suggest))
        .routes(routes!(facet_search::facet_search))
        .routes(routes!(multi_search::multi_search))
        .routes(routes!(analytics::analytics))
        .routes(routes!(analytics::events))
        .routes(routes!(reindex::reindex))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::get_key, keys::delete_key))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::health))
        .routes(routes!(metrics::metrics))
}

/// The streaming import route (no request timeout).
pub fn import_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import::import_documents))
}

/// The OpenAPI document, as served at `/openapi.json` and committed in
/// `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, spec) = api_routes().merge(import_routes()).split_for_parts();
    spec
}

/// The OpenAPI document as pretty JSON with a final newline.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| String::from("{}"));
    json.push('\n');
    json
}
