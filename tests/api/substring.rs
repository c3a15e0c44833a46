//! `match=substring` gives exactly the documents `engine=ilike` gives, over generated
//! queries: whole words, mid-word fragments, several parts, odd characters, misses.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sift_datagen::Rng;

use crate::helpers::{TestApp, assert_error, json_body};

const WORDS: &[&str] = &[
    "Wireless",
    "headphones",
    "USB-C",
    "cable",
    "kettle",
    "Espresso",
    "machine",
    "lamp",
    "desk_lamp",
    "50%",
    "off",
    "ultra-light",
    "backpack",
    "O'Neill",
    "steel",
    "Bluetooth",
    "speaker",
    "tent",
    "a",
    "mixer",
];

async fn ids(app: &TestApp, query: &str) -> (u64, BTreeSet<String>) {
    let response = app
        .get(&format!("/v1/collections/catalog/search?{query}&limit=100"))
        .await;
    assert_eq!(response.status(), 200, "{query}");
    let body = json_body(response).await;
    let ids = body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_owned())
        .collect();
    (body["total"].as_u64().expect("total"), ids)
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn substring_matches_exactly_what_ilike_matches() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "catalog", "settings": {"substringIndex": true}, "fields": [
                {"name": "title", "type": "text"}, {"name": "notes", "type": "text"}]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let mut rng = Rng::new(42);
    let mut lines = Vec::new();
    for n in 0..90 {
        let title: Vec<&str> = (0..1 + rng.next_u64() as usize % 4)
            .map(|_| *rng.pick(WORDS))
            .collect();
        let notes: Vec<&str> = (0..rng.next_u64() as usize % 6)
            .map(|_| *rng.pick(WORDS))
            .collect();
        let mut doc = json!({"id": format!("d{n}"), "title": title.join(" ")});
        if !notes.is_empty() {
            doc["notes"] = Value::String(notes.join(" "));
        }
        lines.push(doc.to_string());
    }
    let report = json_body(app.import("catalog", lines.join("\n")).await).await;
    assert_eq!(report["imported"], 90);
    let token = report["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let (total, _) = ids(&app, &format!("after={token}&match=substring")).await;
    assert_eq!(total, 90);

    let mut queries = Vec::new();
    for n in 0..200 {
        let query = match n % 5 {
            // A whole word, in another case.
            0 => rng.pick(WORDS).to_uppercase(),
            // A fragment from the middle of a word.
            1 | 2 => {
                let word: Vec<char> = rng.pick(WORDS).chars().collect();
                let start = rng.next_u64() as usize % word.len();
                let len = 1 + rng.next_u64() as usize % (word.len() - start);
                word[start..start + len].iter().collect()
            }
            // Two parts, each a fragment.
            3 => {
                let a: String = rng.pick(WORDS).chars().skip(1).take(3).collect();
                let b: String = rng.pick(WORDS).chars().take(2).collect();
                format!("{a} {b}")
            }
            // Something that is not there, or odd characters.
            _ => {
                ["zzz", "_", "%", "'", "-C", "p-l", "qq xx"][rng.next_u64() as usize % 7].to_owned()
            }
        };
        queries.push(if query.trim().is_empty() {
            "x".to_owned()
        } else {
            query
        });
    }
    let mut compared = 0;
    for query in &queries {
        let q = encode(query);
        let substring = ids(&app, &format!("q={q}&match=substring")).await;
        let ilike = ids(&app, &format!("q={q}&engine=ilike")).await;
        assert_eq!(substring, ilike, "query {query:?}");
        compared += 1;
    }
    assert_eq!(compared, 200);
    let matched: usize = {
        let mut n = 0;
        for query in queries.iter().take(50) {
            n += usize::from(
                ids(&app, &format!("q={}&match=substring", encode(query)))
                    .await
                    .0
                    > 0,
            );
        }
        n
    };
    assert!(
        matched > 25,
        "most generated queries should match something ({matched}/50)"
    );
}

#[tokio::test]
async fn substring_needs_the_setting() {
    let app = TestApp::spawn().await;
    app.create_products().await;
    let response = app
        .put_json(
            "/v1/collections/products/documents/a",
            &json!({"title": "lamp"}),
        )
        .await;
    let token = json_body(response).await["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let response = app
        .get(&format!(
            "/v1/collections/products/search?q=am&match=substring&after={token}"
        ))
        .await;
    assert_error(response, 400, "invalid_query_parameter").await;
    assert_error(
        app.get("/v1/collections/products/search?q=am&match=letters")
            .await,
        400,
        "invalid_query_parameter",
    )
    .await;
    assert_error(
        app.get("/v1/collections/products/search?q=am&match=substring&engine=ilike")
            .await,
        400,
        "invalid_query_parameter",
    )
    .await;
}
