//! The two cache levels: L1 in process, L2 in a Redis owned by the test.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestRedis, json_body, products_schema, wait_until};

async fn with_redis(redis: &TestRedis) -> TestApp {
    let url = redis.url();
    TestApp::spawn_with(|config| config.redis_url = Some(url)).await
}

/// Creates `products` with a few documents; returns the last write's token.
async fn catalog(app: &TestApp) -> String {
    app.create_products().await;
    let mut token = String::new();
    for (id, title) in [
        ("lamp", "Desk lamp"),
        ("lamps", "Two lamps"),
        ("kettle", "Electric kettle"),
    ] {
        let response = app
            .put_json(
                &format!("/v1/collections/products/documents/{id}"),
                &json!({"title": title, "description": "A thing", "category": "home", "price": 10.0}),
            )
            .await;
        assert!(response.status().is_success());
        token = json_body(response).await["consistencyToken"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    token
}

/// Searches; returns the body and the `X-Cache` header, which must agree.
async fn search(app: &TestApp, query: &str) -> (Value, String) {
    // The horizon is the whole server's: another test's open transaction can delay an
    // `after=` wait past its bound, so retry a 504 for a while.
    for _ in 0..30 {
        let response = app
            .get(&format!("/v1/collections/products/search?{query}"))
            .await;
        if response.status() == 504 {
            continue;
        }
        assert_eq!(response.status(), 200, "{query}");
        let header = response.headers()["x-cache"]
            .to_str()
            .expect("x-cache")
            .to_owned();
        let body = json_body(response).await;
        assert_eq!(body["cache"], header.as_str(), "{body}");
        return (body, header);
    }
    panic!("the index never reached the write: {query}");
}

async fn read(app: &TestApp, id: &str) -> (Value, String) {
    let response = app
        .get(&format!("/v1/collections/products/documents/{id}"))
        .await;
    assert_eq!(response.status(), 200);
    let header = response.headers()["x-cache"]
        .to_str()
        .expect("x-cache")
        .to_owned();
    let body = json_body(response).await;
    assert_eq!(body["cache"], header.as_str(), "{body}");
    (body, header)
}

#[tokio::test]
async fn searches_hit_l1_then_l2_after_a_restart() {
    let redis = TestRedis::start().await;
    let app = with_redis(&redis).await;
    let token = catalog(&app).await;

    let (first, origin) = search(&app, &format!("q=lamp&after={token}")).await;
    assert_eq!(origin, "miss");
    assert_eq!(first["total"], 2);
    // Case and spacing of the query don't change the answer, so they share the entry.
    let (second, origin) = search(&app, "q=%20LAMP%20").await;
    assert_eq!(origin, "l1");
    assert_eq!(second["hits"], first["hits"]);
    assert!(second["tookMs"].as_f64().expect("tookMs") < 1000.0);

    // A new process has an empty L1; the index resumes at the same epoch and Redis
    // still holds the answer.
    let app = app.restart().await;
    let (third, origin) = search(&app, &format!("q=lamp&after={token}")).await;
    assert_eq!(origin, "l2");
    assert_eq!(third["hits"], first["hits"]);
    assert_eq!(search(&app, "q=lamp").await.1, "l1");

    // Suggestions are cached the same way.
    let response = app.get("/v1/collections/products/suggest?q=lam").await;
    assert_eq!(response.headers()["x-cache"], "miss");
    let body = json_body(response).await;
    assert_eq!(body["cache"], "miss");
    assert!(!body["suggestions"].as_array().expect("array").is_empty());
    let again = json_body(app.get("/v1/collections/products/suggest?q=lam").await).await;
    assert_eq!(again["cache"], "l1");
    assert_eq!(again["suggestions"], body["suggestions"]);
}

#[tokio::test]
async fn an_index_commit_moves_the_epoch() {
    let redis = TestRedis::start().await;
    let app = with_redis(&redis).await;
    let token = catalog(&app).await;
    assert_eq!(
        search(&app, &format!("q=lamp&after={token}")).await.1,
        "miss"
    );
    assert_eq!(search(&app, "q=lamp").await.1, "l1");

    let response = app
        .put_json(
            "/v1/collections/products/documents/floor-lamp",
            &json!({"title": "Floor lamp", "category": "home"}),
        )
        .await;
    let token = json_body(response).await["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    // The commit that applied the write moved the epoch: the cached answer (2 hits)
    // is not served any more.
    let (result, origin) = search(&app, &format!("q=lamp&after={token}")).await;
    assert_eq!(origin, "miss");
    assert_eq!(result["total"], 3, "{result}");
    assert_eq!(search(&app, "q=lamp").await.1, "l1");
}

#[tokio::test]
async fn concurrent_identical_misses_run_one_index_search() {
    let app = TestApp::spawn().await;
    // A collection name of this test's own: the counter is labelled with it, and the
    // metrics registry is shared by every test in this process.
    let name = format!(
        "stampede{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut schema = products_schema();
    schema["name"] = json!(name);
    assert_eq!(
        app.post_json("/v1/collections", &schema).await.status(),
        201
    );
    let response = app
        .put_json(
            &format!("/v1/collections/{name}/documents/lamp"),
            &json!({"title": "Desk lamp"}),
        )
        .await;
    let token = json_body(response).await["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    // Wait for the write with another query, so the one under test is still uncached.
    let ready = app
        .get(&format!(
            "/v1/collections/{name}/search?q=desk&after={token}"
        ))
        .await;
    assert_eq!(ready.status(), 200);

    let series = format!("search_index_runs_total{{collection=\"{name}\"}} ");
    let runs = |metrics: String| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series.as_str()))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let before = runs(app.get("/metrics").await.text().await.expect("text"));

    let requests = (0..100).map(|_| {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/v1/collections/{name}/search?q=lamp")),
        );
        async move {
            let response = client.get(url).send().await.expect("sent");
            assert_eq!(response.status(), 200);
            json_body(response).await
        }
    });
    let results = futures::future::join_all(requests).await;

    let after = runs(app.get("/metrics").await.text().await.expect("text"));
    assert_eq!(
        after - before,
        1.0,
        "100 identical searches ran the index once"
    );
    let misses = results.iter().filter(|r| r["cache"] == "miss").count();
    assert_eq!(misses, 1);
    assert!(results.iter().all(|r| r["total"] == 1));
}

#[tokio::test]
async fn a_write_on_one_replica_invalidates_reads_on_another() {
    let redis = TestRedis::start().await;
    // A write waits for the other replicas' acknowledgements for 5 × the Redis timeout
    // (100 ms by default), then answers without them; the rest of the suite shares the
    // two cores with this test, and a reader starved for longer acknowledged late and
    // served its old entry (seen once in CI). A longer wait keeps this test about the
    // invalidation, not about the machine's load.
    let url = redis.url();
    let writer = TestApp::spawn_with(|config| {
        config.redis_url = Some(url);
        config.cache.redis_timeout = Duration::from_millis(200);
    })
    .await;
    let reader = writer.spawn_peer(|_| {}).await;
    catalog(&writer).await;

    // The reader caches the document in L1 once its invalidation channel is live.
    let cached = wait_until(Duration::from_secs(30), || async {
        read(&reader, "lamp").await.1 == "l1"
    })
    .await;
    assert!(cached, "the reader never served the document from L1");

    for price in 1..=20 {
        let response = writer
            .patch_json(
                "/v1/collections/products/documents/lamp",
                &json!({"price": price}),
            )
            .await;
        assert_eq!(response.status(), 200);
        let version = json_body(response).await["version"].clone();
        // Acknowledged: a read that starts now, on any replica, sees this version.
        let (body, origin) = read(&reader, "lamp").await;
        assert_eq!(body["version"], version, "stale read from {origin}");
        assert_eq!(body["document"]["price"], price);
        let (body, _) = read(&writer, "lamp").await;
        assert_eq!(body["version"], version);
        // And the reader caches the new version again (once its indexer has applied
        // the write, which moves the key's counter once more).
        let cached = wait_until(Duration::from_secs(30), || async {
            read(&reader, "lamp").await.1 == "l1"
        })
        .await;
        assert!(cached, "the reader never cached version {version} again");
    }

    // A delete too.
    assert_eq!(
        writer
            .delete("/v1/collections/products/documents/lamp")
            .await
            .status(),
        204
    );
    let response = reader.get("/v1/collections/products/documents/lamp").await;
    assert_eq!(response.status(), 404);

    // Both replicas build their index to the same point: the epoch is the same, so a
    // search cached by one is an L2 hit on the other.
    let response = writer
        .put_json(
            "/v1/collections/products/documents/lamp",
            &json!({"title": "Desk lamp"}),
        )
        .await;
    let token = json_body(response).await["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        search(&writer, &format!("q=kettle&after={token}")).await.1,
        "miss"
    );
    assert_eq!(
        search(&reader, &format!("q=kettle&after={token}")).await.1,
        "l2"
    );
}

/// Writes to a document straight in PostgreSQL, as a replica that died between its
/// commit and its cache invalidation would have; the writing transaction's id.
async fn write_without_invalidation(app: &TestApp, id: &str, price: f64) -> String {
    sqlx::query_scalar(
        "UPDATE documents SET body = jsonb_set(body, '{price}', to_jsonb($2::float8))
         WHERE collection_id = (SELECT id FROM collections WHERE name = 'products') AND id = $1
         RETURNING pg_current_xact_id()::text",
    )
    .bind(id)
    .bind(price)
    .fetch_one(&app.db)
    .await
    .expect("update in PostgreSQL")
}

#[tokio::test]
async fn a_lost_invalidation_is_repaired_from_the_change_log_on_every_replica() {
    let redis = TestRedis::start().await;
    let writer = with_redis(&redis).await;
    let reader = writer.spawn_peer(|_| {}).await;
    let token = catalog(&writer).await;
    for app in [&writer, &reader] {
        search(app, &format!("q=lamp&after={token}")).await;
        let cached = wait_until(Duration::from_secs(30), || async {
            read(app, "lamp").await.1 == "l1"
        })
        .await;
        assert!(cached, "never cached in L1");
    }

    let txid = write_without_invalidation(&writer, "lamp", 99.0).await;
    // Nobody was told. Once each replica's index has the change, neither cache level
    // serves the old document.
    for app in [&writer, &reader] {
        search(app, &format!("q=lamp&after={txid}")).await;
        let (body, origin) = read(app, "lamp").await;
        assert_eq!(body["document"]["price"], 99.0, "stale read from {origin}");
        let (body, origin) = read(app, "lamp").await;
        assert_eq!(body["document"]["price"], 99.0, "stale read from {origin}");
    }
}

#[tokio::test]
async fn a_replica_that_starts_after_a_lost_invalidation_trusts_no_older_l2_entry() {
    let redis = TestRedis::start().await;
    let writer = with_redis(&redis).await;
    let token = catalog(&writer).await;
    search(&writer, &format!("q=kettle&after={token}")).await;
    // In L2, as seen from a replica whose L1 is empty.
    let peer = writer.spawn_peer(|_| {}).await;
    read(&writer, "kettle").await;
    assert_eq!(read(&peer, "kettle").await.1, "l2");
    drop(peer);

    // An older transaction stays open throughout: the horizon (xmin) stays below the
    // write below although it has committed, so a fence must not rest on the horizon.
    let mut held = writer.db.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *held)
        .await
        .expect("take a transaction id");
    // Committed, then the writer "died" before invalidating: L2 still holds 10.0.
    write_without_invalidation(&writer, "kettle", 42.0).await;
    let restarted = writer.spawn_peer(|_| {}).await;
    // At once, without waiting for its index.
    let (body, origin) = read(&restarted, "kettle").await;
    assert_eq!(body["document"]["price"], 42.0, "stale read from {origin}");
    assert_eq!(origin, "miss");
    held.rollback().await.expect("rollback");
}

async fn read_if_none_match(app: &TestApp, id: &str, etag: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/collections/products/documents/{id}")))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn document_reads_carry_an_etag_and_answer_304() {
    let app = TestApp::spawn().await;
    let token = catalog(&app).await;
    // Indexed: applying the writes would move the keys' counters (a miss) again.
    search(&app, &format!("q=lamp&after={token}")).await;
    let response = app.get("/v1/collections/products/documents/lamp").await;
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let not_modified = read_if_none_match(&app, "lamp", &etag).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());
    assert_eq!(not_modified.headers()["x-cache"], "l1");

    app.patch_json(
        "/v1/collections/products/documents/lamp",
        &json!({"price": 11.0}),
    )
    .await;
    let changed = read_if_none_match(&app, "lamp", &etag).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"], etag.as_str());
    assert_eq!(json_body(changed).await["document"]["price"], 11.0);
}

