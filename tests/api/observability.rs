use crate::helpers::TestApp;

fn counter(metrics: &str, line_prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(line_prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_errors_by_code() {
    let app = TestApp::spawn().await;
    let requests =
        r#"http_requests_total{method="GET",route="/v1/collections/{name}",status="404"} "#;
    let errors = r#"http_errors_total{code="collection_not_found"} "#;
    let before = app.get("/metrics").await.text().await.expect("text");

    assert_eq!(app.get("/v1/collections/unknown-one").await.status(), 404);

    let response = app.get("/metrics").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain")
    );
    let after = response.text().await.expect("text");
    // Other tests in this process may add to the same series, never subtract.
    assert!(
        counter(&after, requests) >= counter(&before, requests) + 1.0,
        "{after}"
    );
    assert!(counter(&after, errors) >= counter(&before, errors) + 1.0);
    assert!(after.contains(
        "http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/collections/{name}\""
    ));
    assert!(after.contains("db_pool_connections{state=\"idle\"}"));
    assert!(after.contains("http_requests_in_flight"));
    assert!(after.contains("search_bitset_cache_bytes"));
    assert!(
        !after.contains("route=\"/v1/collections/unknown-one\""),
        "routes are templates, not raw paths"
    );
    // Every series that is there says what it counts.
    let families: Vec<&str> = after
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    assert!(!families.is_empty());
    for family in families {
        assert!(
            after.contains(&format!("# HELP {family} ")),
            "no HELP for {family}"
        );
    }
}
