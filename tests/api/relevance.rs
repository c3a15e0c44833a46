//! What a person typing expects, pinned on small hand-made collections: typos found
//! among the words as written, words dropped when all of them match nothing, the
//! ranking rules in their order, identifiers by prefix (one character too), phrases,
//! and a numeric field breaking ties.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body, wait_until};

/// A collection `docs` (`title` boost 3, `body`, `popularity` sortable) holding
/// `documents`; returns once every one is searchable.
async fn collection(app: &TestApp, documents: &[Value]) {
    collection_with(app, json!({}), documents).await
}

/// [`collection`] with `settings` at creation.
async fn collection_with(app: &TestApp, settings: Value, documents: &[Value]) {
    let schema = json!({"name": "docs", "fields": [
        {"name": "title", "type": "text", "boost": 3.0},
        {"name": "body", "type": "text"},
        {"name": "popularity", "type": "integer", "sortable": true}
    ], "settings": settings});
    let response = app.post_json("/v1/collections", &schema).await;
    assert_eq!(response.status(), 201, "{}", json_body(response).await);
    let lines: Vec<String> = documents.iter().map(Value::to_string).collect();
    let report = json_body(app.import("docs", lines.join("\n")).await).await;
    assert_eq!(report["failed"], 0, "{report}");
    let token = report["consistencyToken"]
        .as_str()
        .expect("token")
        .to_owned();
    app.wait_for_token("docs", &token).await;
}

/// Sets the collection `docs`'s ranking rules; the index is rebuilt for them in the
/// background (the old one answers meanwhile), so callers wait for what they expect.
async fn set_ranking_rules(app: &TestApp, rules: Value) {
    let response = app
        .patch_json("/v1/collections/docs", &json!({"rankingRules": rules}))
        .await;
    assert_eq!(response.status(), 200, "{}", json_body(response).await);
}

/// The ids of a search's hits, and its body.
async fn ids(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    ids_in(app, "docs", query).await
}

/// [`ids`] in another collection.
async fn ids_in(app: &TestApp, collection: &str, query: &str) -> (Vec<String>, Value) {
    let response = app
        .get(&format!(
            "/v1/collections/{collection}/search?{query}&cache=false"
        ))
        .await;
    assert_eq!(response.status(), 200, "{query}");
    let body = json_body(response).await;
    let ids = body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    (ids, body)
}

#[tokio::test]
async fn a_typo_is_found_among_the_words_as_written_and_the_word_meant_ranks_first() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "internal", "title": "internal tools"}),
            // Same stem (`intern`), another word.
            json!({"id": "interns", "title": "interns program"}),
        ],
    )
    .await;
    // `intelnal` is one edit from `internal`, three from its stem `intern`.
    let (found, _) = ids(&app, "q=intelnal%20").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("internal"),
        "{found:?}"
    );
    // The word being typed may have a typo too.
    let (found, _) = ids(&app, "q=intelna").await;
    assert!(found.contains(&"internal".to_owned()), "{found:?}");
}

#[tokio::test]
async fn a_word_no_document_holds_has_a_typo_one_letter_short_of_the_rule() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "other", "title": "other tools"}),
            json!({"id": "zilla", "title": "zilla plugins"}),
            json!({"id": "guest", "title": "guest account"}),
            json!({"id": "gust", "title": "gust of wind"}),
        ],
    )
    .await;
    // Four letters are one short of a typo (five by default), but no document holds
    // `othr`: it is `other` with a letter left out, finished or being typed.
    for query in ["q=othr%20", "q=othr", "q=othr%20tools%20", "q=oter%20"] {
        let (found, body) = ids(&app, query).await;
        assert_eq!(found, ["other"], "{query}: {body}");
    }
    let (found, body) = ids(&app, "q=zila").await;
    assert_eq!(found, ["zilla"], "{body}");
    // A short word some document holds is taken as written.
    let (found, body) = ids(&app, "q=gust%20").await;
    assert_eq!(found, ["gust"], "{body}");
    // Three letters are too few for a typo, known or not.
    let (found, body) = ids(&app, "q=oth%20").await;
    assert!(found.is_empty(), "{body}");
}

#[tokio::test]
async fn a_short_word_few_documents_hold_is_a_typo_of_a_far_commoner_one() {
    let app = TestApp::spawn().await;
    // `guest` in twelve documents, `gust` in one: ten times as many.
    let mut docs: Vec<Value> = (0..11)
        .map(|n| json!({"id": format!("guest-{n}"), "title": "guest house", "body": "rooms"}))
        .collect();
    docs.push(json!({"id": "guest-account", "title": "guest account", "body": "generator"}));
    docs.push(json!({"id": "gust", "title": "gust of wind", "body": "weather"}));
    docs.push(json!({"id": "account", "title": "account tools", "body": "ledger"}));
    collection(&app, &docs).await;
    // `gust` taken as written matched one word of each document and put the weather
    // first; as `guest` with a letter left out, a document holds both words.
    let (found, body) = ids(&app, "q=gust%20account%20").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("guest-account"),
        "{body}"
    );
    // The documents holding the word as written still come first.
    let (found, body) = ids(&app, "q=gust%20").await;
    assert_eq!(found.first().map(String::as_str), Some("gust"), "{body}");
    assert!(found.contains(&"guest-account".to_owned()), "{body}");
}

#[tokio::test]
async fn a_typo_whose_stem_is_a_common_word_is_still_corrected() {
    let app = TestApp::spawn().await;
    // `defi` is common (past the threshold above which a word is taken to be spelt
    // right); `defie`, a typo of `define`, stems to it but is not itself a word here.
    let mut documents = vec![json!({"id": "define", "title": "define settings"})];
    for n in 0..60 {
        documents.push(json!({"id": format!("defi{n}"), "title": format!("defi protocol {n}")}));
    }
    collection(&app, &documents).await;
    let (found, body) = ids(&app, "q=defie%20settings%20").await;
    assert_eq!(found.first().map(String::as_str), Some("define"), "{body}");
    let (_, body) = ids(&app, "q=defie%20settings%20&limit=1").await;
    assert_eq!(body["matchedWords"], json!(["defie", "settings"]), "{body}");
}

#[tokio::test]
async fn words_are_dropped_the_most_common_first_and_never_into_an_empty_answer() {
    let app = TestApp::spawn().await;
    let mut documents = vec![
        json!({"id": "json-parser", "title": "rust json parser"}),
        json!({"id": "fast-json", "title": "fast json"}),
        json!({"id": "fast-parser", "title": "fast parser"}),
    ];
    for n in 0..5 {
        documents.push(json!({"id": format!("car{n}"), "title": "fast cars"}));
    }
    collection(&app, &documents).await;
    // No document has all three words. `frequency` (the default) drops `fast`, the
    // most common, first: of the documents with two of the words, the one without
    // `fast` comes first, then the ones without `parser` and `json` (as common as
    // each other: the later word goes first). Documents with one word come after
    // every document with two.
    let (found, body) = ids(&app, "q=fast%20json%20parser%20").await;
    assert_eq!(
        found,
        [
            "json-parser",
            "fast-json",
            "fast-parser",
            "car0",
            "car1",
            "car2",
            "car3",
            "car4"
        ],
        "{body}"
    );
    assert_eq!(body["total"], 8, "every document matches some word");
    assert_eq!(body["matchedWords"], json!([]), "no word is in every hit");
    let (found, body) = ids(&app, "q=fast%20json%20parser%20&limit=1").await;
    assert_eq!(found, ["json-parser"]);
    assert_eq!(body["matchedWords"], json!(["json", "parser"]));
    // `last` drops `parser` first, then `json`.
    let (found, body) = ids(&app, "q=fast%20json%20parser%20&matchingStrategy=last").await;
    assert_eq!(
        &found[..3],
        ["fast-json", "fast-parser", "json-parser"],
        "{body}"
    );
    assert!(
        found[3..].iter().all(|id| id.starts_with("car")),
        "{found:?}"
    );
    // `all` drops nothing.
    let (found, body) = ids(&app, "q=fast%20json%20parser%20&matchingStrategy=all").await;
    assert!(found.is_empty(), "{body}");
    assert_eq!(body["total"], 0);
    // A word that matches nothing is dropped first whatever the strategy.
    let (found, body) = ids(&app, "q=zzzzqq%20json%20&matchingStrategy=last").await;
    assert_eq!(found, ["fast-json", "json-parser"], "{body}");
    assert_eq!(body["matchedWords"], json!(["json"]));
}

