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
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "STADTKERN_LISTEN")]
    pub listen: Option<String>,
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
