//! `TestApp`: a real sift on port 0 over a real PostgreSQL database of its own.
//!
//! `DATABASE_URL` names a server where the tests may create databases (the README's
//! test command provisions one). Each `TestApp` creates `sift_test_<uuid>`, and drops
//! it when the test ends.
//!
//! Migrations run once, into a template database named after the migrations
//! themselves (`sift_template_<hash>`); each test's database is a copy of it
//! (`CREATE DATABASE ... TEMPLATE`), as crates.io's `crates_io_test_db` does, so no
//! test pays for the migrations.

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sift::config::Config;
use sift::startup::Application;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must name a PostgreSQL server where tests can create databases; run scripts/test.sh")
}

/// `DATABASE_URL` naming the database `name` instead (credentials and options kept),
/// for a `sift` process a test starts.
pub fn database_url(name: &str) -> String {
    let mut url = reqwest::Url::parse(&admin_url()).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A database of its own for one test, dropped when the value is.
pub struct TestDatabase {
    pub name: String,
    pub options: PgConnectOptions,
}

/// The migrated template every test database is copied from: made once per server
/// and set of migrations (a changed migration gets a new name), under a temporary name
/// that is renamed when complete, so a run cut short never leaves a half-made template.
async fn template() -> &'static str {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for migration in sift::db::MIGRATOR.iter() {
                for byte in migration.checksum.iter() {
                    hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
                }
            }
            let name = format!("sift_template_{hash:016x}");
            let admin = admin_url();
            let mut connection = PgConnection::connect(&admin)
                .await
                .expect("connect to DATABASE_URL");
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut connection)
                    .await
                    .expect("look for the template");
            if !exists {
                let building = format!("sift_template_building_{}", uuid::Uuid::new_v4().simple());
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE \"{building}\""
                )))
                .execute(&mut connection)
                .await
                .expect("create the template");
                let options = PgConnectOptions::from_str(&admin)
                    .expect("valid DATABASE_URL")
                    .database(&building);
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("connect to the template");
                sift::db::migrate_up(&pool)
                    .await
                    .expect("migrate the template");
                pool.close().await;
                // Another test process may have won the race: then this copy goes.
                let renamed = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
                )))
                .execute(&mut connection)
                .await;
                if renamed.is_err() {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{building}\""
                    )))
                    .execute(&mut connection)
                    .await;
                }
            }
            connection.close().await.ok();
            name
        })
        .await
}

impl TestDatabase {
    /// A database of its own, migrated (a copy of the template).
    pub async fn create() -> TestDatabase {
        let admin = admin_url();
        let template = template().await;
        let name = format!("sift_test_{}", uuid::Uuid::new_v4().simple());
        let mut connection = PgConnection::connect(&admin)
            .await
            .expect("connect to DATABASE_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        )))
        .execute(&mut connection)
        .await
        .expect("create test database");
        connection.close().await.ok();
        let options = PgConnectOptions::from_str(&admin)
            .expect("valid DATABASE_URL")
            .database(&name);
        TestDatabase { name, options }
    }

    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(3)
            .connect_with(self.options.clone())
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on another thread does the work.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut connection) = PgConnection::connect(&admin_url()).await {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .execute(&mut connection)
                        .await;
                    }
                });
            }
        });
        let _ = handle.join();
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// A pool of the test's own, for looking at the database directly.
    pub db: PgPool,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
    index_dir: PathBuf,
    /// The configuration it was started with, for restarts and peers.
    pub config: Config,
    /// Held for its `Drop`, which drops the database; last, so it goes after the pools.
    /// `None` once handed to a restarted app.
    database: Option<TestDatabase>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with the configuration adjusted by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let database = TestDatabase::create().await;
        Self::spawn_on(database, configure).await
    }

    pub async fn spawn_on(database: TestDatabase, configure: impl FnOnce(&mut Config)) -> TestApp {
        // Under cargo's scratch directory for tests (target/tmp): an indexer still
        // finishing when a test ends cannot litter the system temp directory.
        let index_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(&database.name);
        let options = database.options.clone();
        Self::spawn_in(Some(database), options, index_dir, configure).await
    }

    /// Another replica over the same database (its own index directory), as a second
    /// process behind a load balancer would be. `configure` gets this app's Redis
    /// settings first.
    pub async fn spawn_peer(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let name = &self.database.as_ref().expect("database").name;
        let index_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-peer-{}", uuid::Uuid::new_v4().simple()));
        let (redis_url, cache) = (self.config.redis_url.clone(), self.config.cache.clone());
        Self::spawn_in(None, self.db_options().clone(), index_dir, |config| {
            config.redis_url = redis_url;
            config.cache = cache;
            configure(config)
        })
        .await
    }

    async fn spawn_in(
        database: Option<TestDatabase>,
        options: PgConnectOptions,
        index_dir: PathBuf,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        // `TEST_LOG=1 cargo test ...` shows the service's logs.
        if std::env::var_os("TEST_LOG").is_some() {
            sift::telemetry::init_tracing(sift::config::LogFormat::Pretty, "info,sift=debug");
        }
        let mut config = Config::for_database(options.clone(), index_dir.clone());
        // Small pools: many tests run at once against one server.
        config.db_pool.max_connections = 3;
        // Tests share a Redis: keys of their own (collection ids repeat across databases).
        config.cache.key_prefix =
            format!("sift-test-{}", options.get_database().unwrap_or("unknown"));
        configure(&mut config);
        let kept = config.clone();
        let application = Application::build(config)
            .await
            .expect("application builds");
        let port = application.port();
        let shutdown = application.shutdown_token();
        let server = tokio::spawn(application.run_until_stopped());
        let db = PgPoolOptions::new()
            .max_connections(3)
            .connect_with(options)
            .await
            .expect("connect to test database");
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::new(),
            db,
            shutdown,
            server: Some(server),
            index_dir,
            config: kept,
            database,
        }
    }

    pub fn db_options(&self) -> &PgConnectOptions {
        &self.database.as_ref().expect("database").options
    }

    pub fn index_dir(&self) -> &std::path::Path {
        &self.index_dir
    }

    /// Stops this app gracefully and starts another over the same database and index
    /// directory, as a process restart would.
    pub async fn restart(self) -> TestApp {
        self.restart_after(async |_| {}).await
    }

    /// [`TestApp::restart`], running `between` on the test's pool while no process
    /// serves: what happens while a replica is away.
    pub async fn restart_after(mut self, between: impl AsyncFnOnce(&PgPool)) -> TestApp {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let database = self.database.take().expect("database");
        let options = database.options.clone();
        let index_dir = std::mem::take(&mut self.index_dir);
        let kept = self.config.clone();
        between(&self.db).await;
        drop(self);
        Self::spawn_in(Some(database), options, index_dir, |config| {
            config.redis_url = kept.redis_url;
            config.cache = kept.cache;
            config.retention = kept.retention;
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn import(&self, collection: &str, ndjson: String) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/collections/{collection}/documents:import")))
            .header("content-type", "application/x-ndjson")
            .body(ndjson)
            .send()
            .await
            .expect("request sent")
    }

    /// Returns once the writes behind `token` are searchable in `collection`. A search
    /// with `after` waits for them up to the service's consistency timeout (5 s) and
    /// answers 504 when it passes: a large import on a loaded machine may take several.
    pub async fn wait_for_token(&self, collection: &str, token: &str) {
        let path = format!("/v1/collections/{collection}/search?q=&after={token}&cache=false");
        let status = std::cell::Cell::new(0);
        let answered = wait_until(Duration::from_secs(120), || async {
            status.set(self.get(&path).await.status().as_u16());
            status.get() != 504
        })
        .await;
        assert!(
            answered && status.get() == 200,
            "after={token}: {}",
            status.get()
        );
    }

    /// Creates the `products` collection used by most tests.
    pub async fn create_products(&self) {
        let response = self.post_json("/v1/collections", &products_schema()).await;
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
        // Empty once handed to a restarted app.
        if !self.index_dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.index_dir);
        }
    }
}

