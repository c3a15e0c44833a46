use std::time::Duration;

use futures::SinkExt;
use serde_json::json;

use crate::helpers::{TestApp, json_body, wait_until};

/// An import is in flight (its body half sent) when shutdown begins: it still
/// completes, the server then stops, and new connections are refused.
#[tokio::test]
async fn in_flight_requests_complete_during_shutdown() {
    let mut app = TestApp::spawn().await;
    app.create_products().await;

    let line =
        |n: usize| json!({"id": format!("d{n}"), "title": format!("doc {n}")}).to_string() + "\n";
    let (mut sender, receiver) =
        futures::channel::mpsc::channel::<Result<String, std::io::Error>>(8);
    let request = app
        .client
        .post(app.url("/v1/collections/products/documents:import"))
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(receiver))
        .send();
    let response = tokio::spawn(request);

    // The first batch (1000 lines) reaches the database: the handler is running.
    let first: String = (0..1000).map(line).collect();
    sender.send(Ok(first)).await.expect("send first part");
    let db = app.db.clone();
    let started = wait_until(Duration::from_secs(10), || {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM documents")
                .fetch_one(&db)
                .await
                .is_ok_and(|n| n == 1000)
        }
    })
    .await;
    assert!(started, "the import did not start");

    app.shutdown.cancel();
    // The listener closes while the import goes on.
    let port = app.port;
    let refused = wait_until(Duration::from_secs(5), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    })
    .await;
    assert!(refused, "new connections are refused once shutdown begins");

    let rest: String = (1000..1500).map(line).collect();
    sender.send(Ok(rest)).await.expect("send the rest");
    drop(sender);

    let response = response.await.expect("join").expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["imported"], 1500);

    let server = app.server.take().expect("server task");
    let stopped = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the server stops cleanly: {stopped:?}"
    );
}
