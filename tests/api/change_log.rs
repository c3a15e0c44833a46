//! Retention of the change log: the janitor deletes what every live replica has
//! applied, a lagging live replica holds it back, and a replica that was away longer
//! than `SIFT_REPLICA_TIMEOUT` rebuilds instead of missing the changes that went.

use std::time::Duration;

use serde_json::{Value, json};
use sift::index::retention::{self, RetentionConfig};
use sqlx::PgPool;

use crate::helpers::{TestApp, json_body, wait_until};

fn products(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| {
            format!(
                "{}\n",
                json!({"id": format!("p{i}"), "title": format!("gadget {i}")})
            )
        })
        .collect()
}

async fn change_rows(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM document_changes")
        .fetch_one(db)
        .await
        .expect("count changes")
}

/// The newest change in the log, as `(txid, seq)` text.
async fn newest_change(db: &PgPool) -> (String, i64) {
    sqlx::query_as(
        "SELECT txid::text, seq FROM document_changes ORDER BY txid DESC, seq DESC LIMIT 1",
    )
    .fetch_one(db)
    .await
    .expect("newest change")
}

async fn total(app: &TestApp, query: &str) -> Value {
    let answer = json_body(
        app.get(&format!("/v1/collections/products/search?{query}"))
            .await,
    )
    .await;
    answer["total"].clone()
}

/// A janitor that runs only when the test calls it, and a heartbeat every 250 ms.
fn janitor_by_hand(config: &mut sift::config::Config) {
    config.retention = RetentionConfig {
        trim_interval: None,
        replica_timeout: Duration::from_secs(1),
    };
}

#[tokio::test]
async fn the_janitor_trims_what_every_live_replica_applied_and_no_more() {
    let app = TestApp::spawn_with(janitor_by_hand).await;
    app.create_products().await;
    let report = json_body(app.import("products", products(0..20)).await).await;
    let token = report["consistencyToken"].as_str().expect("token");
    assert_eq!(total(&app, &format!("q=gadget&after={token}")).await, 20);
    assert_eq!(change_rows(&app.db).await, 20);
    let (txid, seq) = newest_change(&app.db).await;
    // This replica's heartbeat reports the import applied.
    let reported = wait_until(Duration::from_secs(30), || async {
        let applied: Option<bool> =
            sqlx::query_scalar("SELECT (txid, seq) >= ($1::text::xid8, $2) FROM index_progress")
                .bind(&txid)
                .bind(seq)
                .fetch_optional(&app.db)
                .await
                .expect("progress");
        applied == Some(true)
    })
    .await;
    assert!(reported, "the replica reported its progress");

    // Another replica, live and still building (at (0, 0)), holds everything back.
    sqlx::query(
        "INSERT INTO index_progress (replica, collection_id, txid, seq)
         SELECT 'lagging', id, '0'::xid8, 0 FROM collections",
    )
    .execute(&app.db)
    .await
    .expect("lagging replica");
    let timeout = Duration::from_secs(60);
    assert_eq!(retention::trim(&app.db, timeout).await.expect("trim"), 0);
    assert_eq!(change_rows(&app.db).await, 20, "nothing it lacks is gone");

    // Once it has not been heard from for the timeout, it no longer counts.
    sqlx::query("UPDATE index_progress SET seen_at = now() - interval '2 minutes' WHERE replica = 'lagging'")
        .execute(&app.db)
        .await
        .expect("age it");
    assert_eq!(retention::trim(&app.db, timeout).await.expect("trim"), 20);
    assert_eq!(change_rows(&app.db).await, 0);
    // Gone for ten timeouts, it is forgotten.
    sqlx::query(
        "UPDATE index_progress SET seen_at = now() - interval '11 minutes' WHERE replica = 'lagging'",
    )
    .execute(&app.db)
    .await
    .expect("age it more");
    retention::trim(&app.db, timeout).await.expect("trim");
    let replicas: Vec<String> = sqlx::query_scalar("SELECT replica FROM index_progress")
        .fetch_all(&app.db)
        .await
        .expect("replicas");
    assert!(!replicas.contains(&"lagging".to_owned()), "{replicas:?}");
    assert_eq!(replicas.len(), 1, "this replica stays: {replicas:?}");
    let horizon: (String, i64) = sqlx::query_as("SELECT txid::text, seq FROM change_log_trims")
        .fetch_one(&app.db)
        .await
        .expect("trim recorded");
    assert_eq!(horizon, (txid, seq), "how far it trimmed is recorded");

    // Writes after that are logged and applied as before, and the index has it all.
    let report = json_body(app.import("products", products(20..25)).await).await;
    let token = report["consistencyToken"].as_str().expect("token");
    assert_eq!(total(&app, &format!("q=gadget&after={token}")).await, 25);
    assert_eq!(change_rows(&app.db).await, 5);
    // A new replica builds its index from the documents, with the log trimmed.
    let peer = app.spawn_peer(janitor_by_hand).await;
    assert_eq!(total(&peer, &format!("q=gadget&after={token}")).await, 25);
}

