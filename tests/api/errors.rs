//! The error shape on paths that handlers do not produce themselves.

use serde_json::json;

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn malformed_bodies_and_wrong_content_types() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/v1/collections"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("sent");
    assert_error(response, 400, "invalid_json").await;
    let response = app
        .client
        .post(app.url("/v1/collections"))
        .body("name=x")
        .send()
        .await
        .expect("sent");
    assert_error(response, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = TestApp::spawn_with(|config| config.body_limit = 2048).await;
    app.create_products().await;
    let big = json!({"title": "x".repeat(4096)});
    assert_error(
        app.post_json("/v1/collections/products/documents", &big)
            .await,
        413,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::spawn().await;
    assert_error(app.get("/v2/nothing").await, 404, "route_not_found").await;
    let response = app.delete("/live").await;
    let allow = response.headers().get("allow").cloned();
    assert_error(response, 405, "method_not_allowed").await;
    assert!(allow.is_some(), "405 keeps its Allow header");
}

#[tokio::test]
async fn a_client_request_id_is_kept_and_reported() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/v1/collections/missing"))
        .header("x-request-id", "client-chosen-id-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], "client-chosen-id-42");
    let body = assert_error(response, 404, "collection_not_found").await;
    assert_eq!(body["error"]["requestId"], "client-chosen-id-42");

    let response = app.get("/live").await;
    let generated = response.headers()["x-request-id"].to_str().expect("ascii");
    assert!(
        uuid::Uuid::parse_str(generated).is_ok(),
        "one is made when the client sends none"
    );
}

#[tokio::test]
async fn an_overlong_or_unprintable_request_id_is_replaced() {
    let app = TestApp::spawn().await;
    for sent in ["x".repeat(10_000), "tab\there".to_owned()] {
        let response = app
            .client
            .get(app.url("/v1/collections/missing"))
            .header("x-request-id", sent.as_str())
            .send()
            .await
            .expect("sent");
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "replaced: {echoed}");
        let body = assert_error(response, 404, "collection_not_found").await;
        assert_eq!(body["error"]["requestId"], echoed.as_str());
    }
    let kept = "k".repeat(128);
    let response = app
        .client
        .get(app.url("/live"))
        .header("x-request-id", kept.as_str())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], kept.as_str());
}

#[tokio::test]
async fn writes_sent_as_a_form_are_refused_so_other_sites_cannot_make_them() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    // What a cross-site `<form method=post>` or a no-cors fetch can send.
    for content_type in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain;charset=UTF-8",
    ] {
        let response = app
            .client
            .post(app.url("/v1/collections/products/reindex"))
            .header("content-type", content_type)
            .body("a=b")
            .send()
            .await
            .expect("sent");
        assert_error(response, 415, "unsupported_media_type").await;
    }
    // A reindex without a body, or with JSON, still works.
    let response = app
        .client
        .post(app.url("/v1/collections/products/reindex"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let response = app
        .post_json("/v1/collections/products/reindex", &json!({}))
        .await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn security_headers_on_every_response_and_a_csp_on_pages() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/docs/",
        "/v1/collections",
        "/v1/collections/missing",
        "/live",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let html = headers["content-type"]
            .to_str()
            .is_ok_and(|v| v.starts_with("text/html"));
        let csp = headers
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        if html {
            let csp = csp.expect("a CSP on an HTML page");
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            if path == "/" {
                // Card images (`?image=`) come from the documents' URLs.
                assert!(csp.contains("img-src 'self' data: https: http:"), "{csp}");
            }
        } else {
            assert_eq!(csp, None, "{path}");
        }
    }
}