#[tokio::test]
async fn without_redis_l1_still_serves() {
    let app = TestApp::spawn().await;
    assert!(app.config.redis_url.is_none());
    let token = catalog(&app).await;
    assert_eq!(
        search(&app, &format!("q=kettle&after={token}")).await.1,
        "miss"
    );
    assert_eq!(search(&app, "q=kettle").await.1, "l1");
    assert_eq!(read(&app, "kettle").await.1, "miss");
    assert_eq!(read(&app, "kettle").await.1, "l1");
    let health = json_body(app.get("/health").await).await;
    assert!(health["checks"].get("redis").is_none());
}

#[tokio::test]
async fn a_stopped_redis_costs_a_timeout_never_an_error() {
    let redis = TestRedis::start().await;
    let app = with_redis(&redis).await;
    let token = catalog(&app).await;
    assert_eq!(
        search(&app, &format!("q=lamp&after={token}")).await.1,
        "miss"
    );

    redis.pause();
    // Each new query misses L1 and tries Redis twice (read, then fill); a frozen
    // Redis answers nothing, so only the timeout (20 ms) bounds the wait: two timeouts
    // and a debug-build search on two documents stay far under the bound, which only
    // leaves room for a loaded machine.
    let bound = Duration::from_millis(500);
    for i in 0..10 {
        let started = Instant::now();
        let (result, origin) = search(&app, &format!("q=lamp&limit={}", i + 1)).await;
        assert_eq!(origin, "miss");
        assert_eq!(result["total"], 2);
        assert!(
            started.elapsed() < bound,
            "a frozen Redis held a search for {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        read(&app, ["lamp", "lamps", "kettle"][i % 3]).await;
        assert!(
            started.elapsed() < bound,
            "a frozen Redis held a read for {:?}",
            started.elapsed()
        );
    }
    let health = json_body(app.get("/health").await).await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["checks"]["redis"]["status"], "degraded");
    assert_eq!(health["checks"]["redis"]["breaker"], "open", "{health}");

    redis.resume();
    // The breaker lets a probe through after its cool-down; the probe succeeds and
    // closes it.
    let mut n = 100;
    let closed = wait_until(Duration::from_secs(15), || {
        n += 1;
        let query = format!("q=lamp&limit={}", n % 100 + 1);
        let app = &app;
        async move {
            search(app, &query).await;
            let health = json_body(app.get("/health").await).await;
            health["checks"]["redis"]["breaker"] == "closed" && health["status"] == "ok"
        }
    })
    .await;
    assert!(closed, "the breaker did not close once Redis was back");
    // And Redis serves again: a fresh query is filled into L2.
    assert_eq!(search(&app, "q=kettle").await.1, "miss");
}
