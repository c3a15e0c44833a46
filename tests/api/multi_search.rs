//! `POST /v1/multi-search`: several searches in one round trip, and federated merges
//! ordered by weighted ranking score; `showRankingScore` on a collection search.

use serde_json::{Value, json};

use crate::filters::varied;
use crate::helpers::{TestApp, assert_error, json_body};

/// `products` with three lamps and a kettle, and `items` (see [`varied`]); both
/// searchable when this returns.
async fn two_collections(app: &TestApp) {
    app.create_products().await;
    let lines: String = [
        json!({"id": "lamp", "title": "Lamp", "description": "A lamp", "category": "home"}),
        json!({"id": "desk-lamp", "title": "Desk lamp", "description": "Bright", "category": "home"}),
        json!({"id": "lamp-shade", "title": "Shade for a floor lamp", "description": "Linen", "category": "home"}),
        json!({"id": "kettle", "title": "Kettle", "description": "Boils water", "category": "kitchen"}),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect();
    let body = json_body(app.import("products", lines).await).await;
    let token = body["consistencyToken"].as_str().expect("token").to_owned();
    let items_token = varied(app).await;
    for (collection, token) in [("products", token), ("items", items_token)] {
        let response = app
            .get(&format!(
                "/v1/collections/{collection}/search?q=&after={token}"
            ))
            .await;
        assert_eq!(response.status(), 200);
    }
}

async fn multi(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/v1/multi-search", &body).await;
    assert_eq!(response.status(), 200, "{body}");
    json_body(response).await
}

fn ids(hits: &Value) -> Vec<&str> {
    hits.as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test]
async fn several_searches_are_answered_in_one_round_trip_in_order() {
    let app = TestApp::spawn().await;
    two_collections(&app).await;
    let answer = multi(
        &app,
        json!({"queries": [
            {"collection": "items", "q": "item", "filter": "category = audio", "attributesToRetrieve": "price"},
            {"collection": "products", "q": "lamp", "limit": 1, "facets": "category"},
            {"collection": "products", "q": "kettle", "engine": "ilike"},
        ]}),
    )
    .await;
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["collection"], "items");
    let mut audio = ids(&results[0]["hits"]);
    audio.sort();
    assert_eq!(audio, ["a", "d"]);
    assert_eq!(
        results[0]["hits"][0]["document"]
            .as_object()
            .map(|d| d.len()),
        Some(1)
    );
    assert_eq!(results[1]["collection"], "products");
    assert_eq!(results[1]["total"], 3);
    assert_eq!(results[1]["hits"].as_array().map(Vec::len), Some(1));
    assert_eq!(results[1]["facets"]["category"][0]["count"], 3);
    assert_eq!(results[2]["engine"], "ilike");
    assert_eq!(ids(&results[2]["hits"]), ["kettle"]);
    for result in results {
        assert!(
            result["cache"].is_string() && result["tookMs"].is_number(),
            "{result}"
        );
    }
}

#[tokio::test]
async fn a_federated_search_merges_by_weighted_ranking_score() {
    let app = TestApp::spawn().await;
    two_collections(&app).await;
    let merged = |weight: f64| {
        json!({"federation": {"limit": 20}, "queries": [
            {"collection": "products", "q": "lamp"},
            {"collection": "items", "q": "item", "federationOptions": {"weight": weight}},
        ]})
    };
    let even = multi(&app, merged(1.0)).await;
    let hits = even["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 8, "3 lamps and 5 items: {even}");
    assert_eq!(even["total"], 8);
    let scores: Vec<f64> = hits
        .iter()
        .map(|h| {
            h["federation"]["weightedRankingScore"]
                .as_f64()
                .expect("score")
        })
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|s| *s > 0.0 && *s <= 1.0), "{scores:?}");
    // The product *named* "Lamp" is the best answer to `lamp`.
    assert_eq!(hits[0]["id"], "lamp");
    assert_eq!(hits[0]["federation"]["collection"], "products");
    assert!(
        hits[0].get("rankingScore").is_none(),
        "asked for by no search"
    );

    // A heavy weight puts a search's hits first; a light one last.
    let heavy = multi(&app, merged(100.0)).await;
    assert_eq!(heavy["hits"][0]["federation"]["collection"], "items");
    let light = multi(&app, merged(0.01)).await;
    let collections: Vec<&str> = light["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["federation"]["collection"].as_str().expect("collection"))
        .collect();
    assert_eq!(collections[..3], ["products"; 3]);
    assert_eq!(collections[3..], ["items"; 5]);

    // Paged; a document two searches of one collection find is listed once.
    let page = multi(
        &app,
        json!({"federation": {"offset": 1, "limit": 2}, "queries": [
            {"collection": "products", "q": "lamp", "showRankingScore": true},
            {"collection": "products", "q": "desk"},
        ]}),
    )
    .await;
    let all = multi(
        &app,
        json!({"federation": {}, "queries": [
            {"collection": "products", "q": "lamp"},
            {"collection": "products", "q": "desk"},
        ]}),
    )
    .await;
    let listed = ids(&all["hits"]);
    assert_eq!(listed.len(), 3, "desk-lamp once: {all}");
    assert_eq!(ids(&page["hits"]), listed[1..3]);
    assert!(
        page["hits"][0]["rankingScore"].is_number() || page["hits"][1]["rankingScore"].is_number()
    );
}

