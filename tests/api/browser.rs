//! The search page and Swagger UI in a real browser: headless Chromium from Debian's
//! `chromium` package, driven over WebDriver by Debian's `chromedriver` (both installed
//! by `scripts/test.sh` when missing). A failing test saves a screenshot under
//! `target/browser-screenshots/`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, json_body, wait_until};

const WAIT: Duration = Duration::from_secs(15);

/// chromedriver on a port of its own, and a WebDriver session with headless Chromium.
struct Browser {
    driver: Child,
    client: Client,
    profile: std::path::PathBuf,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test.sh installs chromium-driver)");
        let up = wait_until(WAIT, || async {
            TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        assert!(up, "chromedriver did not start");
        let profile = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chromium-{}", uuid::Uuid::new_v4().simple()));
        // Flags as the machine notes say: the closed network refuses Chromium's own
        // background connections, so those are turned off.
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless Chromium");
        Browser {
            driver,
            client,
            profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Runs `test` with a browser and a sift holding the demo collection; on a panic,
/// saves a screenshot named after the test, then fails.
async fn in_browser<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Client, TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    in_browser_with(name, |_| {}, test).await
}

/// [`in_browser`], with the service's configuration changed by `configure` first.
async fn in_browser_with<F, Fut>(
    name: &str,
    configure: impl FnOnce(&mut sift::config::Config),
    test: F,
) where
    F: FnOnce(Client, TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let app = TestApp::spawn_with(|config| {
        config.demo = true;
        // The page sends a search per disjunctive facet at once, and the test its own
        // beside them: on two cores and a debug build, the default bound (twice the
        // cores) answered one of them 503 `search_queue_full`. Overload has tests of
        // its own (`search.rs`); these are about the page.
        config.max_searches = 64;
        configure(config);
    })
    .await;
    // The demo collection is loaded before the service starts; wait for its index.
    let ready = wait_until(WAIT, || async {
        app.get("/v1/collections/products/search?q=lamp")
            .await
            .status()
            == 200
    })
    .await;
    assert!(ready, "the demo collection's index was not built");
    let browser = Browser::start().await;
    let client = browser.client.clone();
    let outcome = AssertUnwindSafe(test(client.clone(), app))
        .catch_unwind()
        .await;
    if let Err(panic) = outcome {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("..")
            .join("browser-screenshots");
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{name}.png"));
            if std::fs::write(&path, png).is_ok() {
                eprintln!("screenshot: {}", path.display());
            }
        }
        let _ = client.close().await;
        std::panic::resume_unwind(panic);
    }
    // `SIFT_SCREENSHOTS=<dir>` keeps each test's last view, for a run-through by eye.
    if let Some(dir) = std::env::var_os("SIFT_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }
    let _ = client.close().await;
}

/// The ids of the results on the page, in order.
async fn result_ids(client: &Client) -> Vec<String> {
    let value = client
        .execute(
            "return [...document.querySelectorAll('#results [role=option]')].map(li => li.dataset.id)",
            vec![],
        )
        .await
        .expect("script runs");
    serde_json::from_value(value).unwrap_or_default()
}

/// The ids the API answers for `q`, as the page asks (10 hits).
async fn api_ids(app: &TestApp, q: &str) -> Vec<String> {
    let q = q.replace(' ', "%20");
    json_body(
        app.get(&format!("/v1/collections/products/search?q={q}&limit=10"))
            .await,
    )
    .await["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The ids the API answers for a whole query string (`q=...&sort=...`), URL-encoded
/// here.
async fn api_ids_for(app: &TestApp, params: &[(&str, &str)]) -> Vec<String> {
    let response = app
        .client
        .get(app.url("/v1/collections/products/search"))
        .query(params)
        .send()
        .await
        .expect("search");
    assert_eq!(response.status(), 200);
    json_body(response).await["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Clicks the facet chip of `value` (its text is `value (count)`); its count.
async fn click_chip(client: &Client, value: &str) -> u64 {
    let count = chip_count(client, value)
        .await
        .unwrap_or_else(|| panic!("no chip for {value}"));
    client
        .execute(
            "[...document.querySelectorAll('#facets .chip')]
               .find(c => c.textContent.startsWith(arguments[0] + ' (')).click();",
            vec![json!(value)],
        )
        .await
        .expect("script runs");
    count
}

/// The count the chip of `value` shows, if there is one.
async fn chip_count(client: &Client, value: &str) -> Option<u64> {
    client
        .execute(
            "const chip = [...document.querySelectorAll('#facets .chip')]
               .find(c => c.textContent.startsWith(arguments[0] + ' ('));
             return chip ? Number(chip.textContent.slice(arguments[0].length + 2, -1)) : null;",
            vec![json!(value)],
        )
        .await
        .ok()
        .and_then(|v| v.as_u64())
}

async fn status_text(client: &Client) -> String {
    client
        .find(Locator::Id("status"))
        .await
        .expect("status line")
        .text()
        .await
        .unwrap_or_default()
}

/// Waits until `condition` holds on the page, or fails with `what`.
async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    assert!(wait_until(WAIT, condition).await, "never happened: {what}");
}

async fn open_page(client: &Client, app: &TestApp) -> fantoccini::elements::Element {
    client.goto(&app.url("/")).await.expect("page loads");
    eventually("the page is ready", || async {
        client
            .execute("return document.body.dataset.ready === 'true'", vec![])
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;
    client.find(Locator::Id("q")).await.expect("search box")
}

#[tokio::test]
async fn typing_a_query_with_a_typo_shows_the_expected_document_first() {
    in_browser("typo_query", |client, app| async move {
        let search = open_page(&client, &app).await;
        search.send_keys("espreso machne").await.expect("typing");
        eventually("an espresso machine comes first", || async {
            let first = client
                .find(Locator::Css("#results [role=option] .title"))
                .await;
            match first {
                Ok(title) => title
                    .text()
                    .await
                    .is_ok_and(|t| t.to_lowercase().contains("espresso machine")),
                Err(_) => false,
            }
        })
        .await;
        // The match is highlighted, and the status says the time and cache level.
        let marked = client
            .find(Locator::Css("#results [role=option] .title mark"))
            .await
            .expect("a highlighted word");
        assert!(!marked.text().await.expect("text").is_empty());
        let status = status_text(&client).await;
        assert!(status.contains("ms server time"), "{status}");
        assert!(status.contains("cache"), "{status}");
    })
    .await;
}

#[tokio::test]
async fn no_results_leave_no_empty_facet_headings_and_the_placeholder_names_the_collection() {
    in_browser("empty_facets", |client, app| async move {
        let search = open_page(&client, &app).await;
        let placeholder = search
            .attr("placeholder")
            .await
            .expect("attribute")
            .unwrap_or_default();
        assert_eq!(placeholder, "Search products…");
        let headings = || async {
            client
                .execute(
                    "return document.querySelectorAll('#facets h3').length",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
        };
        search.send_keys("lamp").await.expect("typing");
        eventually("facets for a query with results", || async {
            headings().await > 0
        })
        .await;
        search.clear().await.expect("clear");
        search.send_keys("qqxqzzvqk ").await.expect("typing");
        eventually("no results", || async {
            status_text(&client).await.starts_with("No results")
        })
        .await;
        assert_eq!(headings().await, 0, "no heading over an empty facet");
    })
    .await;
}

#[tokio::test]
async fn the_page_opens_on_the_demo_not_a_benchmark_collection_and_remembers_a_choice() {
    in_browser("default_collection", |client, app| async move {
        // A benchmark's collection sorts before the demo's.
        let created = app
            .post_json(
                "/v1/collections",
                &json!({"name": "bench-reviews-300", "fields": [{"name": "body", "type": "text"}]}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let picked = || async {
            client
                .execute("return document.getElementById('collection').value", vec![])
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        open_page(&client, &app).await;
        assert_eq!(picked().await, "products", "a first visit opens the demo");
        client
            .find(Locator::Id("collection"))
            .await
            .expect("the picker")
            .select_by_value("bench-reviews-300")
            .await
            .expect("choose");
        open_page(&client, &app).await;
        assert_eq!(
            picked().await,
            "bench-reviews-300",
            "the choice is remembered"
        );
        client
            .goto(&app.url("/?collection=products"))
            .await
            .expect("page loads");
        eventually("?collection= wins", || async {
            picked().await == "products"
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn fast_typing_ends_with_the_results_of_the_last_query() {
    in_browser("fast_typing", |client, app| async move {
        let search = open_page(&client, &app).await;
        // Every keystroke is an input event: "k", "ke", ... each a search of its own,
        // typed faster than they are answered.
        search.send_keys("kettle blac").await.expect("typing");
        let expected = api_ids(&app, "kettle blac").await;
        assert!(!expected.is_empty());
        eventually("the page shows the last query's results", || async {
            result_ids(&client).await == expected
        })
        .await;
        // And nothing arrives later to replace them.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(result_ids(&client).await, expected);
    })
    .await;
}

#[tokio::test]
async fn arrow_keys_move_through_results_enter_opens_escape_closes() {
    in_browser("keyboard", |client, app| async move {
        let search = open_page(&client, &app).await;
        search.send_keys("lamp").await.expect("typing");
        let ids = api_ids(&app, "lamp").await;
        assert!(ids.len() >= 3);
        eventually("the results of `lamp`", || async {
            result_ids(&client).await == ids
        })
        .await;
        assert_eq!(
            search.attr("aria-activedescendant").await.expect("attr"),
            Some("result-0".into())
        );
        search
            .send_keys(&format!("{}{}", Key::Down, Key::Down))
            .await
            .expect("arrows");
        search.send_keys(&Key::Up.to_string()).await.expect("up");
        let selected = client
            .find(Locator::Css("#results [aria-selected=true]"))
            .await
            .expect("a selected option");
        assert_eq!(
            selected.attr("id").await.expect("id"),
            Some("result-1".into())
        );
        assert_eq!(
            search.attr("aria-activedescendant").await.expect("attr"),
            Some("result-1".into())
        );

        search
            .send_keys(&Key::Enter.to_string())
            .await
            .expect("enter");
        let panel = client.find(Locator::Id("panel")).await.expect("panel");
        eventually("the document opens", || async {
            panel.attr("hidden").await.is_ok_and(|h| h.is_none())
        })
        .await;
        // The JSON is folded under the readable fields: read it whole.
        let json_text = client
            .execute(
                "return document.getElementById('panel-json').textContent",
                vec![],
            )
            .await
            .expect("json");
        let document: Value = serde_json::from_str(json_text.as_str().unwrap_or_default())
            .expect("the panel has JSON");
        assert_eq!(document["id"], ids[1].as_str());

        client
            .active_element()
            .await
            .expect("focus")
            .send_keys(&Key::Escape.to_string())
            .await
            .expect("escape");
        eventually("the panel closes", || async {
            panel.attr("hidden").await.is_ok_and(|h| h.is_some())
        })
        .await;
        let focused = client.active_element().await.expect("focus");
        assert_eq!(focused.attr("id").await.expect("id"), Some("q".into()));
    })
    .await;
}

#[tokio::test]
async fn the_engine_switch_shows_all_three_timings() {
    in_browser("engines", |client, app| async move {
        let search = open_page(&client, &app).await;
        search.send_keys("wireless").await.expect("typing");
        eventually("results", || async { !result_ids(&client).await.is_empty() }).await;
        client
            .find(Locator::Css("input[name=engine][value=ilike]"))
            .await
            .expect("ilike switch")
            .click()
            .await
            .expect("click");
        eventually("three timings", || async {
            let rows = client
                .execute(
                    "return [...document.querySelectorAll('#timings tbody tr')].map(r => [r.dataset.engine, r.cells[1].textContent])",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            let rows: Vec<(String, String)> = serde_json::from_value(rows).unwrap_or_default();
            rows.len() == 3
                && ["index", "ilike", "fts"]
                    .iter()
                    .zip(&rows)
                    .all(|(engine, (name, time))| name == engine && time.ends_with(" ms"))
        })
        .await;
        let status = status_text(&client).await;
        assert!(status.contains("ilike"), "{status}");
    })
    .await;
}

#[tokio::test]
async fn swagger_ui_loads_the_spec_and_try_it_out_searches() {
    in_browser("swagger_try_it_out", |client, app| async move {
        client.goto(&app.url("/docs/")).await.expect("Swagger UI loads");
        let operation = client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#operations-search-search_get .opblock-summary"))
            .await
            .expect("the search operation is listed");
        operation.click().await.expect("expand");
        client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#operations-search-search_get .try-out__btn"))
            .await
            .expect("try it out")
            .click()
            .await
            .expect("click");
        client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("#operations-search-search_get .execute"))
            .await
            .expect("execute")
            .click()
            .await
            .expect("click");
        eventually("a 200 with hits", || async {
            // The live response table: a row per response, status then body.
            let rows = client
                .execute(
                    "return [...document.querySelectorAll('#operations-search-search_get .live-responses-table tbody tr')].map(r => r.innerText)",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            let rows: Vec<String> = serde_json::from_value(rows).unwrap_or_default();
            rows.iter()
                .any(|row| row.trim_start().starts_with("200") && row.contains("\"hits\""))
        })
        .await;
    })
    .await;
}

/// Swagger UI's element for an operation (`#operations-{tag}-{operationId}`).
fn operation(tag: &str, id: &str) -> String {
    format!("#operations-{tag}-{id}")
}

/// Opens `op` in Swagger UI, presses "Try it out", types `fill` into the named
/// parameters (those without an example), presses "Execute" and returns the live
/// response's status and body text.
async fn try_it_out(client: &Client, op: &str, fill: &[(&str, &str)]) -> (u16, String) {
    let summary = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("{op} .opblock-summary")))
        .await
        .unwrap_or_else(|_| panic!("{op} is listed"));
    summary.click().await.expect("expand");
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("{op} .try-out__btn")))
        .await
        .unwrap_or_else(|_| panic!("{op}: try it out"))
        .click()
        .await
        .expect("click");
    for (param, value) in fill {
        let input = client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&format!(
                "{op} tr[data-param-name=\"{param}\"] input"
            )))
            .await
            .unwrap_or_else(|_| panic!("{op}: the {param} input"));
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }
    let execute = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("{op} .execute")))
        .await
        .unwrap_or_else(|_| panic!("{op}: execute"));
    // In the middle of the view: at its bottom edge a click can miss the button.
    client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'})",
            vec![serde_json::to_value(&execute).expect("element")],
        )
        .await
        .expect("scroll");
    execute.click().await.expect("click");
    let answer = std::sync::Mutex::new((0u16, String::new()));
    let answered = wait_until(WAIT, || async {
        let row = client
            .execute(
                "const row = document.querySelector(arguments[0] + ' .live-responses-table tbody tr.response');
                 if (!row) return null;
                 const body = row.querySelector('.response-col_description pre');
                 return [row.querySelector('.response-col_status').innerText, body ? body.innerText : ''];",
                vec![json!(op)],
            )
            .await
            .unwrap_or(Value::Null);
        match row.as_array().map(|cells| cells.as_slice()) {
            Some([Value::String(status), Value::String(body)]) => {
                let status = status.trim().parse().unwrap_or(0);
                *answer.lock().expect("answer") = (status, body.clone());
                status != 0
            }
            _ => false,
        }
    })
    .await;
    if !answered {
        let shown = client
            .execute(
                "const el = document.querySelector(arguments[0] + ' .responses-inner'); return el ? el.innerText.slice(0, 600) : 'none';",
                vec![json!(op)],
            )
            .await
            .unwrap_or(Value::Null);
        panic!("{op}: no response shown: {shown}");
    }
    // Folded again, so the next operation's elements are the only ones open; scrolled
    // to first, since a long answer can leave the summary under the page's top edge.
    client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'})",
            vec![serde_json::to_value(&summary).expect("element")],
        )
        .await
        .expect("scroll");
    summary.click().await.expect("fold");
    answer.into_inner().expect("answer")
}

#[tokio::test]
async fn try_it_out_answers_2xx_on_every_operation_with_its_shipped_example() {
    const ADMIN: &str = "swagger-admin-key";
    in_browser_with(
        "swagger_every_operation",
        |config| config.api_key = Some(ADMIN.into()),
        |client, app| async move {
            client
                .goto(&app.url("/docs/"))
                .await
                .expect("Swagger UI loads");
            // Authorize with the admin key, as a user does for writes.
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(".btn.authorize"))
                .await
                .expect("the Authorize button")
                .click()
                .await
                .expect("click");
            let key_input = client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(".auth-container input"))
                .await
                .expect("the key input");
            key_input.send_keys(ADMIN).await.expect("type the key");
            client
                .find(Locator::Css(".auth-btn-wrapper .authorize"))
                .await
                .expect("authorize")
                .click()
                .await
                .expect("click");
            client
                .find(Locator::Css(".auth-btn-wrapper .btn-done"))
                .await
                .expect("close")
                .click()
                .await
                .expect("click");

            // Every operation of the spec, in an order where each example's data exists:
            // the document is written before it is read, the demo collection deleted last.
            let order = [
                ("operations", "health"),
                ("operations", "live"),
                ("operations", "ready"),
                ("operations", "metrics"),
                ("collections", "list_collections"),
                ("collections", "create_collection"),
                ("collections", "get_collection"),
                ("collections", "update_collection"),
                ("documents", "list_documents"),
                ("documents", "create_document"),
                ("documents", "put_document"),
                ("documents", "get_document"),
                ("documents", "patch_document"),
                ("documents", "import_documents"),
                ("documents", "delete_documents"),
                ("search", "search_get"),
                ("search", "search_post"),
                ("search", "suggest"),
                ("search", "facet_search"),
                ("search", "multi_search"),
                ("search", "events"),
                ("search", "analytics"),
                ("collections", "reindex"),
                ("keys", "create_key"),
                ("keys", "list_keys"),
                ("keys", "get_key"),
                ("keys", "delete_key"),
                ("documents", "delete_document"),
                ("collections", "delete_collection"),
            ];
            let spec = json_body(app.get("/openapi.json").await).await;
            let mut in_spec: Vec<String> = spec["paths"]
                .as_object()
                .expect("paths")
                .values()
                .flat_map(|ops| ops.as_object().expect("operations").values())
                .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
                .collect();
            in_spec.sort();
            let mut tried: Vec<String> = order.iter().map(|(_, id)| id.to_string()).collect();
            tried.sort();
            assert_eq!(tried, in_spec, "every operation is tried, once");

            let mut key_id = String::new();
            for (tag, id) in order {
                let fill: Vec<(&str, &str)> = match id {
                    "get_key" | "delete_key" => vec![("id", key_id.as_str())],
                    _ => Vec::new(),
                };
                let (status, body) = try_it_out(&client, &operation(tag, id), &fill).await;
                assert!(
                    (200..300).contains(&status),
                    "{id} answered {status}: {body}"
                );
                if id == "import_documents" {
                    let report: Value = serde_json::from_str(&body).expect("an import report");
                    assert_eq!(report["failed"], 0, "{body}");
                    assert!(report["imported"].as_u64() > Some(0), "{body}");
                }
                if id == "create_key" {
                    let created: Value = serde_json::from_str(&body).expect("the created key");
                    key_id = created["id"].as_str().expect("an id").to_owned();
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn sort_and_a_price_range_show_what_the_api_answers() {
    in_browser("sort_and_range", |client, app| async move {
        open_page(&client, &app).await;
        client
            .find(Locator::Id("sort"))
            .await
            .expect("the sort control")
            .select_by_value("price:asc")
            .await
            .expect("sort by price");
        client
            .find(Locator::Id("range-price-min"))
            .await
            .expect("price min")
            .send_keys("100")
            .await
            .expect("type");
        client
            .find(Locator::Id("range-price-max"))
            .await
            .expect("price max")
            .send_keys("200")
            .await
            .expect("type");
        let want = api_ids_for(
            &app,
            &[
                ("q", ""),
                ("limit", "10"),
                ("sort", "price:asc"),
                ("filter", "price >= 100 AND price <= 200"),
            ],
        )
        .await;
        assert_eq!(want.len(), 10, "the demo has enough products in range");
        eventually("the cheapest products from 100 to 200 first", || async {
            result_ids(&client).await == want
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn facet_values_are_or_ed_and_their_counts_stay_those_without_their_own_filter() {
    in_browser("disjunctive_facets", |client, app| async move {
        open_page(&client, &app).await;
        let all = json_body(
            app.get("/v1/collections/products/search?q=&limit=1&facets=category")
                .await,
        )
        .await;
        let values: Vec<(String, u64)> = all["facets"]["category"]
            .as_array()
            .expect("category counts")
            .iter()
            .map(|c| {
                (
                    c["value"].as_str().expect("value").to_owned(),
                    c["count"].as_u64().expect("count"),
                )
            })
            .collect();
        assert!(values.len() >= 3, "the demo has three categories or more");
        let (first, second, third) = (&values[0], &values[1], &values[2]);
        eventually("the facets are shown", || async {
            chip_count(&client, &first.0).await.is_some()
        })
        .await;
        assert_eq!(click_chip(&client, &first.0).await, first.1);
        // With one value chosen, the other values keep their counts (OR, not AND).
        eventually("the second value keeps its count", || async {
            chip_count(&client, &second.0).await == Some(second.1)
        })
        .await;
        assert_eq!(click_chip(&client, &second.0).await, second.1);
        let filter = format!(
            "(category = \"{}\" OR category = \"{}\")",
            first.0, second.0
        );
        let want = api_ids_for(&app, &[("q", ""), ("limit", "10"), ("filter", &filter)]).await;
        eventually("the products of either category", || async {
            result_ids(&client).await == want
        })
        .await;
        let total = json_body(
            app.client
                .get(app.url("/v1/collections/products/search"))
                .query(&[("q", ""), ("filter", filter.as_str())])
                .send()
                .await
                .expect("search"),
        )
        .await["total"]
            .as_u64()
            .expect("total");
        assert_eq!(total, first.1 + second.1);
        assert_eq!(chip_count(&client, &third.0).await, Some(third.1));
    })
    .await;
}

#[tokio::test]
async fn load_more_appends_the_next_page() {
    in_browser("load_more", |client, app| async move {
        open_page(&client, &app).await;
        let want = api_ids_for(&app, &[("q", ""), ("limit", "20")]).await;
        eventually("the first page", || async {
            result_ids(&client).await == want[..10]
        })
        .await;
        client
            .find(Locator::Id("more"))
            .await
            .expect("the button")
            .click()
            .await
            .expect("click");
        eventually("twenty results, in the API's order", || async {
            result_ids(&client).await == want
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn cards_show_the_fields_the_page_is_told_to() {
    in_browser("display_fields", |client, app| async move {
        client
            .goto(&app.url("/?title=brand&subtitle=category"))
            .await
            .expect("page loads");
        let first = json_body(app.get("/v1/collections/products/search?q=&limit=1").await).await;
        let document = &first["hits"][0]["document"];
        let want = format!(
            "{}|{}",
            document["brand"].as_str().expect("brand"),
            document["category"].as_str().expect("category")
        );
        eventually("the first card shows brand over category", || async {
            client
                .execute(
                    "const li = document.querySelector('#results li');
                     return li ? li.querySelector('.title').textContent + '|' + li.querySelector('.snippet').textContent : '';",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                == Some(want.clone())
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn the_document_view_lists_the_fields_readably_with_the_json_folded() {
    in_browser("document_view", |client, app| async move {
        let search = open_page(&client, &app).await;
        search.send_keys("kettle").await.expect("typing");
        let want = api_ids(&app, "kettle").await;
        eventually("results", || async { result_ids(&client).await == want }).await;
        search
            .send_keys(&Key::Enter.to_string())
            .await
            .expect("enter");
        let stored = json_body(
            app.get(&format!("/v1/collections/products/documents/{}", want[0]))
                .await,
        )
        .await;
        let price = stored["document"]["price"].as_f64().expect("price");
        eventually("the fields are listed, price among them", || async {
            let pairs = client
                .execute(
                    "return [...document.querySelectorAll('#panel-fields dt')]
                       .map(dt => [dt.textContent, dt.nextElementSibling.textContent]);",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            let pairs: Vec<(String, String)> = serde_json::from_value(pairs).unwrap_or_default();
            pairs.first().map(|p| p.0.as_str()) == Some("title")
                && pairs
                    .iter()
                    .any(|(k, v)| k == "price" && v == &price.to_string())
                && pairs
                    .iter()
                    .any(|(k, v)| k == "inStock" && (v == "yes" || v == "no"))
        })
        .await;
        let folded = client
            .execute(
                "return document.querySelector('#panel details').open",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(folded, json!(false), "the JSON is folded");
    })
    .await;
}

#[tokio::test]
async fn a_query_in_the_address_is_searched_at_once() {
    in_browser("query_in_address", |client, app| async move {
        client
            .goto(&app.url("/?q=espreso%20machne"))
            .await
            .expect("page loads");
        let want = api_ids(&app, "espreso machne").await;
        assert!(!want.is_empty());
        eventually("the linked search's results", || async {
            result_ids(&client).await == want
        })
        .await;
        let typed = client
            .execute("return document.getElementById('q').value", vec![])
            .await
            .expect("script");
        assert_eq!(typed, json!("espreso machne"));
    })
    .await;
}
