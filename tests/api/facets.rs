//! Facets for real pages: `maxValuesPerFacet`, the range of number facets
//! (`facetStats`) and disjunctive facets.

use serde_json::{Value, json};

use crate::filters::varied;
use crate::helpers::{TestApp, assert_error, json_body};

async fn search(app: &TestApp, body: Value) -> Value {
    let response = app.post_json("/v1/collections/items/search", &body).await;
    assert_eq!(response.status(), 200, "{body}");
    json_body(response).await
}

/// A facet's counts as `value=count` pairs, in the answer's order.
fn counts(answer: &Value, facet: &str) -> Vec<String> {
    answer["facets"][facet]
        .as_array()
        .unwrap_or_else(|| panic!("no facet {facet}: {answer}"))
        .iter()
        .map(|c| format!("{}={}", c["value"].as_str().expect("value"), c["count"]))
        .collect()
}

#[tokio::test]
async fn keyword_facets_are_counted_up_to_the_limit_and_number_facets_give_their_range() {
    let app = TestApp::spawn().await;
    let token = varied(&app).await;
    let all = search(
        &app,
        json!({"q": "", "facets": "category,price", "after": token}),
    )
    .await;
    assert_eq!(
        counts(&all, "category"),
        ["audio=2", "home=1", "home office=1", "office=1"]
    );
    assert_eq!(
        all["facetStats"]["price"],
        json!({"min": 10.0, "max": 50.0, "count": 5})
    );
    assert!(all["facets"].get("price").is_none(), "{all}");

    let top = search(
        &app,
        json!({"q": "", "facets": "category", "maxValuesPerFacet": 1}),
    )
    .await;
    assert_eq!(counts(&top, "category"), ["audio=2"]);

    // Over the matches only; none with a value, no stats.
    let audio = search(
        &app,
        json!({"q": "", "filter": "category = audio", "facets": "price"}),
    )
    .await;
    assert_eq!(
        audio["facetStats"]["price"],
        json!({"min": 10.0, "max": 40.0, "count": 2})
    );
    let none = search(
        &app,
        json!({"q": "", "filter": "price > 100", "facets": "price"}),
    )
    .await;
    assert!(none.get("facetStats").is_none(), "{none}");
}

#[tokio::test]
async fn a_disjunctive_facet_is_counted_without_the_filters_own_conditions_on_it() {
    let app = TestApp::spawn().await;
    let token = varied(&app).await;
    let chosen = search(
        &app,
        json!({"q": "item", "filter": "category IN [audio, office] AND price > 15",
               "disjunctiveFacets": "category", "facets": "category,price", "after": token}),
    )
    .await;
    // The hits and the other facets keep the whole filter...
    assert_eq!(chosen["total"], 2, "{chosen}");
    assert_eq!(
        chosen["facetStats"]["price"],
        json!({"min": 30.0, "max": 40.0, "count": 2})
    );
    // ...while the categories are counted as if none were chosen (price > 15 stays).
    assert_eq!(
        counts(&chosen, "category"),
        ["audio=1", "home=1", "home office=1", "office=1"]
    );
    // GET takes the same parameters.
    let response = app
        .get("/v1/collections/items/search?q=item&filter=category%20%3D%20audio&disjunctiveFacets=category&maxValuesPerFacet=2")
        .await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["total"], 2);
    let top = counts(&body, "category");
    assert_eq!((top.len(), top[0].as_str()), (2, "audio=2"), "{top:?}");
}

#[tokio::test]
async fn facet_parameters_out_of_shape_are_400s() {
    let app = TestApp::spawn().await;
    varied(&app).await;
    for (query, code) in [
        ("maxValuesPerFacet=0", "invalid_query_parameter"),
        ("maxValuesPerFacet=101", "invalid_query_parameter"),
        ("disjunctiveFacets=price", "invalid_facets"),
        ("disjunctiveFacets=tags", "invalid_facets"),
        ("facets=stock", "invalid_facets"),
    ] {
        assert_error(
            app.get(&format!("/v1/collections/items/search?{query}"))
                .await,
            400,
            code,
        )
        .await;
    }
}
