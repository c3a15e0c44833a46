//! The API's errors: one enum for everything a handler can fail with, and one table of
//! stable error codes, each with its HTTP status and a documentation anchor.
//!
//! Handlers return [`ApiError`]. Turning it into a response does not write the body
//! yet: the response carries an [`ErrorBody`] extension, and the `render_errors`
//! middleware (in [`crate::middleware`]) writes the JSON with the request id, which only
//! the middleware knows. The same middleware gives bodies to the empty error responses
//! that tower layers produce (timeouts, 405s), so every error has one shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::UnexpectedEntry;
use crate::schema::SchemaError;
use crate::search::SearchRequestError;
use crate::search::index_engine::SearchError;
use crate::store::documents::Misfits;

/// Declares the table of error codes once; the enum, its status, its wire code and its
/// description all come from here, so the README table, the OpenAPI description and
/// the responses cannot disagree.
macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => ($status:ident, $code:literal, $description:literal), )*) => {
        /// A stable, documented error code. The wire form is the snake_case string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in the order of the documentation table.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The code as clients see it.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The HTTP status every response with this code has.
            pub fn status(self) -> StatusCode {
                match self { $( ErrorCode::$variant => StatusCode::$status, )* }
            }

            /// When the code is returned, in one sentence (README and OpenAPI).
            pub fn description(self) -> &'static str {
                match self { $( ErrorCode::$variant => $description, )* }
            }
        }
    };
}

error_codes! {
    InvalidJson => (BAD_REQUEST, "invalid_json", "The request body is not valid JSON."),
    InvalidRequestBody => (BAD_REQUEST, "invalid_request_body", "The body is JSON but does not have the expected shape (unknown or missing field, wrong type)."),
    InvalidQueryParameter => (BAD_REQUEST, "invalid_query_parameter", "A query string parameter is malformed, out of range or unknown; the message names it."),
    InvalidCollectionName => (BAD_REQUEST, "invalid_collection_name", "A collection name must match `^[a-z0-9_-]{1,64}$`."),
    InvalidSchema => (BAD_REQUEST, "invalid_schema", "The collection schema breaks a rule: field names, types, boosts or the need for a text field."),
    InvalidSettings => (BAD_REQUEST, "invalid_settings", "A settings change names an unknown field or has a value out of range."),
    InvalidDocument => (BAD_REQUEST, "invalid_document", "The document is not a JSON object or a field does not match the collection schema; the message names the field."),
    InvalidDocumentId => (BAD_REQUEST, "invalid_document_id", "A document id must be a string matching `^[A-Za-z0-9_-]{1,511}$`, and the same in the path and the body."),
    InvalidSearchQuery => (BAD_REQUEST, "invalid_search_query", "The search's `q` is too long."),
    InvalidFilter => (BAD_REQUEST, "invalid_filter", "The `filter` expression does not parse, names an unknown or unfilterable field, or has a value of the wrong type."),
    InvalidSort => (BAD_REQUEST, "invalid_sort", "`sort` names an unknown field or one not declared `sortable`, repeats a key, has more than 3, or a key is not `field:asc`/`field:desc`."),
    InvalidFacets => (BAD_REQUEST, "invalid_facets", "`facets` names an unknown field or one that is not a keyword field declared `facet`."),
    Unauthorized => (UNAUTHORIZED, "unauthorized", "The endpoint needs `Authorization: Bearer <key>` and none, an unknown or an expired one was given."),
    Forbidden => (FORBIDDEN, "forbidden", "The key is valid but does not grant this action on this collection."),
    RouteNotFound => (NOT_FOUND, "route_not_found", "No endpoint has this path."),
    CollectionNotFound => (NOT_FOUND, "collection_not_found", "The named collection does not exist."),
    DocumentNotFound => (NOT_FOUND, "document_not_found", "The named document does not exist in the collection."),
    KeyNotFound => (NOT_FOUND, "key_not_found", "No API key has this id."),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "method_not_allowed", "The path exists but not with this HTTP method."),
    RequestTimeout => (REQUEST_TIMEOUT, "request_timeout", "The request took longer than the configured request timeout, or its body stopped arriving for `SIFT_BODY_IDLE_TIMEOUT`."),
    CollectionAlreadyExists => (CONFLICT, "collection_already_exists", "A collection with this name exists already."),
    DocumentAlreadyExists => (CONFLICT, "document_already_exists", "`POST` names an id that exists already; use `PUT` to replace it."),
    SchemaConflict => (CONFLICT, "schema_conflict", "A change of `fields` that stored documents do not fit (a value of another type, an object where a path goes through); the message says how many and names up to three."),
    FieldsChanged => (CONFLICT, "fields_changed", "The collection's fields changed while the write was under way (an import stops at the batch it was storing; what came before is stored); send it again."),
    CollectionElsewhere => (MISDIRECTED_REQUEST, "collection_elsewhere", "This replica does not serve the collection (`SIFT_COLLECTIONS`); send the request to one that does. A proxy routes by the collection name."),
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "payload_too_large", "The body (or one import line) is larger than the configured body limit."),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The `Content-Type` is not the one the endpoint takes (`application/json`, or `application/x-ndjson` for imports)."),
    RateLimited => (TOO_MANY_REQUESTS, "rate_limited", "Too many requests from this client; retry after the `Retry-After` seconds."),
    Internal => (INTERNAL_SERVER_ERROR, "internal", "Something unexpected failed; the detail is in the server log under the request id."),
    DatabaseUnavailable => (SERVICE_UNAVAILABLE, "database_unavailable", "PostgreSQL could not be reached or did not answer in time; safe to retry."),
    IndexNotReady => (SERVICE_UNAVAILABLE, "index_not_ready", "The collection's index is still being built; retry shortly (or use `engine=ilike`/`fts`)."),
    SearchQueueFull => (SERVICE_UNAVAILABLE, "search_queue_full", "Too many searches are running or waiting; retry after the `Retry-After` seconds."),
    ServerBusy => (SERVICE_UNAVAILABLE, "server_busy", "Too many API requests are in flight (`SIFT_MAX_REQUESTS`); retry after the `Retry-After` seconds."),
    ConsistencyTimeout => (GATEWAY_TIMEOUT, "consistency_timeout", "`after` named a write the index had not applied within the wait; retry, or search without `after`."),
    NotReady => (SERVICE_UNAVAILABLE, "not_ready", "The service cannot serve yet (database unreachable or migrations not applied)."),
}

