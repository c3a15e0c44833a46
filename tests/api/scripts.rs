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
