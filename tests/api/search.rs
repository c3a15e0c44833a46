use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::helpers::{TestApp, assert_error, json_body, wait_until};

/// Writes documents through the API and returns the last consistency token.
async fn put_all(app: &TestApp, documents: &[Value]) -> String {
    let mut token = String::new();
    for doc in documents {
        let id = doc["id"].as_str().expect("id");
        let response = app
            .put_json(&format!("/v1/collections/products/documents/{id}"), doc)
            .await;
        assert!(response.status().is_success(), "{}", response.status());
        token = json_body(response).await["consistencyToken"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    token
}

/// A search with `after` that may meet another test's open transaction (the horizon is
/// the whole server's): retried on 504 for a while, since what matters is that the
/// write becomes visible.
async fn search_eventually(app: &TestApp, query: &str) -> Value {
    for _ in 0..30 {
        let response = app
            .get(&format!("/v1/collections/products/search?{query}"))
            .await;
        if response.status() != 504 {
            assert_eq!(response.status(), 200, "{query}");
            return json_body(response).await;
        }
    }
    panic!("still not visible: {query}");
}

async fn search(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/v1/collections/products/search?{query}"))
        .await;
    assert_eq!(response.status(), 200, "{query}");
    json_body(response).await
}

fn ids(result: &Value) -> Vec<String> {
    result["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The id PostgreSQL gave the collection.
async fn id_of_collection(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM collections WHERE name = $1")
        .bind(name)
        .fetch_one(&app.db)
        .await
        .expect("collection id")
}

async fn catalog(app: &TestApp) -> String {
    app.create_products().await;
    put_all(
        app,
        &[
            json!({"id": "title-match", "title": "Wireless headphones", "description": "Good sound", "category": "audio", "price": 99.0, "stock": 5}),
            json!({"id": "desc-match", "title": "Bluetooth speaker", "description": "Pairs with wireless headphones", "category": "audio", "price": 49.0, "stock": 0}),
            json!({"id": "lamp", "title": "Desk lamp", "description": "A warm light", "category": "home", "tags": ["sale", "new"], "price": 19.5, "stock": 12}),
            json!({"id": "lamps", "title": "Two lamps", "description": "A pair", "category": "home", "price": 30.0, "stock": 2}),
            json!({"id": "model-12345", "title": "Router 12345", "description": "Fast", "category": "network", "price": 120.0}),
            json!({"id": "kettle", "title": "Electric kettle", "description": "Boils water", "category": "home", "price": 25.0, "releasedAt": "2025-06-01T00:00:00Z"}),
            json!({"id": "kettles", "title": "Kettles", "description": "Several", "category": "home", "price": 60.0, "releasedAt": "2024-01-01T00:00:00Z"}),
        ],
    )
    .await
}

#[tokio::test]
async fn relevance_rules() {
    let app = TestApp::spawn().await;
    let token = catalog(&app).await;

    // A title match outranks a description match (boost 3 against 1).
    let result = search(&app, &format!("q=wireless%20headphones&after={token}")).await;
    assert_eq!(ids(&result), ["title-match", "desc-match"]);
    assert_eq!(result["total"], 2);
    assert_eq!(result["engine"], "index");

    // An exact match outranks a typo match of the same shape: `kettle` is exact for one
    // document; `kettles` stems to the same term, so both are exact here; `kettel` is a typo.
    let exact = search(&app, "q=kettle").await;
    let typo = search(&app, "q=kettel").await;
    assert_eq!(exact["total"], 2);
    assert_eq!(typo["total"], 2, "one typo is allowed in a 6-letter word");
    let best_exact = exact["hits"][0]["score"].as_f64().expect("score");
    let best_typo = typo["hits"][0]["score"].as_f64().expect("score");
    assert!(
        best_exact > best_typo,
        "exact {best_exact} should outrank typo {best_typo}"
    );

    // Short words take no typo (a 4-letter one only when no document holds it);
    // turning typos off removes the typo match.
    assert_eq!(
        search(&app, "q=lmp").await["total"],
        0,
        "no typo in 3-letter words"
    );
    assert_eq!(
        search(&app, "q=lsmp&fuzzy=false").await["total"],
        0,
        "no typo with typos off"
    );
    assert_eq!(search(&app, "q=kettel&fuzzy=false").await["total"], 0);

    // The last word is a prefix; not with prefix=false, nor when the query ends in a space.
    assert_eq!(
        ids(&search(&app, "q=wireless%20headph").await),
        ["title-match", "desc-match"]
    );
    assert_eq!(search(&app, "q=headph&prefix=false").await["total"], 0);
    assert_eq!(search(&app, "q=headph%20").await["total"], 0);

    // Numbers take no typos.
    assert_eq!(ids(&search(&app, "q=12345").await), ["model-12345"]);
    assert_eq!(search(&app, "q=12346%20").await["total"], 0);

    // Stemming: singular finds plural and plural finds singular.
    let singular = ids(&search(&app, "q=lamp%20").await);
    assert!(
        singular.contains(&"lamps".to_string()) && singular.contains(&"lamp".to_string()),
        "{singular:?}"
    );
    let plural = ids(&search(&app, "q=lamps%20").await);
    assert!(plural.contains(&"lamp".to_string()), "{plural:?}");
}

#[tokio::test]
async fn filters_facets_sort_and_highlights() {
    let app = TestApp::spawn().await;
    let token = catalog(&app).await;
    let everything = search(&app, &format!("after={token}&limit=100")).await;
    assert_eq!(
        everything["total"], 7,
        "an empty query matches every document"
    );

    let cheap_home = search(
        &app,
        "filter=category%20%3D%20home%20AND%20price%20%3C%2030&sort=price:asc",
    )
    .await;
    assert_eq!(ids(&cheap_home), ["lamp", "kettle"]);
    assert!(
        cheap_home["hits"][0]["score"].is_null(),
        "sorted by a field: no score"
    );

    let either = search(
        &app,
        "filter=tags%20%3D%20sale%20OR%20category%20%3D%20audio&sort=price:desc",
    )
    .await;
    assert_eq!(ids(&either), ["title-match", "desc-match", "lamp"]);
    let not_home = search(&app, "filter=NOT%20category%20%3D%20home&limit=100").await;
    assert_eq!(not_home["total"], 3);
    let recent = search(
        &app,
        "filter=releasedAt%20%3E%20%222025-01-01T00%3A00%3A00Z%22",
    )
    .await;
    assert_eq!(ids(&recent), ["kettle"]);

    let faceted = search(&app, "facets=category&limit=1").await;
    assert_eq!(
        faceted["facets"]["category"][0],
        json!({"value": "home", "count": 4})
    );
    assert_eq!(
        faceted["facets"]["category"].as_array().map(Vec::len),
        Some(3)
    );
    let filtered_facets = search(&app, "q=wireless&facets=category").await;
    assert_eq!(
        filtered_facets["facets"]["category"],
        json!([{"value": "audio", "count": 2}])
    );

    let page = search(&app, "sort=price:asc&limit=2&offset=2").await;
    assert_eq!(ids(&page), ["lamps", "desc-match"]);
    assert_eq!(page["total"], 7);

    let highlighted = search(&app, "q=wireles%20headph").await;
    assert_eq!(
        highlighted["hits"][0]["highlights"]["title"],
        "<mark>Wireless</mark> <mark>headphones</mark>"
    );
    let custom = search(&app, "q=desk&highlightPreTag=%5B&highlightPostTag=%5D").await;
    assert_eq!(custom["hits"][0]["highlights"]["title"], "[Desk] lamp");
    let none = search(&app, "q=lamp&highlight=false").await;
    assert!(none["hits"][0].get("highlights").is_none());

    // POST takes the same parameters as a JSON body.
    let response = app
        .post_json(
            "/v1/collections/products/search",
            &json!({"q": "kettle", "filter": "price > 50", "limit": 5}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(ids(&json_body(response).await), ["kettles"]);
}

#[tokio::test]
async fn sort_and_date_messages_say_what_was_expected() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    for (query, expected) in [
        ("sort=price", "`price:asc` or `price:desc`"),
        (
            "sort=price:desc,stock:asc",
            "`stock` is not declared with \"sortable\": true",
        ),
        ("sort=price:desc,price:asc", "given twice"),
        (
            "sort=price:desc,_score:desc,price:asc,id:asc",
            "at most 3 keys",
        ),
        ("sort=price:desc,", "an empty key"),
        ("sort=price:up", "`price:asc` or `price:desc`"),
    ] {
        let body = assert_error(
            app.get(&format!("/v1/collections/products/search?{query}"))
                .await,
            400,
            "invalid_sort",
        )
        .await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(expected), "{query}: {message}");
    }
    let body = assert_error(
        app.put_json(
            "/v1/collections/products/documents/dated",
            &json!({"title": "x", "releasedAt": "2024-05-01"}),
        )
        .await,
        400,
        "invalid_document",
    )
    .await;
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("`2024-05-01T00:00:00Z`"), "{message}");
}

#[tokio::test]
async fn every_search_error_code() {
    let app = TestApp::spawn_with(|config| config.max_searches = 1).await;
    catalog(&app).await;
    let path = "/v1/collections/products/search";
    for (query, status, code) in [
        ("filter=colour%20%3D%20red", 400, "invalid_filter"),
        ("filter=price%20%3D%20cheap", 400, "invalid_filter"),
        ("filter=(category%20%3D%20home", 400, "invalid_filter"),
        ("filter=description%20%3D%20x", 400, "invalid_filter"),
        ("sort=title:asc", 400, "invalid_sort"),
        ("sort=price:up", 400, "invalid_sort"),
        ("sort=nope", 400, "invalid_sort"),
        ("facets=price", 400, "invalid_facets"),
        ("facets=nope", 400, "invalid_facets"),
        ("limit=0", 400, "invalid_query_parameter"),
        ("limit=101", 400, "invalid_query_parameter"),
        ("limit=abc", 400, "invalid_query_parameter"),
        ("offset=990&limit=20", 400, "invalid_query_parameter"),
        ("engine=elastic", 400, "invalid_query_parameter"),
        ("after=yesterday", 400, "invalid_query_parameter"),
        ("unknown=1", 400, "invalid_query_parameter"),
    ] {
        let body = assert_error(app.get(&format!("{path}?{query}")).await, status, code).await;
        assert!(
            !body["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{query}"
        );
    }
    let long = "a".repeat(600);
    assert_error(
        app.get(&format!("{path}?q={long}")).await,
        400,
        "invalid_search_query",
    )
    .await;
    assert_error(
        app.get("/v1/collections/nope/search?q=x").await,
        404,
        "collection_not_found",
    )
    .await;
    let response = app
        .post_json(path, &json!({"q": "x", "colour": "red"}))
        .await;
    assert_error(response, 400, "invalid_request_body").await;
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let app = TestApp::spawn_with(|config| config.max_searches = 0).await;
    app.create_products().await;
    let response = app
        .get("/v1/collections/products/search?q=x&engine=ilike")
        .await;
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_error(response, 503, "search_queue_full").await;
}

#[tokio::test]
async fn ilike_and_fts_answer_in_the_same_shape() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let ilike = search(&app, "q=wireless%20headphones&engine=ilike").await;
    assert_eq!(ilike["engine"], "ilike");
    assert_eq!(ilike["total"], 2);
    let mut found = ids(&ilike);
    found.sort();
    assert_eq!(found, ["desc-match", "title-match"]);
    assert!(ilike["tookMs"].as_f64().is_some());

    let fts = search(&app, "q=wireless%20headphones&engine=fts").await;
    assert_eq!(fts["engine"], "fts");
    assert_eq!(
        ids(&fts),
        ["title-match", "desc-match"],
        "title weighs more (A) than description (B)"
    );
    assert!(fts["hits"][0]["score"].as_f64().is_some_and(|s| s > 0.0));

    // Substrings match in ilike only; filters apply in every engine.
    assert_eq!(search(&app, "q=ettl&engine=ilike").await["total"], 2);
    let filtered = search(&app, "q=lamp&engine=ilike&filter=price%20%3C%2020").await;
    assert_eq!(ids(&filtered), ["lamp"]);
    let filtered = search(
        &app,
        "q=kettle&engine=fts&filter=category%20%3D%20home%20AND%20price%20%3E%2050",
    )
    .await;
    assert_eq!(ids(&filtered), ["kettles"]);

    // No GIN index unless the collection asks for one: `fts` scanned.
    let collection_id = id_of_collection(&app, "products").await;
    let ready = || sift::search::sql_engine::fts_index_ready(&app.db, collection_id);
    assert!(!ready().await.expect("query"), "no index by default");
}

#[tokio::test]
async fn the_fts_index_is_built_and_dropped_by_its_setting_without_a_new_generation() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let collection_id = id_of_collection(&app, "products").await;
    let ready = || async {
        sift::search::sql_engine::fts_index_ready(&app.db, collection_id)
            .await
            .expect("query")
    };
    let fts_status = || async {
        json_body(app.get("/v1/collections/products").await).await["stats"]["ftsIndex"].clone()
    };
    let scanned = search(&app, "q=wireless%20headphones&engine=fts").await;
    assert_eq!(fts_status().await, "off");

    let on = app
        .patch_json("/v1/collections/products", &json!({"ftsIndex": true}))
        .await;
    assert_eq!(on.status(), 200);
    let on = json_body(on).await;
    assert_eq!(on["settings"]["ftsIndex"], true, "{on}");
    assert_eq!(
        on["settingsGeneration"], 1,
        "the search index is not rebuilt"
    );
    assert!(
        wait_until(Duration::from_secs(30), || async {
            fts_status().await == "ready"
        })
        .await,
        "the GIN index is built in the background, and the stats say when it is"
    );
    assert!(ready().await);
    let indexed = search(&app, "q=wireless%20headphones&engine=fts").await;
    assert_eq!(
        ids(&indexed),
        ids(&scanned),
        "the same answer, index or scan"
    );
    assert_eq!(indexed["hits"][0]["score"], scanned["hits"][0]["score"]);

    let off = app
        .patch_json("/v1/collections/products", &json!({"ftsIndex": false}))
        .await;
    assert_eq!(off.status(), 200);
    let off = json_body(off).await;
    assert!(off["settings"].get("ftsIndex").is_none(), "{off}");
    assert_eq!(off["settingsGeneration"], 1);
    assert_eq!(fts_status().await, "off");
    assert!(
        wait_until(Duration::from_secs(30), || async { !ready().await }).await,
        "the GIN index is dropped in the background"
    );
    let scanned_again = search(&app, "q=wireless%20headphones&engine=fts").await;
    assert_eq!(ids(&scanned_again), ids(&scanned));

    // Created with the setting, a collection has the index at once.
    let created = app
        .post_json(
            "/v1/collections",
            &json!({"name": "indexed", "settings": {"ftsIndex": true}, "fields": [{"name": "title", "type": "text"}]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let indexed_id = id_of_collection(&app, "indexed").await;
    assert!(
        sift::search::sql_engine::fts_index_ready(&app.db, indexed_id)
            .await
            .expect("query")
    );
}

#[tokio::test]
async fn plain_sql_writes_reach_the_index() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let collection_id = id_of_collection(&app, "products").await;
    let mut tx = app.db.begin().await.expect("begin");
    sqlx::query("INSERT INTO documents (collection_id, id, body) VALUES ($1, 'sql-1', '{\"id\": \"sql-1\", \"title\": \"Plain SQL toaster\"}')")
        .bind(collection_id)
        .execute(&mut *tx)
        .await
        .expect("insert");
    sqlx::query("UPDATE documents SET body = jsonb_set(body, '{title}', '\"Cordless kettle\"') WHERE id = 'kettle'")
        .execute(&mut *tx)
        .await
        .expect("update");
    sqlx::query("DELETE FROM documents WHERE id = 'lamp'")
        .execute(&mut *tx)
        .await
        .expect("delete");
    let token: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut *tx)
        .await
        .expect("xid");
    tx.commit().await.expect("commit");

    assert_eq!(
        ids(&search(&app, &format!("q=toaster&after={token}")).await),
        ["sql-1"]
    );
    assert_eq!(ids(&search(&app, "q=cordless").await), ["kettle"]);
    assert!(!ids(&search(&app, "q=desk%20lamp").await).contains(&"lamp".to_string()));
    let stats = json_body(app.get("/v1/collections/products").await).await;
    assert_eq!(
        stats["stats"]["indexedDocuments"],
        stats["stats"]["documents"]
    );
    assert_eq!(stats["stats"]["lag"], 0);
}

#[tokio::test]
async fn transactions_committing_out_of_sequence_order_both_reach_the_index() {
    let app =
        TestApp::spawn_with(|config| config.consistency_timeout = Duration::from_millis(300)).await;
    app.create_products().await;
    // The index must exist first: a build from a snapshot taken after the second commit
    // would rightly contain it.
    let ready = put_all(&app, &[json!({"id": "ready", "title": "ready"})]).await;
    assert_eq!(
        search_eventually(&app, &format!("q=ready&after={ready}")).await["total"],
        1
    );
    let collection_id = id_of_collection(&app, "products").await;
    let insert = "INSERT INTO documents (collection_id, id, body) VALUES ($1, $2, jsonb_build_object('id', $2, 'title', $3))";
    // The first transaction writes first (lower sequence number) but commits last.
    let mut first = app.db.begin().await.expect("begin");
    sqlx::query(insert)
        .bind(collection_id)
        .bind("first")
        .bind("alpha gadget")
        .execute(&mut *first)
        .await
        .expect("insert");
    let mut second = app.db.begin().await.expect("begin");
    sqlx::query(insert)
        .bind(collection_id)
        .bind("second")
        .bind("beta gadget")
        .execute(&mut *second)
        .await
        .expect("insert");
    let second_token: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut *second)
        .await
        .expect("xid");
    second.commit().await.expect("commit second");

    // While the first is open, the index does not move past it: the second write is
    // held back (not skipped), and `after` cannot be satisfied yet.
    let response = app
        .get(&format!(
            "/v1/collections/products/search?q=gadget&after={second_token}"
        ))
        .await;
    assert_error(response, 504, "consistency_timeout").await;
    assert_eq!(search(&app, "q=gadget").await["total"], 0);

    first.commit().await.expect("commit first");
    let mut found = ids(&search_eventually(&app, &format!("q=gadget&after={second_token}")).await);
    found.sort();
    assert_eq!(found, ["first", "second"]);
}

#[tokio::test]
async fn after_times_out_while_a_transaction_holds_the_horizon() {
    let app =
        TestApp::spawn_with(|config| config.consistency_timeout = Duration::from_millis(300)).await;
    app.create_products().await;
    let mut blocker = app.db.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *blocker)
        .await
        .expect("take an xid");
    let token = put_all(&app, &[json!({"id": "a", "title": "waiting"})]).await;
    let response = app
        .get(&format!(
            "/v1/collections/products/search?q=waiting&after={token}"
        ))
        .await;
    assert_error(response, 504, "consistency_timeout").await;
    blocker.rollback().await.expect("rollback");
    let result = search_eventually(&app, &format!("q=waiting&after={token}")).await;
    assert_eq!(ids(&result), ["a"]);
}

#[tokio::test]
async fn a_transaction_in_another_database_does_not_hold_the_index_back() {
    let app =
        TestApp::spawn_with(|config| config.consistency_timeout = Duration::from_secs(5)).await;
    app.create_products().await;
    // Another database on the same server, as a neighbouring application would have.
    let neighbour = crate::helpers::TestDatabase::create().await;
    let mut other = PgConnection::connect_with(&neighbour.options)
        .await
        .expect("connect to the other database");
    let mut held = other.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *held)
        .await
        .expect("take an xid");
    let token = put_all(&app, &[json!({"id": "a", "title": "neighbourly"})]).await;
    let response = app
        .get(&format!(
            "/v1/collections/products/search?q=neighbourly&after={token}"
        ))
        .await;
    assert_eq!(
        response.status(),
        200,
        "the write waited for a transaction that cannot touch this database"
    );
    assert_eq!(ids(&json_body(response).await), ["a"]);
    held.rollback().await.expect("rollback");
}