impl ErrorCode {
    /// The code a bare status maps to, for error responses produced by layers that
    /// know nothing of our codes (timeouts, method routing).
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::NOT_FOUND => ErrorCode::RouteNotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::NotReady,
            s if s.is_client_error() => ErrorCode::InvalidRequestBody,
            _ => ErrorCode::Internal,
        }
    }

    /// The message for a bare status (see [`ErrorCode::for_status`]).
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::RouteNotFound => "no endpoint has this path",
            ErrorCode::MethodNotAllowed => "this path does not take this HTTP method",
            ErrorCode::RequestTimeout => "the request took longer than the request timeout",
            ErrorCode::PayloadTooLarge => "the request body is larger than the body limit",
            ErrorCode::Unauthorized => "missing or invalid API key",
            ErrorCode::Internal => "internal error",
            ErrorCode::DatabaseUnavailable => "the database is unavailable; retry later",
            _ => self.description(),
        }
    }
}

/// Everything a request can fail with. The message of each variant is what the client
/// reads, so none of them may carry SQL, table names or other internals: those go to
/// the log from [`ApiError::Internal`] and [`ApiError::DatabaseUnavailable`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidRequestBody(String),
    #[error("{0}")]
    InvalidQueryParameter(String),
    #[error("{0}")]
    InvalidCollectionName(String),
    #[error("{0}")]
    InvalidSchema(String),
    #[error("{0}")]
    InvalidSettings(String),
    #[error("{0}")]
    InvalidDocument(String),
    #[error("{0}")]
    InvalidDocumentId(String),
    #[error("{0}")]
    InvalidSearchQuery(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidSort(String),
    #[error("{0}")]
    InvalidFacets(String),
    #[error("the index of collection `{0}` is still being built; retry shortly")]
    IndexNotReady(String),
    #[error("too many searches are running; retry shortly")]
    SearchQueueFull,
    #[error("too many requests are in flight; retry shortly")]
    ServerBusy,
    #[error("too many requests from this client; retry after the `Retry-After` seconds")]
    RateLimited,
    #[error("{0}")]
    BodyStalled(String),
    #[error("the index did not apply the write named by `after` within {0} ms")]
    ConsistencyTimeout(u64),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("forbidden: `{0}`")]
    Forbidden(String),
    #[error("API key `{0}` not found")]
    KeyNotFound(uuid::Uuid),
    #[error("no endpoint has this path")]
    RouteNotFound,
    #[error("collection `{0}` not found")]
    CollectionNotFound(String),
    #[error("document `{id}` not found in collection `{collection}`")]
    DocumentNotFound { collection: String, id: String },
    #[error("collection `{0}` already exists")]
    CollectionAlreadyExists(String),
    #[error("document `{0}` already exists; use PUT to replace it")]
    DocumentAlreadyExists(String),
    #[error(
        "collection `{0}` is not served by this replica; send the request to a replica that serves it"
    )]
    CollectionElsewhere(String),
    #[error("{0}")]
    SchemaConflict(String),
    #[error("{0}")]
    FieldsChanged(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotReady(String),
    /// The database did not answer (connection refused or lost, pool exhausted) even
    /// after retries. The source is logged, never sent.
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// Anything unexpected. The source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The code this error answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidJson(_) => ErrorCode::InvalidJson,
            ApiError::InvalidRequestBody(_) => ErrorCode::InvalidRequestBody,
            ApiError::InvalidQueryParameter(_) => ErrorCode::InvalidQueryParameter,
            ApiError::InvalidCollectionName(_) => ErrorCode::InvalidCollectionName,
            ApiError::InvalidSchema(_) => ErrorCode::InvalidSchema,
            ApiError::InvalidSettings(_) => ErrorCode::InvalidSettings,
            ApiError::InvalidDocument(_) => ErrorCode::InvalidDocument,
            ApiError::InvalidDocumentId(_) => ErrorCode::InvalidDocumentId,
            ApiError::InvalidSearchQuery(_) => ErrorCode::InvalidSearchQuery,
            ApiError::InvalidFilter(_) => ErrorCode::InvalidFilter,
            ApiError::InvalidSort(_) => ErrorCode::InvalidSort,
            ApiError::InvalidFacets(_) => ErrorCode::InvalidFacets,
            ApiError::IndexNotReady(_) => ErrorCode::IndexNotReady,
            ApiError::SearchQueueFull => ErrorCode::SearchQueueFull,
            ApiError::ServerBusy => ErrorCode::ServerBusy,
            ApiError::RateLimited => ErrorCode::RateLimited,
            ApiError::BodyStalled(_) => ErrorCode::RequestTimeout,
            ApiError::ConsistencyTimeout(_) => ErrorCode::ConsistencyTimeout,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::KeyNotFound(_) => ErrorCode::KeyNotFound,
            ApiError::RouteNotFound => ErrorCode::RouteNotFound,
            ApiError::CollectionNotFound(_) => ErrorCode::CollectionNotFound,
            ApiError::DocumentNotFound { .. } => ErrorCode::DocumentNotFound,
            ApiError::CollectionAlreadyExists(_) => ErrorCode::CollectionAlreadyExists,
            ApiError::DocumentAlreadyExists(_) => ErrorCode::DocumentAlreadyExists,
            ApiError::CollectionElsewhere(_) => ErrorCode::CollectionElsewhere,
            ApiError::SchemaConflict(_) => ErrorCode::SchemaConflict,
            ApiError::FieldsChanged(_) => ErrorCode::FieldsChanged,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::NotReady(_) => ErrorCode::NotReady,
            ApiError::DatabaseUnavailable(_) => ErrorCode::DatabaseUnavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Wraps an unexpected error.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(error.into())
    }

    /// The error of a computation shared by several requests (the cache's
    /// single-flight): each waiting request answers with the same code and message.
    pub fn from_shared(error: std::sync::Arc<ApiError>) -> Self {
        let error = match std::sync::Arc::try_unwrap(error) {
            Ok(error) => return error,
            Err(shared) => shared,
        };
        match &*error {
            ApiError::InvalidQueryParameter(m) => ApiError::InvalidQueryParameter(m.clone()),
            ApiError::InvalidSearchQuery(m) => ApiError::InvalidSearchQuery(m.clone()),
            ApiError::IndexNotReady(m) => ApiError::IndexNotReady(m.clone()),
            ApiError::SearchQueueFull => ApiError::SearchQueueFull,
            _ => ApiError::Internal(Box::new(error)),
        }
    }
}

