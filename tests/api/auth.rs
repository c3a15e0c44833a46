use serde_json::json;

use crate::helpers::{TestApp, assert_error, products_schema};

const KEY: &str = "a-very-secret-admin-key";

#[tokio::test]
async fn writes_need_the_admin_key_and_reads_do_not() {
    let app = TestApp::spawn_with(|config| config.api_key = Some(KEY.into())).await;

    let response = app.post_json("/v1/collections", &products_schema()).await;
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let missing = assert_error(response, 401, "unauthorized").await;

    let response = app
        .client
        .post(app.url("/v1/collections"))
        .bearer_auth("a-very-secret-admin-kez")
        .json(&products_schema())
        .send()
        .await
        .expect("sent");
    let wrong = assert_error(response, 401, "unauthorized").await;
    assert_eq!(
        missing["error"]["message"], wrong["error"]["message"],
        "one generic message"
    );

    // The scheme is case-insensitive (RFC 7235).
    let mut lower = products_schema();
    lower["name"] = serde_json::json!("lowercase_scheme");
    let response = app
        .client
        .post(app.url("/v1/collections"))
        .header("authorization", format!("bearer {KEY}"))
        .json(&lower)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);

    let response = app
        .client
        .post(app.url("/v1/collections"))
        .bearer_auth(KEY)
        .json(&products_schema())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);

    assert_eq!(
        app.get("/v1/collections/products").await.status(),
        200,
        "reads are open"
    );
    assert_error(
        app.delete("/v1/collections/products").await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        app.import("products", json!({"title": "x"}).to_string())
            .await,
        401,
        "unauthorized",
    )
    .await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::spawn_with(|config| {
        config.cors_origins =
            sift::config::CorsOrigins::List(vec!["https://app.example".parse().expect("header")]);
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/collections"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.expect("sent");
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(allowed.headers()["access-control-max-age"], "600");
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );

    let refused = preflight("https://evil.example").await.expect("sent");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
