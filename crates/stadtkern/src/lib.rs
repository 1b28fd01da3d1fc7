//! The `stadtkern` binary's library part: configuration layering, wiring, commands.

pub mod bench;
pub mod cli;
pub mod config;
pub mod simulate;

use cli::{AuditCmd, Cli, Command, ServeArgs, TokenCmd, UserCmd};
use kern::{Config, OsRandom, Role, SystemClock};
use platform::{Actor, Env};
use std::io::{BufRead, Write};
use std::sync::Arc;
use store::{Db, OpenOptions};

/// A command failure with its exit code: 2 for bad usage or configuration, 1 otherwise.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        self.code
    }
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 2,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<kern::Error> for Failure {
    fn from(e: kern::Error) -> Self {
        let code = if matches!(e, kern::Error::Invalid(_)) {
            2
        } else {
            1
        };
        Failure {
            message: e.to_string(),
            code,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure {
            message: e.to_string(),
            code: 1,
        }
    }
}

/// The demo city's configuration defaults (a file or flags still override them).
pub fn demo_defaults(cfg: &mut Config) {
    if cfg.city == kern::config::CityConfig::default() {
        cfg.city = kern::config::CityConfig {
            name: "Dortmund".into(),
            latitude: 51.5136,
            longitude: 7.4653,
            operator: "Stadt Dortmund (Demonstrationsinstanz von Stadtkern)".into(),
            address: "Friedensplatz 1, 44135 Dortmund".into(),
            email: "digital@demo.stadtkern.example".into(),
            phone: "+49 231 50-0".into(),
        };
    }
    // The demo takes online payments through the built-in provider simulator.
    if cfg.payment.provider_url.is_none() {
        cfg.payment.simulator = true;
    }
}

/// Opens the database of the configured instance and migrates it.
pub async fn open(cfg: &Config) -> Result<Db, Failure> {
    let db = Db::connect(&cfg.database_url(), &OpenOptions::default()).await?;
    store::migrations::migrate(&db).await?;
    Ok(db)
}

pub fn env_for(cfg: Config, db: Db) -> Env {
    Env::new(cfg, db, Arc::new(SystemClock), Arc::new(OsRandom))
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::try_new(format!("{},sqlx=warn", cfg.log.level))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cfg.log.format {
        kern::config::LogFormat::Json => builder.json().try_init(),
        kern::config::LogFormat::Text => builder.try_init(),
    };
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let cli = match cli.command {
        Command::Bench(b) => return bench::run(b).await,
        Command::Simulate(a) => return simulate::run(a).await,
        command => Cli { command, ..cli },
    };
    let demo = matches!(cli.command, Command::Demo(_));
    let serve_args = match &cli.command {
        Command::Serve(a) | Command::Demo(a) => a.clone(),
        _ => ServeArgs::default(),
    };
    let mut cfg = config::load(&cli.global, &serve_args).map_err(Failure::usage)?;
    if demo {
        demo_defaults(&mut cfg);
    }
    match cli.command {
        Command::Serve(_) | Command::Demo(_) => {
            init_logging(&cfg);
            serve(cfg, demo).await
        }
        Command::Migrate => {
            let db = Db::connect(&cfg.database_url(), &OpenOptions::default()).await?;
            let applied = store::migrations::migrate(&db).await?;
            let v = store::migrations::current_version(&db).await?;
            if applied.is_empty() {
                println!("database is up to date (schema version {v})");
            } else {
                println!("applied migrations {applied:?}; schema version {v}");
            }
            Ok(())
        }
        Command::Token(t) => token(cfg, t).await,
        Command::User(u) => user(cfg, u).await,
        Command::Backup { file } => {
            let env = env_for(cfg.clone(), open(&cfg).await?);
            let tmp = file.with_extension("partial");
            let f = std::fs::File::create(&tmp)
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", tmp.display())))?;
            let summary =
                store::backup::backup(&env.db, std::io::BufWriter::new(f), env.now()).await?;
            std::fs::rename(&tmp, &file)?;
            platform::audit::record(
                &env,
                &Actor::system(),
                "instance.backup",
                &file.display().to_string(),
                serde_json::json!(summary),
            )
            .await?;
            println!(
                "backup written to {}: {} tables, {} rows",
                file.display(),
                summary.tables,
                summary.rows
            );
            Ok(())
        }
        Command::Restore { file, force } => {
            let db = open(&cfg).await?;
            let f = std::fs::File::open(&file)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
            if !force
                && !store::audit::list(
                    &db,
                    &store::audit::Filter {
                        limit: 1,
                        ..Default::default()
                    },
                )
                .await?
                .is_empty()
            {
                return Err(Failure::usage(
                    "the instance already holds data; add --force to replace it with the backup",
                ));
            }
            let summary = store::backup::restore(&db, std::io::BufReader::new(f)).await?;
            println!(
                "restored {} tables, {} rows from {}",
                summary.tables,
                summary.rows,
                file.display()
            );
            Ok(())
        }
        Command::Audit(AuditCmd::Verify) => {
            let env = env_for(cfg.clone(), open(&cfg).await?);
            match platform::audit::verify(&env).await? {
                store::audit::Verdict::Intact { entries } => {
                    println!("audit chain intact: {entries} entries");
                    Ok(())
                }
                store::audit::Verdict::Broken { seq, reason } => Err(Failure {
                    message: format!("audit chain broken at entry {seq}: {reason}"),
                    code: 1,
                }),
            }
        }
        Command::Bench(b) => bench::run(b).await,
        Command::Simulate(a) => simulate::run(a).await,
        Command::Audit(AuditCmd::List { limit }) => {
            let db = open(&cfg).await?;
            for e in store::audit::list(
                &db,
                &store::audit::Filter {
                    limit,
                    ..Default::default()
                },
            )
            .await?
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.seq,
                    e.at.to_rfc3339(),
                    e.actor,
                    e.action,
                    e.object,
                    e.address
                );
            }
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing open requests");
}

/// Module seeders for the demo city, in order.
pub fn demo_seeders() -> Vec<platform::demo::Seeder> {
    vec![
        sensorthings::demo::SEEDER,
        cityops::demo::SEEDER,
        cityops::lighting::demo::SEEDER,
        cityops::energy_demo::SEEDER,
        services::demo::SEEDER,
    ]
}

/// The MQTT side of the SensorThings API: the embedded broker, or the bridge to the broker of
/// `--mqtt-url`; also serves MQTT over WebSocket at `/mqtt`.
async fn start_mqtt(
    cfg: &Config,
    env: &Env,
    state: &web::AppState,
) -> Result<Option<mqtt::Mqtt>, Failure> {
    if !cfg.mqtt.enabled {
        return Ok(None);
    }
    let port = cfg.listen.rsplit(':').next().unwrap_or("8080");
    let client_id = if cfg.mqtt.client_id.is_empty() {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        format!("stadtkern-{host}-{port}")
    } else {
        cfg.mqtt.client_id.clone()
    };
    let settings = mqtt::Settings {
        listen: cfg.mqtt.listen.clone(),
        url: cfg.mqtt.url.clone(),
        client_id,
        share_group: cfg.mqtt.share_group.clone(),
        external_create: cfg.mqtt.external_create,
        topic_prefix: cfg.mqtt.topic_prefix.clone(),
    };
    let m = mqtt::Mqtt::start(env.clone(), state.sta.clone(), &settings)
        .await
        .map_err(Failure::usage)?;
    let _ = state.mqtt_ws.set(m.ws_acceptor());
    let ws = mqtt::ws_endpoint(&cfg.public_url());
    match (&m, m.tcp_addr()) {
        (mqtt::Mqtt::External(b), _) => {
            println!("MQTT: bridge to {} (WebSocket {ws})", b.endpoint())
        }
        (_, Some(a)) => println!("MQTT: embedded broker on mqtt://{a} (WebSocket {ws})"),
        (_, None) => println!("MQTT: embedded broker over WebSocket only ({ws})"),
    }
    Ok(Some(m))
}

async fn serve(cfg: Config, demo: bool) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let db = open(&cfg).await?;
    let env = env_for(cfg.clone(), db);
    if demo {
        let ran = platform::demo::seed(&env, &demo_seeders()).await?;
        if !ran.is_empty() {
            tracing::info!(seeders = ?ran, "demo city created");
        }
    }
    let state = web::AppState::new(env.clone()).await?;
    // Kept alive for the whole run (the broker or the bridge).
    let _mqtt = start_mqtt(&cfg, &env, &state).await?;
    let housekeeping = env.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = platform::sessions::purge(&housekeeping).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
            // Appointment reminders a day ahead (each once, whichever replica runs first).
            if let Err(e) = services::appointments::send_reminders(&housekeeping).await {
                tracing::warn!(error = %e, "appointment reminders failed");
            }
            // Case deadlines reached, and closed cases whose retention period has ended.
            if let Err(e) = services::cases::remind_deadlines(&housekeeping).await {
                tracing::warn!(error = %e, "case deadline reminders failed");
            }
            match services::cases::delete_expired(&housekeeping).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(cases = n, "deleted cases after their retention period"),
                Err(e) => tracing::warn!(error = %e, "retention deletion failed"),
            }
        }
    });
    let mailer = env.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(15));
        loop {
            tick.tick().await;
            if let Err(e) = platform::mail::deliver_pending(&mailer, 100).await {
                tracing::warn!(error = %e, "mail delivery round failed");
            }
        }
    });
    let url = cfg.public_url();
    println!(
        "Stadtkern {} ready on {url} ({} ms)",
        env!("CARGO_PKG_VERSION"),
        started.elapsed().as_millis()
    );
    if demo {
        println!(
            "Demo city '{}'. Sign in at {url}/login with:",
            cfg.city.name
        );
        for l in platform::demo::logins(&env).await? {
            println!("  {:<16} {:<40} ({})", l.username, l.password, l.role);
        }
    }
    let _ = std::io::stdout().flush();
    web::serve(listener, state, shutdown_signal()).await?;
    env.db.close().await;
    Ok(())
}

