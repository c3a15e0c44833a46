//! Schema changes without a re-import: `PATCH /v1/collections/{name}` with `fields`
//! adds fields, makes them filterable, sortable or facets, or changes their type; the
//! index is rebuilt from PostgreSQL when what it holds changes (a flag alone does not). A change the stored documents do not fit is
//! refused with how many and which, and writes racing a change are checked against
//! the fields they are stored under.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::helpers::{TestApp, assert_error, json_body, products_schema, wait_until};

fn lines(documents: &[Value]) -> String {
    documents.iter().map(|d| format!("{d}\n")).collect()
}

/// The products schema's fields with `extra` added.
fn fields_with(extra: &[Value]) -> Value {
    let mut fields = products_schema()["fields"]
        .as_array()
        .expect("fields")
        .clone();
    fields.extend(extra.iter().cloned());
    Value::Array(fields)
}

/// Imports `documents` into `products`, all of them; the consistency token.
async fn import_all(app: &TestApp, documents: &[Value]) -> String {
    let report = json_body(app.import("products", lines(documents)).await).await;
    assert_eq!(report["imported"], documents.len(), "{report}");
    report["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// `fields` with `change` applied to the field `name`.
fn changing(mut fields: Value, name: &str, change: impl Fn(&mut Value)) -> Value {
    for field in fields.as_array_mut().expect("fields") {
        if field["name"] == name {
            change(field);
        }
    }
    fields
}

async fn generation(app: &TestApp) -> Value {
    json_body(app.get("/v1/collections/products").await).await["settingsGeneration"].clone()
}

#[tokio::test]
async fn fields_added_or_made_filterable_are_searchable_after_the_rebuild_without_a_reimport() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    // `brand` and `rating` are stored but not declared yet.
    let token = import_all(
        &app,
        &[
            json!({"id": "p1", "title": "Desk lamp", "brand": "acme", "rating": 4.5, "stock": 3}),
            json!({"id": "p2", "title": "Floor lamp", "brand": "zenith", "rating": 3.0, "stock": 0}),
            json!({"id": "p3", "title": "Lamp shade", "brand": "acme", "rating": 4.9, "stock": 12}),
            json!({"id": "p4", "title": "Lamp bulb", "stock": 40}),
        ],
    )
    .await;
    let before = json_body(
        app.get(&format!(
            "/v1/collections/products/search?q=lamp&after={token}"
        ))
        .await,
    )
    .await;
    assert_eq!(before["total"], 4, "{before}");
    assert_error(
        app.get("/v1/collections/products/search?q=lamp&filter=brand%20%3D%20acme")
            .await,
        400,
        "invalid_filter",
    )
    .await;

    // `stock` was an integer field without flags: make it filterable.
    let fields = changing(
        fields_with(&[
            json!({"name": "brand", "type": "keyword", "facet": true}),
            json!({"name": "rating", "type": "float", "sortable": true}),
        ]),
        "stock",
        |field| field["filterable"] = json!(true),
    );
    let response = app
        .patch_json("/v1/collections/products", &json!({"fields": fields}))
        .await;
    assert_eq!(response.status(), 200);
    let changed = json_body(response).await;
    assert_eq!(changed["settingsGeneration"], 2, "{changed}");
    assert_eq!(changed["fields"].as_array().map(Vec::len), Some(9));

    let query = "/v1/collections/products/search?q=lamp&filter=brand%20%3D%20acme%20AND%20stock%20%3E%200&sort=rating:desc&facets=brand";
    let rebuilt = wait_until(Duration::from_secs(30), || async {
        let response = app.get(query).await;
        response.status() == 200 && json_body(response).await["total"] == 2
    })
    .await;
    let answer = json_body(app.get(query).await).await;
    assert!(rebuilt, "the new fields reached the index: {answer}");
    let ids = ids_of(&answer);
    assert_eq!(ids, ["p3", "p1"], "sorted by the new sortable field");
    assert_eq!(
        answer["facets"]["brand"],
        json!([{"value": "acme", "count": 2}]),
        "{answer}"
    );
    assert_eq!(
        json_body(app.get("/v1/collections/products/documents/p4").await).await["document"]["stock"],
        40,
        "nothing was re-imported or lost"
    );
    // A field dropped from the list leaves the stored values alone.
    let response = app
        .patch_json(
            "/v1/collections/products",
            &json!({"fields": products_schema()["fields"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_body(app.get("/v1/collections/products/documents/p1").await).await["document"]["brand"],
        "acme"
    );
}

#[tokio::test]
async fn a_field_made_filterable_sortable_or_a_facet_applies_at_once_without_a_rebuild() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let token = import_all(
        &app,
        &[
            json!({"id": "p1", "title": "Desk lamp", "tags": "desk", "stock": 3}),
            json!({"id": "p2", "title": "Floor lamp", "tags": "floor", "stock": 0}),
            json!({"id": "p3", "title": "Lamp shade", "tags": "desk", "stock": 12}),
        ],
    )
    .await;
    let all = json_body(
        app.get(&format!(
            "/v1/collections/products/search?q=lamp&after={token}"
        ))
        .await,
    )
    .await;
    assert_eq!(all["total"], 3, "{all}");
    let query =
        "/v1/collections/products/search?q=lamp&filter=stock%20%3E%200&sort=stock:desc&facets=tags";
    assert_error(app.get(query).await, 400, "invalid_filter").await;
    let current = app.index_dir().join("products").join("CURRENT");
    let built = std::fs::read_to_string(&current).expect("CURRENT");

    let fields = changing(
        changing(products_schema()["fields"].clone(), "stock", |field| {
            field["filterable"] = json!(true);
            field["sortable"] = json!(true);
        }),
        "tags",
        |field| field["facet"] = json!(true),
    );
    let response = app
        .patch_json("/v1/collections/products", &json!({"fields": fields}))
        .await;
    assert_eq!(response.status(), 200);
    // Every field is indexed for filters, sorting and facets already: no waiting.
    let answer = json_body(app.get(query).await).await;
    let ids = ids_of(&answer);
    assert_eq!(ids, ["p3", "p1"], "{answer}");
    assert_eq!(
        answer["facets"]["tags"],
        json!([{"value": "desk", "count": 2}]),
        "{answer}"
    );
    assert_eq!(
        std::fs::read_to_string(&current).expect("CURRENT"),
        built,
        "the index was not rebuilt"
    );
}

#[tokio::test]
async fn a_change_stored_documents_do_not_fit_is_refused_with_the_count_and_three_ids() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    import_all(
        &app,
        &[
            json!({"id": "a1", "title": "One", "code": "x-1", "stock": 1, "author": "Ann"}),
            json!({"id": "a2", "title": "Two", "code": "x-2", "stock": 2}),
            json!({"id": "a3", "title": "Three", "code": "x-3", "stock": 3}),
            json!({"id": "a4", "title": "Four", "code": "x-4", "stock": 4}),
            json!({"id": "a5", "title": "Five", "code": 5, "stock": 5}),
            json!({"id": "a6", "title": "Six"}),
        ],
    )
    .await;

    // Four documents hold a string where an integer would go.
    let refused = assert_error(
        app.patch_json(
            "/v1/collections/products",
            &json!({"fields": fields_with(&[json!({"name": "code", "type": "integer"})])}),
        )
        .await,
        409,
        "schema_conflict",
    )
    .await;
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("4 stored documents"), "{message}");
    let named: Vec<&str> = ["a1", "a2", "a3", "a4", "a5"]
        .into_iter()
        .filter(|id| message.contains(&format!("`{id}`")))
        .collect();
    assert_eq!(named, ["a1", "a2", "a3"], "three examples: {message}");
    assert!(
        message.contains("field `code` must be an integer"),
        "{message}"
    );

    // A type change that a stored value does not fit, and a path through a string.
    let stock_as_keyword = changing(fields_with(&[]), "stock", |field| {
        field["type"] = json!("keyword")
    });
    for (fields, count) in [
        (stock_as_keyword, "5 stored documents"),
        (
            fields_with(&[json!({"name": "author.name", "type": "text"})]),
            "1 stored document ",
        ),
    ] {
        let refused = assert_error(
            app.patch_json("/v1/collections/products", &json!({"fields": fields}))
                .await,
            409,
            "schema_conflict",
        )
        .await;
        let message = refused["error"]["message"].as_str().expect("message");
        assert!(message.starts_with(count), "{message}");
    }
    assert_eq!(generation(&app).await, 1, "refused changes change nothing");

    // A schema that breaks the rules is a 400, as on create.
    assert_error(
        app.patch_json(
            "/v1/collections/products",
            &json!({"fields": [{"name": "price", "type": "float"}]}),
        )
        .await,
        400,
        "invalid_schema",
    )
    .await;
    // A sortable field the ranking rules name cannot be dropped.
    let response = app
        .patch_json(
            "/v1/collections/products",
            &json!({"rankingRules": ["words", "price:asc"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let without_price: Vec<Value> = products_schema()["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter(|f| f["name"] != "price")
        .cloned()
        .collect();
    assert_error(
        app.patch_json(
            "/v1/collections/products",
            &json!({"fields": without_price}),
        )
        .await,
        400,
        "invalid_settings",
    )
    .await;

    // Every value fits when `stock` widens to float and `code` becomes a keyword once
    // the odd one is fixed.
    let response = app
        .put_json(
            "/v1/collections/products/documents/a5",
            &json!({"title": "Five", "code": "x-5", "stock": 5}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let fields = changing(
        fields_with(&[json!({"name": "code", "type": "keyword"})]),
        "stock",
        |field| field["type"] = json!("float"),
    );
    let response = app
        .patch_json("/v1/collections/products", &json!({"fields": fields}))
        .await;
    assert_eq!(response.status(), 200, "{}", json_body(response).await);
    // Writes are now checked against the new fields.
    assert_error(
        app.put_json(
            "/v1/collections/products/documents/a7",
            &json!({"title": "Seven", "code": 7}),
        )
        .await,
        400,
        "invalid_document",
    )
    .await;
}

/// How many connections of this database wait for a lock.
async fn waiting_for_locks(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test]
async fn writes_racing_a_schema_change_are_checked_against_the_fields_they_are_stored_under() {
    // Three writes wait at once, each holding a connection, beside the change listener.
    let app = TestApp::spawn_with(|config| config.db_pool.max_connections = 6).await;
    app.create_products().await;
    let response = app
        .put_json(
            "/v1/collections/products/documents/seed",
            &json!({"title": "Seed"}),
        )
        .await;
    assert_eq!(response.status(), 201);

    // This connection plays a schema change that has locked the collection and not yet
    // committed: the writes below were checked against the old fields (`brand` is not
    // declared, so a number is fine) and must wait for it.
    let mut change = PgConnection::connect_with(app.db_options())
        .await
        .expect("connect");
    let mut tx = change.begin().await.expect("begin");
    sqlx::query("SELECT id FROM collections WHERE name = 'products' FOR UPDATE")
        .execute(&mut *tx)
        .await
        .expect("lock");
    let client = reqwest::Client::new();
    let put = |id: &str, body: Value| {
        client
            .put(app.url(&format!("/v1/collections/products/documents/{id}")))
            .json(&body)
            .send()
    };
    let misfit = tokio::spawn(put("m1", json!({"title": "Misfit", "brand": 5})));
    let fitting = tokio::spawn(put("f1", json!({"title": "Fits", "brand": "acme"})));
    let import = tokio::spawn(
        client
            .post(app.url("/v1/collections/products/documents:import"))
            .header("content-type", "application/x-ndjson")
            .body(lines(&[
                json!({"id": "i1", "title": "Imported", "brand": 1}),
            ]))
            .send(),
    );
    let all_waiting = wait_until(Duration::from_secs(20), || async {
        waiting_for_locks(&app.db).await >= 3
    })
    .await;
    assert!(all_waiting, "the three writes wait for the schema change");
    sqlx::query(
        r#"UPDATE collections SET fields = fields || '[{"name": "brand", "type": "keyword"}]'::jsonb,
           settings_generation = settings_generation + 1 WHERE name = 'products'"#,
    )
    .execute(&mut *tx)
    .await
    .expect("change the fields");
    tx.commit().await.expect("commit");

    let misfit = misfit.await.expect("task").expect("response");
    assert_error(misfit, 400, "invalid_document").await;
    let fitting = fitting.await.expect("task").expect("response");
    assert_eq!(fitting.status(), 201, "a fitting write is stored");
    let import = import.await.expect("task").expect("response");
    let stopped = assert_error(import, 409, "fields_changed").await;
    assert!(
        stopped["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("0 documents were imported")),
        "{stopped}"
    );
    for id in ["m1", "i1"] {
        assert_error(
            app.get(&format!("/v1/collections/products/documents/{id}"))
                .await,
            404,
            "document_not_found",
        )
        .await;
    }
}

/// The ids of the hits of a search on `products`.
async fn hit_ids(app: &TestApp, query: &str) -> Vec<String> {
    let answer = json_body(
        app.get(&format!("/v1/collections/products/search?{query}"))
            .await,
    )
    .await;
    ids_of(&answer)
}

/// The ids of a search answer's hits.
fn ids_of(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("hits: {answer}"))
        .iter()
        .filter_map(|h| h["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_field_with_type_ahead_off_matches_whole_words_only_until_it_is_turned_on() {
    let app = TestApp::spawn().await;
    let fields = changing(products_schema()["fields"].clone(), "description", |f| {
        f["typeAhead"] = json!(false)
    });
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "products", "fields": fields}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created = json_body(response).await;
    assert_eq!(created["fields"][1]["typeAhead"], false, "{created}");
    assert!(
        created["fields"][0].get("typeAhead").is_none(),
        "on by default, not echoed: {created}"
    );
    let token = import_all(
        &app,
        &[
            json!({"id": "p1", "title": "Kettle", "description": "Stainless steel"}),
            json!({"id": "p2", "title": "Lamp", "description": "Kettlebell stand"}),
        ],
    )
    .await;
    // The word being typed matches the start of title words, not of description words;
    // whole description words (and their typos) still match.
    assert_eq!(
        hit_ids(&app, &format!("q=kett&after={token}")).await,
        ["p1"]
    );
    assert!(hit_ids(&app, "q=stainl").await.is_empty());
    assert_eq!(hit_ids(&app, "q=stainless").await, ["p1"]);
    assert_eq!(hit_ids(&app, "q=stainles").await, ["p1"], "a typo");
    let highlighted = json_body(
        app.get("/v1/collections/products/search?q=kett&highlight=true")
            .await,
    )
    .await;
    assert_eq!(
        highlighted["hits"][0]["highlights"]["title"], "<mark>Kettle</mark>",
        "{highlighted}"
    );

    // With it off on every text field, the word being typed is a whole word everywhere.
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "whole", "fields": [
                {"name": "title", "type": "text", "typeAhead": false}
            ]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let report = json_body(
        app.import("whole", lines(&[json!({"id": "w1", "title": "Kettle"})]))
            .await,
    )
    .await;
    let token = report["consistencyToken"].as_str().expect("token");
    let whole = |q: &str| format!("/v1/collections/whole/search?q={q}&after={token}");
    let total = |answer: Value| answer["total"].clone();
    assert_eq!(total(json_body(app.get(&whole("kett")).await).await), 0);
    assert_eq!(total(json_body(app.get(&whole("kettle")).await).await), 1);
    assert_eq!(
        total(json_body(app.get(&whole("ketle")).await).await),
        1,
        "a typo"
    );

    // Only text fields take it.
    let wrong = changing(products_schema()["fields"].clone(), "category", |f| {
        f["typeAhead"] = json!(false)
    });
    assert_error(
        app.patch_json("/v1/collections/products", &json!({"fields": wrong}))
            .await,
        400,
        "invalid_schema",
    )
    .await;

    // Turned on, the index is rebuilt and the description's prefixes match.
    let response = app
        .patch_json(
            "/v1/collections/products",
            &json!({"fields": products_schema()["fields"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let rebuilt = wait_until(Duration::from_secs(30), || async {
        hit_ids(&app, "q=stainl").await == ["p1"]
    })
    .await;
    assert!(rebuilt, "description prefixes after the rebuild");
    assert_eq!(hit_ids(&app, "q=kett").await.len(), 2);
}
