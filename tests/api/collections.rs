use serde_json::json;

use crate::helpers::{TestApp, assert_error, json_body, products_schema};

#[tokio::test]
async fn create_get_list_and_delete_a_collection() {
    let app = TestApp::spawn().await;

    let response = app.get("/v1/collections").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({"data": [], "total": 0}));

    let response = app.post_json("/v1/collections", &products_schema()).await;
    assert_eq!(response.status(), 201);
    let created = json_body(response).await;
    assert_eq!(created["name"], "products");
    assert_eq!(
        created["fields"][0],
        json!({"name": "title", "type": "text", "boost": 3.0})
    );
    assert_eq!(created["settings"]["typoTolerance"]["oneTypoMinLength"], 5);
    assert_eq!(created["settingsGeneration"], 1);
    assert!(created.get("stats").is_none());

    app.put_json(
        "/v1/collections/products/documents/a",
        &json!({"title": "A"}),
    )
    .await;
    let one = json_body(app.get("/v1/collections/products").await).await;
    assert_eq!(one["stats"]["documents"], 1);
    // The index exists from the 201 on, and applies the write shortly.
    let applied = crate::helpers::wait_until(std::time::Duration::from_secs(10), || async {
        json_body(app.get("/v1/collections/products").await).await["stats"]["lag"] == 0
    })
    .await;
    assert!(applied, "the write was never applied");

    let list = json_body(app.get("/v1/collections").await).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["name"], "products");

    let response = app.delete("/v1/collections/products").await;
    assert_eq!(response.status(), 204);
    assert_error(
        app.get("/v1/collections/products").await,
        404,
        "collection_not_found",
    )
    .await;
    assert_error(
        app.delete("/v1/collections/products").await,
        404,
        "collection_not_found",
    )
    .await;
    let documents: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(documents, 0, "documents go with their collection");
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM document_changes")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(changes, 0, "and so do their change rows");
}

#[tokio::test]
async fn duplicate_names_conflict() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let body = assert_error(
        app.post_json("/v1/collections", &products_schema()).await,
        409,
        "collection_already_exists",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("products")
    );
}

#[tokio::test]
async fn schemas_are_validated() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "Bad Name", "fields": [{"name": "t", "type": "text"}]}),
            "invalid_collection_name",
        ),
        (
            json!({"name": &"x".repeat(65), "fields": [{"name": "t", "type": "text"}]}),
            "invalid_collection_name",
        ),
        (
            json!({"name": "x", "fields": [{"name": "k", "type": "keyword"}]}),
            "invalid_schema",
        ),
        (
            json!({"name": "x", "fields": [{"name": "t", "type": "text"}, {"name": "t", "type": "text"}]}),
            "invalid_schema",
        ),
        (
            json!({"name": "x", "fields": [{"name": "t", "type": "text", "boost": 0}]}),
            "invalid_schema",
        ),
        (
            json!({"name": "x", "fields": [{"name": "t", "type": "text", "boost": 100.5}]}),
            "invalid_schema",
        ),
        (
            json!({"name": "x", "fields": [{"name": "t", "type": "txt"}]}),
            "invalid_request_body",
        ),
        (
            json!({"name": "x", "fields": [{"name": "t", "type": "text", "colour": 1}]}),
            "invalid_request_body",
        ),
        (
            json!({"fields": [{"name": "t", "type": "text"}]}),
            "invalid_request_body",
        ),
        // Facets count keyword values or give a number's range; a bool has neither.
        (
            json!({"name": "x", "fields": [{"name": "t", "type": "text"}, {"name": "b", "type": "bool", "facet": true}]}),
            "invalid_schema",
        ),
        (
            json!({"name": "x", "fields": [{"name": "t", "type": "text"}], "settings": {"typoTolerance": {"oneTypoMinLength": 10, "twoTyposMinLength": 9}}}),
            "invalid_settings",
        ),
    ];
    for (body, code) in cases {
        let response = app.post_json("/v1/collections", &body).await;
        assert_error(response, 400, code).await;
    }
    let list = json_body(app.get("/v1/collections").await).await;
    assert_eq!(list["total"], 0, "nothing invalid was stored");
}

