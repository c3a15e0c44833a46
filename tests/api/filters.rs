//! The filter language's shorthands and presence checks, on every engine: `IN`,
//! `NOT IN`, `TO`, date-only values, `EXISTS`, `IS NULL`, `IS EMPTY`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

/// A collection whose documents hold, lack, null or empty their fields in every way.
pub async fn varied(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "items", "fields": [
                {"name": "title", "type": "text"},
                {"name": "note", "type": "text"},
                {"name": "category", "type": "keyword", "facet": true},
                {"name": "tags", "type": "keyword"},
                {"name": "price", "type": "float", "facet": true},
                {"name": "stock", "type": "integer", "filterable": true},
                {"name": "released", "type": "datetime", "filterable": true}
            ]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let lines = [
        json!({"id": "a", "title": "item a", "note": "x", "category": "audio", "tags": ["sale"], "price": 10.0, "stock": 1, "released": "2025-01-15T10:00:00Z"}),
        json!({"id": "b", "title": "item b", "note": "", "category": "home", "tags": [], "price": 20.0, "stock": 0, "released": "2025-02-01T00:00:00Z"}),
        json!({"id": "c", "title": "item c", "note": null, "category": "office", "price": 30.0, "stock": null}),
        json!({"id": "d", "title": "item d", "category": "audio", "tags": ["new"], "price": 40.0}),
        json!({"id": "e", "title": "item e", "category": "home office", "price": 50.0, "stock": 5}),
    ];
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let body = json_body(app.import("items", ndjson).await).await;
    assert_eq!(body["imported"], 5, "{body}");
    body["consistencyToken"].as_str().expect("token").to_owned()
}

/// The ids a search finds, sorted.
async fn found(app: &TestApp, engine: &str, filter: &str, after: &str) -> Vec<String> {
    let response = app
        .post_json(
            "/v1/collections/items/search",
            &json!({"q": "item", "filter": filter, "engine": engine, "after": after, "limit": 100}),
        )
        .await;
    assert_eq!(response.status(), 200, "{engine} {filter}");
    let body = json_body(response).await;
    let mut ids: Vec<String> = body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn in_to_dates_and_presence_checks_select_the_same_documents_on_every_engine() {
    let app = TestApp::spawn().await;
    let token = varied(&app).await;
    for (filter, expected) in [
        (r#"category IN [audio, "home office"]"#, "a d e"),
        ("category NOT IN [audio]", "b c e"),
        ("category in [audio] AND tags IN [new, sale]", "a d"),
        ("price 20 TO 40", "b c d"),
        ("stock 0 TO 1", "a b"),
        ("released >= 2025-02-01", "b"),
        ("released < 2025-02-01", "a"),
        ("stock EXISTS", "a b c e"),
        ("stock NOT EXISTS", "d"),
        ("stock IS NULL", "c"),
        ("stock IS NOT NULL", "a b d e"),
        ("NOT stock IS NULL AND stock EXISTS", "a b e"),
        ("tags IS EMPTY", "b"),
        ("tags NOT EXISTS", "c e"),
        ("note IS EMPTY OR note IS NULL", "b c"),
        ("note IS NOT EMPTY AND note EXISTS", "a c"),
    ] {
        let expected: Vec<&str> = expected.split(' ').collect();
        for engine in ["index", "ilike", "fts"] {
            assert_eq!(
                found(&app, engine, filter, &token).await,
                expected,
                "{engine}: {filter}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_shorthands_are_400s_that_say_what_is_wrong() {
    let app = TestApp::spawn().await;
    varied(&app).await;
    for (filter, says) in [
        ("category IN audio", "expected `[`"),
        ("category IN []", "lists no values"),
        ("category IN [a b]", "expected `,` or `]`"),
        ("category 1 TO 2", "TO takes number"),
        ("price 1 TO", "expected a value"),
        ("stock IS", "NULL or EMPTY"),
        ("colour EXISTS", "unknown field"),
        ("released > 2025-13-01", "a date"),
    ] {
        let body: Value = assert_error(
            app.post_json(
                "/v1/collections/items/search",
                &json!({"q": "", "filter": filter}),
            )
            .await,
            400,
            "invalid_filter",
        )
        .await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{filter}: {message}");
    }
}
