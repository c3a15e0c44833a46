use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

#[tokio::test]
async fn create_read_replace_merge_and_delete() {
    let app = TestApp::spawn().await;
    app.create_products().await;

    let response = app
        .post_json(
            "/v1/collections/products/documents",
            &json!({"title": "Wireless headphones", "price": 59.9, "extra": {"kept": true}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created = json_body(response).await;
    let id = created["id"].as_str().expect("generated id").to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id)
            .expect("a UUID")
            .get_version_num(),
        7
    );
    assert_eq!(created["version"], 1);
    assert_eq!(created["document"]["id"], id.as_str());
    assert_eq!(
        created["document"]["extra"]["kept"], true,
        "undeclared fields are kept"
    );

    let path = format!("/v1/collections/products/documents/{id}");
    let read = json_body(app.get(&path).await).await;
    assert_eq!(read["document"]["title"], "Wireless headphones");

    let response = app
        .put_json(&path, &json!({"title": "Wired headphones", "price": 19.0}))
        .await;
    assert_eq!(response.status(), 200, "replacing an existing document");
    let replaced = json_body(response).await;
    assert_eq!(replaced["version"], 2);
    assert!(
        replaced["document"].get("extra").is_none(),
        "PUT replaces the whole document"
    );

    let response = app
        .patch_json(
            &path,
            &json!({"price": 17.5, "category": "audio", "title": null}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let merged = json_body(response).await;
    assert_eq!(merged["version"], 3);
    assert_eq!(
        merged["document"],
        json!({"id": id, "price": 17.5, "category": "audio"})
    );

    assert_eq!(app.delete(&path).await.status(), 204);
    assert_error(app.get(&path).await, 404, "document_not_found").await;
    assert_error(app.delete(&path).await, 404, "document_not_found").await;
    assert_error(
        app.patch_json(&path, &json!({})).await,
        404,
        "document_not_found",
    )
    .await;
}

#[tokio::test]
async fn put_creates_and_post_with_an_existing_id_conflicts() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let response = app
        .put_json(
            "/v1/collections/products/documents/sku-1",
            &json!({"title": "Lamp"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(json_body(response).await["document"]["id"], "sku-1");

    let response = app
        .post_json(
            "/v1/collections/products/documents",
            &json!({"id": "sku-1", "title": "Other"}),
        )
        .await;
    assert_error(response, 409, "document_already_exists").await;
    let read = json_body(app.get("/v1/collections/products/documents/sku-1").await).await;
    assert_eq!(
        read["document"]["title"], "Lamp",
        "the conflict changed nothing"
    );
}

#[tokio::test]
async fn documents_are_validated_against_the_schema() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let cases = [
        (json!({"title": 3}), "invalid_document", "`title`"),
        (json!({"price": "cheap"}), "invalid_document", "`price`"),
        (json!({"stock": 2.5}), "invalid_document", "`stock`"),
        (
            json!({"releasedAt": "last week"}),
            "invalid_document",
            "`releasedAt`",
        ),
        (json!({"tags": ["a", 1]}), "invalid_document", "`tags`"),
        (json!([1, 2]), "invalid_document", "object"),
        (
            json!({"id": 12, "title": "x"}),
            "invalid_document_id",
            "string",
        ),
        (
            json!({"id": "has space", "title": "x"}),
            "invalid_document_id",
            "has space",
        ),
    ];
    for (body, code, mentions) in cases {
        let response = app
            .post_json("/v1/collections/products/documents", &body)
            .await;
        let error = assert_error(response, 400, code).await;
        let message = error["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(mentions), "{body}: {message}");
    }
    let response = app
        .put_json("/v1/collections/products/documents/a", &json!({"id": "b"}))
        .await;
    assert_error(response, 400, "invalid_document_id").await;
    app.put_json(
        "/v1/collections/products/documents/a",
        &json!({"title": "ok"}),
    )
    .await;
    let response = app
        .patch_json(
            "/v1/collections/products/documents/a",
            &json!({"price": "x"}),
        )
        .await;
    assert_error(response, 400, "invalid_document").await;
    let response = app
        .patch_json("/v1/collections/products/documents/a", &json!({"id": "z"}))
        .await;
    assert_error(response, 400, "invalid_document_id").await;

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1, "no invalid document was stored");
    let read = json_body(app.get("/v1/collections/products/documents/a").await).await;
    assert_eq!(read["version"], 1, "rejected merges roll back");
}

#[tokio::test]
async fn documents_of_a_missing_collection_are_404() {
    let app = TestApp::spawn().await;
    assert_error(
        app.post_json("/v1/collections/nope/documents", &json!({"title": "x"}))
            .await,
        404,
        "collection_not_found",
    )
    .await;
    assert_error(
        app.get("/v1/collections/nope/documents/x").await,
        404,
        "collection_not_found",
    )
    .await;
    assert_error(
        app.get("/v1/collections/nope/documents").await,
        404,
        "collection_not_found",
    )
    .await;
    assert_error(
        app.get("/v1/collections/NOPE/documents").await,
        400,
        "invalid_collection_name",
    )
    .await;
    assert_error(
        app.get("/v1/collections/nope/documents/bad%20id").await,
        400,
        "invalid_document_id",
    )
    .await;
}

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let page = json_body(
        app.get(&format!("/v1/collections/products/documents{query}"))
            .await,
    )
    .await;
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn listing_pages_sorts_and_filters() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    for (n, category, price) in [
        (1, "audio", 30.0),
        (2, "home", 10.0),
        (3, "audio", 20.0),
        (4, "home", 40.0),
        (5, "audio", 50.0),
    ] {
        let tags: Value = if n % 2 == 0 {
            json!(["sale", "new"])
        } else {
            json!("new")
        };
        let response = app
            .put_json(
                &format!("/v1/collections/products/documents/d{n}"),
                &json!({"title": format!("item {n}"), "category": category, "price": price, "tags": tags}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }

    let page = json_body(app.get("/v1/collections/products/documents?limit=2").await).await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 1);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["totalPages"], 3);
    assert_eq!(
        ids(&app, "?limit=2").await,
        ["d5", "d4"],
        "newest first by default"
    );
    assert_eq!(ids(&app, "?limit=2&page=3").await, ["d1"]);
    assert!(
        ids(&app, "?limit=2&page=4").await.is_empty(),
        "past the end is an empty page, not an error"
    );
    assert_eq!(
        ids(&app, "?sortBy=price&sortOrder=asc").await,
        ["d2", "d3", "d1", "d4", "d5"]
    );
    assert_eq!(ids(&app, "?sortBy=id&sortOrder=desc&limit=1").await, ["d5"]);
    assert_eq!(
        ids(&app, "?category=audio&sortBy=price&sortOrder=desc").await,
        ["d5", "d1", "d3"]
    );
    assert_eq!(
        ids(&app, "?tags=sale&sortBy=id&sortOrder=asc").await,
        ["d2", "d4"],
        "arrays match when they contain the value"
    );
    assert_eq!(
        ids(&app, "?tags=new&category=home&sortBy=id&sortOrder=asc").await,
        ["d2", "d4"]
    );
    let filtered = json_body(
        app.get("/v1/collections/products/documents?category=audio&limit=1")
            .await,
    )
    .await;
    assert_eq!(filtered["total"], 3);
    assert_eq!(filtered["totalPages"], 3);

    for (query, named) in [
        ("?limit=101", "limit"),
        ("?limit=abc", "limit"),
        ("?page=0", "page"),
        ("?sortBy=title", "sortBy"),
        ("?sortOrder=sideways", "sortOrder"),
        ("?price=10", "price"),
        ("?colour=red", "colour"),
    ] {
        let body = assert_error(
            app.get(&format!("/v1/collections/products/documents{query}"))
                .await,
            400,
            "invalid_query_parameter",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(named),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn plain_sql_writes_bump_versions_and_reach_the_change_log() {
    // The log is read below: no janitor may trim it meanwhile.
    let app = TestApp::spawn_with(|config| config.retention.trim_interval = None).await;
    app.create_products().await;
    app.put_json(
        "/v1/collections/products/documents/a",
        &json!({"title": "A"}),
    )
    .await;
    sqlx::query("UPDATE documents SET body = body || '{\"price\": 1}' WHERE id = 'a'")
        .execute(&app.db)
        .await
        .expect("plain SQL update");
    let read = json_body(app.get("/v1/collections/products/documents/a").await).await;
    assert_eq!(read["version"], 2);
    assert_ne!(
        read["createdAt"], read["updatedAt"],
        "updated_at is kept by the trigger"
    );
    let changes: Vec<(String,)> =
        sqlx::query_as("SELECT document_id FROM document_changes ORDER BY txid, seq")
            .fetch_all(&app.db)
            .await
            .expect("changes");
    assert_eq!(
        changes,
        vec![("a".to_string(),), ("a".to_string(),)],
        "one change per write, API or SQL"
    );
}

/// Bulk deletes: `POST .../documents:delete`.
mod bulk_delete {
    use serde_json::{Value, json};

    use crate::helpers::{TestApp, assert_error, json_body};

    /// 2,500 products: even ones `audio`, odd ones `books`; price = n.
    async fn stocked(app: &TestApp) {
        app.create_products().await;
        let lines: Vec<String> = (0..2500)
            .map(|n| {
                let category = if n % 2 == 0 { "audio" } else { "books" };
                json!({"id": format!("p{n}"), "title": format!("item {n}"), "category": category, "price": n})
                    .to_string()
            })
            .collect();
        let report = json_body(app.import("products", lines.join("\n")).await).await;
        assert_eq!(report["imported"], 2500, "{report}");
    }

    async fn delete(app: &TestApp, body: Value) -> reqwest::Response {
        app.post_json("/v1/collections/products/documents:delete", &body)
            .await
    }

    #[tokio::test]
    async fn a_filter_deletes_every_match_in_batches_and_the_index_and_caches_follow() {
        let app = TestApp::spawn().await;
        stocked(&app).await;
        // Read one that goes, so it sits in the caches.
        assert_eq!(
            app.get("/v1/collections/products/documents/p100")
                .await
                .status(),
            200
        );
        let response = delete(&app, json!({"filter": "category = audio AND price < 2200"})).await;
        assert_eq!(response.status(), 200);
        let body = json_body(response).await;
        // Even numbers below 2,200: 1,100 documents, more than one batch.
        assert_eq!(body["deleted"], 1100, "{body}");
        let token = body["consistencyToken"]
            .as_str()
            .expect("a token")
            .to_owned();
        assert_eq!(
            app.get("/v1/collections/products/documents/p100")
                .await
                .status(),
            404,
            "a cached read of a deleted document"
        );
        assert_eq!(
            app.get("/v1/collections/products/documents/p2200")
                .await
                .status(),
            200,
            "outside the filter"
        );
        let found = json_body(
            app.get(&format!(
                "/v1/collections/products/search?q=item&filter=category%20%3D%20audio&after={token}"
            ))
            .await,
        )
        .await;
        assert_eq!(found["total"], 150, "the index follows: {found}");
        let stats = json_body(app.get("/v1/collections/products").await).await;
        assert_eq!(stats["stats"]["documents"], 1400);
        // Again: nothing left to delete, no token.
        let again =
            json_body(delete(&app, json!({"filter": "category = audio AND price < 2200"})).await)
                .await;
        assert_eq!(again, json!({"deleted": 0}));
    }

    #[tokio::test]
    async fn ids_delete_those_that_exist() {
        let app = TestApp::spawn().await;
        stocked(&app).await;
        let body = json_body(delete(&app, json!({"ids": ["p1", "p2", "nope"]})).await).await;
        assert_eq!(body["deleted"], 2, "{body}");
        let token = body["consistencyToken"]
            .as_str()
            .expect("a token")
            .to_owned();
        for id in ["p1", "p2"] {
            assert_eq!(
                app.get(&format!("/v1/collections/products/documents/{id}"))
                    .await
                    .status(),
                404
            );
        }
        let found = json_body(
            app.get(&format!(
                "/v1/collections/products/search?q=item%201&after={token}"
            ))
            .await,
        )
        .await;
        let ids: Vec<&str> = found["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .filter_map(|h| h["id"].as_str())
            .collect();
        assert!(!ids.contains(&"p1"), "{found}");
    }

    #[tokio::test]
    async fn bad_requests_are_400_and_delete_nothing() {
        let app = TestApp::spawn().await;
        stocked(&app).await;
        assert_error(delete(&app, json!({})).await, 400, "invalid_request_body").await;
        assert_error(
            delete(&app, json!({"ids": ["p1"], "filter": "price < 5"})).await,
            400,
            "invalid_request_body",
        )
        .await;
        assert_error(
            delete(&app, json!({"ids": []})).await,
            400,
            "invalid_request_body",
        )
        .await;
        let too_many: Vec<String> = (0..10_001).map(|n| format!("x{n}")).collect();
        assert_error(
            delete(&app, json!({"ids": too_many})).await,
            400,
            "invalid_request_body",
        )
        .await;
        assert_error(
            delete(&app, json!({"ids": ["p1", "bad id!"]})).await,
            400,
            "invalid_document_id",
        )
        .await;
        assert_error(
            delete(&app, json!({"filter": "stock > 1"})).await,
            400,
            "invalid_filter",
        )
        .await;
        assert_error(
            delete(&app, json!({"filter": "price <"})).await,
            400,
            "invalid_filter",
        )
        .await;
        assert_error(
            delete(&app, json!({"filter": "  "})).await,
            400,
            "invalid_filter",
        )
        .await;
        assert_error(
            app.post_json(
                "/v1/collections/nothing/documents:delete",
                &json!({"ids": ["a"]}),
            )
            .await,
            404,
            "collection_not_found",
        )
        .await;
        let stats = json_body(app.get("/v1/collections/products").await).await;
        assert_eq!(stats["stats"]["documents"], 2500, "nothing was deleted");
    }

    #[tokio::test]
    async fn a_bulk_delete_needs_a_key_that_may_write_documents() {
        let app = TestApp::spawn_with(|config| config.api_key = Some("admin-key".into())).await;
        let response = app
            .client
            .post(app.url("/v1/collections/products/documents:delete"))
            .json(&json!({"ids": ["a"]}))
            .send()
            .await
            .expect("request");
        assert_error(response, 401, "unauthorized").await;
    }
}
