//! Bounds on what a client can hold: slow headers, idle connections, stalled import
//! bodies, too many requests or connections at once.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, assert_error, json_body};

/// Reads until the server closes the connection; how long that took, or `None` if
/// it was still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buffer),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Sends `bytes` to a sift whose header-read timeout is 300 ms, then says whether the
/// server closed the connection within 5 s.
async fn closed_after_sending(bytes: &[u8]) -> Option<Duration> {
    let app =
        TestApp::spawn_with(|config| config.header_read_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    stream.write_all(bytes).await.expect("write");
    closed_within(&mut stream, Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_client_sending_its_headers_slowly_is_cut_off() {
    // The rest of the headers never comes.
    let closed = closed_after_sending(b"GET /v1/collections HTTP/1.1\r\nHost: x\r\n").await;
    assert!(closed.is_some(), "still open after 5 s");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    // The answer comes, then the connection idles; it is closed rather than held.
    let closed = closed_after_sending(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        closed.is_some(),
        "an idle connection was still open after 5 s"
    );
}

#[tokio::test]
async fn a_stalled_import_body_is_cut_with_408_and_what_arrived_is_kept() {
    let app =
        TestApp::spawn_with(|config| config.body_idle_timeout = Duration::from_millis(300)).await;
    app.create_products().await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let line = json!({"id": "first", "title": "Desk lamp"}).to_string() + "\n";
    let head = format!(
        "POST /v1/collections/products/documents:import HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{line}"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // Nothing more is sent.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n")
                        && String::from_utf8_lossy(&answer).contains("}}")
                    {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    let stored = app.get("/v1/collections/products/documents/first").await;
    assert_eq!(stored.status(), 200, "the line that arrived whole is kept");
}

#[tokio::test]
async fn past_the_request_limit_the_api_answers_503_at_once_and_health_still_answers() {
    let app = TestApp::spawn_with(|config| {
        config.max_requests = 1;
        config.body_idle_timeout = Duration::from_secs(30);
    })
    .await;
    app.create_products().await;
    // One import holds the only place while its body trickles.
    let mut held = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    held.write_all(
        b"POST /v1/collections/products/documents:import HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{\"id\": \"a\", \"title\": \"x\"}\n",
    )
    .await
    .expect("write");
    // Once the import is in flight, the API refuses.
    let in_flight = crate::helpers::wait_until(Duration::from_secs(30), || async {
        app.get("/v1/collections").await.status() == 503
    })
    .await;
    assert!(in_flight, "the import never took the place");
    let started = Instant::now();
    let refused = app.get("/v1/collections").await;
    let took = started.elapsed();
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_error(refused, 503, "server_busy").await;
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/live").await.status(), 200);
    drop(held);
    let served = crate::helpers::wait_until(Duration::from_secs(30), || async {
        app.get("/v1/collections").await.status() == 200
    })
    .await;
    assert!(served, "the place was never given back");
}

#[tokio::test]
async fn past_the_connection_limit_new_connections_wait_until_one_closes() {
    let app = TestApp::spawn_with(|config| config.max_connections = 1).await;
    let holder = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let waiting = client.get(app.url("/live")).send().await;
    assert!(waiting.is_err(), "served beyond the connection limit");
    drop(holder);
    let served = crate::helpers::wait_until(Duration::from_secs(30), || async {
        matches!(client.get(app.url("/live")).send().await, Ok(r) if r.status() == 200)
    })
    .await;
    assert!(served, "never served after the other connection closed");
    let body = json_body(app.get("/live").await).await;
    assert!(body.is_object());
}
