//! JSON responses that may come from a cache: the body as bytes, with this request's
//! `cache` field, `X-Cache` header and (for searches) `tookMs` spliced in.

use crate::cache::CacheOrigin;

/// The header that says where a response came from.
pub const X_CACHE: &str = "x-cache";

/// A JSON body from the cache, answered with the `cache` field and the `X-Cache`
/// header set for this request (and `tookMs`, when the body has one, replaced by this
/// request's time). A cached search or suggest ends with its `tookMs` and `cache`
/// fields (the last fields of the response structs); a cached document has neither.
/// So the splice is a truncation: no parsing on a hit.
pub struct CachedJson {
    pub body: Vec<u8>,
    pub origin: CacheOrigin,
    /// Extra headers, such as `ETag`.
    pub headers: axum::http::HeaderMap,
}

impl CachedJson {
    pub fn new(json: &[u8], origin: CacheOrigin, took_ms: Option<f64>) -> CachedJson {
        let mut body = Vec::with_capacity(json.len() + 48);
        let cut = took_ms
            .and_then(|_| find_last(json, br#","tookMs":"#))
            .or_else(|| json.iter().rposition(|b| *b == b'}'))
            .unwrap_or(json.len());
        body.extend_from_slice(&json[..cut]);
        if let Some(took_ms) = took_ms {
            body.extend_from_slice(format!(r#","tookMs":{took_ms}"#).as_bytes());
        }
        body.extend_from_slice(format!(r#","cache":"{}"}}"#, origin.as_str()).as_bytes());
        CachedJson {
            body,
            origin,
            headers: axum::http::HeaderMap::new(),
        }
    }
}

impl From<crate::service::search::Answer> for CachedJson {
    fn from(answer: crate::service::search::Answer) -> Self {
        CachedJson::new(&answer.json, answer.origin, answer.took_ms)
    }
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

impl axum::response::IntoResponse for CachedJson {
    fn into_response(self) -> axum::response::Response {
        use axum::http::{HeaderValue, header};
        let mut response = self.body.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(X_CACHE, HeaderValue::from_static(self.origin.as_str()));
        headers.extend(self.headers);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheOrigin;

    #[test]
    fn cached_json_gets_this_requests_time_and_origin() {
        let json =
            br#"{"hits":[{"document":{"tookMs":1}}],"engine":"index","tookMs":3.5,"cache":"miss"}"#;
        let out = CachedJson::new(json, CacheOrigin::L1, Some(0.012));
        let value: serde_json::Value = serde_json::from_slice(&out.body).expect("json");
        assert_eq!(value["tookMs"], 0.012);
        assert_eq!(value["cache"], "l1");
        assert_eq!(value["hits"][0]["document"]["tookMs"], 1);
        assert_eq!(value["engine"], "index");
    }

    #[test]
    fn cached_json_without_time_gets_the_origin() {
        let out = CachedJson::new(br#"{"id":"a","version":2}"#, CacheOrigin::L2, None);
        assert_eq!(out.body, br#"{"id":"a","version":2,"cache":"l2"}"#);
    }
}
