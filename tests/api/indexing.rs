//! The index's life: rebuilds on request, restarts mid-way, and `sift check`.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::helpers::{TestApp, assert_error, json_body, wait_until};

async fn search_total(app: &TestApp, query: &str) -> u64 {
    let response = app
        .get(&format!("/v1/collections/products/search?{query}"))
        .await;
    assert_eq!(response.status(), 200, "{query}");
    json_body(response).await["total"].as_u64().expect("total")
}

fn import_lines(count: usize) -> String {
    (0..count)
        .map(|n| json!({"id": format!("d{n}"), "title": format!("gadget number {n}"), "category": if n % 2 == 0 { "even" } else { "odd" }}).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn sift_check(app: &TestApp, database_url: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sift"))
        .args(["check", "products"])
        .env("DATABASE_URL", database_url)
        .env("SIFT_INDEX_DIR", app.index_dir())
        .output()
        .expect("run sift check");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test]
async fn segments_left_by_a_bulk_import_are_merged_once_the_indexer_is_idle() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    // Six imports, each visible before the next: six commits, six segments, fewer than
    // the log merge policy waits for (eight) before it merges anything. The first five
    // (500 documents) stay under the idle merge's threshold (1,000 written), so an idle
    // pass between them merges nothing; the last one alone crosses it, so what merges
    // once the indexer is idle is every segment, whenever the idle passes fall.
    let mut token = String::new();
    let mut imported = 0;
    for batch in 0..6 {
        let size = if batch < 5 { 100 } else { 1000 };
        let lines = (0..size)
            .map(|n| {
                json!({"id": format!("b{batch}-{n}"), "title": format!("gadget {batch} {n}")})
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n");
        let report = json_body(app.import("products", lines).await).await;
        token = report["consistencyToken"]
            .as_str()
            .expect("token")
            .to_owned();
        imported += size;
        assert_eq!(
            search_total(&app, &format!("q=gadget&after={token}&cache=false")).await,
            imported
        );
    }
    let merged = wait_until(Duration::from_secs(30), || async {
        let stats = json_body(app.get("/v1/collections/products").await).await;
        stats["stats"]["indexSegments"] == 1
    })
    .await;
    let stats = json_body(app.get("/v1/collections/products").await).await;
    assert!(merged, "segments merged: {}", stats["stats"]);
    assert_eq!(stats["stats"]["indexedDocuments"], 1500);
    assert_eq!(
        search_total(&app, &format!("q=gadget&after={token}&cache=false")).await,
        1500
    );
}

#[tokio::test]
async fn an_accepted_reindex_survives_a_restart() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let report = json_body(app.import("products", import_lines(50)).await).await;
    let token = report["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        search_total(&app, &format!("q=gadget&after={token}")).await,
        50
    );
    let current = app.index_dir().join("products").join("CURRENT");
    let before = std::fs::read_to_string(&current).expect("CURRENT");
    // Reading the documents waits behind this lock: the rebuild cannot finish before
    // the restart below.
    let mut blocker = PgConnection::connect_with(app.db_options())
        .await
        .expect("connect");
    let mut held = blocker.begin().await.expect("begin");
    sqlx::query("LOCK TABLE documents IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *held)
        .await
        .expect("lock");
    let response = app
        .post_json("/v1/collections/products/reindex", &json!({}))
        .await;
    assert_eq!(response.status(), 202);
    let restarted = app.restart().await;
    held.rollback().await.expect("unlock");
    let rebuilt = wait_until(Duration::from_secs(30), || async {
        let now = std::fs::read_to_string(&current).unwrap_or_default();
        let stats = json_body(restarted.get("/v1/collections/products").await).await;
        now != before && stats["stats"]["indexStatus"] == "ready"
    })
    .await;
    assert!(rebuilt, "the restarted process did the accepted rebuild");
    assert_eq!(search_total(&restarted, "q=gadget").await, 50);
}

#[tokio::test]
async fn reindex_swaps_generations_while_searches_keep_answering() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let report = json_body(app.import("products", import_lines(500)).await).await;
    let token = report["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        search_total(&app, &format!("q=gadget&after={token}")).await,
        500
    );
    let current = app.index_dir().join("products").join("CURRENT");
    let before = std::fs::read_to_string(&current).expect("CURRENT");

    let response = app
        .post_json("/v1/collections/products/reindex", &json!({}))
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(json_body(response).await["status"], "rebuilding");
    let swapped = wait_until(Duration::from_secs(30), || async {
        // Every search during the rebuild answers, with everything.
        assert_eq!(search_total(&app, "q=gadget").await, 500);
        let stats = json_body(app.get("/v1/collections/products").await).await;
        let now = std::fs::read_to_string(&current).unwrap_or_default();
        now != before && stats["stats"]["indexStatus"] == "ready"
    })
    .await;
    assert!(swapped, "the new generation took over");
    assert_eq!(
        search_total(&app, "q=gadget&filter=category%20%3D%20even").await,
        250
    );
    assert_error(
        app.post_json("/v1/collections/nope/reindex", &json!({}))
            .await,
        404,
        "collection_not_found",
    )
    .await;
}

#[tokio::test]
async fn suggestions_complete_what_was_typed() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let mut token = String::new();
    for (id, title) in [
        ("a", "Wireless headphones"),
        ("b", "Wired headset"),
        ("c", "Desk lamp"),
    ] {
        let response = app
            .put_json(
                &format!("/v1/collections/products/documents/{id}"),
                &json!({"title": title, "description": "x"}),
            )
            .await;
        token = json_body(response).await["consistencyToken"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    assert_eq!(search_total(&app, &format!("after={token}")).await, 3);

    let response = app
        .get("/v1/collections/products/suggest?q=wireles%20headph")
        .await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(
        body["suggestions"][0],
        json!({"id": "a", "text": "Wireless headphones", "highlighted": "<mark>Wireless</mark> <mark>headph</mark>ones"})
    );
    assert_eq!(body["suggestions"].as_array().map(Vec::len), Some(1));
    let body = json_body(
        app.get("/v1/collections/products/suggest?q=wi&limit=5")
            .await,
    )
    .await;
    let texts: Vec<&str> = body["suggestions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        body["suggestions"]
            .as_array()
            .expect("list")
            .iter()
            .all(|s| s["highlighted"]
                .as_str()
                .is_some_and(|h| h.contains("<mark>Wi</mark>")))
    );

    // Documents sharing a title are suggested once.
    for id in ["d1", "d2", "d3"] {
        let response = app
            .put_json(
                &format!("/v1/collections/products/documents/{id}"),
                &json!({"title": "Wireless headphones", "description": id}),
            )
            .await;
        token = json_body(response).await["consistencyToken"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    assert_eq!(search_total(&app, &format!("after={token}")).await, 6);
    let body = json_body(
        app.get("/v1/collections/products/suggest?q=wi&limit=5")
            .await,
    )
    .await;
    let texts: Vec<&str> = body["suggestions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 2, "one suggestion a text: {texts:?}");

    assert_error(
        app.get("/v1/collections/products/suggest?q=x&limit=50")
            .await,
        400,
        "invalid_query_parameter",
    )
    .await;
    assert_error(
        app.get("/v1/collections/products/suggest").await,
        400,
        "invalid_query_parameter",
    )
    .await;
    assert_error(
        app.get("/v1/collections/nope/suggest?q=x").await,
        404,
        "collection_not_found",
    )
    .await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_indexing_converges_and_check_finds_differences() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let database_url = format!(
        "postgres://{}@{}:{}/{}",
        app.db_options().get_username(),
        app.db_options().get_host(),
        app.db_options().get_port(),
        app.db_options().get_database().unwrap_or_default()
    );
    // A transaction that stays open holds the indexer back (it applies only changes
    // of transactions older than every running one), so the restart below is certain
    // to come while these changes are not yet in the index.
    let mut blocker = PgConnection::connect_with(app.db_options())
        .await
        .expect("connect");
    let mut held = blocker.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *held)
        .await
        .expect("take a transaction id");
    let report = json_body(app.import("products", import_lines(5000)).await).await;
    let token = report["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let stats = json_body(app.get("/v1/collections/products").await).await;
    assert!(
        stats["stats"]["lag"].as_i64() >= Some(5000),
        "none of the import is applied yet: {stats}"
    );
    let restarted = app.restart().await;
    held.rollback().await.expect("let the indexer go on");
    assert_eq!(
        search_total(&restarted, &format!("q=gadget&after={token}")).await,
        5000
    );
    let (clean, output) = sift_check(&restarted, &database_url);
    assert!(clean, "{output}");
    assert!(
        output.contains("5000 documents in PostgreSQL, 5000 in the index"),
        "{output}"
    );

    // A change that bypasses the change log is what `check` is for.
    sqlx::query("ALTER TABLE documents DISABLE TRIGGER documents_log_update")
        .execute(&restarted.db)
        .await
        .expect("disable");
    sqlx::query("UPDATE documents SET body = body || '{\"title\": \"sneaky\"}' WHERE id = 'd7'")
        .execute(&restarted.db)
        .await
        .expect("update");
    sqlx::query("ALTER TABLE documents ENABLE TRIGGER documents_log_update")
        .execute(&restarted.db)
        .await
        .expect("enable");
    let (clean, output) = sift_check(&restarted, &database_url);
    assert!(!clean, "{output}");
    assert!(
        output.contains("stale in the index: d7 (version 1, PostgreSQL has 2)"),
        "{output}"
    );

    // A rebuild repairs it.
    restarted
        .post_json("/v1/collections/products/reindex", &Value::Null)
        .await;
    let repaired = wait_until(Duration::from_secs(30), || async {
        sift_check(&restarted, &database_url).0
    })
    .await;
    assert!(repaired, "reindex makes check clean");
}

/// A document written with the change-log triggers off never reaches the index by the
/// log; the idle audit sees the counts differ (twice, nothing written between) and
/// rebuilds, after which the document is found.
#[tokio::test]
async fn the_idle_audit_rebuilds_an_index_that_misses_a_document_postgres_has() {
    let app = TestApp::spawn_with(|config| {
        config.index_audit_interval = Some(Duration::from_millis(100));
    })
    .await;
    app.create_products().await;
    let report = json_body(app.import("products", import_lines(20)).await).await;
    let token = report["consistencyToken"].as_str().expect("token");
    assert_eq!(
        search_total(&app, &format!("q=gadget&after={token}&cache=false")).await,
        20
    );

    let mut tx = app.db.begin().await.expect("begin");
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .expect("triggers off");
    sqlx::query(
        "INSERT INTO documents (collection_id, id, body)
         SELECT id, 'hidden', '{\"title\": \"gadget hidden away\"}' FROM collections WHERE name = 'products'",
    )
    .execute(&mut *tx)
    .await
    .expect("insert around the log");
    tx.commit().await.expect("commit");
    // A write through the API makes the audit due again (a quiet index is not looked at).
    let response = app
        .put_json(
            "/v1/collections/products/documents/d0",
            &json!({"title": "gadget number 0 again"}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());

    let found = wait_until(Duration::from_secs(30), || async {
        search_total(&app, "q=hidden&cache=false").await == 1
    })
    .await;
    assert!(found, "the audit's rebuild indexed the hidden document");
    assert_eq!(search_total(&app, "q=gadget&cache=false").await, 21);
    // Other tests' collections are called `products` too: this one's audit added at
    // least one "differs" to the process's series.
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        counter(
            &metrics,
            "index_audits_total{collection=\"products\",outcome=\"differs\"} "
        ) >= 1.0,
        "{metrics}"
    );
}

/// The audit never rebuilds an index that is right: many writes, each audited.
#[tokio::test]
async fn the_idle_audit_leaves_a_complete_index_alone() {
    let app = TestApp::spawn_with(|config| {
        config.index_audit_interval = Some(Duration::from_millis(1));
    })
    .await;
    // Its own collection name: the metrics are the process's, shared with other tests.
    let mut schema = crate::helpers::products_schema();
    schema["name"] = json!("audited");
    assert_eq!(
        app.post_json("/v1/collections", &schema).await.status(),
        201
    );
    let audits = |outcome: &str| {
        format!("index_audits_total{{collection=\"audited\",outcome=\"{outcome}\"}} ")
    };
    for round in 0..5 {
        let report = json_body(app.import("audited", import_lines(10 * (round + 1))).await).await;
        let token = report["consistencyToken"]
            .as_str()
            .expect("token")
            .to_owned();
        let response = app
            .get(&format!(
                "/v1/collections/audited/search?q=gadget&after={token}&cache=false"
            ))
            .await;
        assert_eq!(json_body(response).await["total"], 10 * (round + 1));
        // Each import is audited once the indexer is idle again.
        let agreed = wait_until(Duration::from_secs(30), || async {
            let metrics = app.get("/metrics").await.text().await.expect("metrics");
            counter(&metrics, &audits("agrees")) > round as f64
        })
        .await;
        assert!(agreed, "audit {round} agreed");
    }
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert_eq!(counter(&metrics, &audits("suspect")), 0.0, "{metrics}");
    assert_eq!(counter(&metrics, &audits("differs")), 0.0, "{metrics}");
}

/// The value of the series that starts with `prefix` (0 when absent).
fn counter(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}
