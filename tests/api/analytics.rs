//! Search analytics: searches, empty answers and clicks counted off the request path,
//! written in batches, reported per window, trimmed past the retention.

use std::time::Duration;

use serde_json::{Value, json};
use sift::analytics::AnalyticsConfig;

use crate::helpers::{TestApp, assert_error, json_body, wait_until};

async fn app() -> TestApp {
    TestApp::spawn_with(|config| {
        config.analytics = Some(AnalyticsConfig {
            retention: Duration::from_secs(30 * 24 * 3600),
            flush_interval: Duration::from_millis(50),
        })
    })
    .await
}

async fn report(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/v1/collections/products/analytics?{query}"))
        .await;
    assert_eq!(response.status(), 200, "{query}");
    json_body(response).await
}

#[tokio::test]
async fn searches_empty_answers_and_clicks_are_reported_by_query() {
    let app = app().await;
    app.create_products().await;
    let written = app
        .put_json(
            "/v1/collections/products/documents/lamp",
            &json!({"title": "Desk lamp", "category": "home"}),
        )
        .await;
    let token = json_body(written).await["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    // Cached answers count as much as fresh ones; case and spaces don't split a query.
    for q in ["lamp", "Lamp", "lamp%20%20", "lamp", "zzqx", "zzqx", ""] {
        let response = app
            .get(&format!(
                "/v1/collections/products/search?q={q}&after={token}"
            ))
            .await;
        assert_eq!(response.status(), 200);
    }
    let several = app
        .post_json(
            "/v1/multi-search",
            &json!({"queries": [{"collection": "products", "q": "desk"}]}),
        )
        .await;
    assert_eq!(several.status(), 200);
    for _ in 0..2 {
        let response = app
            .post_json(
                "/v1/collections/products/events",
                &json!({"type": "click", "query": "LAMP", "documentId": "lamp"}),
            )
            .await;
        assert_eq!(response.status(), 202);
        assert_eq!(json_body(response).await["recorded"], true);
    }
    let counted = wait_until(Duration::from_secs(30), || async {
        let body = report(&app, "").await;
        body["searches"] == 7 && body["clicks"] == 2
    })
    .await;
    let body = report(&app, "").await;
    assert!(counted, "{body}");
    assert_eq!(body["recording"], true);
    assert_eq!(body["noResultSearches"], 2);
    assert_eq!(
        body["topQueries"][0],
        json!({"query": "lamp", "searches": 4, "noResults": 0, "clicks": 2})
    );
    assert_eq!(
        body["noResultQueries"],
        json!([{"query": "zzqx", "searches": 2, "noResults": 2, "clicks": 0}])
    );
    assert!((body["clickThroughRate"].as_f64().expect("rate") - 2.0 / 7.0).abs() < 1e-9);
    // A window before the searches is empty; the limit cuts the lists.
    let before = report(&app, "from=2020-01-01&to=2020-01-02").await;
    assert_eq!(before["searches"], 0);
    let top = report(&app, "limit=1").await;
    assert_eq!(top["topQueries"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn hours_past_the_retention_are_trimmed() {
    let app = app().await;
    app.create_products().await;
    sqlx::query(
        "INSERT INTO search_analytics (collection_id, bucket, query, searches)
         SELECT id, now() - interval '40 days', 'old', 5 FROM collections WHERE name = 'products'",
    )
    .execute(&app.db)
    .await
    .expect("an old row");
    let trimmed = wait_until(Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM search_analytics WHERE query = 'old'")
            .fetch_one(&app.db)
            .await
            .expect("count")
            == 0
    })
    .await;
    assert!(trimmed, "the row past 30 days is still there");
}

#[tokio::test]
async fn analytics_and_events_out_of_shape_are_400s() {
    let app = app().await;
    app.create_products().await;
    for query in [
        "from=yesterday",
        "from=2026-02-01&to=2026-01-01",
        "limit=0",
        "colour=1",
    ] {
        assert_error(
            app.get(&format!("/v1/collections/products/analytics?{query}"))
                .await,
            400,
            "invalid_query_parameter",
        )
        .await;
    }
    for body in [
        json!({"type": "view", "query": "x", "documentId": "a"}),
        json!({"type": "click", "query": "", "documentId": "a"}),
        json!({"type": "click", "query": "x"}),
    ] {
        assert_error(
            app.post_json("/v1/collections/products/events", &body)
                .await,
            400,
            "invalid_request_body",
        )
        .await;
    }
    assert_error(
        app.get("/v1/collections/nope/analytics").await,
        404,
        "collection_not_found",
    )
    .await;
    let off = TestApp::spawn_with(|config| config.analytics = None).await;
    off.create_products().await;
    let response = off
        .post_json(
            "/v1/collections/products/events",
            &json!({"type": "click", "query": "x", "documentId": "a"}),
        )
        .await;
    assert_eq!(json_body(response).await["recorded"], false);
}
