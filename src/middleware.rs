//! The middleware of the HTTP stack that is sift's own: error rendering, request
//! metrics, admin-key auth and the panic handler. The generic parts (request ids,
//! tracing spans, CORS, compression, timeouts) are tower-http's, assembled in
//! [`crate::startup`].

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::{Action, Denied, Grant, Reach};
use crate::error::{ApiError, ErrorBody, ErrorCode, ErrorDetail, ErrorResponse};
use crate::state::AppState;

/// The search route, which takes POST as a read.
const SEARCH_ROUTE: &str = "/v1/collections/{name}/search";

/// The header carrying the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Writes the body of every error response: `{"error": {code, message, requestId}}`.
///
/// Handlers' errors arrive with an [`ErrorBody`] extension. Error responses without
/// one and without a body come from layers that know nothing of our codes (method
/// routing's 405, the timeout's 408) and get the code their status maps to. Counts
/// errors by code.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let error = match parts.extensions.remove::<ErrorBody>() {
        Some(error) => error,
        None if body.size_hint().exact() == Some(0) => {
            let code = ErrorCode::for_status(status);
            ErrorBody {
                code,
                message: code.default_message().to_owned(),
            }
        }
        // Already has a body of its own (e.g. `/health` when down).
        None => return Response::from_parts(parts, body),
    };
    metrics::counter!("http_errors_total", "code" => error.code.as_str()).increment(1);
    let payload = ErrorResponse {
        error: ErrorDetail {
            code: error.code.as_str().to_owned(),
            message: error.message,
            request_id,
        },
    };
    let mut response = (error.code.status(), axum::Json(payload)).into_response();
    // Keep headers set on the error response (Allow on 405, Retry-After, ...).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

/// The API requests in flight at most (`SIFT_MAX_REQUESTS`): past it, a request is
/// answered 503 `server_busy` at once, before any work, so a flood is refused fast
/// instead of making every request slow. Health, readiness, metrics, the docs and the
/// page are not counted: a load balancer must still see the replica, and an operator
/// its metrics.
pub async fn admit(
    State(permits): State<Arc<tokio::sync::Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    match permits.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            metrics::counter!("http_requests_refused_total").increment(1);
            ApiError::ServerBusy.into_response()
        }
    }
}

/// The bearer token of a request, if any.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned)
}

/// Whether `presented` is the admin key: SHA-256 digests compared in constant time, so
/// neither the key's content nor its length leaks through timing.
fn is_admin(state: &AppState, presented: Option<&str>) -> bool {
    match (state.config.api_key.as_deref(), presented) {
        (Some(admin), Some(given)) => {
            bool::from(Sha256::digest(admin.as_bytes()).ct_eq(&Sha256::digest(given.as_bytes())))
        }
        _ => false,
    }
}

/// The per-client rate limit on the API (`SIFT_RATE_LIMIT`, see [`crate::rate_limit`]):
/// `RateLimit-Limit`, `-Remaining` and `-Reset` on every counted answer, 429
/// `rate_limited` with `Retry-After` past it. The admin key is never limited.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = state.rate_limiter.as_ref() else {
        return next.run(request).await;
    };
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let presented = presented_key(request.headers());
    if is_admin(&state, presented.as_deref()) {
        return next.run(request).await;
    }
    let address = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| {
            let forwarded_for = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                // A line that is not text ends the walk there, as an entry that does
                // not parse does: nothing left of it is read.
                .map(|value| value.to_str().unwrap_or(""));
            crate::rate_limit::client_address(
                info.0.ip(),
                forwarded_for,
                &state.config.trusted_proxies,
            )
        });
    let decision = limiter.check(presented.as_deref(), address).await;
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        metrics::counter!("http_rate_limited_total").increment(1);
        let mut response = ApiError::RateLimited.into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from(decision.reset_secs),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", decision.limit.into());
    headers.insert("ratelimit-remaining", decision.remaining.into());
    headers.insert("ratelimit-reset", decision.reset_secs.into());
    response
}

