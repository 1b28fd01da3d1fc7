//! Configuration layering: file, then `STADTKERN_*` environment variables, then flags (clap
//! reads both the variables and the flags for the options they share; flags win).

use crate::cli::{Global, ServeArgs};
use kern::Config;

/// Loads the effective configuration. Errors are sentences for the person at the terminal.
pub fn load(global: &Global, serve: &ServeArgs) -> Result<Config, String> {
    let mut cfg = match &global.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read configuration file {}: {e}", path.display()))?;
            Config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(d) = &global.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(db) = &global.database {
        cfg.database = db.clone();
    }
    if let Some(l) = &serve.listen {
        cfg.listen = l.clone();
    }
    if let Some(l) = &serve.mqtt_listen {
        cfg.mqtt.listen = Some(l.clone());
    }
    if let Some(u) = &serve.mqtt_url {
        cfg.mqtt.url = Some(u.clone());
    }
    if let Ok(v) = std::env::var("STADTKERN_PUBLIC_URL") {
        cfg.public_url = v;
    }
    if let Ok(v) = std::env::var("STADTKERN_MAIL_SMTP_URL") {
        cfg.mail.smtp_url = (!v.is_empty()).then_some(v);
    }
    if let Ok(v) = std::env::var("STADTKERN_LOG_FORMAT") {
        cfg.log.format = match v.as_str() {
            "json" => kern::config::LogFormat::Json,
            "text" => kern::config::LogFormat::Text,
            other => {
                return Err(format!(
                    "STADTKERN_LOG_FORMAT must be 'json' or 'text', not '{other}'"
                ));
            }
        };
    }
    cfg.validate().map_err(|e| format!("configuration: {e}"))?;
    Ok(cfg)
}