#[tokio::test]
async fn settings_change_moves_the_generation() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let response = app
        .patch_json(
            "/v1/collections/products",
            &json!({"boosts": {"title": 5.0}, "synonyms": {"tv": ["television"]}, "stopWords": ["the"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let changed = json_body(response).await;
    assert_eq!(changed["settingsGeneration"], 2);
    assert_eq!(changed["fields"][0]["boost"], 5.0);
    assert_eq!(changed["settings"]["synonyms"]["tv"][0], "television");
    assert_eq!(changed["settings"]["stopWords"], json!(["the"]));
    assert_eq!(
        changed["settings"]["typoTolerance"]["enabled"], true,
        "keys left out keep their value"
    );

    for (body, code) in [
        (json!({"boosts": {"category": 2.0}}), "invalid_settings"),
        (json!({"boosts": {"nope": 2.0}}), "invalid_settings"),
        (json!({"boosts": {"title": -1.0}}), "invalid_settings"),
        (
            json!({"typoTolerance": {"oneTypoMinLength": 0}}),
            "invalid_settings",
        ),
        (json!({"ranking": []}), "invalid_request_body"),
    ] {
        assert_error(
            app.patch_json("/v1/collections/products", &body).await,
            400,
            code,
        )
        .await;
    }
    let unchanged = json_body(app.get("/v1/collections/products").await).await;
    assert_eq!(
        unchanged["settingsGeneration"], 2,
        "rejected changes change nothing"
    );
    assert_error(
        app.patch_json("/v1/collections/nope", &json!({})).await,
        404,
        "collection_not_found",
    )
    .await;
}

/// `stats.documents` is kept by triggers in each writing transaction rather than
/// counted: it must equal a `count(*)` after every kind of write — imports running at
/// once over overlapping ids (upserts count once), a replace, deletes by id and by
/// filter, a write that rolls back, and plain SQL from another program.
#[tokio::test]
async fn the_document_count_follows_every_kind_of_write() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let counted = || async {
        let stats = json_body(app.get("/v1/collections/products").await).await;
        let exact: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'products'",
        )
        .fetch_one(&app.db)
        .await
        .expect("count");
        (
            stats["stats"]["documents"].as_i64().expect("a count"),
            exact,
        )
    };
    // Four imports at once, each overlapping the next by half.
    let batch = |from: usize| {
        (from..from + 300)
            .map(|i| json!({"id": format!("p{i}"), "title": "item", "category": if i % 2 == 0 { "audio" } else { "video" }}).to_string() + "\n")
            .collect::<String>()
    };
    let imports =
        futures::future::join_all((0..4).map(|k| app.import("products", batch(k * 150)))).await;
    assert!(imports.iter().all(|r| r.status() == 200));
    assert_eq!(counted().await, (750, 750), "p0..p749, each once");

    let replaced = app
        .put_json(
            "/v1/collections/products/documents/p1",
            &json!({"title": "again"}),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    let created = app
        .put_json(
            "/v1/collections/products/documents/new",
            &json!({"title": "new"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(counted().await, (751, 751));

    assert_eq!(
        app.delete("/v1/collections/products/documents/p2")
            .await
            .status(),
        204
    );
    let by_ids = app
        .post_json(
            "/v1/collections/products/documents:delete",
            &json!({"ids": ["p3", "p4", "nope"]}),
        )
        .await;
    assert_eq!(json_body(by_ids).await["deleted"], 2);
    let by_filter = app
        .post_json(
            "/v1/collections/products/documents:delete",
            &json!({"filter": "category = video"}),
        )
        .await;
    // p1 was replaced without a category; p3 is gone: 374 odd ids of 750 remain.
    assert_eq!(json_body(by_filter).await["deleted"], 373);
    assert_eq!(counted().await, (375, 375));

    // A write that rolls back leaves the count as it was.
    let mut tx = app.db.begin().await.expect("begin");
    sqlx::query("DELETE FROM documents")
        .execute(&mut *tx)
        .await
        .expect("delete");
    tx.rollback().await.expect("rollback");
    assert_eq!(counted().await, (375, 375));
    // Plain SQL from another program counts as the API's writes do.
    sqlx::query(
        "INSERT INTO documents (collection_id, id, body)
         SELECT id, 'sql' || g, '{\"title\": \"sql\"}' FROM collections, generate_series(1, 5) g
          WHERE name = 'products'",
    )
    .execute(&app.db)
    .await
    .expect("insert");
    assert_eq!(counted().await, (380, 380));
    // Listing documents without a filter gives the same kept count as its total.
    let listed = json_body(app.get("/v1/collections/products/documents?limit=1").await).await;
    assert_eq!(listed["total"], 380);
}

/// Writers to one collection, each in a transaction of its own, never wait on one
/// another's count: seventeen transactions open at once each write a document, and
/// none waits for another to end. (Stripes picked by backend, sixteen of them, made two
/// of any seventeen share one: the second waited for the first to commit, and a client
/// holding both open waited forever.)
#[tokio::test]
async fn writers_in_open_transactions_never_wait_on_each_others_count() {
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    app.create_products().await;
    let collection: i64 = sqlx::query_scalar("SELECT id FROM collections WHERE name = 'products'")
        .fetch_one(&app.db)
        .await
        .expect("collection id");
    let mut connections = Vec::new();
    for _ in 0..17 {
        connections.push(
            sqlx::PgConnection::connect_with(app.db_options())
                .await
                .expect("connect"),
        );
    }
    let mut open = Vec::new();
    for (n, connection) in connections.iter_mut().enumerate() {
        let mut transaction = connection.begin().await.expect("begin");
        let write = sqlx::query(
            "INSERT INTO documents (collection_id, id, body) VALUES ($1, $2, jsonb_build_object('id', $2, 'title', 'item'))",
        )
        .bind(collection)
        .bind(format!("w{n}"))
        .execute(&mut *transaction);
        tokio::time::timeout(std::time::Duration::from_secs(10), write)
            .await
            .unwrap_or_else(|_| panic!("write {n} waited on an open transaction"))
            .expect("insert");
        open.push(transaction);
    }
    // One rolls back: its count goes with it.
    let mut open = open.into_iter();
    open.next()
        .expect("a transaction")
        .rollback()
        .await
        .expect("rollback");
    for transaction in open {
        transaction.commit().await.expect("commit");
    }
    let stats = json_body(app.get("/v1/collections/products").await).await;
    assert_eq!(stats["stats"]["documents"], 16, "{stats}");
}
