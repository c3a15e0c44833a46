//! Extractors that turn axum's rejections into [`ApiError`]s, so malformed JSON, a
//! wrong content type or a bad query string get the same error shape as everything
//! else.

use axum::extract::FromRequest;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::schema::{CollectionName, DocumentId, truncate};

/// `axum::Json` with our errors.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::InvalidJson(format!("the body is not valid JSON: {}", serde_source(&e)))
            }
            JsonRejection::JsonDataError(e) => ApiError::InvalidRequestBody(format!(
                "the body does not have the expected shape: {}",
                serde_source(&e)
            )),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected `Content-Type: application/json`".into())
            }
            JsonRejection::BytesRejection(e)
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::PayloadTooLarge("the request body is larger than the body limit".into())
            }
            other => ApiError::InvalidRequestBody(format!(
                "the body could not be read: {}",
                other.body_text()
            )),
        }
    }
}

/// The innermost message of a JSON error: serde's words with the field path and
/// position, without axum's prefix.
fn serde_source(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    truncate(&current.to_string(), 300)
}

/// `axum::extract::Query` with our errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryParams(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::InvalidQueryParameter(format!(
                    "invalid query string: {}",
                    serde_source(&e)
                )))
            }
            Err(other) => Err(ApiError::InvalidQueryParameter(other.body_text())),
        }
    }
}

/// The `{name}` of a collection path, parsed.
pub struct CollectionPath(pub CollectionName);

impl<S: Send + Sync> FromRequestParts<S> for CollectionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(path_error)?;
        Ok(CollectionPath(CollectionName::parse(&name)?))
    }
}

/// The `{name}` and `{id}` of a document path, parsed.
pub struct DocumentPath(pub CollectionName, pub DocumentId);

impl<S: Send + Sync> FromRequestParts<S> for DocumentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((name, id)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(path_error)?;
        Ok(DocumentPath(
            CollectionName::parse(&name)?,
            DocumentId::parse(&id)?,
        ))
    }
}

/// The `{id}` of an API key path, parsed.
pub struct KeyPath(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for KeyPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(path_error)?;
        uuid::Uuid::parse_str(&id).map(KeyPath).map_err(|_| {
            ApiError::InvalidRequestBody(format!(
                "`{}` is not a key id (a UUID)",
                id.chars().take(80).collect::<String>()
            ))
        })
    }
}

fn path_error(rejection: PathRejection) -> ApiError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(e) => {
            ApiError::InvalidDocumentId(format!("invalid path: {}", e.body_text()))
        }
        other => ApiError::internal(std::io::Error::other(other.body_text())),
    }
}
