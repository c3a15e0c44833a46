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
            "documents",
            "index_progress",
            "search_analytics"
        ]
    );
    db.close().await;
}