#[tokio::test]
async fn a_bad_search_in_a_multi_search_is_named_in_the_error() {
    let app = TestApp::spawn().await;
    two_collections(&app).await;
    let search = |q: Value| json!({"collection": "products", "q": q});
    for (body, status, code, says) in [
        (
            json!({"queries": []}),
            400,
            "invalid_request_body",
            "1 to 10",
        ),
        (
            json!({"queries": vec![search(json!("x")); 11]}),
            400,
            "invalid_request_body",
            "1 to 10",
        ),
        (
            json!({"queries": [search(json!("x")), {"collection": "products", "filter": "colour = red"}]}),
            400,
            "invalid_filter",
            "`queries[1]`",
        ),
        (
            json!({"queries": [{"collection": "nope"}]}),
            404,
            "collection_not_found",
            "nope",
        ),
        (
            json!({"queries": [{"collection": "products", "colour": 1}]}),
            400,
            "invalid_request_body",
            "colour",
        ),
        (
            json!({"queries": [{"q": "x"}]}),
            400,
            "invalid_request_body",
            "collection",
        ),
        (
            json!({"federation": {}, "queries": [{"collection": "products", "limit": 5}]}),
            400,
            "invalid_request_body",
            "federation.limit",
        ),
        (
            json!({"federation": {}, "queries": [{"collection": "products", "sort": "price:asc"}]}),
            400,
            "invalid_request_body",
            "`sort`",
        ),
        (
            json!({"federation": {}, "queries": [{"collection": "products", "engine": "fts"}]}),
            400,
            "invalid_request_body",
            "engine",
        ),
        (
            json!({"federation": {"limit": 60, "offset": 50}, "queries": [search(json!("x"))]}),
            400,
            "invalid_request_body",
            "at most 100",
        ),
        (
            json!({"queries": [{"collection": "products", "federationOptions": {"weight": 2}}]}),
            400,
            "invalid_request_body",
            "needs `federation`",
        ),
        (
            json!({"federation": {}, "queries": [{"collection": "products", "federationOptions": {"weight": 0}}]}),
            400,
            "invalid_request_body",
            "weight",
        ),
    ] {
        let error =
            assert_error(app.post_json("/v1/multi-search", &body).await, status, code).await;
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{body}: {message}");
    }
}

#[tokio::test]
async fn ranking_scores_are_shown_on_request_and_follow_the_order() {
    let app = TestApp::spawn().await;
    two_collections(&app).await;
    let answer = json_body(
        app.get("/v1/collections/products/search?q=lamp&showRankingScore=true")
            .await,
    )
    .await;
    let scores: Vec<f64> = answer["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["rankingScore"].as_f64().expect("rankingScore"))
        .collect();
    assert_eq!(scores.len(), 3);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(
        scores[0] > scores[2],
        "the name `Lamp` beats a lamp shade: {scores:?}"
    );
    let plain = json_body(app.get("/v1/collections/products/search?q=lamp").await).await;
    assert!(plain["hits"][0].get("rankingScore").is_none(), "{plain}");
    let everything = json_body(
        app.get("/v1/collections/products/search?q=&showRankingScore=true")
            .await,
    )
    .await;
    assert_eq!(everything["hits"][0]["rankingScore"], 1.0);
}
