//! `sift-bench run` twice on the same database: the second run reuses the collection
//! the first one imported (the write-to-visible step cleans up after itself), so a
//! rerun at a million documents does not re-import for minutes. Real PostgreSQL
//! (`DATABASE_URL`, as `scripts/test.sh` provides), a database of its own.

use std::str::FromStr;

use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use sift_bench::BenchArgs;
use sift_datagen::Corpus;

const SIZE: u64 = 300;

fn args(database_url: &str, dir: &std::path::Path) -> BenchArgs {
    BenchArgs {
        corpus: Corpus::Reviews,
        sizes: vec![SIZE],
        seed: 7,
        queries: 6,
        sql_queries: 2,
        http_seconds: 1,
        concurrency: vec![1],
        out: dir.join("out"),
        index_dir: dir.join("index"),
        database_url: Some(database_url.to_owned()),
        redis_url: None,
    }
}

fn report(dir: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(dir.join("out").join("reviews.json")).expect("the report");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test]
async fn a_second_run_reuses_the_collection_and_leaves_only_the_corpus() {
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test.sh sets it)");
    let admin = PgConnectOptions::from_str(&admin_url).expect("a valid DATABASE_URL");
    let name = format!("sift_bench_{}", uuid::Uuid::new_v4().simple());
    let mut connection = admin.connect().await.expect("connect");
    // The name is made here of a fixed prefix and a UUID's hex digits.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("create the database");
    let database_url = admin.clone().database(&name).to_url_lossy().to_string();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);

    sift_bench::run(args(&database_url, &dir))
        .await
        .expect("the first run");
    let first = report(&dir);
    assert_eq!(first["runs"][0]["reused"], false, "nothing to reuse yet");
    assert!(first["runs"][0]["importPerSecond"].as_f64() > Some(0.0));

    sift_bench::run(args(&database_url, &dir))
        .await
        .expect("the second run");
    let second = report(&dir);
    assert_eq!(
        second["runs"][0]["reused"], true,
        "the corpus was imported again"
    );

    // Only the corpus is left: the write-to-visible documents were deleted.
    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, SIZE as i64);
    pool.close().await;

    let _ = std::fs::remove_dir_all(&dir);
    let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .execute(&mut connection)
        .await;
    let _ = connection.close().await;
}