async fn token(cfg: Config, cmd: TokenCmd) -> Result<(), Failure> {
    // Bad input is refused before the instance is touched (or its database created).
    let scopes = match &cmd {
        TokenCmd::Create { scopes, .. } => platform::tokens::parse_scopes(scopes)?,
        _ => Vec::new(),
    };
    let env = env_for(cfg.clone(), open(&cfg).await?);
    match cmd {
        TokenCmd::Create { name, .. } => {
            let t = platform::tokens::create(&env, &Actor::system(), &name, &scopes).await?;
            println!("{}", t.token);
        }
        TokenCmd::List => {
            for t in platform::tokens::list_system(&env).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let used = t
                    .last_used_at
                    .map(|u| u.to_rfc3339())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{}\t{}\t{}\t{}\tlast used {}",
                    t.id, t.name, t.scopes, state, used
                );
            }
        }
        TokenCmd::Revoke { id } => {
            let t = platform::tokens::revoke(&env, &Actor::system(), id).await?;
            println!("revoked token {id} ({})", t.name);
        }
    }
    Ok(())
}

fn read_password(file: Option<&std::path::Path>) -> Result<String, Failure> {
    let raw = match file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))?,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line
        }
    };
    let pw = raw.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(Failure::usage(
            "no password given: write it to standard input or use --password-file",
        ));
    }
    Ok(pw)
}