/// Domain errors become API errors here, and only here: the domain modules know
/// nothing of codes or statuses (as Meilisearch maps `milli::Error`).
impl From<SchemaError> for ApiError {
    fn from(error: SchemaError) -> Self {
        match error {
            SchemaError::CollectionName(m) => ApiError::InvalidCollectionName(m),
            SchemaError::DocumentId(m) => ApiError::InvalidDocumentId(m),
            SchemaError::Schema(m) => ApiError::InvalidSchema(m),
            SchemaError::Settings(m) => ApiError::InvalidSettings(m),
            SchemaError::Document(m) => ApiError::InvalidDocument(m),
        }
    }
}

/// A schema change refused by the documents it would leave misfit.
impl From<Misfits> for ApiError {
    fn from(misfits: Misfits) -> Self {
        let examples: Vec<String> = misfits
            .examples
            .iter()
            .map(|(id, problem)| format!("`{id}` ({problem})"))
            .collect();
        ApiError::SchemaConflict(format!(
            "{} stored document{} do{} not fit the new fields, such as {}; change or delete {} first, or keep the field as it was",
            misfits.count,
            if misfits.count == 1 { "" } else { "s" },
            if misfits.count == 1 { "es" } else { "" },
            examples.join(", "),
            if misfits.count == 1 { "it" } else { "them" },
        ))
    }
}