#[tokio::test]
async fn a_name_typed_with_a_slip_in_its_last_part_keeps_its_first_parts() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "scikit-learn", "title": "scikit-learn"}),
            json!({"id": "scikit-image", "title": "scikit-image"}),
            json!({"id": "scikit-build", "title": "scikit-build"}),
            json!({"id": "lerna", "title": "lerna"}),
        ],
    )
    .await;
    // `lern` is four letters (no typo) and begins `lerna`: no document holds both
    // parts. The parts of a name are typed left to right, so the last one goes.
    let (found, body) = ids(&app, "q=scikit-lern").await;
    assert_eq!(found.len(), 4, "{body}");
    assert!(
        found[..3].iter().all(|id| id.starts_with("scikit")),
        "{body}"
    );
    assert_eq!(found[3], "lerna", "{body}");
    // Words typed apart are dropped by frequency as before: the commoner goes first.
    let (found, body) = ids(&app, "q=scikit%20lern").await;
    assert_eq!(found[0], "lerna", "{body}");
}

#[tokio::test]
async fn the_most_common_word_is_counted_as_written_not_by_its_stem() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "converter-executable", "title": "converter executable"}),
            json!({"id": "fast-executable", "title": "fast executable"}),
            // `convert` is the stem of four documents' words, `fast` of three; as
            // written, `converter` is in one.
            json!({"id": "images", "title": "convert images"}),
            json!({"id": "audio", "title": "converts audio"}),
            json!({"id": "video", "title": "converting video"}),
            json!({"id": "car0", "title": "fast cars"}),
            json!({"id": "car1", "title": "fast cars"}),
        ],
    )
    .await;
    // No document has all three words: `fast`, the most common as written, is
    // dropped first, so the document without it leads.
    let (found, body) = ids(&app, "q=converter%20fast%20executable%20").await;
    assert_eq!(
        &found[..2],
        ["converter-executable", "fast-executable"],
        "{body}"
    );
}

#[tokio::test]
async fn documents_matching_more_words_rank_above_those_matching_fewer() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // `lamp` many times in the title: the best BM25 for that word alone.
            json!({"id": "lamps", "title": "lamp lamp lamp"}),
            json!({"id": "both", "body": "a desk lamp with a long cable"}),
        ],
    )
    .await;
    // `last` drops `cable` once the documents with both words are taken.
    let (found, _) = ids(&app, "q=lamp%20cable%20&matchingStrategy=last").await;
    assert_eq!(found, ["both", "lamps"]);
}

#[tokio::test]
async fn a_word_as_written_beats_another_form_of_it_whatever_the_rule_order() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // Other forms of both words (stems `develop`, `featur`), side by side and in
            // the most important field.
            json!({"id": "forms", "title": "developable featured"}),
            // The words as typed, apart, in a lesser field.
            json!({"id": "written", "title": "misc", "body": "developing some new features"}),
        ],
    )
    .await;
    let (found, body) = ids(
        &app,
        "q=developing%20features%20&showRankingScoreDetails=true",
    )
    .await;
    assert_eq!(found, ["written", "forms"], "{body}");
    assert_eq!(
        body["hits"][0]["rankingScoreDetails"]["typo"]["otherForms"],
        json!(0),
        "{body}"
    );
    assert_eq!(
        body["hits"][1]["rankingScoreDetails"]["typo"]["otherForms"],
        json!(2),
        "{body}"
    );
    // Meilisearch's order, proximity and attribute before exactness: still the words as
    // typed first (Meilisearch, which does not stem, would not match `forms` at all).
    set_ranking_rules(
        &app,
        json!([
            "words",
            "typo",
            "proximity",
            "attribute",
            "sort",
            "exactness"
        ]),
    )
    .await;
    let applied = wait_until(Duration::from_secs(30), || async {
        let (_, body) = ids(
            &app,
            "q=developing%20features%20&showRankingScoreDetails=true",
        )
        .await;
        body["hits"][0]["rankingScoreDetails"]["proximity"]["order"] == json!(2)
    })
    .await;
    assert!(applied);
    let (found, body) = ids(&app, "q=developing%20features%20").await;
    assert_eq!(found, ["written", "forms"], "{body}");
    // The word being typed found as the start of a word is no other form: the rules
    // after `typo` decide (here `attribute`: the title first).
    let (found, body) = ids(&app, "q=feat&showRankingScoreDetails=true").await;
    assert_eq!(found, ["forms", "written"], "{body}");
    assert_eq!(
        body["hits"][0]["rankingScoreDetails"]["typo"]["otherForms"],
        json!(0),
        "{body}"
    );
}

#[tokio::test]
async fn a_synonym_is_found_as_written_not_as_another_form() {
    let app = TestApp::spawn().await;
    collection_with(
        &app,
        json!({"synonyms": {"telly": ["television"]}}),
        &[
            // The synonym, as written.
            json!({"id": "synonym", "title": "television stand"}),
            // Another form of the word as typed (stem `telli`).
            json!({"id": "form", "title": "tellies stand"}),
        ],
    )
    .await;
    let (found, body) = ids(&app, "q=telly%20&showRankingScoreDetails=true").await;
    assert_eq!(found, ["synonym", "form"], "{body}");
    assert_eq!(
        body["hits"][0]["rankingScoreDetails"]["typo"]["otherForms"],
        json!(0),
        "{body}"
    );
    assert_eq!(
        body["hits"][1]["rankingScoreDetails"]["typo"]["otherForms"],
        json!(1),
        "{body}"
    );
}

#[tokio::test]
async fn of_fields_with_equal_boosts_the_one_declared_first_counts_more() {
    let app = TestApp::spawn().await;
    // The word in a long title, or as a short description: BM25 alone prefers the
    // short description, which is all the two fields' equal boosts gave before.
    let documents = [
        json!({"id": "in-title", "title": "wireless charger stand for phones tablets and watches", "description": "desk"}),
        json!({"id": "in-description", "title": "garden", "description": "wireless speaker"}),
    ];
    let lines: Vec<String> = documents.iter().map(Value::to_string).collect();
    for (name, order, expected) in [
        (
            "titles",
            ["title", "description"],
            ["in-title", "in-description"],
        ),
        (
            "descriptions",
            ["description", "title"],
            ["in-description", "in-title"],
        ),
    ] {
        let fields = order.map(|field| json!({"name": field, "type": "text"}));
        let schema = json!({"name": name, "fields": fields});
        let response = app.post_json("/v1/collections", &schema).await;
        assert_eq!(response.status(), 201, "{}", json_body(response).await);
        let report = json_body(app.import(name, lines.join("\n")).await).await;
        assert_eq!(report["failed"], 0, "{report}");
        let token = report["consistencyToken"].as_str().expect("token");
        app.wait_for_token(name, token).await;
        let (found, body) = ids_in(&app, name, "q=wireless").await;
        assert_eq!(found, expected, "{name}: {body}");
    }
}

#[tokio::test]
async fn ranking_rules_apply_in_their_order_and_can_be_changed() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // The word in the most important field, after another.
            json!({"id": "title", "title": "cable connecting"}),
            // A lesser field that is the query.
            json!({"id": "body", "title": "misc", "body": "connecting"}),
        ],
    )
    .await;
    // Default: exactness before attribute.
    let (found, _) = ids(&app, "q=connecting%20").await;
    assert_eq!(found, ["body", "title"]);
    // Attribute first.
    set_ranking_rules(
        &app,
        json!(["words", "typo", "attribute", "exactness", "score"]),
    )
    .await;
    // The index is rebuilt for the new settings; the old one answers meanwhile.
    let swapped = wait_until(Duration::from_secs(30), || async {
        ids(&app, "q=connecting%20").await.0 == ["title", "body"]
    })
    .await;
    assert!(swapped, "{:?}", ids(&app, "q=connecting%20").await.0);
    // Unknown rules and fields that are not sortable numbers are refused.
    for rules in [
        json!(["words", "nearness"]),
        json!(["title:desc"]),
        json!(["sort"]),
        json!(["words", "sort", "sort"]),
    ] {
        assert_error(
            app.patch_json("/v1/collections/docs", &json!({"rankingRules": rules}))
                .await,
            400,
            "invalid_settings",
        )
        .await;
    }
}

#[tokio::test]
async fn proximity_puts_words_together_first() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "apart", "body": "light and strong and weight"}),
            json!({"id": "together", "body": "strong light weight"}),
        ],
    )
    .await;
    let (found, _) = ids(&app, "q=light%20weight%20").await;
    assert_eq!(found, ["together", "apart"]);
}