#[tokio::test]
async fn deletes_and_imports_carry_tokens() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let lines = (0..50)
        .map(|n| json!({"id": format!("i{n}"), "title": format!("imported item {n}")}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let report = json_body(app.import("products", lines).await).await;
    let token = report["consistencyToken"]
        .as_str()
        .expect("import token")
        .to_owned();
    assert_eq!(
        search(&app, &format!("q=imported&after={token}")).await["total"],
        50
    );
    let response = app.delete("/v1/collections/products/documents/i7").await;
    assert_eq!(response.status(), 204);
    let token = response.headers()["x-consistency-token"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        search(&app, &format!("q=imported&after={token}")).await["total"],
        49
    );
}

#[tokio::test]
async fn searches_keep_answering_while_settings_rebuild_the_index() {
    let app = TestApp::spawn().await;
    let token = catalog(&app).await;
    assert_eq!(
        search(&app, &format!("q=lamp&after={token}")).await["total"],
        2
    );
    // Stop words are part of the analyzer: changing them builds a new generation.
    let response = app
        .patch_json("/v1/collections/products", &json!({"stopWords": ["desk"]}))
        .await;
    assert_eq!(response.status(), 200);
    let mut answered = 0;
    let rebuilt = crate::helpers::wait_until(Duration::from_secs(20), || {
        answered += 1;
        async {
            let result = search(&app, "q=desk%20").await;
            // Until the swap, `desk` is a word; after it, a stop word that matches nothing
            // alone (an empty query after stop words matches everything).
            result["total"] == 7
        }
    })
    .await;
    assert!(rebuilt, "the new generation took over");
    assert!(answered >= 1);
    assert_eq!(
        search(&app, "q=lamp").await["total"],
        2,
        "the new generation has every document"
    );
}

#[tokio::test]
async fn a_restart_resumes_from_the_index_on_disk() {
    let app = TestApp::spawn().await;
    let token = catalog(&app).await;
    assert_eq!(
        search(&app, &format!("q=kettle&after={token}")).await["total"],
        2
    );
    let index_dir = app.index_dir().to_owned();
    let collection_dir = index_dir.join("products");
    let generation = std::fs::read_to_string(collection_dir.join("CURRENT")).expect("CURRENT");

    // Another instance over the same database and directory: a restart.
    let restarted = app.restart().await;
    let token = put_all(
        &restarted,
        &[json!({"id": "new", "title": "Kettle deluxe"})],
    )
    .await;
    assert_eq!(
        search(&restarted, &format!("q=kettle&after={token}")).await["total"],
        3
    );
    let after = std::fs::read_to_string(collection_dir.join("CURRENT")).expect("CURRENT");
    assert_eq!(
        generation, after,
        "the index on disk was reused, not rebuilt"
    );
}

#[tokio::test]
async fn several_sort_keys_order_hits_the_same_on_every_engine_ties_by_id() {
    let app = TestApp::spawn().await;
    let schema = json!({"name": "shop", "fields": [
        {"name": "title", "type": "text"},
        {"name": "rating", "type": "integer", "sortable": true},
        {"name": "price", "type": "float", "sortable": true}
    ]});
    assert_eq!(
        app.post_json("/v1/collections", &schema).await.status(),
        201
    );
    // Ratings and prices repeat, so the second key and the id both decide somewhere.
    let documents: Vec<Value> = (0..40)
        .map(|n| {
            json!({"id": format!("d{:02}", 39 - n), "title": format!("lamp {n}"),
                   "rating": n % 4, "price": f64::from((n * 7) % 5)})
        })
        .collect();
    let lines: Vec<String> = documents.iter().map(Value::to_string).collect();
    let report = json_body(app.import("shop", lines.join("\n")).await).await;
    let token = report["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    // The order wanted: rating high to low, then price low to high, then id.
    let mut want = documents.clone();
    want.sort_by(|a, b| {
        b["rating"]
            .as_i64()
            .cmp(&a["rating"].as_i64())
            .then(
                a["price"]
                    .as_f64()
                    .unwrap_or(0.0)
                    .total_cmp(&b["price"].as_f64().unwrap_or(0.0)),
            )
            .then(a["id"].as_str().cmp(&b["id"].as_str()))
    });
    let want: Vec<&str> = want
        .iter()
        .take(20)
        .filter_map(|d| d["id"].as_str())
        .collect();
    for engine in ["index", "ilike", "fts"] {
        let result = json_body(
            app.get(&format!(
                "/v1/collections/shop/search?q=lamp&sort=rating:desc,price:asc&limit=20&engine={engine}&after={token}"
            ))
            .await,
        )
        .await;
        assert_eq!(ids(&result), want, "{engine}: {result}");
        assert_eq!(result["total"], 40, "{engine}");
    }
    // The next page continues the same order.
    let page = json_body(
        app.get("/v1/collections/shop/search?q=lamp&sort=rating:desc,price:asc&limit=5&offset=5")
            .await,
    )
    .await;
    assert_eq!(ids(&page), want[5..10]);
    // `_score` as a key: without words every document scores the same, so price
    // then id decide.
    let result = json_body(
        app.get("/v1/collections/shop/search?q=&sort=_score:desc,price:desc&limit=3")
            .await,
    )
    .await;
    let prices: Vec<f64> = result["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .filter_map(|h| h["document"]["price"].as_f64())
        .collect();
    assert_eq!(prices, [4.0, 4.0, 4.0], "{result}");
    assert_eq!(ids(&result), ["d02", "d07", "d12"], "{result}");
}

#[tokio::test]
async fn attributes_to_retrieve_trims_documents_and_highlights_on_every_engine() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let token = put_all(
        &app,
        &[json!({"id": "a", "title": "wireless lamp", "description": "a lamp", "category": "home", "price": 20.0})],
    )
    .await;
    for engine in ["index", "ilike", "fts"] {
        let result = json_body(
            app.get(&format!(
                "/v1/collections/products/search?q=lamp&attributesToRetrieve=title,price&engine={engine}&after={token}"
            ))
            .await,
        )
        .await;
        assert_eq!(
            result["hits"][0]["document"],
            json!({"title": "wireless lamp", "price": 20.0}),
            "{engine}: {result}"
        );
        let highlighted: Vec<&String> = result["hits"][0]["highlights"]
            .as_object()
            .map(|h| h.keys().collect())
            .unwrap_or_default();
        assert!(
            highlighted.iter().all(|k| k.as_str() == "title"),
            "{engine}: {result}"
        );
    }
    // The same search without it (after the trimmed one is cached) is whole; `*` too.
    for query in ["q=lamp", "q=lamp&attributesToRetrieve=*"] {
        let whole = json_body(
            app.get(&format!("/v1/collections/products/search?{query}"))
                .await,
        )
        .await;
        assert_eq!(
            whole["hits"][0]["document"]["category"], "home",
            "{query}: {whole}"
        );
    }
    // POST takes it too.
    let posted = json_body(
        app.post_json(
            "/v1/collections/products/search",
            &json!({"q": "lamp", "attributesToRetrieve": "id"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        posted["hits"][0]["document"],
        json!({"id": "a"}),
        "{posted}"
    );
    let many = (0..65)
        .map(|n| format!("f{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let response = app
        .get(&format!(
            "/v1/collections/products/search?q=lamp&attributesToRetrieve={many}"
        ))
        .await;
    assert_eq!(response.status(), 400);
}