fn parse_roles(roles: &[String]) -> Result<Vec<Role>, Failure> {
    roles
        .iter()
        .map(|r| r.parse::<Role>().map_err(Failure::usage))
        .collect()
}

async fn org_unit_ids(env: &Env, keys: &[String]) -> Result<Vec<i64>, Failure> {
    let mut ids = Vec::new();
    for k in keys {
        match store::city::org_unit_by_key(&env.db, k).await? {
            Some(o) => ids.push(o.id),
            None => return Err(Failure::usage(format!("unknown org unit '{k}'"))),
        }
    }
    Ok(ids)
}

async fn user(cfg: Config, cmd: UserCmd) -> Result<(), Failure> {
    let env = env_for(cfg.clone(), open(&cfg).await?);
    match cmd {
        UserCmd::Add {
            username,
            display_name,
            email,
            roles,
            org_units,
            password_file,
        } => {
            let roles = parse_roles(&roles)?;
            let org_units = org_unit_ids(&env, &org_units).await?;
            let password = read_password(password_file.as_deref())?;
            let a = platform::accounts::create(
                &env,
                &Actor::system(),
                platform::accounts::NewAccount {
                    display_name: display_name.unwrap_or_else(|| username.clone()),
                    username,
                    email,
                    password: Some(password),
                    roles,
                    org_units,
                },
            )
            .await?;
            println!("created user {} (id {})", a.user.username, a.user.id);
        }
        UserCmd::List => {
            for a in platform::accounts::list(
                &env,
                &kern::Principal::Token(kern::auth::TokenPrincipal {
                    id: 0,
                    name: "cli".into(),
                    scopes: vec![kern::Scope::admin()],
                }),
            )
            .await?
            {
                let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    a.user.id,
                    a.user.username,
                    a.user.display_name,
                    roles.join(","),
                    if a.user.active { "active" } else { "inactive" }
                );
            }
        }
        UserCmd::Passwd {
            username,
            password_file,
        } => {
            let u = platform::accounts::find_by_username(&env, &username)
                .await?
                .ok_or_else(|| Failure::usage(format!("no user '{username}'")))?;
            let password = read_password(password_file.as_deref())?;
            platform::accounts::set_password(&env, &Actor::system(), u.id, &password).await?;
            println!("password of {username} changed; their sessions were ended");
        }
        UserCmd::Role {
            username,
            roles,
            org_units,
        } => {
            let u = platform::accounts::find_by_username(&env, &username)
                .await?
                .ok_or_else(|| Failure::usage(format!("no user '{username}'")))?;
            let roles = parse_roles(&roles)?;
            let org_units = org_unit_ids(&env, &org_units).await?;
            platform::accounts::set_roles(&env, &Actor::system(), u.id, &roles, &org_units).await?;
            println!("roles of {username} set");
        }
    }
    Ok(())
}
