//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "stadtkern",
    version,
    about = "Stadtkern – die souveräne Plattform für die digitale Stadt"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, so that every command acts on exactly the instance that
/// `serve` runs.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "STADTKERN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: postgres://USER@HOST/DB, or sqlite://PATH (default: SQLite in the data directory).
    #[arg(long, global = true, env = "STADTKERN_DATABASE")]
    pub database: Option<String>,
    /// Data directory for the embedded database and files.
    #[arg(long, global = true, env = "STADTKERN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the platform.
    Serve(ServeArgs),
    /// Create (once) and serve the demo city.
    Demo(ServeArgs),
    /// Apply pending database migrations (idempotent).
    Migrate,
    /// API tokens for machines and sensors.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Accounts of people.
    #[command(subcommand)]
    User(UserCmd),
    /// Write a backup of the whole instance to a file.
    Backup {
        /// Target file (gzip-compressed JSON lines).
        file: PathBuf,
    },
    /// Replace all data of the instance with a backup.
    Restore {
        file: PathBuf,
        /// Needed when the instance already holds data; that data is replaced.
        #[arg(long)]
        force: bool,
    },
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Load generators for the figures in BENCHMARKS.md (loopback targets only).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Keep posting live values for the demo city's sensors (SensorThings CreateObservations).
    Simulate(SimulateArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "STADTKERN_LISTEN")]
    pub listen: Option<String>,
    /// Address of the embedded MQTT broker (default 127.0.0.1:1884; used when no --mqtt-url).
    #[arg(long, env = "STADTKERN_MQTT_LISTEN")]
    pub mqtt_listen: Option<String>,
    /// An external MQTT broker, mqtt://HOST:PORT (e.g. Mosquitto); then no embedded broker runs.
    #[arg(long, env = "STADTKERN_MQTT_URL")]
    pub mqtt_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token and print it (only the token, on standard output).
    Create {
        #[arg(long)]
        name: String,
        /// A scope such as sta:write or admin; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its number.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create an account. The password is read from standard input (one line) unless
    /// --password-file is given, so it never shows in the process list.
    Add {
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, default_value = "")]
        email: String,
        /// A role (admin, staff, data_steward, moderator, council_reader, resident); repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Key of an org unit the person works for; repeat for several.
        #[arg(long = "org-unit")]
        org_units: Vec<String>,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List accounts.
    List,
    /// Set a new password (read from standard input or --password-file).
    Passwd {
        username: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Replace the roles of an account.
    Role {
        username: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        #[arg(long = "org-unit")]
        org_units: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; exits non-zero and names the entry if it is broken.
    Verify,
    /// Show the newest entries.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Closed-loop HTTP GET load: requests/s, latency percentiles and errors.
    Http(BenchHttpArgs),
    /// SensorThings figures: ingest, latest values, $count and paging on a large database.
    Sta(BenchStaArgs),
}

#[derive(Debug, Args, Clone)]
pub struct BenchStaArgs {
    /// Database to measure (created empty): sqlite://PATH or postgres://... (default: SQLite
    /// in a temporary directory).
    #[arg(long)]
    pub database: Option<String>,
    /// Observations in the database for the read figures.
    #[arg(long, default_value_t = 10_000_000)]
    pub observations: u64,
    /// Datastreams in the database.
    #[arg(long, default_value_t = 10_000)]
    pub datastreams: u64,
    /// Observations sent through CreateObservations for the ingest figure.
    #[arg(long, default_value_t = 1_000_000)]
    pub ingest: u64,
    /// Observations per CreateObservations request.
    #[arg(long, default_value_t = 10_000)]
    pub batch: u64,
    /// Requests in flight at the same time during ingest.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Observations published over MQTT (QoS 1, embedded broker) for the MQTT ingest figure.
    #[arg(long, default_value_t = 200_000)]
    pub mqtt_ingest: u64,
    /// MQTT clients publishing at the same time (each with up to 200 messages in flight).
    #[arg(long, default_value_t = 8)]
    pub mqtt_clients: usize,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Keep the filled database afterwards (for a look with the database's own tools): the
    /// SQLite file's path is printed, on PostgreSQL the schema `bench_sta` stays.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// The Stadtkern instance to post to.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token with the scope sta:write.
    #[arg(long, env = "STADTKERN_TOKEN")]
    pub token: Option<String>,
    /// Time between two rounds of values, such as 5s or 1m.
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Stop after this many rounds (default: run until interrupted).
    #[arg(long)]
    pub rounds: Option<u64>,
}

#[derive(Debug, Args, Clone)]
pub struct BenchHttpArgs {
    /// The URL to request; only loopback hosts (127.0.0.0/8, ::1, localhost) are accepted.
    #[arg(long)]
    pub url: String,
    /// Number of clients sending requests at the same time.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// How long to measure, such as 20s, 500ms or 1m.
    #[arg(long, default_value = "20s")]
    pub duration: String,
    /// How long to send load before measuring (not counted).
    #[arg(long, default_value = "3s")]
    pub warmup: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}
