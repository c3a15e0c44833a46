//! Geo search: a `geo` field, `_geoRadius` and `_geoBoundingBox` filters and the
//! `_geoPoint` sort, on every engine, with each hit's distance.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body};

/// Paris sights, Versailles, London, and two islands either side of the antimeridian.
async fn places(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "places", "fields": [
                {"name": "name", "type": "text"},
                {"name": "loc", "type": "geo"}
            ]}),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let lines: String = [
        json!({"id": "eiffel", "name": "place eiffel", "loc": {"lat": 48.8584, "lng": 2.2945}}),
        json!({"id": "louvre", "name": "place louvre", "loc": {"lat": 48.8606, "lng": 2.3376}}),
        json!({"id": "notre", "name": "place notre dame", "loc": {"lat": 48.8530, "lng": 2.3499}}),
        json!({"id": "versailles", "name": "place versailles", "loc": {"lat": 48.8049, "lng": 2.1204}}),
        json!({"id": "london", "name": "place london", "loc": {"lat": 51.5007, "lng": -0.1246}}),
        json!({"id": "fiji", "name": "place fiji", "loc": {"lat": -17.7134, "lng": 178.0650}}),
        json!({"id": "samoa", "name": "place samoa", "loc": {"lat": -13.7590, "lng": -172.1046}}),
        json!({"id": "nowhere", "name": "place nowhere"}),
        json!({"id": "bad", "name": "place bad", "loc": {"lat": 100, "lng": 0}}),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect();
    let body = json_body(app.import("places", lines).await).await;
    assert_eq!(body["imported"], 8, "{body}");
    assert_eq!(body["errors"][0]["code"], "invalid_document", "{body}");
    body["consistencyToken"].as_str().expect("token").to_owned()
}

async fn search(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/v1/collections/places/search", &body).await;
    assert_eq!(response.status(), 200, "{body}");
    json_body(response).await
}