/// Counts a request in `http_requests_in_flight` for as long as it lives, including
/// when the client goes away and the request's future is dropped mid-way.
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        metrics::gauge!("http_requests_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("http_requests_in_flight").decrement(1.0);
    }
}

/// Records request counts, latency and in-flight requests by route, and logs slow
/// requests at warn with their request id.
pub async fn track_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // The route template (`/v1/collections/{name}`), never the raw path: raw paths
    // would make one time series per document id.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let request_id = request_id(request.headers());

    let in_flight = InFlight::start();
    let response = next.run(request).await;
    drop(in_flight);

    let elapsed = started.elapsed();
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(elapsed.as_secs_f64());
    if elapsed >= state.config.slow_request_threshold {
        tracing::warn!(
            request_id = %request_id,
            method = %method,
            route = %route,
            status = %status,
            elapsed_ms = elapsed.as_millis() as u64,
            "slow request"
        );
    }
    response
}

/// What a request needs a key for: an action on a collection, or managing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Action(Action),
    /// `/v1/keys`: the admin key alone.
    Keys,
    /// A `/v1` route this table does not list: the admin key alone, so a route added
    /// without an entry here is closed rather than open (a test checks every route of
    /// the spec has its entry).
    Unlisted,
}

/// The action a route and method stand for; `None` for what no key guards (health,
/// metrics, the docs, the page, CORS preflights, paths outside `/v1`).
fn needs(method: &Method, route: &str) -> Option<Needs> {
    if *method == Method::OPTIONS {
        return None;
    }
    let read = matches!(*method, Method::GET | Method::HEAD);
    let action = match route {
        "/v1/keys" | "/v1/keys/{id}" => return Some(Needs::Keys),
        "/v1/collections" | "/v1/collections/{name}" | "/v1/collections/{name}/analytics"
            if read =>
        {
            Action::CollectionsRead
        }
        "/v1/collections" | "/v1/collections/{name}" | "/v1/collections/{name}/reindex" => {
            Action::CollectionsWrite
        }
        "/v1/collections/{name}/documents" | "/v1/collections/{name}/documents/{id}" if read => {
            Action::DocumentsRead
        }
        "/v1/collections/{name}/documents"
        | "/v1/collections/{name}/documents/{id}"
        | "/v1/collections/{name}/documents:import"
        | "/v1/collections/{name}/documents:delete" => Action::DocumentsWrite,
        SEARCH_ROUTE
        | "/v1/collections/{name}/suggest"
        | "/v1/collections/{name}/facet-search"
        | "/v1/collections/{name}/events" => Action::Search,
        // Each search's collection is checked by the handler, against the key's grant.
        "/v1/multi-search" => Action::Search,
        _ if route.starts_with("/v1/") || route == "/v1" => return Some(Needs::Unlisted),
        _ => return None,
    };
    Some(Needs::Action(action))
}

/// The routes of a collection this replica does not serve (`SIFT_COLLECTIONS`) answer
/// 421 `collection_elsewhere`, before any other work: a proxy routes them by name to
/// the replicas that do (see `crate::placement`).
pub async fn placement(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(name) = collection_of(request.uri().path())
        && let Ok(name) = crate::schema::CollectionName::parse(name)
        && !state.config.placement.serves(name.as_str())
    {
        return ApiError::CollectionElsewhere(name.to_string()).into_response();
    }
    next.run(request).await
}

/// The collection a `/v1/collections/{name}...` path is about.
fn collection_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1/collections/")?;
    let name = rest.split('/').next()?;
    // `documents:import` is under a name; a name has no `:` of its own.
    Some(name)
}