#[tokio::test]
async fn a_word_scores_once_by_its_best_field_not_again_for_each_field_it_is_in() {
    let app = TestApp::spawn().await;
    let mut documents = vec![
        // The word in a shorter title: the better match of it.
        json!({"id": "narrow", "title": "kettle steel", "body": "boils water"}),
        // In a longer title, and again and again in the body: summed over the
        // fields, the body's matches would put it first.
        json!({"id": "broad", "title": "kettle steel large", "body": "kettle kettle kettle"}),
    ];
    // Other documents, so that the word is rare in both fields.
    documents.extend(
        (0..8).map(|n| json!({"id": format!("tea{n}"), "title": "tea cup", "body": "hot tea"})),
    );
    collection(&app, &documents).await;
    let (found, body) = ids(&app, "q=kettle%20&showRankingScoreDetails=true").await;
    assert_eq!(found, ["narrow", "broad"], "{body}");
    // Every rule before `score` ties: BM25 decides.
    let details: Vec<&Value> = body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| &h["rankingScoreDetails"])
        .collect();
    for rule in ["words", "typo", "exactness", "attribute"] {
        assert_eq!(details[0][rule], details[1][rule], "{rule}: {body}");
    }
    // Sorting by `_score` after a field both lack orders by the same BM25 (ties would
    // go to the lower id).
    let (sorted, body) = ids(&app, "q=kettle%20&sort=popularity:desc,_score:desc").await;
    assert_eq!(sorted, ["narrow", "broad"], "{body}");
}

#[tokio::test]
async fn pages_of_a_query_being_typed_neither_repeat_nor_skip_a_hit() {
    let app = TestApp::spawn().await;
    // Short documents (higher BM25) with the words far apart, and longer ones with them
    // side by side: more than the documents whose stored text is probed for the word
    // being typed, so what is probed decides the order. (No body begins with the
    // query, which `exactness` would rank first.)
    let mut documents = Vec::new();
    for n in 0..30 {
        documents.push(json!({"id": format!("far{n:02}"),
            "body": format!("zero alpha one two three four beta{n}")}));
        documents.push(json!({"id": format!("near{n:02}"),
            "body": format!("zero alpha beta{n} one two three four five six seven eight nine ten")}));
    }
    collection(&app, &documents).await;
    let (whole, body) = ids(&app, "q=alpha%20be&limit=60").await;
    assert_eq!(whole.len(), 60, "{body}");
    let mut paged = Vec::new();
    for page in 0..6 {
        let (found, body) = ids(&app, &format!("q=alpha%20be&limit=10&offset={}", page * 10)).await;
        assert_eq!(found.len(), 10, "{body}");
        paged.extend(found);
    }
    assert_eq!(paged, whole);
}

#[tokio::test]
async fn the_word_being_typed_counts_for_proximity() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // `guest` earlier in the field, `account` four words on.
            json!({"id": "apart", "body": "guest house and an account"}),
            json!({"id": "together", "body": "a guest account generator"}),
        ],
    )
    .await;
    let (found, _) = ids(&app, "q=guest%20ac").await;
    assert_eq!(found, ["together", "apart"]);
    let (found, _) = ids(&app, "q=guest%20account%20").await;
    assert_eq!(found, ["together", "apart"]);
}

#[tokio::test]
async fn the_word_being_typed_is_not_found_in_another_query_word() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // `neu` begins only `neuroscience`, a word of the query already.
            json!({"id": "two-words", "body": "neuroscience brain tools"}),
            // A third word beginning with `neu` two places on.
            json!({"id": "third-word", "body": "tools for neuroscience brain and neuroai"}),
        ],
    )
    .await;
    // Taking `neuroscience` for the word being typed put `two-words` first: as close
    // as could be, and at the start of the field.
    let (found, body) = ids(
        &app,
        "q=neuroscience%20brain%20neu&showRankingScoreDetails=true",
    )
    .await;
    assert_eq!(found, ["third-word", "two-words"], "{body}");
}

#[tokio::test]
async fn a_numeric_field_breaks_ties_when_it_is_a_ranking_rule() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "one", "title": "lamp", "popularity": 1}),
            json!({"id": "five", "title": "lamp", "popularity": 5}),
            json!({"id": "three", "title": "lamp", "popularity": 3}),
            json!({"id": "none", "title": "lamp"}),
        ],
    )
    .await;
    set_ranking_rules(
        &app,
        json!([
            "words",
            "typo",
            "proximity",
            "exactness",
            "attribute",
            "popularity:desc",
            "score"
        ]),
    )
    .await;
    let mut found = Vec::new();
    for _ in 0..100 {
        (found, _) = ids(&app, "q=lamp").await;
        if found == ["five", "three", "one", "none"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        found,
        ["five", "three", "one", "none"],
        "missing values last"
    );
}

#[tokio::test]
async fn the_word_being_typed_found_whole_counts_as_exact_among_several_words_only() {
    let app = TestApp::spawn().await;
    let rules = json!({"rankingRules": ["words", "typo", "exactness", "proximity", "attribute", "popularity:desc", "score"]});
    collection_with(
        &app,
        rules,
        &[
            // The words next to each other, but another form of the last one.
            json!({"id": "reserving", "body": "placeholder release reserving this name", "popularity": 9}),
            // The words as typed, further apart.
            json!({"id": "reserve", "body": "placeholder release to reserve the name", "popularity": 1}),
            json!({"id": "hatchling", "title": "hatchling", "popularity": 9}),
            json!({"id": "hatch", "title": "hatch tools", "popularity": 1}),
            // More words begin with `hatch` than are `hatch`: it is likely unfinished.
            json!({"id": "hatchet", "title": "hatchet"}),
            json!({"id": "hatchery", "title": "hatchery"}),
        ],
    )
    .await;
    // `reserve` is still being typed, but found whole it counts like a finished word.
    let (found, body) = ids(&app, "q=release%20reserve").await;
    assert_eq!(found, ["reserve", "reserving"], "{body}");
    // Alone, the word being typed is the whole query: both titles begin with it, and
    // the one that merely holds the word gets no edge over the one that goes on.
    let (found, body) = ids(&app, "q=hatch").await;
    assert_eq!(&found[..2], ["hatchling", "hatch"], "{body}");
}

#[tokio::test]
async fn identifiers_are_found_by_any_typed_prefix_one_character_included() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "retry", "title": "node-fetch-retry"}),
            json!({"id": "fetch", "title": "node-fetch"}),
            json!({"id": "py3", "title": "py3-foo-bar"}),
            json!({"id": "lib", "title": "lib1.2-core"}),
            json!({"id": "xy", "title": "x-y"}),
        ],
    )
    .await;
    for (query, expected) in [
        ("node-fetch-r", "retry"),
        ("py3-foo-b", "py3"),
        ("lib1.2-c", "lib"),
        ("x-y", "xy"),
        ("x", "xy"),
    ] {
        let (found, body) = ids(&app, &format!("q={query}")).await;
        assert_eq!(
            found.first().map(String::as_str),
            Some(expected),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn words_in_quotes_are_a_phrase_and_a_lone_quote_is_just_text() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "phrase", "body": "over light weight"}),
            json!({"id": "scattered", "body": "light over there"}),
        ],
    )
    .await;
    let (found, _) = ids(&app, "q=%22over%20light%22").await;
    assert_eq!(found, ["phrase"]);
    // A lone quote is neither an error nor a phrase.
    let (found, _) = ids(&app, "q=%22over%20light%20").await;
    assert_eq!(found.len(), 2, "{found:?}");
}

#[tokio::test]
async fn a_field_that_is_the_query_then_one_that_begins_with_it_comes_first() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // The word as typed, but inside the title: each is more BM25-relevant
            // than the names below (shorter field, the word twice).
            json!({"id": "inside", "title": "data stream", "body": "a stream, and another stream"}),
            json!({"id": "begins-word", "title": "stream deck tools"}),
            json!({"id": "begins-prefix", "title": "streamline utils"}),
            json!({"id": "is", "title": "stream"}),
            // Begins so in the less important field only.
            json!({"id": "body-begins", "title": "misc", "body": "stream deck for misc"}),
        ],
    )
    .await;
    // Being typed: the title that is the query, then the titles beginning with it
    // (a whole word or the start of one), then the body beginning with it, then the rest.
    let (found, body) = ids(&app, "q=stream").await;
    assert_eq!(found[0], "is", "{body}");
    let mut next: Vec<String> = found[1..3].to_vec();
    next.sort();
    assert_eq!(next, ["begins-prefix", "begins-word"], "{body}");
    assert_eq!(found[3..], ["body-begins", "inside"], "{body}");
    // A finished word must be whole: `streamline` does not begin with `stream `.
    let (found, body) = ids(&app, "q=stream%20").await;
    assert_eq!(found[..2], ["is", "begins-word"], "{body}");
    // Several words, the last being typed: the title beginning `stream deck` first.
    let (found, body) = ids(&app, "q=stream%20de").await;
    assert_eq!(found[0], "begins-word", "{body}");
    assert_eq!(found[1], "body-begins", "{body}");
    // Names as typed, with their punctuation: `stream-deck-t` begins `stream deck tools`.
    let (found, body) = ids(&app, "q=stream-deck-t").await;
    assert_eq!(found[0], "begins-word", "{body}");
}

