//! Collection placement (`SIFT_COLLECTIONS`): a replica indexes and serves only its
//! collections and answers the routes of the others with 421 `collection_elsewhere`,
//! so a proxy can route by collection name; PostgreSQL holds them all.

use serde_json::json;

use crate::helpers::{TestApp, assert_error, json_body};

fn schema(name: &str) -> serde_json::Value {
    json!({"name": name, "fields": [{"name": "title", "type": "text"}]})
}

#[tokio::test]
async fn a_replica_serves_its_collections_and_sends_the_others_elsewhere() {
    let shop = TestApp::spawn_with(|config| {
        config.placement = sift::placement::Placement::parse("shop-*").expect("placement");
    })
    .await;
    // Collections are made and listed on any replica: they live in PostgreSQL.
    for name in ["shop-eu", "blog"] {
        let response = shop.post_json("/v1/collections", &schema(name)).await;
        assert_eq!(response.status(), 201, "{name}");
    }
    let listed = json_body(shop.get("/v1/collections").await).await;
    assert_eq!(listed["total"], 2);

    let report = json_body(
        shop.import(
            "shop-eu",
            format!("{}\n", json!({"id": "s1", "title": "garden chair"})),
        )
        .await,
    )
    .await;
    let token = report["consistencyToken"].as_str().expect("token");
    let found = json_body(
        shop.get(&format!(
            "/v1/collections/shop-eu/search?q=chair&after={token}"
        ))
        .await,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");

    // Every route of another collection, searches and writes alike, is 421.
    for response in [
        shop.get("/v1/collections/blog/search?q=chair").await,
        shop.get("/v1/collections/blog").await,
        shop.post_json("/v1/collections/blog/documents", &json!({"title": "x"}))
            .await,
        shop.post_json(
            "/v1/multi-search",
            &json!({"queries": [{"collection": "shop-eu", "q": "chair"}, {"collection": "blog", "q": "x"}]}),
        )
        .await,
    ] {
        let body = assert_error(response, 421, "collection_elsewhere").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("`blog`")),
            "{body}"
        );
    }
    // Ready: the collection it does not serve is no index of its own to wait for.
    assert_eq!(shop.get("/ready").await.status(), 200);
    assert!(
        !shop.index_dir().join("blog").exists(),
        "no index of another replica's collection is built here"
    );

    // The replica that serves `blog` takes its writes and searches.
    let blog = shop
        .spawn_peer(|config| {
            config.placement = sift::placement::Placement::parse("blog").expect("placement");
        })
        .await;
    let created = blog
        .post_json(
            "/v1/collections/blog/documents",
            &json!({"id": "b1", "title": "chair reviews"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let token = json_body(created).await["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let found = json_body(
        blog.get(&format!(
            "/v1/collections/blog/search?q=chair&after={token}"
        ))
        .await,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_error(
        blog.get("/v1/collections/shop-eu/search?q=chair").await,
        421,
        "collection_elsewhere",
    )
    .await;
}
