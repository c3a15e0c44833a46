use std::time::Duration;

use serde_json::json;

use crate::helpers::{CuttableProxy, TestApp, TestDatabase, assert_error, json_body};

#[tokio::test]
async fn live_ready_and_health() {
    let app = TestApp::spawn().await;
    assert_eq!(
        json_body(app.get("/live").await).await,
        json!({"status": "ok"})
    );
    assert_eq!(
        json_body(app.get("/ready").await).await,
        json!({"status": "ready"})
    );
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let health = json_body(response).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["checks"]["postgres"]["status"], "ok");
    assert!(health["checks"]["postgres"]["latencyMs"].as_f64().is_some());
    assert!(
        health["checks"]["indexDisk"]["freeBytes"]
            .as_u64()
            .is_some_and(|b| b > 0)
    );
    assert!(
        health["checks"].get("redis").is_none(),
        "no REDIS_URL, no Redis check"
    );
}

#[tokio::test]
async fn ready_waits_for_every_collections_first_index() {
    let app = TestApp::spawn().await;
    // A file where the collection's index folder goes: its first build fails (and is
    // retried) until the file is gone.
    let blocker = app.index_dir().join("products");
    std::fs::create_dir_all(app.index_dir()).expect("index dir");
    std::fs::write(&blocker, b"in the way").expect("blocker");
    app.create_products().await;
    let body = assert_error(app.get("/ready").await, 503, "not_ready").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("`products`"),
        "{body}"
    );
    std::fs::remove_file(&blocker).expect("remove blocker");
    let ready = crate::helpers::wait_until(Duration::from_secs(30), || async {
        app.get("/ready").await.status() == 200
    })
    .await;
    assert!(ready, "ready once the index is built");
    let response = app.get("/v1/collections/products/search?q=x").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn ready_needs_migrations() {
    let app = TestApp::spawn().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&app.db)
        .await
        .expect("forget migrations");
    assert_error(app.get("/ready").await, 503, "not_ready").await;
}

#[tokio::test]
async fn redis_is_checked_when_configured_and_only_degrades() {
    let redis_url = std::env::var("REDIS_URL").expect("REDIS_URL must be set; run scripts/test.sh");
    let app = TestApp::spawn_with(|config| config.redis_url = Some(redis_url)).await;
    let health = json_body(app.get("/health").await).await;
    assert_eq!(health["checks"]["redis"]["status"], "ok", "{health}");
    assert_eq!(health["status"], "ok");

    // Nothing listens on port 1.
    let app =
        TestApp::spawn_with(|config| config.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let response = app.get("/health").await;
    assert_eq!(
        response.status(),
        200,
        "a dead Redis does not make the service down"
    );
    let health = json_body(response).await;
    assert_eq!(health["checks"]["redis"]["status"], "degraded");
    assert_eq!(health["status"], "degraded");
    assert_eq!(app.get("/ready").await.status(), 200);
}

#[tokio::test]
async fn an_unreachable_database_is_503_and_recovers() {
    let database = TestDatabase::create().await;
    let proxy = CuttableProxy::start(database.options.get_port()).await;
    let through_proxy = database.options.clone().host("127.0.0.1").port(proxy.port);
    let app = TestApp::spawn_on(database, |config| {
        config.database = through_proxy;
        config.db_pool.acquire_timeout = Duration::from_millis(500);
    })
    .await;
    app.create_products().await;

    proxy.cut();
    assert_error(
        app.get("/v1/collections/products").await,
        503,
        "database_unavailable",
    )
    .await;
    let body = assert_error(
        app.put_json(
            "/v1/collections/products/documents/a",
            &json!({"title": "x"}),
        )
        .await,
        503,
        "database_unavailable",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("pool"),
        "no internals: {message}"
    );
    assert_error(app.get("/ready").await, 503, "not_ready").await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        json_body(response).await["checks"]["postgres"]["status"],
        "down"
    );

    proxy.restore().await;
    assert_eq!(
        app.get("/v1/collections/products").await.status(),
        200,
        "serves again once the database is back"
    );
}