#[tokio::test]
async fn the_janitor_runs_on_its_own() {
    let app = TestApp::spawn_with(|config| {
        config.retention = RetentionConfig {
            trim_interval: Some(Duration::from_millis(100)),
            replica_timeout: Duration::from_secs(1),
        };
    })
    .await;
    app.create_products().await;
    let report = json_body(app.import("products", products(0..30)).await).await;
    let token = report["consistencyToken"].as_str().expect("token");
    assert_eq!(total(&app, &format!("q=gadget&after={token}")).await, 30);
    let trimmed = wait_until(Duration::from_secs(30), || async {
        change_rows(&app.db).await == 0
    })
    .await;
    assert!(trimmed, "the applied changes were trimmed");
    assert_eq!(total(&app, "q=gadget").await, 30, "and nothing was lost");
}

#[tokio::test]
async fn a_replica_away_past_the_timeout_rebuilds_when_its_changes_were_trimmed() {
    let app = TestApp::spawn_with(janitor_by_hand).await;
    app.create_products().await;
    let report = json_body(app.import("products", products(0..10)).await).await;
    let token = report["consistencyToken"].as_str().expect("token");
    assert_eq!(total(&app, &format!("q=gadget&after={token}")).await, 10);
    let current = app.index_dir().join("products").join("CURRENT");
    let before = std::fs::read_to_string(&current).expect("CURRENT");

    // While it is away: writes with plain SQL (logged like any), another replica that
    // applied them, and this one's last report long ago. The janitor takes them.
    let restarted = app
        .restart_after(async |db| {
            sqlx::query(
                "INSERT INTO documents (collection_id, id, body)
                 SELECT c.id, 'late' || i, jsonb_build_object('id', 'late' || i, 'title', 'gadget late')
                   FROM collections c, generate_series(1, 5) AS i",
            )
            .execute(db)
            .await
            .expect("write while away");
            let (txid, seq) = newest_change(db).await;
            sqlx::query("UPDATE index_progress SET seen_at = now() - interval '2 minutes'")
                .execute(db)
                .await
                .expect("away");
            sqlx::query(
                "INSERT INTO index_progress (replica, collection_id, txid, seq)
                 SELECT 'other', id, $1::text::xid8, $2 FROM collections",
            )
            .bind(txid)
            .bind(seq)
            .execute(db)
            .await
            .expect("the other replica");
            let deleted = retention::trim(db, Duration::from_secs(60))
                .await
                .expect("trim");
            assert_eq!(deleted, 15, "the 10 it had and the 5 it missed");
        })
        .await;

    // Catching up from the log would miss the five: it rebuilds from the documents.
    let caught_up = wait_until(Duration::from_secs(30), || async {
        total(&restarted, "q=gadget").await == 15
    })
    .await;
    assert!(
        caught_up,
        "the rebuilt index has the writes made while away"
    );
    assert_ne!(
        std::fs::read_to_string(&current).expect("CURRENT"),
        before,
        "a new generation, not the old one caught up"
    );
    let stats = json_body(restarted.get("/v1/collections/products").await).await;
    assert_eq!(stats["stats"]["lag"], 0, "{stats}");
}