#[tokio::test]
async fn a_name_that_is_the_word_being_typed_yields_to_a_popular_one_while_it_is_likely_unfinished()
{
    let app = TestApp::spawn().await;
    let rules = json!({"rankingRules": ["words", "typo", "exactness", "proximity", "attribute", "popularity:desc", "score"]});
    collection_with(
        &app,
        rules,
        &[
            // Most documents with a word beginning `goo` have a longer one.
            json!({"id": "goo", "title": "goo", "popularity": 0}),
            json!({"id": "google-auth", "title": "google-auth", "popularity": 100}),
            json!({"id": "googletrans", "title": "googletrans", "popularity": 50}),
            json!({"id": "goodies", "title": "goodies", "popularity": 0}),
            // Most documents with a word beginning `kettle` have that very word.
            json!({"id": "kettle", "title": "kettle", "popularity": 0}),
            json!({"id": "kettle-pro", "title": "kettle-pro", "popularity": 90}),
            json!({"id": "kettlebell", "title": "kettlebell", "popularity": 80}),
        ],
    )
    .await;
    // `goo` is most likely the start of a longer word: the name that is `goo` only
    // begins with what was typed, like the others, and popularity decides.
    let (found, body) = ids(&app, "q=goo").await;
    assert_eq!(found[..2], ["google-auth", "googletrans"], "{body}");
    // Finished (a space after it), `goo` is the whole word and the name that is it.
    let (found, body) = ids(&app, "q=goo%20").await;
    assert_eq!(found, ["goo"], "{body}");
    // `kettle` is likely finished: the name that is the query comes first.
    let (found, body) = ids(&app, "q=kettle").await;
    assert_eq!(found[0], "kettle", "{body}");
    assert_eq!(found[1..], ["kettle-pro", "kettlebell"], "{body}");
}

#[tokio::test]
async fn the_word_being_typed_counts_where_it_begins_a_word_even_when_found_whole_elsewhere() {
    let app = TestApp::spawn().await;
    let rules = json!({"rankingRules": ["words", "typo", "exactness", "proximity", "attribute", "popularity:desc", "score"]});
    collection_with(
        &app,
        rules,
        &[
            // `debug` begins the title's first word, and is a whole word later in the body.
            json!({"id": "debugpy", "title": "debugpy", "body": "an adapter to debug python", "popularity": 90}),
            // `debug` is the title's first word.
            json!({"id": "debug-mgr", "title": "debug-mgr", "body": "manager", "popularity": 10}),
            json!({"id": "debug-tools", "title": "debug-tools", "body": "tools", "popularity": 5}),
        ],
    )
    .await;
    // All three have a title beginning with what was typed, at its start: popularity
    // decides. (The whole word late in the body once stood for where `debugpy` held
    // it, and put it last.)
    let (found, body) = ids(&app, "q=debug&showRankingScoreDetails=true").await;
    assert_eq!(found, ["debugpy", "debug-mgr", "debug-tools"], "{body}");
    assert_eq!(
        body["hits"][0]["rankingScoreDetails"]["attribute"]["wordPositionScore"],
        json!(1.0),
        "{body}"
    );
}

#[tokio::test]
async fn two_words_typed_apart_find_the_word_they_make_together() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "websocket-client", "title": "websocket-client", "body": "a client"}),
            json!({"id": "apart", "title": "web socket", "body": "the words apart"}),
            json!({"id": "page", "title": "web page", "body": "nothing else"}),
            json!({"id": "beautifulsoup4", "title": "beautifulsoup4", "body": "screen scraping"}),
            json!({"id": "tests", "title": "tests", "body": "many"}),
        ],
    )
    .await;
    // Both words finished: the title that is them first, then the one word they make
    // together, then a document with one of them.
    let (found, body) = ids(&app, "q=web%20socket%20").await;
    assert_eq!(found, ["apart", "websocket-client", "page"], "{body}");
    // The second word being typed: the start of the word the two make.
    let (found, body) = ids(&app, "q=beautiful%20sou").await;
    assert_eq!(found, ["beautifulsoup4"], "{body}");
    // `test s` joined is `tests`, another form of `test`: not taken for both words.
    let (found, body) = ids(&app, "q=test%20s%20&showRankingScoreDetails=true").await;
    assert_eq!(found, ["tests"], "{body}");
    assert_eq!(
        body["hits"][0]["rankingScoreDetails"]["words"]["matchingWords"],
        json!(1),
        "{body}"
    );
}

#[tokio::test]
async fn a_name_that_writes_the_words_typed_apart_together_is_the_query() {
    let app = TestApp::spawn().await;
    let mut documents = vec![
        json!({"id": "pyyaml", "title": "pyyaml", "body": "parser and emitter"}),
        json!({"id": "fixtures", "title": "py-yaml-fixtures", "body": "fixtures from files"}),
        json!({"id": "pathlib", "title": "pathlib", "body": "object paths"}),
        json!({"id": "pathlib-tools", "title": "pathlib-tools", "body": "path lib tools"}),
        json!({"id": "mcplex", "title": "mcplex", "body": "a multiplexer"}),
        json!({"id": "mcp-lens", "title": "mcp-lens", "body": "a lens"}),
        json!({"id": "djangorestframework", "title": "djangorestframework", "body": "web APIs"}),
        json!({"id": "django-rest-extras", "title": "django-rest-extras", "body": "framework helpers"}),
    ];
    // `lib` is most often the start of a longer word here.
    documents.extend(
        ["one", "two", "three", "four"]
            .map(|n| json!({"id": format!("library-{n}"), "title": format!("library {n}")})),
    );
    collection(&app, &documents).await;
    // `pyyaml` is `py yaml` written together: the name that is the query, before one
    // that only begins with the words as typed.
    let (found, body) = ids(&app, "q=py%20yaml").await;
    assert_eq!(found[..2], ["pyyaml", "fixtures"], "{body}");
    // Whether the name is the query or only begins it is the word they make together's
    // to say: `pathlib` is likely finished (`lib` is not), so the name that is it comes
    // before one that goes on, which holds `path` and `lib` as typed too.
    let (found, body) = ids(&app, "q=path%20lib").await;
    assert_eq!(found[..2], ["pathlib", "pathlib-tools"], "{body}");
    // Three words too, finished or with the last being typed.
    for query in ["django%20rest%20framework%20", "django%20rest%20fram"] {
        let (found, body) = ids(&app, &format!("q={query}")).await;
        assert_eq!(
            found[..2],
            ["djangorestframework", "django-rest-extras"],
            "{body}"
        );
    }
    // A separator typed says the words are apart: `mcp-le` is not `mcplex`.
    let (found, body) = ids(&app, "q=mcp-le").await;
    assert_eq!(found[..2], ["mcp-lens", "mcplex"], "{body}");
}

#[tokio::test]
async fn a_word_being_typed_written_together_with_the_one_before_counts_for_proximity() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "near", "title": "near", "body": "scraper for beautifulsoup4 pages and a great many other words that make this text the longer of the two"}),
            json!({"id": "far", "title": "far", "body": "scraper one two three four five six seven eight nine ten beautifulsoup4"}),
        ],
    )
    .await;
    // `beautiful sou` is found as `beautifulsoup4`, which stands for both words where it
    // stands: next to `scraper` in one, far from it in the other.
    let (found, body) = ids(&app, "q=scraper%20beautiful%20sou").await;
    assert_eq!(found, ["near", "far"], "{body}");
    // And it is marked, as the word being typed is.
    assert_eq!(
        body["hits"][0]["highlights"]["body"],
        "<mark>scraper</mark> for <mark>beautifulsoup4</mark> pages and a great many other words that make this text the longer of the two",
        "{body}"
    );
}

