use std::process::Command;

use crate::helpers::TestDatabase;

async fn tables(db: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .expect("list tables")
}

fn migrate(database: &TestDatabase, direction: &str) {
    let url = format!(
        "postgres://{}@{}:{}/{}",
        database.options.get_username(),
        database.options.get_host(),
        database.options.get_port(),
        database.name
    );
    let output = Command::new(env!("CARGO_BIN_EXE_sift"))
        .args(["migrate", direction])
        .env("DATABASE_URL", url)
        .output()
        .expect("run sift migrate");
    assert!(
        output.status.success(),
        "sift migrate {direction}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    migrate(&database, "up");
    assert_eq!(
        tables(&db).await,
        [
            "api_keys",
            "change_log_trims",
            "collections",
            "document_changes",
            "document_counts",
            "documents",
            "index_progress",
            "search_analytics"
        ]
    );
    assert!(sift::db::migrations_applied(&db).await.expect("query"));

    migrate(&database, "down");
    assert!(
        tables(&db).await.is_empty(),
        "down removes everything up made"
    );
    let functions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_proc WHERE proname LIKE 'sift\\_%'")
            .fetch_one(&db)
            .await
            .expect("count functions");
    assert_eq!(functions, 0);
    assert!(!sift::db::migrations_applied(&db).await.expect("query"));

    migrate(&database, "up");
    assert_eq!(
        tables(&db).await,
        [
            "api_keys",
            "change_log_trims",
            "collections",
            "document_changes",
            "document_counts",
            "documents",
            "index_progress",
            "search_analytics"
        ]
    );
    db.close().await;
}

/// The GIN index behind `engine=fts` became the `ftsIndex` setting: a collection that
/// had the index keeps it and its settings say so; one without it is left alone.
#[tokio::test]
async fn collections_that_had_the_fts_index_are_marked_as_keeping_it() {
    const BEFORE_THE_SETTING: i64 = 20261203000001;
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    sift::db::MIGRATOR.run(&db).await.expect("up");
    sift::db::MIGRATOR
        .undo(&db, BEFORE_THE_SETTING)
        .await
        .expect("back to before the setting");
    let mut ids = Vec::new();
    for name in ["indexed", "plain"] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO collections (name, fields) VALUES ($1, '[{\"name\": \"title\", \"type\": \"text\"}]') RETURNING id",
        )
        .bind(name)
        .fetch_one(&db)
        .await
        .expect("insert");
        ids.push(id);
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE INDEX documents_fts_{} ON documents USING gin (to_tsvector('english'::regconfig, coalesce(body->>'title', ''))) WHERE collection_id = {}",
        ids[0], ids[0]
    )))
    .execute(&db)
    .await
    .expect("the index an earlier version made");

    sift::db::MIGRATOR.run(&db).await.expect("up again");
    let settings: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT settings FROM collections ORDER BY id")
            .fetch_all(&db)
            .await
            .expect("settings");
    assert_eq!(settings[0]["ftsIndex"], true, "{settings:?}");
    assert!(settings[1].get("ftsIndex").is_none(), "{settings:?}");

    sift::db::MIGRATOR
        .undo(&db, BEFORE_THE_SETTING)
        .await
        .expect("down");
    let marked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM collections WHERE settings ? 'ftsIndex'")
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(
        marked, 0,
        "down removes the key an earlier version would refuse"
    );
    db.close().await;
}
