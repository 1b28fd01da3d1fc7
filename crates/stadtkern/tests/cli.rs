//! The command line, run as the built binary against temporary instances. On SQLite by default;
//! with `STADTKERN_TEST_DATABASE=postgres://...` every instance is a schema of that database
//! (commands that are about the data directory itself always use SQLite).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use kern::{Config, SystemClock};
use store::Db;
use store::testing::TestDb;

const PW: &str = "Grüne Laterne am Phoenixsee 7";
const OTHER_PW: &str = "Blaues Fahrrad vor der Zeche 9";

/// One Stadtkern instance for the command line.
struct Instance {
    dir: tempfile::TempDir,
    /// `--database` for PostgreSQL instances (a schema of their own).
    database: Option<String>,
    _pg: Option<TestDb>,
}

impl Instance {
    /// On the test backend.
    async fn new() -> Instance {
        let dir = tempfile::tempdir().unwrap();
        match std::env::var(store::testing::ENV)
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            Some(url) => {
                let pg = TestDb::unmigrated().await;
                let schema = pg.schema().unwrap().to_string();
                let sep = if url.contains('?') { '&' } else { '?' };
                Instance {
                    dir,
                    database: Some(format!("{url}{sep}options[search_path]={schema},public")),
                    _pg: Some(pg),
                }
            }
            None => Instance::sqlite(),
        }
    }

    /// Always the embedded SQLite database in a data directory.
    fn sqlite() -> Instance {
        Instance {
            dir: tempfile::tempdir().unwrap(),
            database: None,
            _pg: None,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn db_file(&self) -> PathBuf {
        self.data_dir().join("stadtkern.db")
    }

    fn base(&self) -> Command {
        let mut c = bare();
        c.arg("--data-dir").arg(self.data_dir());
        if let Some(db) = &self.database {
            c.arg("--database").arg(db);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        run_with(self.base().args(args), None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run_with(self.base().args(args), Some(stdin))
    }

    /// Runs and insists on success; returns standard output.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?} failed: {}", text(&o.stderr));
        text(&o.stdout)
    }

    fn database_url(&self) -> String {
        match &self.database {
            Some(db) => db.clone(),
            None => format!("sqlite://{}", self.db_file().display()),
        }
    }

    /// Opens the instance's database directly, as an attacker with file access would.
    async fn db(&self) -> Db {
        Db::connect(&self.database_url(), &store::OpenOptions::default())
            .await
            .unwrap()
    }

    async fn env(&self) -> platform::Env {
        platform::Env::new(
            Config::default(),
            self.db().await,
            Arc::new(SystemClock),
            Arc::new(kern::SeededRandom::new(1)),
        )
    }
}

/// The binary with none of the `STADTKERN_*` variables of the surrounding environment.
fn bare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stadtkern"));
    for (k, _) in std::env::vars() {
        if k.starts_with("STADTKERN_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn");
    c
}

fn run_with(c: &mut Command, stdin: Option<&str>) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("the binary starts");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// A failure: its exit code and a message on standard error, never a panic.
fn assert_fails(o: &Output, expected_code: i32, words: &[&str]) {
    let err = text(&o.stderr);
    assert_eq!(code(o), expected_code, "stderr: {err}");
    assert!(
        err.starts_with("stadtkern") || err.starts_with("error:"),
        "{err}"
    );
    for w in words {
        assert!(err.contains(w), "'{w}' not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

// ---------------------------------------------------------------- migrate

#[tokio::test]
async fn migrate_twice_is_idempotent() {
    let i = Instance::new().await;
    let first = i.ok(&["migrate"]);
    assert!(first.contains("applied migrations"), "{first}");
    let second = i.ok(&["migrate"]);
    assert!(second.contains("up to date"), "{second}");
    let version = store::migrations::all().last().unwrap().version;
    assert!(
        second.contains(&format!("schema version {version}")),
        "{second}"
    );
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn token_create_prints_only_the_token_and_it_authenticates() {
    let i = Instance::new().await;
    let o = i.run(&["token", "create", "--name", "probe", "--scope", "admin"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.ends_with('\n'));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {out:?}");
    let token = lines[0];
    assert!(token.starts_with("stk_") && token.len() > 40, "{token}");
    assert!(!token.contains(char::is_whitespace));

    let env = i.env().await;
    let p = platform::tokens::authenticate(&env, token).await.unwrap();
    assert!(p.is_admin());
    assert!(p.has_scope("sta:write"));

    let list = i.ok(&["token", "list"]);
    assert!(list.contains("probe") && list.contains("admin") && list.contains("active"));
    assert!(!list.contains(token), "the list never shows a secret");

    // Several scopes; then revoking.
    let second = i.ok(&[
        "token",
        "create",
        "--name",
        "sensor",
        "--scope",
        "sta:write",
        "--scope",
        "sta:read",
    ]);
    let p = platform::tokens::authenticate(&env, second.trim())
        .await
        .unwrap();
    assert!(p.has_scope("sta:read") && !p.is_admin());
    let id = platform::tokens::list_system(&env).await.unwrap()[0].id;
    let out = i.ok(&["token", "revoke", &id.to_string()]);
    assert!(out.contains("probe"), "{out}");
    assert!(platform::tokens::authenticate(&env, token).await.is_err());
    assert_fails(
        &i.run(&["token", "revoke", &id.to_string()]),
        1,
        &["widerrufen"],
    );
    assert_fails(&i.run(&["token", "revoke", "999"]), 1, &["999"]);
}

#[tokio::test]
async fn an_invalid_scope_is_refused_with_exit_code_2() {
    let i = Instance::sqlite();
    for scope in ["STA write", "sta:", "everything!"] {
        let o = i.run(&["token", "create", "--name", "probe", "--scope", scope]);
        // Scopes may also be given space- or comma-separated; the first bad one is named.
        let first = scope.split(' ').next().unwrap();
        assert_fails(&o, 2, &["invalid scope", &format!("'{first}'")]);
        assert!(o.stdout.is_empty());
    }
    let o = i.run(&["token", "create", "--name", "probe"]);
    assert_fails(&o, 2, &["--scope"]);
    // Nothing was created for the refused commands.
    assert!(
        !i.db_file().exists(),
        "a refused command created the database"
    );
}

// ---------------------------------------------------------------- configuration

#[tokio::test]
async fn a_malformed_config_file_is_refused_naming_the_line() {
    let i = Instance::sqlite();
    let cfg = write(
        i.dir.path(),
        "stadtkern.toml",
        "listen = \"127.0.0.1:9000\"\n[city\nname = \"Dortmund\"\n",
    );
    let o = bare()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(i.data_dir())
        .arg("migrate")
        .output()
        .unwrap();
    assert_fails(&o, 2, &["stadtkern.toml", "line 2"]);
    assert!(!i.data_dir().exists(), "nothing is created");
}

#[tokio::test]
async fn unknown_config_keys_and_bad_values_are_refused_by_name() {
    let i = Instance::sqlite();
    for (content, words) in [
        ("listen_port = 3\n", vec!["listen_port", "line 1"]),
        (
            "[security]\nmax_failures = 3\n",
            vec!["max_failures", "line 2"],
        ),
        ("[cty]\nname = \"x\"\n", vec!["cty"]),
        ("listen = \"nowhere\"\n", vec!["listen", "nowhere"]),
        ("listen = 8080\n", vec!["listen"]),
        (
            "[http]\nbody_limit_bytes = 10\n",
            vec!["http.body_limit_bytes"],
        ),
    ] {
        let cfg = write(i.dir.path(), "c.toml", content);
        let o = bare()
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(i.data_dir())
            .args(["token", "create", "--name", "x", "--scope", "admin"])
            .output()
            .unwrap();
        assert_fails(&o, 2, &words);
        assert!(o.stdout.is_empty());
        assert!(!i.data_dir().exists(), "{content}: nothing is created");
    }
    // A file that does not exist.
    let o = bare()
        .args(["--config", "/nonexistent/stadtkern.toml", "migrate"])
        .output()
        .unwrap();
    assert_fails(&o, 2, &["/nonexistent/stadtkern.toml"]);
    // The same through STADTKERN_CONFIG.
    let cfg = write(i.dir.path(), "env.toml", "nmae = 1\n");
    let o = bare()
        .env("STADTKERN_CONFIG", &cfg)
        .arg("--data-dir")
        .arg(i.data_dir())
        .arg("migrate")
        .output()
        .unwrap();
    assert_fails(&o, 2, &["nmae"]);
}

#[tokio::test]
async fn bad_database_urls_fail_with_a_clear_message() {
    let i = Instance::sqlite();
    let o = i.run(&["--database", "mysql://root@localhost/stadt", "migrate"]);
    assert_fails(&o, 2, &["database", "mysql://root@localhost/stadt"]);
    let o = i.run(&["--database", "sqlite://", "migrate"]);
    assert_fails(&o, 2, &["SQLite"]);
    let o = bare()
        .env("STADTKERN_DATABASE", "redis://localhost")
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_fails(&o, 2, &["redis://localhost"]);

    // Nobody listens on port 1: a clear message, the password hidden, and quickly.
    let started = std::time::Instant::now();
    let o = i.run(&[
        "--database",
        "postgres://stadtkern:geheim@127.0.0.1:1/stadtkern",
        "migrate",
    ]);
    let err = text(&o.stderr);
    assert!(matches!(code(&o), 1 | 2), "{err}");
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("geheim"), "the password leaked: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_data_dir_flag_wins_over_the_environment_which_wins_over_the_file() {
    let root = tempfile::tempdir().unwrap();
    let (from_file, from_env, from_flag) = (
        root.path().join("file"),
        root.path().join("env"),
        root.path().join("flag"),
    );
    let cfg = write(
        root.path(),
        "c.toml",
        &format!("data_dir = {:?}\n", from_file.display().to_string()),
    );
    let o = bare()
        .env("STADTKERN_DATA_DIR", &from_env)
        .arg("--data-dir")
        .arg(&from_flag)
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(from_flag.join("stadtkern.db").exists());
    assert!(!from_env.exists() && !from_file.exists());

    let o = bare()
        .env("STADTKERN_DATA_DIR", &from_env)
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(from_env.join("stadtkern.db").exists());
    assert!(!from_file.exists());

    let o = bare()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(from_file.join("stadtkern.db").exists());

    // The flag comes after the subcommand just as well.
    let late = root.path().join("late");
    let o = bare()
        .arg("migrate")
        .arg("--data-dir")
        .arg(&late)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(late.join("stadtkern.db").exists());

    // --database wins over STADTKERN_DATABASE in the same way.
    let db_flag = root.path().join("explicit.db");
    let o = bare()
        .env("STADTKERN_DATABASE", "mysql://ignored")
        .arg("--database")
        .arg(format!("sqlite://{}", db_flag.display()))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(db_flag.exists());
}

// ---------------------------------------------------------------- users

#[tokio::test]
async fn users_are_added_listed_and_changed() {
    let i = Instance::new().await;
    let out = i.run_stdin(
        &[
            "user",
            "add",
            "erika",
            "--display-name",
            "Erika Mustermann",
            "--email",
            "erika@example.org",
            "--role",
            "staff",
            "--role",
            "moderator",
        ],
        &format!("{PW}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created user erika"));
    // The password is not echoed anywhere.
    assert!(!text(&out.stdout).contains(PW) && !text(&out.stderr).contains(PW));

    let list = i.ok(&["user", "list"]);
    let line = list.lines().find(|l| l.contains("erika")).unwrap();
    assert!(line.contains("Erika Mustermann"), "{line}");
    assert!(
        line.contains("staff") && line.contains("moderator"),
        "{line}"
    );
    assert!(line.contains("active"), "{line}");

    let env = i.env().await;
    platform::sessions::login(&env, "erika", PW, "127.0.0.1", "")
        .await
        .expect("the password from stdin works");

    // A weak password is refused, nothing is created.
    for weak in ["kurz\n", "password1234\n", "max-und-moritz-2026\n"] {
        let o = i.run_stdin(&["user", "add", "max", "--display-name", "Max"], weak);
        assert_fails(&o, 2, &["password"]);
    }
    let o = i.run_stdin(&["user", "add", "max"], "");
    assert_fails(&o, 2, &["no password given"]);
    let o = i.run_stdin(
        &["user", "add", "max", "--role", "king"],
        &format!("{PW}\n"),
    );
    assert_fails(&o, 2, &["unknown role 'king'"]);
    let o = i.run_stdin(
        &["user", "add", "max", "--org-unit", "nirgendwo"],
        &format!("{PW}\n"),
    );
    assert_fails(&o, 2, &["nirgendwo"]);
    let o = i.run_stdin(&["user", "add", "erika"], &format!("{OTHER_PW}\n"));
    assert_fails(&o, 1, &["erika", "vergeben"]);
    assert!(!i.ok(&["user", "list"]).contains("max"));

    // From a file as well.
    let pwfile = write(i.dir.path(), "pw.txt", &format!("{OTHER_PW}\n"));
    let o = i.run(&[
        "user",
        "add",
        "max",
        "--password-file",
        pwfile.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    // passwd
    let o = i.run_stdin(&["user", "passwd", "erika"], &format!("{OTHER_PW}\n"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        platform::sessions::login(&env, "erika", PW, "127.0.0.1", "")
            .await
            .is_err()
    );
    platform::sessions::login(&env, "erika", OTHER_PW, "127.0.0.1", "")
        .await
        .unwrap();
    let o = i.run_stdin(&["user", "passwd", "erika"], "123456789012\n");
    assert_fails(&o, 2, &["password"]);
    let o = i.run_stdin(&["user", "passwd", "niemand"], &format!("{PW}\n"));
    assert_fails(&o, 2, &["niemand"]);

    // role
    i.ok(&["user", "role", "erika", "--role", "admin"]);
    let list = i.ok(&["user", "list"]);
    let line = list.lines().find(|l| l.contains("erika")).unwrap();
    assert!(line.contains("admin") && !line.contains("staff"), "{line}");
    assert_fails(
        &i.run(&["user", "role", "erika", "--role", "boss"]),
        2,
        &["boss"],
    );
    assert_fails(
        &i.run(&["user", "role", "niemand", "--role", "admin"]),
        2,
        &["niemand"],
    );

    // Every change is in the audit trail.
    let audit = i.ok(&["audit", "list"]);
    for action in [
        "user.create",
        "user.password",
        "user.roles",
        "session.login",
    ] {
        assert!(audit.contains(action), "{action} missing:\n{audit}");
    }
    assert!(i.ok(&["audit", "verify"]).contains("intact"));
}

// ---------------------------------------------------------------- backup and restore

fn add_user(i: &Instance, name: &str) {
    let o = i.run_stdin(
        &["user", "add", name, "--role", "resident"],
        &format!("{PW}\n"),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[tokio::test]
async fn backup_and_restore_round_trip_a_whole_instance() {
    let a = Instance::new().await;
    add_user(&a, "erika");
    add_user(&a, "max");
    a.ok(&["token", "create", "--name", "probe", "--scope", "admin"]);
    let users = a.ok(&["user", "list"]);
    let audit = a.ok(&["audit", "list", "--limit", "1000"]);
    let tokens = a.ok(&["token", "list"]);

    let file = a.dir.path().join("instance.backup.gz");
    let out = a.ok(&["backup", file.to_str().unwrap()]);
    assert!(out.contains("backup written"), "{out}");
    assert!(file.exists());

    // Changes after the backup ...
    add_user(&a, "nachzuegler");
    assert!(a.ok(&["user", "list"]).contains("nachzuegler"));
    // ... are not replaced without --force.
    let o = a.run(&["restore", file.to_str().unwrap()]);
    assert_fails(&o, 2, &["--force"]);
    assert!(a.ok(&["user", "list"]).contains("nachzuegler"));

    let out = a.ok(&["restore", "--force", file.to_str().unwrap()]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(a.ok(&["user", "list"]), users);
    assert_eq!(a.ok(&["audit", "list", "--limit", "1000"]), audit);
    assert_eq!(a.ok(&["token", "list"]), tokens);
    assert!(a.ok(&["audit", "verify"]).contains("intact"));

    // Into a new, empty instance no --force is needed.
    let b = Instance::new().await;
    b.ok(&["restore", file.to_str().unwrap()]);
    assert_eq!(b.ok(&["user", "list"]), users);
    assert_eq!(b.ok(&["audit", "list", "--limit", "1000"]), audit);
    let env = b.env().await;
    platform::sessions::login(&env, "erika", PW, "127.0.0.1", "")
        .await
        .expect("restored accounts sign in");

    // A damaged file changes nothing.
    let bad = write(a.dir.path(), "bad.gz", "not a backup");
    let o = a.run(&["restore", "--force", bad.to_str().unwrap()]);
    assert_fails(&o, 2, &["not a Stadtkern backup"]);
    let bytes = std::fs::read(&file).unwrap();
    let cut = a.dir.path().join("cut.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = a.run(&["restore", "--force", cut.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"));
    assert_eq!(a.ok(&["user", "list"]), users);
    let o = a.run(&["restore", "--force", "/nonexistent/backup.gz"]);
    assert_fails(&o, 2, &["/nonexistent/backup.gz"]);
    let o = a.run(&["backup", "/nonexistent/dir/backup.gz"]);
    assert_fails(&o, 2, &["/nonexistent/dir"]);
}

#[tokio::test]
async fn an_instance_moves_from_sqlite_to_postgresql_on_the_command_line() {
    let pg = Instance::new().await;
    if pg.database.is_none() {
        eprintln!("skipped: set STADTKERN_TEST_DATABASE=postgres://... to run this test");
        return;
    }
    let lite = Instance::sqlite();
    add_user(&lite, "erika");
    lite.ok(&["token", "create", "--name", "probe", "--scope", "admin"]);
    let users = lite.ok(&["user", "list"]);
    let audit = lite.ok(&["audit", "list", "--limit", "1000"]);
    let file = lite.dir.path().join("move.gz");
    lite.ok(&["backup", file.to_str().unwrap()]);
    pg.ok(&["restore", file.to_str().unwrap()]);
    assert_eq!(pg.ok(&["user", "list"]), users);
    assert_eq!(pg.ok(&["audit", "list", "--limit", "1000"]), audit);
    assert!(pg.ok(&["audit", "verify"]).contains("intact"));
}

// ---------------------------------------------------------------- audit

#[tokio::test]
async fn audit_verify_names_a_tampered_entry() {
    let i = Instance::new().await;
    add_user(&i, "erika");
    add_user(&i, "max");
    i.ok(&["token", "create", "--name", "probe", "--scope", "admin"]);
    let out = i.ok(&["audit", "verify"]);
    assert!(out.contains("intact") && out.contains("3 entries"), "{out}");

    let db = i.db().await;
    assert_eq!(
        db.raw_execute("UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 2")
            .await
            .unwrap(),
        1
    );
    db.close().await;
    let o = i.run(&["audit", "verify"]);
    assert_fails(&o, 1, &["entry 2"]);
    assert!(o.stdout.is_empty() || !text(&o.stdout).contains("intact"));

    // A deleted newest entry is named too.
    let j = Instance::new().await;
    add_user(&j, "erika");
    add_user(&j, "max");
    let db = j.db().await;
    db.raw_execute("DELETE FROM audit_log WHERE seq = 2")
        .await
        .unwrap();
    db.close().await;
    assert_fails(&j.run(&["audit", "verify"]), 1, &["entry 2"]);
}
