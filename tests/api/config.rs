//! Configuration errors stop the binary with status 2 and one line per problem.

use std::process::Command;

fn serve(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sift"));
    command.arg("serve").env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    // No .env file is read from this directory.
    command.current_dir(std::env::temp_dir());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run sift serve");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn missing_and_malformed_settings_exit_with_2_and_name_each_problem() {
    let (code, stderr) = serve(&[
        ("SIFT_BIND", "not-an-address"),
        ("SIFT_REQUEST_TIMEOUT", "soon"),
        ("SIFT_LOG_FORMAT", "xml"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 4, "{stderr}");
    for name in [
        "DATABASE_URL",
        "SIFT_BIND",
        "SIFT_REQUEST_TIMEOUT",
        "SIFT_LOG_FORMAT",
    ] {
        assert!(
            errors.iter().any(|l| l.contains(name)),
            "{name} not named: {stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn secrets_are_not_echoed() {
    let (code, stderr) = serve(&[
        ("DATABASE_URL", "mysql://root:hunter2@db/x"),
        ("SIFT_API_KEY", "short"),
    ]);
    assert_eq!(code, Some(2));
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("short"),
        "{stderr}"
    );
    assert!(stderr.contains("SIFT_API_KEY (--api-key): must be at least 16 characters"));
}

#[test]
fn an_unreachable_database_exits_with_1() {
    let (code, stderr) = serve(&[
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/sift"),
        ("SIFT_LOG_FORMAT", "json"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
}

#[test]
fn help_lists_every_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_sift"))
        .args(["serve", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&output.stdout);
    for name in [
        "DATABASE_URL",
        "REDIS_URL",
        "SIFT_BIND",
        "SIFT_INDEX_DIR",
        "SIFT_DB_MAX_CONNECTIONS",
        "SIFT_DB_ACQUIRE_TIMEOUT",
        "SIFT_REDIS_POOL_SIZE",
        "SIFT_REQUEST_TIMEOUT",
        "SIFT_ANALYTICS_RETENTION",
        "SIFT_ANALYTICS_FLUSH_INTERVAL",
        "SIFT_CHANGE_LOG_TRIM_INTERVAL",
        "SIFT_REPLICA_TIMEOUT",
        "SIFT_INDEX_AUDIT_INTERVAL",
        "SIFT_COLLECTIONS",
        "SIFT_DATABASE_REPLICA_URL",
        "SIFT_STANDBY_MAX_LAG",
        "SIFT_STANDBY_FALLBACK",
        "SIFT_BODY_LIMIT",
        "SIFT_CORS_ORIGINS",
        "SIFT_TRUSTED_PROXIES",
        "SIFT_LOG_FORMAT",
        "SIFT_LOG_LEVEL",
        "SIFT_API_KEY",
        "SIFT_SLOW_REQUEST_THRESHOLD",
        "SIFT_SHUTDOWN_TIMEOUT",
        "SIFT_DISK_MIN_FREE",
        "SIFT_DEMO",
    ] {
        assert!(
            help.contains(&format!("[env: {name}")),
            "--help lacks {name}"
        );
    }
}
