//! `distinct`: one hit per value of a keyword field, with totals and facets counting
//! those groups.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

async fn shop(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "shop", "fields": [
                {"name": "title", "type": "text"},
                {"name": "family", "type": "keyword"},
                {"name": "color", "type": "keyword", "facet": true},
                {"name": "price", "type": "float", "sortable": true}
            ]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let lines: String = [
        json!({"id": "p1", "title": "red shirt", "family": "shirt-a", "color": "red", "price": 10.0}),
        json!({"id": "p2", "title": "blue shirt", "family": "shirt-a", "color": "blue", "price": 12.0}),
        json!({"id": "p3", "title": "green shirt", "family": "shirt-b", "color": "green", "price": 9.0}),
        json!({"id": "p4", "title": "plain shirt", "color": "red", "price": 20.0}),
        json!({"id": "p5", "title": "basic shirt", "color": "blue", "price": 25.0}),
        json!({"id": "p6", "title": "red shorts", "family": "shorts-a", "color": "red", "price": 15.0}),
        json!({"id": "p7", "title": "a shirt in red", "family": "shirt-a", "color": "red", "price": 11.0}),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect();
    let body = json_body(app.import("shop", lines).await).await;
    assert_eq!(body["imported"], 7, "{body}");
    body["consistencyToken"].as_str().expect("token").to_owned()
}

async fn search(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/v1/collections/shop/search?{query}"))
        .await;
    assert_eq!(response.status(), 200, "{query}");
    json_body(response).await
}

fn ids(answer: &Value) -> Vec<&str> {
    answer["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test]
async fn distinct_keeps_the_best_hit_per_value_and_counts_groups() {
    let app = TestApp::spawn().await;
    let token = shop(&app).await;
    let plain = search(&app, &format!("q=shirt&facets=color&after={token}")).await;
    assert_eq!(plain["total"], 6);
    assert_eq!(
        plain["facets"]["color"][0],
        json!({"value": "red", "count": 3})
    );

    let grouped = search(&app, "q=shirt&distinct=family&facets=color").await;
    let found = ids(&grouped);
    assert_eq!(
        found.len(),
        4,
        "shirt-a, shirt-b and two without a family: {found:?}"
    );
    assert_eq!(
        found
            .iter()
            .filter(|id| ["p1", "p2", "p7"].contains(id))
            .count(),
        1,
        "one of shirt-a: {found:?}"
    );
    assert!(found.contains(&"p3") && found.contains(&"p4") && found.contains(&"p5"));
    assert_eq!(grouped["total"], 4);
    // Groups holding each color: red is shirt-a and p4; blue shirt-a and p5.
    assert_eq!(
        grouped["facets"]["color"],
        json!([{"value": "blue", "count": 2}, {"value": "red", "count": 2}, {"value": "green", "count": 1}])
    );

    // The best of a group is the first in the order asked for; pages follow groups.
    let cheapest = search(&app, "q=shirt&distinct=family&sort=price:asc").await;
    assert_eq!(ids(&cheapest), ["p3", "p1", "p4", "p5"]);
    let page = search(
        &app,
        "q=shirt&distinct=family&sort=price:asc&offset=2&limit=2",
    )
    .await;
    assert_eq!(ids(&page), ["p4", "p5"]);
    assert_eq!(page["total"], 4);

    // Every document, grouped: shirt-a, shirt-b, shorts-a, p4, p5.
    let everything = search(&app, "q=&distinct=family&limit=100").await;
    assert_eq!(everything["total"], 5);
    assert_eq!(ids(&everything).len(), 5);
    // POST takes it too.
    let response = app
        .post_json(
            "/v1/collections/shop/search",
            &json!({"q": "red", "distinct": "family"}),
        )
        .await;
    let body = json_body(response).await;
    assert_eq!(body["total"], 2, "shirt-a (p1, p7) and shorts-a: {body}");
}

#[tokio::test]
async fn distinct_on_a_field_it_cannot_group_by_is_a_400() {
    let app = TestApp::spawn().await;
    shop(&app).await;
    for query in [
        "distinct=title",
        "distinct=nope",
        "distinct=price",
        "distinct=family&engine=ilike",
    ] {
        let body = assert_error(
            app.get(&format!("/v1/collections/shop/search?q=shirt&{query}"))
                .await,
            400,
            "invalid_query_parameter",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("distinct")),
            "{query}: {body}"
        );
    }
}