pub fn products_schema() -> Value {
    json!({
        "name": "products",
        "fields": [
            {"name": "title", "type": "text", "boost": 3.0},
            {"name": "description", "type": "text"},
            {"name": "category", "type": "keyword", "facet": true},
            {"name": "tags", "type": "keyword"},
            {"name": "price", "type": "float", "sortable": true, "filterable": true},
            {"name": "stock", "type": "integer"},
            {"name": "releasedAt", "type": "datetime", "filterable": true}
        ]
    })
}

/// Reads a JSON body, failing the test with the body text when it is not JSON.
pub async fn json_body(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts the error shape and code, and returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("x-request-id header");
    let body = json_body(response).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["error"]["requestId"], request_id.as_str(), "{body}");
    body
}

/// Waits until `condition` holds, checking every 20 ms, for at most `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut, to make the database
/// unreachable for the service (connections refused) without touching the server.
pub struct CuttableProxy {
    pub port: u16,
    target_port: u16,
    cut: Arc<tokio::sync::watch::Sender<bool>>,
    accept_loop: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl CuttableProxy {
    pub async fn start(target_port: u16) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (cut, _) = tokio::sync::watch::channel(false);
        let proxy = CuttableProxy {
            port,
            target_port,
            cut: Arc::new(cut),
            accept_loop: std::sync::Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let cut = self.cut.clone();
        let target_port = self.target_port;
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut cut_signal = cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_signal.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        *self.accept_loop.lock().expect("lock") = Some(task);
    }

    /// Closes every proxied connection and stops listening: new connections are refused.
    pub fn cut(&self) {
        self.cut.send_replace(true);
        if let Some(task) = self.accept_loop.lock().expect("lock").take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        self.cut.send_replace(false);
        let address = ("127.0.0.1", self.port);
        let mut listener = TcpListener::bind(address).await;
        // The aborted task may take a moment to release the port.
        for _ in 0..100 {
            if listener.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            listener = TcpListener::bind(address).await;
        }
        self.serve(listener.expect("rebind proxy port"));
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A Redis server of the test's own, on a port of its own, so the test can stop and
/// resume it. Killed when dropped.
pub struct TestRedis {
    pub port: u16,
    child: std::process::Child,
    _dir: PathBuf,
}

impl TestRedis {
    pub async fn start() -> TestRedis {
        // A free port: bind port 0, note it, let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs it)");
        let redis = TestRedis {
            port,
            child,
            _dir: dir,
        };
        let up = wait_until(Duration::from_secs(10), || async {
            TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        assert!(up, "redis-server on port {port} did not start");
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers, the
    /// worst case for a client.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}