fn unauthorized() -> Response {
    let mut response = ApiError::Unauthorized.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// A request made with a tenant token (see [`crate::access`]): it may only search, on
/// its key's collections, and its filter goes along for the search to apply.
async fn with_tenant_token(
    state: &AppState,
    mut request: Request,
    next: Next,
    needs: Needs,
    token: &str,
) -> Response {
    let now = chrono::Utc::now();
    let Some(claims) = crate::access::unverified_claims(token) else {
        return unauthorized();
    };
    let (grant, key) = match state.tenant_key(claims.api_key_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return unauthorized(),
        Err(error) => return error.into_response(),
    };
    let Some(claims) = crate::access::verify_token(token, &key, now.timestamp()) else {
        return unauthorized();
    };
    if needs != Needs::Action(Action::Search) {
        return ApiError::Forbidden("a tenant token may only search".into()).into_response();
    }
    let collection = collection_of(request.uri().path());
    match grant.allows(Action::Search, collection, now) {
        Ok(()) => {
            request
                .extensions_mut()
                .insert(crate::access::TenantFilter(claims.filter));
            request.extensions_mut().insert(Reach::Grant(grant));
            next.run(request).await
        }
        Err(Denied::Expired) => unauthorized(),
        Err(Denied::NotAllowed) => {
            ApiError::Forbidden(format!("search` on `{}", collection.unwrap_or_default()))
                .into_response()
        }
    }
}

/// When an admin key is configured (`SIFT_API_KEY`), every request is checked against
/// what it does (see [`crate::access`]):
/// * the admin key may do everything, and alone manages keys (`/v1/keys`);
/// * an API key may do its actions on its collections until it expires (403 when it
///   may not, 401 when it is unknown or expired);
/// * without a key, reads (search, reading documents and collections) are open unless
///   `SIFT_REQUIRE_KEY_FOR_READS` is on; everything else is 401.
///
/// The admin key is compared as SHA-256 digests in constant time; API keys are looked
/// up by digest. Without an admin key nothing is guarded (a warning at startup says
/// so), and keys can't be managed.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let Some(needs) = route.as_deref().and_then(|r| needs(request.method(), r)) else {
        return next.run(request).await;
    };
    let presented = presented_key(request.headers());
    if state.config.api_key.is_none() {
        return match needs {
            Needs::Keys => {
                ApiError::Forbidden("managing keys: set SIFT_API_KEY, the admin key, first".into())
                    .into_response()
            }
            Needs::Action(_) | Needs::Unlisted => {
                request.extensions_mut().insert(Reach::Everything);
                next.run(request).await
            }
        };
    }
    if is_admin(&state, presented.as_deref()) {
        request.extensions_mut().insert(Reach::Everything);
        return next.run(request).await;
    }
    let Some(given) = presented else {
        return match needs {
            Needs::Action(action) if action.is_read() && !state.config.require_key_for_reads => {
                request.extensions_mut().insert(Reach::Everything);
                next.run(request).await
            }
            _ => unauthorized(),
        };
    };
    if crate::access::is_token(&given) {
        return with_tenant_token(&state, request, next, needs, &given).await;
    }
    let grant = match state.grant_of(&given).await {
        Ok(Some(grant)) => grant,
        Ok(None) => return unauthorized(),
        Err(error) => return error.into_response(),
    };
    let action = match needs {
        Needs::Action(action) => action,
        Needs::Keys => {
            return ApiError::Forbidden("managing keys: only the admin key may".into())
                .into_response();
        }
        Needs::Unlisted => {
            return ApiError::Forbidden("this route: only the admin key may".into())
                .into_response();
        }
    };
    let collection = collection_of(request.uri().path());
    match grant.allows(action, collection, chrono::Utc::now()) {
        Ok(()) => {
            request
                .extensions_mut()
                .insert(Reach::Grant(Grant::clone(&grant)));
            next.run(request).await
        }
        Err(Denied::Expired) => unauthorized(),
        Err(Denied::NotAllowed) => {
            let what = match collection {
                Some(c) => format!("{}` on `{c}", action.as_str()),
                None => action.as_str().to_owned(),
            };
            ApiError::Forbidden(what).into_response()
        }
    }
}

