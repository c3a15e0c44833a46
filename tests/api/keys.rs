//! API keys: created by the admin key, stored hashed, each granting actions on
//! collections until it expires; 401 for no, unknown or expired keys, 403 for a key
//! that may not; reads optionally closed.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body, products_schema};

const ADMIN: &str = "the-admin-key-for-tests";

async fn as_key(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("sent")
}

async fn create_key(app: &TestApp, body: Value) -> Value {
    let response = as_key(
        app,
        reqwest::Method::POST,
        "/v1/keys",
        Some(ADMIN),
        Some(body),
    )
    .await;
    assert_eq!(response.status(), 201);
    json_body(response).await
}

async fn setup(configure: impl FnOnce(&mut sift::config::Config)) -> TestApp {
    let app = TestApp::spawn_with(|config| {
        config.api_key = Some(ADMIN.into());
        configure(config)
    })
    .await;
    for name in ["products", "shop-eu", "blog"] {
        let mut schema = products_schema();
        schema["name"] = json!(name);
        let response = as_key(
            &app,
            reqwest::Method::POST,
            "/v1/collections",
            Some(ADMIN),
            Some(schema),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    app
}

#[tokio::test]
async fn a_search_key_searches_its_collections_and_nothing_else() {
    let app = setup(|_| {}).await;
    let created = create_key(
        &app,
        json!({"name": "storefront", "actions": ["search"], "collections": ["products", "shop-*"]}),
    )
    .await;
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("sift_") && key.len() == 69, "{key}");
    assert_eq!(created["prefix"], &key[..9]);

    let get = |path: &'static str| as_key(&app, reqwest::Method::GET, path, Some(&key), None);
    assert_eq!(
        get("/v1/collections/products/search?q=lamp").await.status(),
        200
    );
    assert_eq!(
        get("/v1/collections/shop-eu/suggest?q=la").await.status(),
        200
    );
    assert_error(
        get("/v1/collections/blog/search?q=lamp").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        get("/v1/collections/products/documents").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(get("/v1/keys").await, 403, "forbidden").await;
    let write = as_key(
        &app,
        reqwest::Method::PUT,
        "/v1/collections/products/documents/x",
        Some(&key),
        Some(json!({"title": "X"})),
    )
    .await;
    assert_error(write, 403, "forbidden").await;

    // Unknown keys are 401, on reads too; no key at all reads (reads are open).
    let unknown = as_key(
        &app,
        reqwest::Method::GET,
        "/v1/collections/products/search?q=lamp",
        Some("sift_not-a-key"),
        None,
    )
    .await;
    assert_error(unknown, 401, "unauthorized").await;
    assert_eq!(
        app.get("/v1/collections/products/search?q=lamp")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn keys_are_listed_without_the_key_stored_hashed_and_revoked_at_once() {
    let app = setup(|_| {}).await;
    let created = create_key(
        &app,
        json!({"name": "writer", "description": "imports", "actions": ["documents.write", "documents.read"], "collections": ["*"]}),
    )
    .await;
    let key = created["key"].as_str().expect("key").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();

    let listed =
        json_body(as_key(&app, reqwest::Method::GET, "/v1/keys", Some(ADMIN), None).await).await;
    assert_eq!(listed["total"], 1);
    assert!(listed["data"][0].get("key").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&key));
    let stored: (Vec<u8>, String) = sqlx::query_as("SELECT key_digest, key_prefix FROM api_keys")
        .fetch_one(&app.db)
        .await
        .expect("row");
    assert_eq!(stored.0.len(), 32, "a SHA-256 digest");
    assert_eq!(stored.1.len(), 9, "only the prefix is kept in clear");

    let written = as_key(
        &app,
        reqwest::Method::PUT,
        "/v1/collections/blog/documents/a",
        Some(&key),
        Some(json!({"title": "A"})),
    )
    .await;
    assert!(written.status().is_success(), "{}", written.status());
    // Creating a collection is not among its actions.
    let create = as_key(
        &app,
        reqwest::Method::POST,
        "/v1/collections",
        Some(&key),
        Some(json!({"name": "other", "fields": [{"name": "t", "type": "text"}]})),
    )
    .await;
    assert_error(create, 403, "forbidden").await;

    let revoked = as_key(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    let after = as_key(
        &app,
        reqwest::Method::PUT,
        "/v1/collections/blog/documents/a",
        Some(&key),
        Some(json!({"title": "B"})),
    )
    .await;
    assert_error(after, 401, "unauthorized").await;
    let gone = as_key(
        &app,
        reqwest::Method::GET,
        &format!("/v1/keys/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_error(gone, 404, "key_not_found").await;
    let bad = as_key(
        &app,
        reqwest::Method::GET,
        "/v1/keys/not-a-uuid",
        Some(ADMIN),
        None,
    )
    .await;
    assert_error(bad, 400, "invalid_request_body").await;
}

#[tokio::test]
async fn an_expired_key_is_refused_and_reads_can_require_a_key() {
    let app = setup(|config| config.require_key_for_reads = true).await;
    let expired = create_key(
        &app,
        json!({"name": "old", "actions": ["*"], "collections": ["*"], "expiresAt": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let response = as_key(
        &app,
        reqwest::Method::GET,
        "/v1/collections/products/search?q=lamp",
        expired["key"].as_str(),
        None,
    )
    .await;
    assert_error(response, 401, "unauthorized").await;
    // Reads need a key now.
    assert_error(
        app.get("/v1/collections/products/search?q=lamp").await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(app.get("/v1/collections").await, 401, "unauthorized").await;
    let reader = create_key(
        &app,
        json!({"name": "reader", "actions": ["search", "collections.read"], "collections": ["products"]}),
    )
    .await;
    let ok = as_key(
        &app,
        reqwest::Method::GET,
        "/v1/collections/products",
        reader["key"].as_str(),
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    // Health and metrics stay open.
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/metrics").await.status(), 200);
}

#[tokio::test]
async fn without_an_admin_key_keys_cannot_be_managed_and_bad_requests_are_400() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/keys",
            &json!({"name": "x", "actions": ["search"], "collections": ["*"]}),
        )
        .await;
    assert_error(response, 403, "forbidden").await;

    let app = setup(|_| {}).await;
    for body in [
        json!({"name": "", "actions": ["search"], "collections": ["*"]}),
        json!({"name": "x", "actions": [], "collections": ["*"]}),
        json!({"name": "x", "actions": ["search"], "collections": ["Bad Name"]}),
        json!({"name": "x", "actions": ["fly"], "collections": ["*"]}),
    ] {
        let response = as_key(
            &app,
            reqwest::Method::POST,
            "/v1/keys",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
        assert_eq!(response.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn a_multi_search_needs_search_on_every_collection_it_names() {
    let app = setup(|config| config.require_key_for_reads = true).await;
    let key = create_key(
        &app,
        json!({"name": "eu", "actions": ["search"], "collections": ["shop-*"]}),
    )
    .await;
    let key = key["key"].as_str().expect("key");
    let searches = |names: &[&str]| json!({"queries": names.iter().map(|n| json!({"collection": n, "q": "lamp"})).collect::<Vec<_>>()});
    let allowed = as_key(
        &app,
        reqwest::Method::POST,
        "/v1/multi-search",
        Some(key),
        Some(searches(&["shop-eu", "shop-eu"])),
    )
    .await;
    assert_eq!(allowed.status(), 200);
    let refused = as_key(
        &app,
        reqwest::Method::POST,
        "/v1/multi-search",
        Some(key),
        Some(searches(&["shop-eu", "blog"])),
    )
    .await;
    let body = assert_error(refused, 403, "forbidden").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("queries[1]") && m.contains("blog")),
        "{body}"
    );
    let anonymous = as_key(
        &app,
        reqwest::Method::POST,
        "/v1/multi-search",
        None,
        Some(searches(&["shop-eu"])),
    )
    .await;
    assert_error(anonymous, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_tenant_token_searches_only_its_tenants_documents() {
    use sift::access::{TenantClaims, sign_token};
    let app = setup(|_| {}).await;
    let mut written = String::new();
    for (id, category) in [("a1", "acme"), ("a2", "acme"), ("g1", "globex")] {
        let response = as_key(
            &app,
            reqwest::Method::PUT,
            &format!("/v1/collections/products/documents/{id}"),
            Some(ADMIN),
            Some(json!({"title": format!("lamp {id}"), "category": category})),
        )
        .await;
        assert!(response.status().is_success());
        written = json_body(response).await["consistencyToken"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    let search_key = create_key(
        &app,
        json!({"name": "tenants", "actions": ["search"], "collections": ["products"]}),
    )
    .await;
    let key = search_key["key"].as_str().expect("key");
    let key_id: uuid::Uuid = search_key["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let exp = chrono::Utc::now().timestamp() + 600;
    let token = sign_token(
        &TenantClaims {
            api_key_id: key_id,
            filter: "category = acme".into(),
            exp,
        },
        key,
    );

    // Every search with the token sees acme's documents only, whatever it asks.
    let ids = |body: &Value| -> Vec<String> {
        let mut ids: Vec<String> = body["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["id"].as_str().expect("id").to_owned())
            .collect();
        ids.sort();
        ids
    };
    let response = as_key(
        &app,
        reqwest::Method::GET,
        &format!("/v1/collections/products/search?q=lamp&after={written}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["total"], 2, "{body}");
    assert_eq!(ids(&body), ["a1", "a2"]);
    let escape = as_key(
        &app,
        reqwest::Method::POST,
        "/v1/collections/products/search",
        Some(&token),
        Some(json!({"q": "lamp", "filter": "category = globex OR category = acme"})),
    )
    .await;
    assert_eq!(ids(&json_body(escape).await), ["a1", "a2"]);
    let several = as_key(
        &app,
        reqwest::Method::POST,
        "/v1/multi-search",
        Some(&token),
        Some(json!({"queries": [{"collection": "products", "q": "lamp", "filter": "category = globex OR category = acme"}]})),
    )
    .await;
    assert_eq!(ids(&json_body(several).await["results"][0]), ["a1", "a2"]);
    // A disjunctive facet drops the request's own conditions on `category`, not the
    // token's: globex is never counted.
    let facets = as_key(
        &app,
        reqwest::Method::POST,
        "/v1/collections/products/search",
        Some(&token),
        Some(json!({"q": "lamp", "filter": "category = acme", "disjunctiveFacets": "category"})),
    )
    .await;
    let facets = json_body(facets).await;
    assert_eq!(
        facets["facets"]["category"],
        json!([{"value": "acme", "count": 2}]),
        "{facets}"
    );
    for engine in ["ilike", "fts"] {
        let response = as_key(
            &app,
            reqwest::Method::GET,
            &format!("/v1/collections/products/search?q=lamp&engine={engine}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(ids(&json_body(response).await), ["a1", "a2"], "{engine}");
    }

    // Only search; a token signed with another key, or expired, is 401.
    let read = as_key(
        &app,
        reqwest::Method::GET,
        "/v1/collections/products/documents/g1",
        Some(&token),
        None,
    )
    .await;
    assert_error(read, 403, "forbidden").await;
    let forged = sign_token(
        &TenantClaims {
            api_key_id: key_id,
            filter: "category = globex".into(),
            exp,
        },
        "sift_not-the-key",
    );
    let expired = sign_token(
        &TenantClaims {
            api_key_id: key_id,
            filter: "category = acme".into(),
            exp: chrono::Utc::now().timestamp() - 1,
        },
        key,
    );
    for token in [forged, expired] {
        let response = as_key(
            &app,
            reqwest::Method::GET,
            "/v1/collections/products/search?q=lamp",
            Some(&token),
            None,
        )
        .await;
        assert_error(response, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_key_lists_only_the_collections_it_may_read() {
    let app = setup(|config| config.require_key_for_reads = true).await;
    let names = |body: Value| -> Vec<String> {
        let data = body["data"].as_array().expect("data");
        assert_eq!(body["total"], data.len());
        data.iter()
            .map(|c| c["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let shops = create_key(
        &app,
        json!({"name": "shops", "actions": ["collections.read", "search"], "collections": ["shop-*", "products"]}),
    )
    .await;
    let mut listed = names(list(&app, shops["key"].as_str().expect("key")).await);
    listed.sort();
    assert_eq!(listed, ["products", "shop-eu"]);
    // A key for collections that do not exist lists none, rather than every one.
    let nowhere = create_key(
        &app,
        json!({"name": "nowhere", "actions": ["*"], "collections": ["archive-*"]}),
    )
    .await;
    assert!(names(list(&app, nowhere["key"].as_str().expect("key")).await).is_empty());
    // The admin key lists every collection.
    let mut all = names(list(&app, ADMIN).await);
    all.sort();
    assert_eq!(all, ["blog", "products", "shop-eu"]);
}

/// `GET /v1/collections` with `key`: the answer's body.
async fn list(app: &TestApp, key: &str) -> Value {
    let response = as_key(
        app,
        reqwest::Method::GET,
        "/v1/collections",
        Some(key),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}
