//! Fields inside nested objects, declared by dot path (`author.name`): searched,
//! filtered, faceted, sorted, retrieved and highlighted like top-level fields, on every
//! engine; documents whose shape stands in a path's way are refused.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

async fn books(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "books", "fields": [
                {"name": "title", "type": "text", "boost": 2.0},
                {"name": "author.name", "type": "text"},
                {"name": "author.country", "type": "keyword", "facet": true},
                {"name": "stats.rating", "type": "integer", "sortable": true, "facet": true}
            ]}),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", json_body(response).await);
    let lines: String = [
        json!({"id": "b1", "title": "The Stranger", "author": {"name": "Albert Camus", "country": "fr"}, "stats": {"rating": 4}}),
        json!({"id": "b2", "title": "The Plague", "author": {"name": "Albert Camus", "country": "fr"}, "stats": {"rating": 5}}),
        json!({"id": "b3", "title": "The Trial", "author": {"name": "Franz Kafka", "country": "cz"}, "stats": {"rating": 3}}),
        json!({"id": "b4", "title": "Albert and the lion", "author": {"name": "Someone Else", "country": null}}),
        json!({"id": "b5", "title": "Untitled notes", "author": null}),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect();
    let body = json_body(app.import("books", lines).await).await;
    assert_eq!(body["imported"], 5, "{body}");
    body["consistencyToken"].as_str().expect("token").to_owned()
}

async fn search(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/v1/collections/books/search?{query}"))
        .await;
    let status = response.status();
    let body = json_body(response).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn ids(answer: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = answer["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn nested_fields_are_searched_filtered_and_faceted_on_every_engine() {
    let app = TestApp::spawn().await;
    let token = books(&app).await;
    for engine in ["index", "ilike", "fts"] {
        let by_author = search(&app, &format!("q=camus&engine={engine}&after={token}")).await;
        assert_eq!(ids(&by_author), ["b1", "b2"], "{engine}: {by_author}");

        let filtered = search(
            &app,
            &format!("q=albert&engine={engine}&filter=author.country%20%3D%20fr"),
        )
        .await;
        assert_eq!(ids(&filtered), ["b1", "b2"], "{engine}: {filtered}");

        let rated = search(
            &app,
            &format!("engine={engine}&filter=stats.rating%20%3E%3D%204"),
        )
        .await;
        assert_eq!(ids(&rated), ["b1", "b2"], "{engine}: {rated}");

        let null = search(
            &app,
            &format!("engine={engine}&filter=author.country%20IS%20NULL"),
        )
        .await;
        assert_eq!(ids(&null), ["b4"], "{engine}: {null}");
        // `author: null` holds no `author.country` at all.
        let missing = search(
            &app,
            &format!("engine={engine}&filter=author.country%20NOT%20EXISTS"),
        )
        .await;
        assert_eq!(ids(&missing), ["b5"], "{engine}: {missing}");
    }
    // Facets are the index engine's.
    let faceted = search(&app, "facets=author.country,stats.rating").await;
    assert_eq!(
        faceted["facets"]["author.country"],
        json!([{"value": "fr", "count": 2}, {"value": "cz", "count": 1}]),
        "{faceted}"
    );
    assert_eq!(
        faceted["facetStats"]["stats.rating"],
        json!({"min": 3.0, "max": 5.0, "count": 3}),
        "{faceted}"
    );
}

#[tokio::test]
async fn nested_fields_sort_and_shape_the_hits() {
    let app = TestApp::spawn().await;
    let token = books(&app).await;
    let sorted = search(&app, &format!("sort=stats.rating:desc&after={token}")).await;
    let order: Vec<&str> = sorted["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id"))
        .collect();
    assert_eq!(&order[..3], ["b2", "b1", "b3"], "{sorted}");

    // Retrieving a path keeps it inside its object, and only that part of it.
    let shaped = search(&app, "q=kafka&attributesToRetrieve=author.name").await;
    assert_eq!(
        shaped["hits"][0]["document"],
        json!({"author": {"name": "Franz Kafka"}}),
        "{shaped}"
    );
    let highlighted = search(&app, "q=kafka&attributesToHighlight=author.name").await;
    assert_eq!(
        highlighted["hits"][0]["highlights"],
        json!({"author.name": "Franz <mark>Kafka</mark>"}),
        "{highlighted}"
    );

    // The document list filters and sorts by path too.
    let listed = json_body(
        app.get(
            "/v1/collections/books/documents?author.country=fr&sortBy=stats.rating&sortOrder=asc",
        )
        .await,
    )
    .await;
    let listed: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, ["b1", "b2"]);

    let facet = app
        .post_json(
            "/v1/collections/books/facet-search",
            &json!({"facetName": "author.country", "facetQuery": "f"}),
        )
        .await;
    assert_eq!(facet.status(), 200);
    assert_eq!(
        json_body(facet).await["facetHits"],
        json!([{"value": "fr", "count": 2}])
    );
}

