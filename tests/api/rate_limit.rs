//! The per-client rate limit: 429 with `Retry-After` and `RateLimit-*` headers, the
//! admin key exempt, health exempt, and one count across replicas through Redis.

use std::num::NonZeroU32;

use sift::rate_limit::RateLimitConfig;

use crate::helpers::{TestApp, TestRedis, assert_error};

fn limit(per_second: u32) -> Option<RateLimitConfig> {
    let n = NonZeroU32::new(per_second).expect("non-zero");
    Some(RateLimitConfig {
        per_second: n,
        burst: n,
    })
}

async fn get_as(app: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("sent")
}

#[tokio::test]
async fn a_client_past_its_rate_gets_429_and_the_admin_key_does_not() {
    let admin = "an-admin-key-long-enough";
    let app = TestApp::spawn_with(|config| {
        config.rate_limit = limit(3);
        config.api_key = Some(admin.into());
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app.get("/v1/collections").await;
        assert!(response.headers().contains_key("ratelimit-limit"));
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!((1..=2).contains(&retry), "{retry}");
            assert_eq!(response.headers()["ratelimit-remaining"], "0");
            assert_error(response, 429, "rate_limited").await;
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The same address is limited; health is not, nor is the admin key.
    assert_eq!(app.get("/health").await.status(), 200);
    for _ in 0..10 {
        let response = get_as(&app, "/v1/collections", Some(admin)).await;
        assert_eq!(response.status(), 200);
        assert!(!response.headers().contains_key("ratelimit-limit"));
    }
}

#[tokio::test]
async fn with_redis_replicas_count_a_client_together() {
    let redis = TestRedis::start().await;
    let url = redis.url();
    let first = TestApp::spawn_with(|config| {
        config.redis_url = Some(url);
        config.rate_limit = limit(3);
    })
    .await;
    let second = first
        .spawn_peer(|config| config.rate_limit = limit(3))
        .await;
    // Three requests on one replica use up the client's second, so its next one, on
    // the other replica, is refused, unless the second turned over in between: then
    // try again as a new client (each counted alone, the other replica would never
    // refuse a first request).
    let mut refused_on_the_other = false;
    for attempt in 0..5 {
        let client = format!("client-{attempt}");
        for _ in 0..3 {
            get_as(&first, "/v1/collections", Some(&client)).await;
        }
        if get_as(&second, "/v1/collections", Some(&client))
            .await
            .status()
            == 429
        {
            refused_on_the_other = true;
            break;
        }
    }
    assert!(refused_on_the_other, "the replicas counted apart");
}

async fn get_from(app: &TestApp, forwarded_for: &str) -> u16 {
    app.client
        .get(app.url("/v1/collections"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// Sends as `forwarded_for` until refused; the statuses seen.
async fn until_refused(app: &TestApp, forwarded_for: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let status = get_from(app, forwarded_for).await;
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    statuses
}

/// One request a second after a burst of three, counted per process (no Redis): a
/// client refused stays refused for a second, which the checks after it fit in.
fn slow_limit() -> Option<RateLimitConfig> {
    Some(RateLimitConfig {
        per_second: NonZeroU32::MIN,
        burst: NonZeroU32::new(3).expect("non-zero"),
    })
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_count() {
    let app = TestApp::spawn_with(|config| {
        config.rate_limit = slow_limit();
        config.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")];
    })
    .await;
    let first = until_refused(&app, "198.51.100.1").await;
    assert_eq!(first.last(), Some(&429), "{first:?}");
    // Another client behind the same proxy is not refused with the first.
    assert_eq!(get_from(&app, "198.51.100.2").await, 200);
    // A client's own header is left of the proxy's entry: it does not make it another
    // client.
    assert_eq!(get_from(&app, "203.0.113.7, 198.51.100.1").await, 429);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_make_another_client() {
    let app = TestApp::spawn_with(|config| config.rate_limit = slow_limit()).await;
    let first = until_refused(&app, "198.51.100.1").await;
    assert_eq!(first.last(), Some(&429), "{first:?}");
    assert_eq!(get_from(&app, "198.51.100.2").await, 429);
}
