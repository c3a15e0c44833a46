//! The deployment files in `deploy/`: the Kubernetes manifests validate against the
//! Kubernetes API schema (`kubernetes-validate`, offline, strict), the systemd unit
//! passes `systemd-analyze verify`, and the probes they name answer on a real sift.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::TestApp;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/test.sh` installs kubernetes-validate (pinned) beside schemathesis;
/// `SIFT_KUBERNETES_VALIDATE` names another.
fn kubernetes_validate() -> PathBuf {
    if let Some(path) = std::env::var_os("SIFT_KUBERNETES_VALIDATE") {
        return PathBuf::from(path);
    }
    let path = root().join("target/schemathesis/bin/kubernetes-validate");
    assert!(
        path.exists(),
        "kubernetes-validate is not installed at {}: run scripts/test.sh (it installs it), or set SIFT_KUBERNETES_VALIDATE",
        path.display()
    );
    path
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .map(|entry| entry.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn kubernetes_manifests_validate_against_the_api_schema() {
    let files = manifests();
    assert!(
        files.len() >= 3,
        "deployment, service, disruption budget: {files:?}"
    );
    let output = Command::new(kubernetes_validate())
        .arg("--strict")
        .args(&files)
        .output()
        .expect("run kubernetes-validate");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    for kind in [
        "deployment/sift",
        "service/sift",
        "poddisruptionbudget/sift",
    ] {
        assert!(
            report.contains(&format!("passed for resource {kind}")),
            "{report}"
        );
    }

    // The validator does catch a mistake: a port given as a string.
    let broken = std::env::temp_dir().join(format!("sift-broken-{}.yaml", std::process::id()));
    let deployment = std::fs::read_to_string(root().join("deploy/kubernetes/deployment.yaml"))
        .expect("deployment");
    std::fs::write(
        &broken,
        deployment.replace("containerPort: 8080", "containerPort: \"8080\""),
    )
    .expect("write");
    let refused = Command::new(kubernetes_validate())
        .arg("--strict")
        .arg(&broken)
        .output()
        .expect("run kubernetes-validate");
    let _ = std::fs::remove_file(&broken);
    assert!(!refused.status.success(), "a broken manifest is refused");
}

#[tokio::test]
async fn the_probes_the_manifests_name_answer() {
    let deployment = std::fs::read_to_string(root().join("deploy/kubernetes/deployment.yaml"))
        .expect("deployment");
    let app = TestApp::spawn().await;
    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/live")] {
        let named = deployment
            .split(probe)
            .nth(1)
            .and_then(|rest| rest.lines().find(|l| l.trim_start().starts_with("path:")))
            .map(|l| l.trim_start().trim_start_matches("path:").trim().to_owned());
        assert_eq!(named.as_deref(), Some(path), "{probe}");
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(root().join("deploy/systemd/sift.service")).expect("unit");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/sift serve"),
        "{unit}"
    );
    // verify checks that the command exists: point it at the binary under test.
    let dir = std::env::temp_dir().join(format!("sift-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("sift.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/sift", env!("CARGO_BIN_EXE_sift")),
    )
    .expect("write");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test.sh installs it)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
