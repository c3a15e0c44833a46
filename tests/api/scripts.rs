//! The scripts a new user runs first.

use std::process::Command;
use std::time::{Duration, Instant};

/// `scripts/serve.sh` on a port another program holds stops at once and says so,
/// instead of reporting that sift runs (its readiness poll would reach the other one).
#[test]
fn serve_refuses_a_port_in_use_and_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut command = Command::new("bash");
    command
        .arg(format!("{root}/scripts/serve.sh"))
        .env("SIFT_BIND", format!("127.0.0.1:{port}"));
    // The databases the suite runs against (scripts/test.sh exports them).
    for name in ["DATABASE_URL", "REDIS_URL"] {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    let started = Instant::now();
    let output = command.output().expect("run serve.sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(!stderr.contains("sift is running"), "{stderr}");
    // Before building anything.
    assert!(!stderr.contains("building sift"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(taken);
}

/// The README's five-command quickstart, run as written (with `S` pointed at a test
/// server): each step answers what its comment says.
#[tokio::test]
async fn the_readme_quickstart_works_as_written() {
    let app = crate::helpers::TestApp::spawn().await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = readme
        .split("## Five commands to a faceted search")
        .nth(1)
        .expect("the quickstart section");
    let script = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("its shell block");
    assert!(script.contains("S=http://127.0.0.1:8080"), "{script}");
    let script = script.replace("S=http://127.0.0.1:8080", &format!("S={}", app.url("")));
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .await
        .expect("run the quickstart");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Each answer is one JSON document printed without a newline between them.
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("JSON answers");
    assert_eq!(answers.len(), 4, "{stdout}");
    assert_eq!(answers[0]["name"], "books");
    assert_eq!(answers[1]["hits"][0]["id"], "foundation", "typo and filter");
    assert_eq!(answers[1]["total"], 1);
    assert_eq!(answers[2]["facets"]["genre"][0]["value"], "science-fiction");
    assert_eq!(answers[2]["facets"]["genre"][0]["count"], 3);
    assert_eq!(answers[3]["hits"][0]["id"], "solaris", "read your write");
}

/// Runs `scripts/<name>` with the binary under test, within `limit`; its stdout and
/// stderr, after asserting that it succeeded.
async fn run_script(name: &str, limit: std::time::Duration) -> (String, String) {
    let output = tokio::time::timeout(
        limit,
        tokio::process::Command::new("bash")
            .arg(format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR")))
            .arg(env!("CARGO_BIN_EXE_sift"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} ends within {limit:?}"))
    .unwrap_or_else(|error| panic!("run {name}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{name}: {stdout}{stderr}");
    (stdout, stderr)
}

/// `scripts/standby-test.sh`: a real primary and a streaming standby on private ports,
/// indexers reading from the standby, a transaction committing out of order, the
/// standby stopped and started again under writes; every write searchable, none lost.
#[tokio::test]
async fn a_replica_follows_a_streaming_standby_and_falls_back_to_the_primary() {
    let (_, stderr) = run_script("standby-test.sh", std::time::Duration::from_secs(300)).await;
    for step in [
        "5000 notes searchable through the standby",
        "a transaction that committed after later ones was applied, not skipped",
        "with the standby gone, writes searchable",
        "the replica that keeps off the primary was out of rotation while no standby kept up",
        "standby test passed: 5251 of 5251 notes searchable",
    ] {
        assert!(stderr.contains(step), "{step}: {stderr}");
    }
}

/// `scripts/cluster-test.sh`: a primary and a standby, Redis, three replicas with
/// placement behind HAProxy; a replica killed with SIGKILL and the standby restarted
/// under load; no acknowledged write lost, every `after=` search finds its write, every
/// replica converges.
#[tokio::test]
async fn three_replicas_behind_a_proxy_survive_a_kill_and_a_standby_restart() {
    let (stdout, stderr) = run_script("cluster-test.sh", std::time::Duration::from_secs(400)).await;
    assert!(
        stdout.contains("after= searches that missed their write: 0"),
        "{stdout}"
    );
    assert!(stderr.contains("cluster test passed"), "{stderr}");
}