#[tokio::test]
async fn documents_and_schemas_that_break_a_path_are_refused() {
    let app = TestApp::spawn().await;
    books(&app).await;
    for (author, kind) in [
        (json!("Camus"), "string"),
        (json!([{"name": "Camus"}]), "array"),
    ] {
        let response = app
            .put_json(
                "/v1/collections/books/documents/bad",
                &json!({"title": "x", "author": author}),
            )
            .await;
        let body = assert_error(response, 400, "invalid_document").await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("`author` must be an object") && message.contains(kind),
            "{message}"
        );
    }
    let wrong_type = app
        .put_json(
            "/v1/collections/books/documents/bad",
            &json!({"title": "x", "stats": {"rating": "high"}}),
        )
        .await;
    assert_error(wrong_type, 400, "invalid_document").await;
    let gone = app.get("/v1/collections/books/documents/bad").await;
    assert_eq!(gone.status(), 404, "nothing was stored");

    let conflict = app
        .post_json(
            "/v1/collections",
            &json!({"name": "clash", "fields": [
                {"name": "title", "type": "text"},
                {"name": "author", "type": "keyword"},
                {"name": "author.name", "type": "text"}
            ]}),
        )
        .await;
    let body = assert_error(conflict, 400, "invalid_schema").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`author.name` is inside field `author`")),
        "{body}"
    );
    for name in ["a.", ".a", "a..b", "a.b.c.d.e", "id.x"] {
        let response = app
            .post_json(
                "/v1/collections",
                &json!({"name": "paths", "fields": [
                    {"name": "title", "type": "text"},
                    {"name": name, "type": "keyword"}
                ]}),
            )
            .await;
        assert_error(response, 400, "invalid_schema").await;
    }
}

#[tokio::test]
async fn csv_columns_named_by_path_fill_nested_objects() {
    let app = TestApp::spawn().await;
    books(&app).await;
    let csv = "id,title,author.name,author.country,stats.rating,note\n\
               c1,The Fall,Albert Camus,fr,4,kept as text\n\
               c2,Nameless,,,,\n";
    let response = app
        .client
        .post(app.url("/v1/collections/books/documents:import"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("request sent");
    let report = json_body(response).await;
    assert_eq!(report["imported"], 2, "{report}");
    let token = report["consistencyToken"].as_str().expect("token");

    let stored = json_body(app.get("/v1/collections/books/documents/c1").await).await;
    assert_eq!(
        stored["document"],
        json!({"id": "c1", "title": "The Fall", "author": {"name": "Albert Camus", "country": "fr"},
               "stats": {"rating": 4}, "note": "kept as text"}),
        "{stored}"
    );
    let empty = json_body(app.get("/v1/collections/books/documents/c2").await).await;
    assert_eq!(
        empty["document"],
        json!({"id": "c2", "title": "Nameless"}),
        "{empty}"
    );
    let found = search(
        &app,
        &format!("q=fall&filter=stats.rating%20%3D%204&after={token}"),
    )
    .await;
    assert_eq!(ids(&found), ["c1"], "{found}");

    // A column `author` beside `author.name` can't be both a value and an object.
    let clash = "id,title,author.name,author\nc3,x,Camus,someone\n";
    let response = app
        .client
        .post(app.url("/v1/collections/books/documents:import"))
        .header("content-type", "text/csv")
        .body(clash)
        .send()
        .await
        .expect("request sent");
    let report = json_body(response).await;
    assert_eq!(report["imported"], 0, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
}