#[tokio::test]
async fn a_word_typed_as_two_written_together_finds_them_side_by_side() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "node-fetch", "title": "node-fetch", "body": "brings fetch to node"}),
            json!({"id": "node-fetch-retry", "title": "node-fetch-retry", "body": "retries"}),
            json!({"id": "nodefetch", "title": "nodefetch", "body": "the word as typed"}),
            // Both words, but neither side by side nor in that order.
            json!({"id": "apart", "title": "fetch for node", "body": "node tools that fetch"}),
        ],
    )
    .await;
    // The word as typed first (no typo), then the name that is the two words apart
    // (`exactness`: the field is the query), then one that begins with them; a
    // document with both words elsewhere is not a match.
    let (found, body) = ids(&app, "q=nodefetch&showRankingScoreDetails=true").await;
    assert_eq!(
        found,
        ["nodefetch", "node-fetch", "node-fetch-retry"],
        "{body}"
    );
    // The split counts as one typo, as in Meilisearch.
    assert_eq!(
        body["hits"][1]["rankingScoreDetails"]["typo"]["typoCount"],
        json!(1),
        "{body}"
    );
    assert_eq!(body["matchedWords"], json!(["nodefetch"]), "{body}");
    // Among other words, as the word being typed too.
    let (found, body) = ids(&app, "q=retry%20nodefetch").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("node-fetch-retry"),
        "{body}"
    );
    // A split is a typo: none where typos are off.
    let (found, body) = ids(&app, "q=nodefetch&fuzzy=false").await;
    assert_eq!(found, ["nodefetch"], "{body}");
}

#[tokio::test]
async fn a_word_typed_as_two_stands_only_where_the_two_stand_side_by_side() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "both", "title": "node-fetch client", "body": "both words"}),
            // `client` in the title; `nodefetch` nowhere.
            json!({"id": "title", "title": "client", "body": "tools"}),
            // `node` right before `client`, but never `node fetch`: this document
            // lacks `nodefetch`, so `node` must not count for proximity here.
            json!({"id": "half", "title": "tools", "body": "a node client that can fetch"}),
        ],
    )
    .await;
    // Among the documents lacking `nodefetch`, `client` in the title (`attribute`)
    // comes first: proximity has nothing to tell them apart by.
    let (found, body) = ids(&app, "q=nodefetch%20client%20&showRankingScoreDetails=true").await;
    assert_eq!(found, ["both", "title", "half"], "{body}");
    assert_eq!(
        body["hits"][1]["rankingScoreDetails"]["proximity"],
        body["hits"][2]["rankingScoreDetails"]["proximity"],
        "{body}"
    );
}

#[tokio::test]
async fn a_word_that_matches_nothing_else_splits_into_rarer_words() {
    let app = TestApp::spawn().await;
    // In 30,000 documents, a part of a split must be in 3 (one in 10,000) unless the
    // word is no closer to another; each part here is in two.
    let mut docs: Vec<Value> = (0..30_000)
        .map(|n| json!({"id": format!("filler-{n}"), "title": "filler", "body": "text"}))
        .collect();
    // Words beginning with `exa` more common than `exa` itself; `walks` and `coreapi`,
    // each more common than `walkscore`, but never side by side.
    for n in 0..5 {
        docs[n]["body"] = json!("an example of exact exams, examined exactly in an exam");
        docs[5 + n]["body"] = json!("coreapi and walks");
    }
    docs.extend([
        json!({"id": "ruamel-yaml", "title": "ruamel-yaml", "body": "a parser"}),
        json!({"id": "ruamel-base", "title": "ruamel-base", "body": "yaml helpers"}),
        json!({"id": "jaeger-client", "title": "jaeger-client", "body": "tracing"}),
        json!({"id": "jaeger-tools", "title": "jaeger-tools", "body": "for the client"}),
        // Two edits from `jaegerclient`, where the split is one typo.
        json!({"id": "jasperclient", "title": "jasperclient", "body": "reports"}),
        json!({"id": "walkscore-api", "title": "walkscore-api", "body": "scores"}),
        json!({"id": "walkscore-tools", "title": "walkscore-tools", "body": "an api"}),
        json!({"id": "langchain-exa", "title": "langchain-exa", "body": "search"}),
        json!({"id": "langchain-core", "title": "langchain-core", "body": "exa"}),
    ]);
    collection(&app, &docs).await;
    // Found nowhere as typed, and no word is within its typos.
    let (found, body) = ids(&app, "q=ruamelyaml").await;
    assert_eq!(found, ["ruamel-yaml"], "{body}");
    // The closest word is two edits away: the split, one typo, comes first.
    let (found, body) = ids(&app, "q=jaegerclient").await;
    assert_eq!(found, ["jaeger-client", "jasperclient"], "{body}");
    // Of the splits, the likeliest whose two words are side by side somewhere.
    let (found, body) = ids(&app, "q=walkscoreapi").await;
    assert_eq!(found, ["walkscore-api"], "{body}");
    // The word being typed: its second part typed so far may be a whole word.
    let (found, body) = ids(&app, "q=langchainexa").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("langchain-exa"),
        "{body}"
    );
}

#[tokio::test]
async fn a_name_with_a_two_letter_part_typed_joined_is_found_where_nothing_else_matches() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "socket_io", "title": "socket.io", "body": "realtime framework"}),
            json!({"id": "socket_io-client", "title": "socket.io-client", "body": "the client"}),
            // Both words, never side by side.
            json!({"id": "apart", "title": "io for a socket", "body": "socket tools"}),
            json!({"id": "dating", "title": "dating", "body": "calendars"}),
            json!({"id": "data-ng", "title": "data ng", "body": "angular tables"}),
            json!({"id": "ng-data", "title": "ng data", "body": "more tables"}),
        ],
    )
    .await;
    // `socketio` matches nothing as typed nor one edit away: the split into `socket` and
    // `io`, side by side somewhere, is tried although `io` has two letters.
    let (found, body) = ids(&app, "q=socketio").await;
    assert_eq!(found, ["socket_io", "socket_io-client"], "{body}");
    // A word one edit from another is a typo, not two words: a two-letter part is
    // taken only where nothing else matches (`datang` is not `data` and `ng`).
    let (found, body) = ids(&app, "q=datang").await;
    assert_eq!(found, ["dating"], "{body}");
}

#[tokio::test]
async fn a_word_typed_with_its_number_written_together_finds_them_apart() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "spriteutils", "title": "spriteutils", "body": "sprites"}),
            json!({"id": "spriteutils-4", "title": "spriteutils-4", "body": "sprites"}),
            json!({"id": "spriteutils-7", "title": "spriteutils-7", "body": "sprites"}),
            json!({"id": "iphone-case", "title": "iPhone 15 Pro case", "body": "cases"}),
            json!({"id": "iphone-14", "title": "iPhone 14 charger", "body": "chargers"}),
            json!({"id": "gta-5", "title": "GTA 5 mods", "body": "mods"}),
        ],
    )
    .await;
    // `spriteutils` is one edit away, and `7` is in one document only: where letters and
    // digits meet, the two are taken apart when they stand side by side somewhere.
    let (found, body) = ids(&app, "q=spriteutils7").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("spriteutils-7"),
        "{body}"
    );
    let (found, body) = ids(&app, "q=iphone15").await;
    assert_eq!(found, ["iphone-case"], "{body}");
    // Too short for a typo, but a number typed on to a word is none.
    let (found, body) = ids(&app, "q=gta5").await;
    assert_eq!(found, ["gta-5"], "{body}");
    // A split is a typo: none where typos are off.
    let (found, body) = ids(&app, "q=gta5&fuzzy=false").await;
    assert!(found.is_empty(), "{body}");
}

#[tokio::test]
async fn a_word_being_typed_as_two_written_together_may_end_in_the_start_of_the_second() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "pydantic-settings", "title": "pydantic-settings", "body": "settings for pydantic"}),
            json!({"id": "pydantic-core", "title": "pydantic-core", "body": "core of pydantic"}),
            // Both words, not side by side.
            json!({"id": "loader", "title": "settings loader", "body": "pydantic models"}),
        ],
    )
    .await;
    // No word begins with `pydanticsett`: it is `pydantic` and the start of a word
    // (`settings`), side by side.
    let (found, body) = ids(&app, "q=pydanticsett").await;
    assert_eq!(found, ["pydantic-settings"], "{body}");
    // Finished, the second part must be a whole word.
    let (_, body) = ids(&app, "q=pydanticsett%20").await;
    assert_eq!(body["total"], 0, "{body}");
}