impl From<SearchRequestError> for ApiError {
    fn from(error: SearchRequestError) -> Self {
        match error {
            SearchRequestError::Query(m) => ApiError::InvalidSearchQuery(m),
            SearchRequestError::Filter(m) => ApiError::InvalidFilter(m),
            SearchRequestError::Sort(m) => ApiError::InvalidSort(m),
            SearchRequestError::Facets(m) => ApiError::InvalidFacets(m),
            SearchRequestError::Parameter(m) => ApiError::InvalidQueryParameter(m),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::SubstringNotEnabled => ApiError::InvalidQueryParameter(error.to_string()),
            SearchError::TooBroad(_) => ApiError::InvalidSearchQuery(error.to_string()),
            SearchError::Index(_) => ApiError::internal(error),
        }
    }
}

impl From<UnexpectedEntry> for ApiError {
    fn from(error: UnexpectedEntry) -> Self {
        ApiError::internal(error)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&error) {
            ApiError::DatabaseUnavailable(error)
        } else {
            ApiError::Internal(Box::new(error))
        }
    }
}

/// What an error response says, before the request id is added. Carried from the
/// handler to the `render_errors` middleware as a response extension.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        match &self {
            ApiError::Internal(source) => {
                tracing::error!(error = %source, error.debug = ?source, "internal error")
            }
            ApiError::DatabaseUnavailable(source) => {
                tracing::warn!(error = %source, "database unavailable")
            }
            _ => {}
        }
        let mut response = code.status().into_response();
        if matches!(
            code,
            ErrorCode::SearchQueueFull
                | ErrorCode::ServerBusy
                | ErrorCode::IndexNotReady
                | ErrorCode::DatabaseUnavailable
        ) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response.extensions_mut().insert(ErrorBody {
            code,
            message: self.to_string(),
        });
        response
    }
}

/// The error shape of every 4xx and 5xx response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[schema(example = json!({"error": {"code": "collection_not_found", "message": "collection `products` not found", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}}))]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorResponse`].
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable code from the table in the README (`Error codes`).
    #[schema(example = "collection_not_found")]
    pub code: String,
    /// A human-readable explanation; never contains internal details.
    #[schema(example = "collection `products` not found")]
    pub message: String,
    /// The request id (the `x-request-id` response header), for finding the log lines.
    #[schema(example = "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11")]
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn internal_errors_say_nothing_internal() {
        let error = ApiError::internal(std::io::Error::other("relation \"documents\" oops"));
        assert_eq!(error.to_string(), "internal error");
        let error = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(error.code(), ErrorCode::DatabaseUnavailable);
        assert!(!error.to_string().contains("pool"));
    }
}
