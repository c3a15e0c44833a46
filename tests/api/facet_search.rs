//! `POST /v1/collections/{name}/facet-search`: a facet's values that begin with what was
//! typed, typos allowed, counted over a search's matches.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

async fn brands(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "audio", "fields": [
                {"name": "title", "type": "text"},
                {"name": "brand", "type": "keyword", "facet": true},
                {"name": "kind", "type": "keyword"},
                {"name": "price", "type": "float", "filterable": true}
            ]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let lines: String = [
        ("Sony", "headphones", 100.0),
        ("Sony", "headphones", 200.0),
        ("Sony", "speaker", 50.0),
        ("Samsung", "headphones", 90.0),
        ("Samsung", "speaker", 80.0),
        ("Sennheiser", "headphones", 300.0),
        ("Bose", "speaker", 250.0),
        ("Bose", "headphones", 280.0),
        ("Bang & Olufsen", "speaker", 900.0),
    ]
    .iter()
    .enumerate()
    .map(|(n, (brand, kind, price))| {
        format!(
            "{}\n",
            json!({"id": format!("p{n}"), "title": format!("{brand} {kind}"), "brand": brand, "kind": kind, "price": price})
        )
    })
    .collect();
    let body = json_body(app.import("audio", lines).await).await;
    assert_eq!(body["imported"], 9, "{body}");
    body["consistencyToken"].as_str().expect("token").to_owned()
}

async fn facet_hits(app: &TestApp, body: Value) -> Vec<String> {
    let response = app
        .post_json("/v1/collections/audio/facet-search", &body)
        .await;
    assert_eq!(response.status(), 200, "{body}");
    let answer = json_body(response).await;
    assert!(answer["tookMs"].is_number(), "{answer}");
    answer["facetHits"]
        .as_array()
        .expect("facetHits")
        .iter()
        .map(|h| format!("{}={}", h["value"].as_str().expect("value"), h["count"]))
        .collect()
}

#[tokio::test]
async fn facet_values_that_begin_with_the_typed_words_are_counted_over_the_matches() {
    let app = TestApp::spawn().await;
    let token = brands(&app).await;
    // Searchable once the index has the import.
    let ready = app
        .get(&format!("/v1/collections/audio/search?q=&after={token}"))
        .await;
    assert_eq!(ready.status(), 200);
    let hits = |body: Value| facet_hits(&app, body);
    assert_eq!(
        hits(json!({"facetName": "brand", "facetQuery": "s"})).await,
        ["Sony=3", "Samsung=2", "Sennheiser=1"]
    );
    assert_eq!(
        hits(json!({"facetName": "brand", "facetQuery": "SAM"})).await,
        ["Samsung=2"]
    );
    // Two typos in a nine-letter word; a word of the value other than the first.
    assert_eq!(
        hits(json!({"facetName": "brand", "facetQuery": "senhieser"})).await,
        ["Sennheiser=1"]
    );
    assert_eq!(
        hits(json!({"facetName": "brand", "facetQuery": "olu"})).await,
        ["Bang & Olufsen=1"]
    );
    // Nothing typed: every value; the limit; counted over a search's matches.
    assert_eq!(
        hits(json!({"facetName": "brand", "limit": 2})).await,
        ["Sony=3", "Bose=2"]
    );
    assert_eq!(
        hits(json!({"facetName": "brand", "facetQuery": "s", "q": "headphones"})).await,
        ["Sony=2", "Samsung=1", "Sennheiser=1"]
    );
    assert_eq!(
        hits(json!({"facetName": "brand", "facetQuery": "s", "filter": "price < 95 AND kind IN [speaker, headphones]"})).await,
        ["Samsung=2", "Sony=1"]
    );
    assert!(
        hits(json!({"facetName": "brand", "facetQuery": "zz"}))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_facet_search_out_of_shape_is_a_400() {
    let app = TestApp::spawn().await;
    brands(&app).await;
    for (body, code) in [
        (json!({"facetName": "kind"}), "invalid_facets"),
        (json!({"facetName": "nope"}), "invalid_facets"),
        (
            json!({"facetName": "brand", "limit": 0}),
            "invalid_request_body",
        ),
        (
            json!({"facetName": "brand", "filter": "colour = red"}),
            "invalid_filter",
        ),
        (
            json!({"facetName": "brand", "colour": 1}),
            "invalid_request_body",
        ),
        (json!({}), "invalid_request_body"),
    ] {
        assert_error(
            app.post_json("/v1/collections/audio/facet-search", &body)
                .await,
            400,
            code,
        )
        .await;
    }
    assert_error(
        app.post_json(
            "/v1/collections/nope/facet-search",
            &json!({"facetName": "brand"}),
        )
        .await,
        404,
        "collection_not_found",
    )
    .await;
}