#[tokio::test]
async fn attributes_to_search_on_narrows_the_fields_the_words_are_looked_for_in() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "in-title", "title": "kettle", "body": "for the kitchen"}),
            json!({"id": "in-body", "title": "teapot", "body": "not a kettle"}),
        ],
    )
    .await;
    // Every text field by default (the title first: it weighs more).
    let (found, body) = ids(&app, "q=kettle").await;
    assert_eq!(found, ["in-title", "in-body"], "{body}");
    // Cached without narrowing first: the narrowed search is an answer of its own.
    let cached = app.get("/v1/collections/docs/search?q=kettle").await;
    assert_eq!(cached.status(), 200);
    let narrowed = json_body(
        app.get("/v1/collections/docs/search?q=kettle&attributesToSearchOn=body")
            .await,
    )
    .await;
    assert_eq!(
        narrowed["hits"].as_array().map(Vec::len),
        Some(1),
        "{narrowed}"
    );
    assert_eq!(narrowed["hits"][0]["id"], "in-body", "{narrowed}");
    // The word being typed and a typo look only there too; the other field's words are
    // not marked.
    let (found, body) = ids(&app, "q=kett&attributesToSearchOn=title").await;
    assert_eq!(found, ["in-title"], "{body}");
    let (found, body) = ids(&app, "q=kettel%20&attributesToSearchOn=body").await;
    assert_eq!(found, ["in-body"], "{body}");
    let (_, body) = ids(&app, "q=te&attributesToSearchOn=body").await;
    assert_eq!(body["total"], 0, "{body}");
    // `*` is every field.
    let (found, body) = ids(&app, "q=kettle&attributesToSearchOn=*").await;
    assert_eq!(found, ["in-title", "in-body"], "{body}");
    for query in [
        "attributesToSearchOn=popularity",
        "attributesToSearchOn=nope",
        "attributesToSearchOn=title&engine=ilike",
    ] {
        let body = assert_error(
            app.get(&format!("/v1/collections/docs/search?q=kettle&{query}"))
                .await,
            400,
            "invalid_query_parameter",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("attributesToSearchOn")),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn a_name_typed_up_to_a_separator_finds_the_names_that_go_on() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "units", "title": "units"}),
            json!({"id": "unitsys", "title": "unitsys"}),
            json!({"id": "units-python", "title": "units-python"}),
            json!({"id": "about", "title": "about units"}),
        ],
    )
    .await;
    // `units-`: the word is finished (no `unitsys`) and more is coming, so the name
    // that goes on comes before the one that stops there.
    let (found, body) = ids(&app, "q=units-").await;
    assert_eq!(found[0], "units-python", "{body}");
    assert!(!found.contains(&"unitsys".to_string()), "{body}");
}

#[tokio::test]
async fn ranking_score_details_say_what_each_rule_saw_of_a_hit() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "exact", "title": "garden lantern", "popularity": 7}),
            json!({"id": "typo", "title": "garden lanterm", "popularity": 3}),
            json!({"id": "half", "title": "garden chair"}),
        ],
    )
    .await;
    let query = "q=garden%20lantern%20&matchingStrategy=last&showRankingScore=true&showRankingScoreDetails=true";
    let (found, body) = ids(&app, query).await;
    assert_eq!(found, ["exact", "typo", "half"], "{body}");
    let details = |i: usize| body["hits"][i]["rankingScoreDetails"].clone();
    // The default rules, in their order.
    let order: Vec<(&str, u64)> = [
        "words",
        "typo",
        "exactness",
        "proximity",
        "attribute",
        "score",
    ]
    .iter()
    .map(|r| (*r, details(0)[r]["order"].as_u64().unwrap_or(99)))
    .collect();
    assert_eq!(
        order,
        [
            ("words", 0),
            ("typo", 1),
            ("exactness", 2),
            ("proximity", 3),
            ("attribute", 4),
            ("score", 5)
        ],
        "{body}"
    );
    assert_eq!(details(0)["words"]["matchingWords"], 2, "{body}");
    assert_eq!(details(0)["typo"]["typoCount"], 0, "{body}");
    assert_eq!(details(0)["exactness"]["matchType"], "exactMatch", "{body}");
    assert_eq!(details(1)["typo"]["typoCount"], 1, "{body}");
    assert_eq!(details(1)["words"]["score"], 1.0, "{body}");
    assert!(
        details(1)["typo"]["score"].as_f64() < details(0)["typo"]["score"].as_f64(),
        "{body}"
    );
    // `chair` lacks `lantern`: found once the word is dropped.
    assert_eq!(details(2)["words"]["matchingWords"], 1, "{body}");
    assert_eq!(details(2)["words"]["maxMatchingWords"], 2, "{body}");
    for i in 0..3 {
        let score = body["hits"][i]["rankingScore"].as_f64().unwrap_or(-1.0);
        assert!(score > 0.0 && score <= 1.0, "{body}");
    }
    // Without asking, no details; with a sort by field, no ranking at all.
    let (_, body) = ids(&app, "q=garden&showRankingScore=true").await;
    assert!(
        body["hits"][0].get("rankingScoreDetails").is_none(),
        "{body}"
    );
    let (_, body) = ids(
        &app,
        "q=garden&sort=popularity:desc&showRankingScoreDetails=true",
    )
    .await;
    assert!(
        body["hits"][0].get("rankingScoreDetails").is_none(),
        "{body}"
    );

    // A field rule shows the hit's value, once the collection ranks by it.
    set_ranking_rules(&app, json!(["words", "popularity:desc", "score"])).await;
    let query = "q=garden&showRankingScoreDetails=true";
    let ranked_by_popularity = wait_until(Duration::from_secs(30), || async {
        let (_, body) = ids(&app, query).await;
        body["hits"][0]["rankingScoreDetails"]["popularity:desc"] == json!({"order": 1, "value": 7})
    })
    .await;
    let (found, body) = ids(&app, query).await;
    let last = body["hits"].clone();
    assert!(ranked_by_popularity, "{last}");
    assert_eq!(found, ["exact", "typo", "half"], "{last}");
    assert_eq!(
        last[2]["rankingScoreDetails"]["popularity:desc"],
        json!({"order": 1, "value": null}),
        "a document without the value"
    );
    assert!(
        last[0]["rankingScoreDetails"].get("typo").is_none(),
        "{last}"
    );
}

#[tokio::test]
async fn documents_every_rule_ties_come_shorter_text_first_whatever_their_order() {
    let app = TestApp::spawn().await;
    // Each pair ties on every rule (the same words, as many of them, in the same
    // places): the shorter text comes first, whichever was written first.
    collection(
        &app,
        &[
            json!({"id": "alpha-long", "title": "alpha betas"}),
            json!({"id": "alpha-short", "title": "alpha beta"}),
            json!({"id": "gamma-short", "title": "gamma delta"}),
            json!({"id": "gamma-long", "title": "gamma deltas"}),
        ],
    )
    .await;
    tied_pairs_come_in_order(
        &app,
        [
            ("alpha%20", ["alpha-short", "alpha-long"]),
            ("gamma%20", ["gamma-short", "gamma-long"]),
        ],
    )
    .await;
}

/// Each query finds the two documents in this order, and they tie on every rule.
async fn tied_pairs_come_in_order(app: &TestApp, pairs: [(&str, [&str; 2]); 2]) {
    for (query, expected) in pairs {
        let (found, body) = ids(app, &format!("q={query}&showRankingScoreDetails=true")).await;
        assert_eq!(found, expected, "{body}");
        assert_eq!(
            body["hits"][0]["rankingScoreDetails"], body["hits"][1]["rankingScoreDetails"],
            "a tie on every rule: {body}"
        );
    }
}

