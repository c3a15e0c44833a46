use crate::helpers::{TestApp, json_body};

/// `openapi/openapi.json` is what the handlers generate. Run with
/// `SIFT_UPDATE_OPENAPI=1` to write it after changing the API.
#[test]
fn committed_spec_matches_the_handlers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let generated = sift::routes::openapi_json();
    if std::env::var_os("SIFT_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the handlers; run `SIFT_UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

#[test]
fn every_error_code_is_documented_in_the_readme_and_the_spec() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README");
    let spec = sift::routes::openapi_json();
    for code in sift::error::ErrorCode::ALL {
        let row = format!("| `{}` | {} |", code.as_str(), code.status().as_u16());
        assert!(readme.contains(&row), "README's error table lacks {row}");
        assert!(
            spec.contains(&format!("`{}`", code.as_str())),
            "spec lacks {}",
            code.as_str()
        );
    }
}

#[tokio::test]
async fn spec_and_swagger_ui_are_served() {
    let app = TestApp::spawn().await;
    let spec = json_body(app.get("/openapi.json").await).await;
    assert_eq!(spec["info"]["title"], "sift");
    assert!(spec["paths"]["/v1/collections/{name}/documents:import"]["post"].is_object());
    assert!(spec["components"]["securitySchemes"]["admin_key"].is_object());
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("swagger-ui"));
    let script = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("js");
    assert!(
        script.contains("/openapi.json"),
        "Swagger UI loads our spec"
    );
}
