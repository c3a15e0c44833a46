use serde_json::json;

use crate::helpers::{TestApp, assert_error, json_body};

#[tokio::test]
async fn good_lines_are_imported_and_bad_lines_reported() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let mut lines = Vec::new();
    for n in 0..2500 {
        lines.push(match n {
            10 => "{not json".to_string(),
            20 => json!({"id": "p20", "price": "free"}).to_string(),
            30 => "[1, 2]".to_string(),
            40 => json!({"id": "bad id!", "title": "x"}).to_string(),
            50 => String::new(),
            _ => json!({"id": format!("p{n}"), "title": format!("product {n}"), "price": n})
                .to_string(),
        });
    }
    // A later line with the same id replaces the earlier one, in one batch or across.
    lines.push(json!({"id": "p1", "title": "product one, replaced"}).to_string());
    lines.push(json!({"title": "no id: one is generated"}).to_string());
    let response = app.import("products", lines.join("\n")).await;
    assert_eq!(response.status(), 200);
    let report = json_body(response).await;
    assert_eq!(report["imported"], 2497);
    assert_eq!(report["failed"], 4);
    let errors: Vec<(u64, String)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (11, "invalid_json".to_string()),
            (21, "invalid_document".to_string()),
            (31, "invalid_document".to_string()),
            (41, "invalid_document_id".to_string()),
        ]
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 2496, "2495 distinct ids plus one generated");
    let replaced = json_body(app.get("/v1/collections/products/documents/p1").await).await;
    assert_eq!(replaced["document"]["title"], "product one, replaced");

    // Importing again is safe: the same documents, replaced.
    let response = app.import("products", lines.join("\n")).await;
    assert_eq!(json_body(response).await["imported"], 2497);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 2497, "only the line without an id adds a document");
}

#[tokio::test]
async fn errors_list_is_capped_but_all_are_counted() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let body = (0..150).map(|_| "nope").collect::<Vec<_>>().join("\n")
        + "\n"
        + &json!({"id": "ok", "title": "fine"}).to_string();
    let report = json_body(app.import("products", body).await).await;
    assert_eq!(report["failed"], 150);
    assert_eq!(report["imported"], 1);
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(100));
}

#[tokio::test]
async fn a_line_over_the_limit_fails_alone() {
    let app = TestApp::spawn_with(|config| config.body_limit = 1024).await;
    app.create_products().await;
    let long = json!({"id": "long", "title": "x".repeat(2000)}).to_string();
    let body = format!(
        "{}\n{long}\n{}\n",
        json!({"id": "a", "title": "a"}),
        json!({"id": "b", "title": "b"})
    );
    let report = json_body(app.import("products", body).await).await;
    assert_eq!(report["imported"], 2);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["errors"][0]["line"], 2);
    assert_eq!(report["errors"][0]["code"], "payload_too_large");
}

#[tokio::test]
async fn import_needs_ndjson_and_an_existing_collection() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let response = app
        .client
        .post(app.url("/v1/collections/products/documents:import"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_error(response, 415, "unsupported_media_type").await;
    assert_error(
        app.import("nope", "{}".into()).await,
        404,
        "collection_not_found",
    )
    .await;
}

#[tokio::test]
async fn a_line_that_is_not_utf8_fails_alone() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let mut body = json!({"id": "a", "title": "a"}).to_string().into_bytes();
    body.extend_from_slice(b"\n{\"id\": \"x\", \"title\": \"\xff\xfe\"}\n");
    body.extend_from_slice(json!({"id": "b", "title": "b"}).to_string().as_bytes());
    let response = app
        .client
        .post(app.url("/v1/collections/products/documents:import"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("sent");
    let report = json_body(response).await;
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["errors"][0]["line"], 2);
    assert_eq!(report["errors"][0]["code"], "invalid_json");
}

#[tokio::test]
async fn a_gzip_encoded_import_is_decompressed_and_other_encodings_are_415() {
    use std::io::Write;
    let app = TestApp::spawn().await;
    app.create_products().await;
    let lines: Vec<String> = (0..1200)
        .map(|n| json!({"id": format!("z{n}"), "title": format!("zipped {n}")}).to_string())
        .collect();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(lines.join("\n").as_bytes())
        .expect("compress");
    let gzipped = encoder.finish().expect("compress");
    let send = |encoding: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url("/v1/collections/products/documents:import"))
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", encoding)
            .body(body)
            .send()
    };
    let response = send("gzip", gzipped.clone()).await.expect("sent");
    assert_eq!(response.status(), 200);
    let report = json_body(response).await;
    assert_eq!(report["imported"], 1200, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let response = app.get("/v1/collections/products/documents/z1199").await;
    assert_eq!(response.status(), 200);
    assert_error(
        send("br", gzipped).await.expect("sent"),
        415,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn ndjson_sent_as_one_json_string_is_read_as_the_lines_it_holds() {
    // What Swagger UI's "Try it out" sends for the import's example: the NDJSON text
    // JSON-encoded, as it does for every JSON-like media type.
    let app = TestApp::spawn().await;
    app.create_products().await;
    let ndjson = "{\"id\": \"s1\", \"title\": \"first\"}\n{\"id\": \"s2\", \"price\": \"free\"}\n{\"id\": \"s3\", \"title\": \"third\"}\n";
    let body = serde_json::to_string(ndjson).expect("a JSON string");
    let report = json_body(app.import("products", body).await).await;
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(report["errors"][0]["line"], 2, "{report}");
    let stored = app.get("/v1/collections/products/documents/s3").await;
    assert_eq!(stored.status(), 200);
    // A string that holds no documents is an error on its line, not a success.
    let report = json_body(app.import("products", "\"hello\"".to_string()).await).await;
    assert_eq!(report["imported"], 0, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
}