#[tokio::test]
async fn documents_tied_on_every_rule_and_length_come_in_id_order_whatever_was_written_first() {
    let app = TestApp::spawn().await;
    // A fork and its original: the same summary, names as long. Written in one order
    // for one word and the other order for the other, they still come by id, so a
    // rebuild (which may place them otherwise) answers alike.
    collection(
        &app,
        &[
            json!({"id": "zeta-fork", "title": "alpha beta"}),
            json!({"id": "beta-orig", "title": "alpha beta"}),
            json!({"id": "cat-orig", "title": "gamma delta"}),
            json!({"id": "dog-fork", "title": "gamma delta"}),
        ],
    )
    .await;
    tied_pairs_come_in_order(
        &app,
        [
            ("alpha", ["beta-orig", "zeta-fork"]),
            ("gamma", ["cat-orig", "dog-fork"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_searchable_keyword_field_is_found_by_its_words_and_filtered_by_its_value() {
    let app = TestApp::spawn().await;
    let fields = |searchable: bool| {
        json!([
            {"name": "title", "type": "text", "boost": 3.0},
            {"name": "genre", "type": "keyword", "facet": true, "searchable": searchable},
            {"name": "shelf", "type": "keyword"}
        ])
    };
    let response = app
        .post_json(
            "/v1/collections",
            &json!({"name": "books", "fields": fields(true)}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created = json_body(response).await;
    assert_eq!(created["fields"][1]["searchable"], true, "{created}");
    assert!(
        created["fields"][2].get("searchable").is_none(),
        "off by default, not echoed: {created}"
    );
    let lines: Vec<String> = [
        json!({"id": "dune", "title": "Dune", "genre": "science-fiction", "shelf": "space"}),
        json!({"id": "emma", "title": "Emma", "genre": ["romance", "classic"], "shelf": "science"}),
        json!({"id": "cosmos", "title": "Cosmos", "genre": "popular-science"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    let report = json_body(app.import("books", lines.join("\n")).await).await;
    assert_eq!(report["failed"], 0, "{report}");
    let token = report["consistencyToken"].as_str().expect("token");
    let search = |query: String| {
        let app = &app;
        async move {
            let response = app
                .get(&format!(
                    "/v1/collections/books/search?{query}&after={token}"
                ))
                .await;
            assert_eq!(response.status(), 200, "{query}");
            let body = json_body(response).await;
            let ids: Vec<String> = body["hits"]
                .as_array()
                .expect("hits")
                .iter()
                .filter_map(|h| h["id"].as_str().map(str::to_owned))
                .collect();
            (ids, body)
        }
    };

    // Its words, as a text field's: both words first, with a typo, the word being typed.
    let (found, body) = search("q=science%20fiction".into()).await;
    assert_eq!(found[0], "dune", "{body}");
    assert!(
        !found.contains(&"emma".to_owned()),
        "a keyword field not searchable is not looked in: {body}"
    );
    assert!(
        body["hits"][0]["highlights"]["genre"]
            .to_string()
            .contains("<mark>"),
        "its words are highlighted: {body}"
    );
    let (found, body) = search("q=fictoin".into()).await;
    assert_eq!(found, ["dune"], "a typo: {body}");
    let (found, body) = search("q=roma".into()).await;
    assert_eq!(found, ["emma"], "the word being typed: {body}");
    let (found, body) = search("q=classic&attributesToSearchOn=genre".into()).await;
    assert_eq!(found, ["emma"], "{body}");
    let (found, body) = search("q=classic&engine=ilike".into()).await;
    assert_eq!(found, ["emma"], "the SQL engines look in it too: {body}");

    // Filters and facets keep the exact value.
    let (found, body) = search("q=&filter=genre%20%3D%20science-fiction".into()).await;
    assert_eq!(found, ["dune"], "{body}");
    let (found, body) = search("q=&filter=genre%20%3D%20science".into()).await;
    assert!(found.is_empty(), "{body}");
    let (_, body) = search("q=science&facets=genre".into()).await;
    let values: Vec<&str> = body["facets"]["genre"]
        .as_array()
        .expect("genre facet")
        .iter()
        .filter_map(|c| c["value"].as_str())
        .collect();
    assert!(values.contains(&"science-fiction"), "{body}");
    assert!(values.contains(&"popular-science"), "{body}");

    // Turned off, the index is rebuilt without its words.
    let response = app
        .patch_json("/v1/collections/books", &json!({"fields": fields(false)}))
        .await;
    assert_eq!(response.status(), 200);
    let rebuilt = wait_until(Duration::from_secs(30), || async {
        let response = app
            .get("/v1/collections/books/search?q=classic&cache=false")
            .await;
        json_body(response).await["total"] == 0
    })
    .await;
    assert!(rebuilt, "genre words gone after the rebuild");

    // Only keyword fields take it.
    let wrong = json!([{"name": "title", "type": "text", "searchable": true}]);
    assert_error(
        app.patch_json("/v1/collections/books", &json!({"fields": wrong}))
            .await,
        400,
        "invalid_schema",
    )
    .await;
}

#[tokio::test]
async fn a_misspelt_word_scores_as_common_as_the_word_it_may_be() {
    let app = TestApp::spawn().await;
    // `pandsa` is one typo from both `pandas` (common in titles) and `panisa` (rare).
    // Scored by their own frequencies, the rare one would win BM25 by its IDF alone;
    // blended, the document holding the word in more fields comes first.
    let mut documents = vec![
        json!({"id": "pandas", "title": "pandas", "body": "pandas tables"}),
        json!({"id": "panisa", "title": "panisa", "body": "tables"}),
    ];
    for n in 0..40 {
        documents.push(json!({"id": format!("helper{n}"), "title": format!("pandas helper {n}")}));
    }
    collection(&app, &documents).await;
    for query in ["q=pandsa", "q=pandsa%20"] {
        let (found, body) = ids(&app, query).await;
        assert_eq!(
            found.get(..2),
            Some(&["pandas".to_owned(), "panisa".to_owned()][..]),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_field_that_is_the_query_with_a_typo_corrected_comes_first_among_typos() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // The word in both fields: BM25 alone puts it first.
            json!({"id": "utils", "title": "sqlalchemy utils", "body": "helpers for sqlalchemy"}),
            json!({"id": "sqlalchemy", "title": "sqlalchemy", "body": "database toolkit"}),
            json!({"id": "flask", "title": "flask sqlalchemy", "body": "sqlalchemy in flask"}),
            json!({"id": "flask-utils", "title": "flask sqlalchemy utils", "body": "flask"}),
        ],
    )
    .await;
    // The title is the query, as the document spells it.
    let (found, body) = ids(&app, "q=sqlalchmey%20").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("sqlalchemy"),
        "{body}"
    );
    let (found, body) = ids(&app, "q=flask%20sqlalchmey%20").await;
    assert_eq!(found.first().map(String::as_str), Some("flask"), "{body}");
    // While typed, the title begins with the query corrected.
    let (found, body) = ids(&app, "q=flask%20sqlalchmey").await;
    assert_eq!(
        found.get(..2),
        Some(&["flask".to_owned(), "flask-utils".to_owned()][..]),
        "{body}"
    );
    // A word found as typed is no typo: nothing is corrected.
    let (_, body) = ids(&app, "q=sqlalchemy&showRankingScoreDetails=true").await;
    assert_eq!(body["hits"][0]["id"], "sqlalchemy", "{body}");
}

#[tokio::test]
async fn a_typo_being_typed_that_a_few_documents_hold_is_still_corrected_for_exactness() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // The word in both fields: BM25 alone puts it before the exact title.
            json!({"id": "utils", "title": "sqlalchemy utils", "body": "helpers for sqlalchemy"}),
            json!({"id": "sqlalchemy", "title": "sqlalchemy", "body": "database toolkit"}),
            // The typo as written, so some word begins with the word being typed.
            json!({"id": "typo", "title": "orm notes", "body": "a sqlalchmey tutorial"}),
        ],
    )
    .await;
    // Typed last, the word is likely finished (every word beginning so is it): the
    // document holding it as typed first (no typo), then the title it corrects to.
    let (found, body) = ids(&app, "q=sqlalchmey").await;
    assert_eq!(
        found.get(..3),
        Some(
            &[
                "typo".to_owned(),
                "sqlalchemy".to_owned(),
                "utils".to_owned()
            ][..]
        ),
        "{body}"
    );
}

#[tokio::test]
async fn a_typo_being_typed_that_begins_no_word_is_taken_as_finished() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // The word in both fields: BM25 alone puts it before the exact title.
            json!({"id": "utils", "title": "sqlalchemy utils", "body": "helpers for sqlalchemy"}),
            json!({"id": "sqlalchemy", "title": "sqlalchemy", "body": "database toolkit"}),
        ],
    )
    .await;
    // No word begins with `sqlalchmey`: it is no start of a longer word but a typo, so
    // the title that is its correction is the query, not only the start of one.
    let (found, body) = ids(&app, "q=sqlalchmey&showRankingScoreDetails=true").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("sqlalchemy"),
        "{body}"
    );
    assert_eq!(
        body["hits"][0]["rankingScoreDetails"]["exactness"]["matchType"], "exactMatch",
        "{body}"
    );
}

#[tokio::test]
async fn a_short_misspelt_word_keeps_its_most_common_neighbours() {
    let app = TestApp::spawn().await;
    // `pytet` is one edit from each of these 38 words, all before `pytest` in
    // alphabetical order: more than a misspelt word expands to.
    let neighbours = ('a'..='s')
        .filter(|c| *c != 't')
        .map(|c| format!("py{c}et"))
        .chain(('a'..='s').map(|c| format!("pyte{c}")));
    let mut docs: Vec<Value> = neighbours
        .map(|word| json!({"id": word, "title": word, "body": "a tool"}))
        .collect();
    docs.push(json!({"id": "pytest", "title": "pytest", "body": "testing"}));
    docs.push(json!({"id": "pytest-celery", "title": "pytest celery", "body": "fixtures"}));
    docs.push(json!({"id": "celery", "title": "celery", "body": "task queue"}));
    collection(&app, &docs).await;
    // The most common neighbour (`pytest`, in two documents) is among the spellings
    // looked for, so the document with both words comes first.
    let (found, body) = ids(&app, "q=pytet%20celery").await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("pytest-celery"),
        "{body}"
    );
}

#[tokio::test]
async fn a_name_that_is_the_likeliest_correction_comes_before_a_less_likely_one() {
    let mut docs = vec![
        json!({"id": "numpsy", "title": "numpsy", "body": "x", "popularity": 9}),
        json!({"id": "numpy", "title": "numpy", "body": "arrays and more arrays for many", "popularity": 1}),
    ];
    // `numpy` is a common word, `numpsy` a rare one.
    docs.extend(
        (0..5)
            .map(|n| json!({"id": format!("uses-{n}"), "title": "tool", "body": "built on numpy"})),
    );
    let app = TestApp::spawn().await;
    collection(&app, &docs).await;
    // Both names are one edit from `numpyy` and each is a correction of the query; the
    // more common one is the likelier (the other, with less text, would win the tie).
    let (found, body) = ids(&app, "q=numpyy").await;
    assert_eq!(found[..2], ["numpy", "numpsy"], "{body}");
    // A popularity rule knows better which was meant: it comes before the likelier
    // spelling, which is part of `score`.
    let app = TestApp::spawn().await;
    let rules = json!({"rankingRules": ["words", "typo", "exactness", "proximity", "attribute", "score", "popularity:desc"]});
    collection_with(&app, rules, &docs).await;
    let (found, body) = ids(&app, "q=numpyy").await;
    assert_eq!(found[..2], ["numpsy", "numpy"], "{body}");
}

#[tokio::test]
async fn a_name_that_begins_with_the_query_as_typed_comes_before_one_that_is_a_correction() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            // Its summary holds the word as typed, so `typo` ties the two; its name is
            // one edit from the query.
            json!({"id": "bdateutil", "title": "bdateutil", "body": "business days for dateutil"}),
            json!({"id": "dateutil-br", "title": "dateutil-br", "body": "dateutil in portuguese"}),
        ],
    )
    .await;
    let (found, body) = ids(&app, "q=dateutil&showRankingScoreDetails=true").await;
    assert_eq!(found, ["dateutil-br", "bdateutil"], "{body}");
    let exactness = |at: usize| body["hits"][at]["rankingScoreDetails"]["exactness"].clone();
    assert_eq!(exactness(0)["matchType"], "matchesStart", "{body}");
    // A correction the name is still counts, below the query as typed.
    assert_eq!(exactness(1)["matchType"], "exactMatch", "{body}");
}