/// The search page's Content-Security-Policy: its own script, styles and API only, no
/// framing. The page builds its DOM from script, with no inline code.
/// Images may come from anywhere (`?image=` shows a field's http(s) URL on each card);
/// images run no code.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// Swagger UI's: its bundle sets inline styles and draws icons from data: URLs.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers every response carries (`nosniff`, no referrer sent on, no framing), and on
/// HTML pages a Content-Security-Policy, so a stored document shown by the page or a
/// spec shown by Swagger UI cannot run script of its own.
pub async fn security_headers(request: Request<Body>, next: Next) -> Response<Body> {
    use axum::http::HeaderValue;
    let docs = request.uri().path().starts_with("/docs");
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if docs { DOCS_CSP } else { PAGE_CSP }),
        );
    }
    response
}

/// Refuses writes (POST, PUT, PATCH, DELETE) sent as a web form or plain text
/// (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`): the only
/// bodies another site's page can make a browser send without asking (no CORS
/// preflight). Every write takes JSON or NDJSON, so this closes cross-site requests on
/// the writes without a body (a reindex) and costs API clients nothing.
pub async fn refuse_form_writes(request: Request<Body>, next: Next) -> Response<Body> {
    let write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|essence| {
            matches!(
                essence.as_str(),
                "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
            )
        });
    if write && form {
        return ApiError::UnsupportedMediaType(
            "writes take `Content-Type: application/json` (or `application/x-ndjson` for imports), or no body; form and plain-text bodies are refused".into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 7235), so `bearer` and `BEARER` work too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start())
}

/// The longest client-sent `x-request-id` kept; a longer one, or one with characters
/// other than visible ASCII, is replaced by a generated id (it is echoed in every
/// response and written on every log line).
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Drops a client's `x-request-id` that is too long or not printable ASCII, so that
/// the request-id layer generates one instead.
pub async fn bound_request_id(mut request: Request<Body>, next: Next) -> Response<Body> {
    let unfit = request.headers().get(REQUEST_ID_HEADER).is_some_and(|v| {
        v.len() > MAX_REQUEST_ID_LEN || !v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    });
    if unfit {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// Turns a panic in a handler into a 500 with the usual shape; the panic message is
/// logged, not sent.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(ErrorBody {
        code: ErrorCode::Internal,
        message: ErrorCode::Internal.default_message().to_owned(),
    });
    response
}

/// Answers paths no route matches.
pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Every `/v1` operation of the spec has its own entry in the table of what a key
    /// must allow: none falls to the closed default, and none is left open.
    #[test]
    fn every_api_route_says_what_a_key_must_allow() {
        let spec = crate::routes::openapi();
        let mut checked = 0;
        for (path, item) in &spec.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                if operation.is_none() || !path.starts_with("/v1/") {
                    continue;
                }
                let found = super::needs(&method, path);
                assert!(
                    matches!(found, Some(super::Needs::Action(_) | super::Needs::Keys)),
                    "{method} {path}: {found:?}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 20, "only {checked} operations");
        assert_eq!(
            super::needs(&Method::POST, "/v1/collections/{name}/something-new"),
            Some(super::Needs::Unlisted)
        );
        assert_eq!(super::needs(&Method::GET, "/health"), None);
    }

    use axum::Router;
    use axum::body::to_bytes;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::request_id::{MakeRequestUuid, SetRequestIdLayer};
    use tower_http::timeout::TimeoutLayer;

    use super::*;

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(60)).await;
        "late"
    }

    async fn boom() -> &'static str {
        panic!("secret detail")
    }

    fn app() -> Router {
        Router::new()
            .route("/slow", get(slow))
            .route("/boom", get(boom))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(10),
            ))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(axum::middleware::from_fn(render_errors))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    }

    async fn error_of(path: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let response = app().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn layer_errors_get_the_shape() {
        let (status, body) = error_of("/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["code"], "request_timeout");
        assert!(
            body["error"]["requestId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
    }

    #[tokio::test]
    async fn panics_are_500_without_detail() {
        let (status, body) = error_of("/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("secret"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
