//! Shaping hits' text: `attributesToHighlight`, `attributesToCrop`, `cropMarker` and
//! `showMatchesPosition`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

async fn notes(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "notes", "fields": [
                {"name": "title", "type": "text", "boost": 2.0},
                {"name": "body", "type": "text"},
                {"name": "lines", "type": "text"}
            ]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body = format!(
        "{} wireless {}",
        (0..40)
            .map(|n| format!("w{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        (0..20)
            .map(|n| format!("x{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let line = json!({"id": "n1", "title": "Wireless headphones", "body": body,
                      "lines": ["first line", "the wireless one"]});
    let answer = json_body(app.import("notes", format!("{line}\n")).await).await;
    answer["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn hit(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/v1/collections/notes/search?{query}"))
        .await;
    assert_eq!(response.status(), 200, "{query}");
    json_body(response).await["hits"][0].clone()
}

#[tokio::test]
async fn highlighted_and_cropped_fields_and_match_positions_are_as_asked() {
    let app = TestApp::spawn().await;
    let token = notes(&app).await;
    let all = hit(&app, &format!("q=wireless&cropLength=5&after={token}")).await;
    let highlights = all["highlights"].as_object().expect("highlights");
    assert_eq!(highlights.len(), 3, "{all}");
    let body = all["highlights"]["body"].as_str().expect("body");
    assert!(body.starts_with('…') && body.ends_with('…'), "{body}");
    assert!(body.contains("<mark>wireless</mark>"), "{body}");
    assert_eq!(all["highlights"]["lines"], "the <mark>wireless</mark> one");
    assert!(all.get("matchesPosition").is_none(), "not asked for: {all}");

    let title_only = hit(&app, "q=wireless&attributesToHighlight=title").await;
    assert_eq!(
        title_only["highlights"],
        json!({"title": "<mark>Wireless</mark> headphones"})
    );

    // Cropping is for the fields listed; the others are highlighted whole.
    let whole = hit(&app, "q=wireless&cropLength=5&attributesToCrop=title").await;
    let body = whole["highlights"]["body"].as_str().expect("body");
    assert!(body.starts_with("w0 ") && body.ends_with("x19"), "{body}");
    let marked = hit(&app, "q=wireless&cropLength=5&cropMarker=%5B...%5D").await;
    let body = marked["highlights"]["body"].as_str().expect("body");
    assert!(
        body.starts_with("[...]") && body.ends_with("[...]"),
        "{body}"
    );

    // Positions in bytes, for every text field; the typed prefix covers its word.
    let positions = hit(
        &app,
        "q=wireless%20headph&showMatchesPosition=true&highlight=false",
    )
    .await;
    assert!(positions.get("highlights").is_none(), "{positions}");
    assert_eq!(
        positions["matchesPosition"]["title"],
        json!([{"start": 0, "length": 8}, {"start": 9, "length": 10}])
    );
    let offset = (0..40).map(|n| format!("w{n} ")).collect::<String>().len();
    assert_eq!(
        positions["matchesPosition"]["body"],
        json!([{"start": offset, "length": 8}])
    );
    assert_eq!(
        positions["matchesPosition"]["lines"],
        json!([{"start": 4, "length": 8, "index": 1}])
    );
}

#[tokio::test]
async fn a_crop_marker_too_long_is_a_400() {
    let app = TestApp::spawn().await;
    notes(&app).await;
    let marker = "x".repeat(65);
    assert_error(
        app.get(&format!(
            "/v1/collections/notes/search?q=a&cropMarker={marker}"
        ))
        .await,
        400,
        "invalid_query_parameter",
    )
    .await;
}