#[tokio::test]
async fn a_rule_listed_after_score_orders_what_the_text_rules_tie() {
    let app = TestApp::spawn().await;
    // "Text relevance, then popularity", as Typesense and Meilisearch users write it;
    // Meilisearch's `sort` (the place of `sort=`) is accepted and changes nothing.
    let rules = json!({"rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness", "score", "popularity:desc"]});
    collection_with(
        &app,
        rules,
        &[
            // Higher BM25 (the word in both fields), less popular.
            json!({"id": "mentioned", "title": "lamp", "body": "a lamp", "popularity": 1}),
            json!({"id": "popular", "title": "lamp", "body": "a light", "popularity": 9}),
        ],
    )
    .await;
    // BM25 never ties, so `score` goes last: the popularity rule decides first.
    let (found, body) = ids(&app, "q=lamp&showRankingScoreDetails=true").await;
    assert_eq!(found, ["popular", "mentioned"], "{body}");
    let details = &body["hits"][0]["rankingScoreDetails"];
    assert_eq!(details["popularity:desc"]["order"], 5, "{body}");
    assert_eq!(details["score"]["order"], 6, "{body}");
    assert!(details.get("sort").is_none(), "{body}");
}

/// Chinese, Japanese and Korean are written without spaces between words: their text
/// is found by the words in it, typed whole or still being typed, also in a sentence
/// longer than the longest word the index keeps, and a match is highlighted as one mark.
#[tokio::test]
async fn chinese_japanese_and_korean_text_is_found_by_the_words_in_it() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "zh", "title": "vue-cn", "body": "一个基于Vue的中文工具库"}),
            json!({"id": "long", "title": "train",
                   "body": "用于查询12306车票信息的命令行工具，支持余票查询和价格提醒"}),
            json!({"id": "ja", "title": "ja-kit", "body": "日本語のテキストを処理するライブラリ"}),
            json!({"id": "ko", "title": "ko-kit", "body": "한국어 형태소 분석기"}),
            // The same characters, never side by side.
            json!({"id": "apart", "title": "apart", "body": "中国 文化 工作 具体"}),
        ],
    )
    .await;
    let search = |query: &str| {
        let mut url = reqwest::Url::parse("http://sift/").expect("url");
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("highlight", "true");
        url.query().unwrap_or_default().to_owned()
    };
    for (query, expected) in [
        ("中文工具", "zh"),
        ("中文工", "zh"),
        ("车票信息", "long"),
        ("余票查询", "long"),
        ("12306 车票", "long"),
        ("テキスト 処理", "ja"),
        ("ライブ", "ja"),
        ("형태소", "ko"),
    ] {
        let (found, body) = ids(&app, &search(query)).await;
        assert_eq!(
            found.first().map(String::as_str),
            Some(expected),
            "{query}: {body}"
        );
        assert!(!found.iter().any(|id| id == "apart"), "{query}: {found:?}");
    }
    let (_, body) = ids(&app, &search("中文工具")).await;
    assert_eq!(
        body["hits"][0]["highlights"]["body"], "一个基于Vue的<mark>中文工具</mark>库",
        "{body}"
    );
}

/// The generation folder the index of `docs` is in (its `CURRENT` pointer): it moves
/// only when the index is built again.
fn index_generation_dir(app: &TestApp) -> String {
    std::fs::read_to_string(app.index_dir().join("docs").join("CURRENT")).expect("CURRENT")
}

#[tokio::test]
async fn settings_read_at_query_time_apply_at_once_and_only_what_is_indexed_rebuilds() {
    let app = TestApp::spawn().await;
    collection(
        &app,
        &[
            json!({"id": "plain", "title": "garden hose", "popularity": 1}),
            json!({"id": "popular", "title": "garden hose reel", "popularity": 9}),
        ],
    )
    .await;
    let built = index_generation_dir(&app);
    // A second replica, which learns of the change by reading the collection.
    let peer = app.spawn_peer(|_| {}).await;
    let peer_ready = wait_until(Duration::from_secs(30), || async {
        peer.get("/v1/collections/docs/search?q=garden")
            .await
            .status()
            == 200
    })
    .await;
    assert!(peer_ready, "the peer built its index");
    let peer_built = index_generation_dir(&peer);
    // Cached under the first settings: a stale answer would show the old order.
    async fn cached(app: &TestApp) -> Value {
        json_body(app.get("/v1/collections/docs/search?q=garden%20hose").await).await
    }
    let before = cached(&app).await;
    assert_eq!(before["hits"][0]["id"], "plain", "{before}");

    let response = app
        .patch_json(
            "/v1/collections/docs",
            &json!({"rankingRules": ["words", "popularity:desc", "score"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["settingsGeneration"], 2);
    // Applied when the answer came, without waiting: not from the cache, and not by a
    // new index.
    let after = cached(&app).await;
    assert_eq!(after["hits"][0]["id"], "popular", "{after}");
    let (found, body) = ids(&app, "q=garden%20hose").await;
    assert_eq!(found, ["popular", "plain"], "{body}");
    assert_eq!(
        index_generation_dir(&app),
        built,
        "the index was not rebuilt"
    );
    let stats = json_body(app.get("/v1/collections/docs").await).await;
    assert_eq!(stats["stats"]["indexStatus"], "ready", "{stats}");
    let peer_follows = wait_until(Duration::from_secs(30), || async {
        cached(&peer).await["hits"][0]["id"] == "popular"
    })
    .await;
    assert!(peer_follows, "the peer takes the new rules");
    assert_eq!(
        index_generation_dir(&peer),
        peer_built,
        "nor was the peer's"
    );
    drop(peer);

    // After a restart the index on disk still answers, with the new rules.
    let app = app.restart().await;
    let reopened = wait_until(Duration::from_secs(30), || async {
        app.get("/v1/collections/docs/search?q=garden")
            .await
            .status()
            == 200
    })
    .await;
    assert!(reopened, "the index answers after the restart");
    let (found, body) = ids(&app, "q=garden%20hose").await;
    assert_eq!(found, ["popular", "plain"], "{body}");
    assert_eq!(index_generation_dir(&app), built, "not rebuilt on restart");

    // Stop words change what is indexed: a new index is built.
    let response = app
        .patch_json("/v1/collections/docs", &json!({"stopWords": ["reel"]}))
        .await;
    assert_eq!(response.status(), 200);
    let rebuilt = wait_until(Duration::from_secs(30), || async {
        index_generation_dir(&app) != built
    })
    .await;
    assert!(rebuilt, "a change of what is indexed builds a new index");
}