fn ids(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn radius_and_box_filters_and_the_distance_sort_agree_on_every_engine() {
    let app = TestApp::spawn().await;
    let token = places(&app).await;
    // Searchable.
    search(&app, json!({"q": "", "after": token})).await;
    for engine in ["index", "ilike", "fts"] {
        let found = |filter: &str| {
            let app = &app;
            let filter = filter.to_owned();
            async move {
                let mut found = ids(&search(
                    app,
                    json!({"q": "place", "filter": filter, "engine": engine, "limit": 100}),
                )
                .await);
                found.sort();
                found
            }
        };
        // From the Hôtel de Ville: Notre-Dame 0.5 km, the Louvre 1.1 km, the Eiffel
        // tower 4.2 km, Versailles 17 km.
        assert_eq!(
            found("_geoRadius(48.8566, 2.3522, 5000)").await,
            ["eiffel", "louvre", "notre"],
            "{engine}"
        );
        assert_eq!(
            found("_geoRadius(48.8566, 2.3522, 2000)").await,
            ["louvre", "notre"],
            "{engine}"
        );
        assert_eq!(
            found("_geoBoundingBox([49, 3], [48.5, 2])").await,
            ["eiffel", "louvre", "notre", "versailles"],
            "{engine}"
        );
        // A box across the antimeridian: from 175° east to 170° west.
        assert_eq!(
            found("_geoBoundingBox([-10, -170], [-20, 175])").await,
            ["fiji", "samoa"],
            "{engine}"
        );
        assert_eq!(
            found("NOT _geoRadius(48.8566, 2.3522, 100000) AND loc EXISTS").await,
            ["fiji", "london", "samoa"],
            "{engine}"
        );

        let nearest = search(
            &app,
            json!({"q": "place", "sort": "_geoPoint(48.8566, 2.3522):asc", "engine": engine, "limit": 100}),
        )
        .await;
        let order = ids(&nearest);
        assert_eq!(
            order[..5],
            ["notre", "louvre", "eiffel", "versailles", "london"],
            "{engine}"
        );
        assert_eq!(
            order.last().map(String::as_str),
            Some("nowhere"),
            "{engine}: no point, last"
        );
        let distances: Vec<f64> = nearest["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .filter_map(|h| h["geoDistance"].as_f64())
            .collect();
        assert_eq!(distances.len(), 7, "{engine}");
        assert!(
            distances.windows(2).all(|w| w[0] <= w[1]),
            "{engine}: {distances:?}"
        );
        assert!(
            (400.0..700.0).contains(&distances[0]),
            "{engine}: {distances:?}"
        );
        let farthest = search(
            &app,
            json!({"q": "place", "sort": "_geoPoint(48.8566, 2.3522):desc", "engine": engine, "limit": 2}),
        )
        .await;
        assert_eq!(ids(&farthest)[0], "fiji", "{engine}");
    }
    // A CSV cell gives a point as `lat,lng`.
    let csv = app
        .client
        .post(app.url("/v1/collections/places/documents:import"))
        .header("content-type", "text/csv")
        .body("id,name,loc\nhotel,place hotel de ville,\"48.8566,2.3522\"\n")
        .send()
        .await
        .expect("sent");
    let csv = json_body(csv).await;
    assert_eq!(csv["imported"], 1, "{csv}");
    let token = csv["consistencyToken"].as_str().expect("token");
    let closest = search(
        &app,
        json!({"q": "", "filter": "_geoRadius(48.8566, 2.3522, 10)", "after": token}),
    )
    .await;
    assert_eq!(ids(&closest), ["hotel"]);
    // A radius filter gives distances from its center.
    let near = search(
        &app,
        json!({"q": "", "filter": "_geoRadius(48.8566, 2.3522, 2000)"}),
    )
    .await;
    assert!(near["hits"][0]["geoDistance"].as_f64().is_some(), "{near}");
}

#[tokio::test]
async fn geo_mistakes_are_400s_that_say_what_is_wrong() {
    let app = TestApp::spawn().await;
    places(&app).await;
    for (body, code, says) in [
        (
            json!({"filter": "_geoRadius(48, 2)"}),
            "invalid_filter",
            "_geoRadius(lat, lng, meters)",
        ),
        (
            json!({"filter": "_geoRadius(100, 2, 10)"}),
            "invalid_filter",
            "-90 to 90",
        ),
        (
            json!({"filter": "_geoRadius(1, 2, -5)"}),
            "invalid_filter",
            "negative",
        ),
        (
            json!({"filter": "_geoBoundingBox([1, 2], [3, 4])"}),
            "invalid_filter",
            "north-east",
        ),
        (json!({"filter": "loc = 3"}), "invalid_filter", "geo field"),
        (
            json!({"sort": "_geoPoint(1):asc"}),
            "invalid_sort",
            "_geoPoint(lat, lng)",
        ),
        (
            json!({"sort": "_geoPoint(1, 2):asc,_score:desc"}),
            "invalid_sort",
            "only key",
        ),
    ] {
        let error = assert_error(
            app.post_json("/v1/collections/places/search", &body).await,
            400,
            code,
        )
        .await;
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{body}: {message}");
    }
    let plain = json!({"name": "plain", "fields": [{"name": "t", "type": "text"}]});
    assert_eq!(app.post_json("/v1/collections", &plain).await.status(), 201);
    assert_error(
        app.post_json(
            "/v1/collections/plain/search",
            &json!({"filter": "_geoRadius(1, 2, 3)"}),
        )
        .await,
        400,
        "invalid_filter",
    )
    .await;
    for fields in [
        json!([{"name": "t", "type": "text"}, {"name": "a", "type": "geo"}, {"name": "b", "type": "geo"}]),
        json!([{"name": "t", "type": "text"}, {"name": "a", "type": "geo", "sortable": true}]),
    ] {
        assert_error(
            app.post_json(
                "/v1/collections",
                &json!({"name": "twice", "fields": fields}),
            )
            .await,
            400,
            "invalid_schema",
        )
        .await;
    }
}
