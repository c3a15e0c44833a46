//! Input PostgreSQL cannot store as given (NUL characters, numbers `jsonb` gives back
//! differently, deep nesting) is refused at the edge with a 400 that names the field,
//! before anything is written; in an import only the bad line fails.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

async fn put_raw(app: &TestApp, id: &str, body: &str) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/v1/collections/products/documents/{id}")))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn values_postgres_cannot_store_are_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let cases = [
        ("nul-value", r#"{"title": "a\u0000b"}"#, "`title`"),
        (
            "nul-undeclared",
            r#"{"title": "ok", "notes": {"x": ["\u0000"]}}"#,
            "`notes.x[0]`",
        ),
        ("nul-key", r#"{"title": "ok", "k\u0000": 1}"#, "NUL"),
        (
            "huge",
            r#"{"title": "ok", "price": 1.7976931348623157e308}"#,
            "`price`",
        ),
        (
            "huge-undeclared",
            r#"{"title": "ok", "other": -1.7976931348623157e308}"#,
            "`other`",
        ),
        (
            "negative-zero",
            r#"{"title": "ok", "price": -0.0}"#,
            "send 0",
        ),
    ];
    for (id, body, names) in cases {
        let error = assert_error(put_raw(&app, id, body).await, 400, "invalid_document").await;
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(names), "{id}: {message}");
        assert!(!message.contains("internal"), "{id}: {message}");
        assert_error(
            app.get(&format!("/v1/collections/products/documents/{id}"))
                .await,
            404,
            "document_not_found",
        )
        .await;
    }
    // What does fit is stored and read back as sent.
    let response = put_raw(
        &app,
        "edge",
        r#"{"title": "ok", "price": 1e308, "tiny": 5e-324, "big": 18446744073709551615, "neg": -9223372036854775808}"#,
    )
    .await;
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let stored = json_body(app.get("/v1/collections/products/documents/edge").await).await;
    assert_eq!(stored["document"]["price"], json!(1e308));
    assert_eq!(stored["document"]["tiny"], json!(5e-324));
    assert_eq!(stored["document"]["big"], json!(18446744073709551615u64));
    assert_eq!(stored["document"]["neg"], json!(-9223372036854775808i64));
    // The list holding it still answers.
    let list = app.get("/v1/collections/products/documents").await;
    assert_eq!(list.status(), 200);
    // A PATCH that would bring a bad value in is refused the same way.
    let response = app
        .client
        .patch(app.url("/v1/collections/products/documents/edge"))
        .header("content-type", "application/json")
        .body(r#"{"description": "x\u0000"}"#)
        .send()
        .await
        .expect("sent");
    assert_error(response, 400, "invalid_document").await;
    let stored = json_body(app.get("/v1/collections/products/documents/edge").await).await;
    assert_eq!(stored["version"], 1);
}

#[tokio::test]
async fn an_import_line_with_a_nul_or_a_huge_number_fails_alone() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let lines = [
        r#"{"id": "a", "title": "first"}"#,
        r#"{"id": "b", "title": "nul \u0000 inside"}"#,
        r#"{"id": "c", "title": "third"}"#,
        r#"{"id": "d", "title": "huge", "price": 1.7976931348623157e308}"#,
        r#"{"id": "e", "title": "fifth"}"#,
    ];
    let response = app.import("products", lines.join("\n")).await;
    assert_eq!(response.status(), 200);
    let report = json_body(response).await;
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(report["failed"], 2, "{report}");
    let failed: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["code"].as_str().expect("code"),
            )
        })
        .collect();
    assert_eq!(
        failed,
        vec![(2, "invalid_document"), (4, "invalid_document")]
    );
    for id in ["a", "c", "e"] {
        let response = app
            .get(&format!("/v1/collections/products/documents/{id}"))
            .await;
        assert_eq!(response.status(), 200, "{id}");
    }
}

#[tokio::test]
async fn a_nul_in_a_query_or_a_filter_is_a_400_on_every_engine() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    for engine in ["index", "ilike", "fts"] {
        assert_error(
            app.get(&format!(
                "/v1/collections/products/search?q=a%00b&engine={engine}"
            ))
            .await,
            400,
            "invalid_search_query",
        )
        .await;
        let body: Value = assert_error(
            app.get(&format!(
                "/v1/collections/products/search?q=a&engine={engine}&filter=category%20%3D%20%22x%00%22"
            ))
            .await,
            400,
            "invalid_filter",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("message")
                .contains("NUL")
        );
        let response = app
            .post_json(
                "/v1/collections/products/search",
                &json!({"q": "a\u{0}b", "engine": engine}),
            )
            .await;
        assert_error(response, 400, "invalid_search_query").await;
    }
    assert_error(
        app.get("/v1/collections/products/documents?category=x%00")
            .await,
        400,
        "invalid_query_parameter",
    )
    .await;
}

#[tokio::test]
async fn a_nul_in_settings_is_a_400() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    for settings in [
        json!({"synonyms": {"tv\u{0}": ["television"]}}),
        json!({"synonyms": {"tv": ["tele\u{0}vision"]}}),
        json!({"stopWords": ["the\u{0}"]}),
    ] {
        assert_error(
            app.patch_json("/v1/collections/products", &settings).await,
            400,
            "invalid_settings",
        )
        .await;
    }
    let mut create = crate::helpers::products_schema();
    create["name"] = json!("other");
    create["settings"] = json!({"synonyms": {"a": ["b\u{0}"]}});
    assert_error(
        app.post_json("/v1/collections", &create).await,
        400,
        "invalid_settings",
    )
    .await;
}
