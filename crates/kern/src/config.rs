//! Typed configuration. Read from a TOML file (unknown keys are rejected), then overridden by
//! `STADTKERN_*` environment variables, then by command-line flags (the binary does the
//! layering; this module defines the shape, the defaults and the checks).

use crate::error::{Error, Invalid, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./stadtkern-data";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Database URL: `postgres://...` for PostgreSQL, `sqlite://PATH` for SQLite. Empty means
    /// the embedded SQLite database `stadtkern.db` in `data_dir`.
    pub database: String,
    /// Directory for the embedded database, uploads and backups.
    pub data_dir: PathBuf,
    /// The address residents reach the platform under (links in e-mails, OIDC redirect).
    pub public_url: String,
    pub city: CityConfig,
    pub http: HttpConfig,
    pub security: SecurityConfig,
    pub log: LogConfig,
    pub oidc: Option<OidcConfig>,
    /// Directory whose templates override the built-in ones (a city's own look).
    pub templates_dir: Option<PathBuf>,
    pub sta: StaConfig,
    pub mqtt: MqttConfig,
    pub mail: MailConfig,
    pub payment: PaymentConfig,
}

/// Fees of citizen services: the city's account for bank transfers (GiroCode invoices) and the
/// online-payment provider (a REST interface in the shape of XBezahldienste).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentConfig {
    /// Payee named on invoices and in the GiroCode (at most 70 characters).
    pub creditor_name: String,
    pub iban: String,
    pub bic: String,
    /// Base URL of the online-payment provider. Unset: online payment is offered only when the
    /// built-in simulator is switched on, and then goes to the simulator.
    pub provider_url: Option<String>,
    /// The city's originator id and end point id at the provider.
    pub originator_id: String,
    pub endpoint_id: String,
    /// Bearer token for the provider (set it through the environment, not in a shared file).
    pub provider_key: Option<String>,
    /// Serves the provider simulator at `/paysim` (for the demo and tests; never in production).
    pub simulator: bool,
}

impl Default for PaymentConfig {
    fn default() -> Self {
        PaymentConfig {
            creditor_name: "Stadtkasse Musterstadt".into(),
            iban: "DE02120300000000202051".into(),
            bic: "BYLADEM1001".into(),
            provider_url: None,
            originator_id: "stadtkern".into(),
            endpoint_id: "gebuehren".into(),
            provider_key: None,
            simulator: false,
        }
    }
}

/// Outgoing e-mail. Mails are queued in the database (`mail_outbox`) inside the transaction that
/// causes them and delivered afterwards by the delivery worker of any replica.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// SMTP server: `smtp://[USER:PASSWORD@]HOST[:PORT]` (plain, for a relay on the internal
    /// network), `smtp://HOST:587?tls=required` (STARTTLS) or `smtps://HOST[:465]` (TLS).
    /// Unset: mails stay queued in the outbox and are sent once a server is configured.
    pub smtp_url: Option<String>,
    /// Sender address (`From:`), e.g. `Stadt Musterstadt <noreply@musterstadt.example>`.
    pub from: String,
    /// Delivery attempts before a mail is given up (and shown as failed).
    pub max_attempts: i64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Stadt Musterstadt <noreply@musterstadt.example>".into(),
            max_attempts: 8,
        }
    }
}

/// The MQTT side of the SensorThings API: an embedded broker, or a bridge to an external one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Runs MQTT at all (`false`: no broker, no bridge, no `/mqtt`).
    pub enabled: bool,
    /// TCP address of the embedded broker. Unset: `127.0.0.1:1884` (not 1883, where a system
    /// Mosquitto may run), and if that is taken the broker runs over WebSocket at `/mqtt` only.
    pub listen: Option<String>,
    /// An external broker `mqtt://[USER[:PASSWORD]@]HOST[:PORT]`; then no embedded broker runs.
    pub url: Option<String>,
    /// Client id at the external broker: stable for a replica, unique among replicas. Empty:
    /// `stadtkern-HOSTNAME-PORT`.
    pub client_id: String,
    /// Shared-subscription group of all replicas at the external broker.
    pub share_group: String,
    /// Stores Observations published to the external broker's create topics (its access
    /// control decides who may publish there).
    pub external_create: bool,
    /// Put before every topic at the external broker (`stadt-a/` gives `stadt-a/v1.1/Things`),
    /// for a broker several instances share. Empty: `v1.1/...`, as the standard has it.
    pub topic_prefix: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: true,
            listen: None,
            url: None,
            client_id: String::new(),
            share_group: "stadtkern".into(),
            external_create: true,
            topic_prefix: String::new(),
        }
    }
}

/// The SensorThings API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StaConfig {
    /// Entities per page when a request gives no `$top`.
    pub default_top: u64,
    /// The largest `$top` served; larger values are cut to it (with `@iot.nextLink`).
    pub max_top: u64,
}

impl Default for StaConfig {
    fn default() -> Self {
        StaConfig {
            default_top: 100,
            max_top: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CityConfig {
    pub name: String,
    /// Latitude and longitude of the city centre (WGS 84).
    pub latitude: f64,
    pub longitude: f64,
    pub operator: String,
    pub address: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Largest file upload (a multipart form: attachments of online applications, imports), in
    /// bytes; never less than `body_limit_bytes`.
    pub upload_limit_bytes: usize,
    /// Requests per minute one client address may send to public write endpoints.
    pub public_writes_per_minute: u32,
    /// Seconds a request may take before it is answered with 503.
    pub request_timeout_secs: u64,
    /// Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are trusted.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Hours a session lasts without activity.
    pub session_idle_hours: i64,
    /// Failed logins for one account within the window before it is throttled.
    pub max_failures_per_account: i64,
    /// Failed logins from one address within the window before it is throttled.
    pub max_failures_per_address: i64,
    /// Length of the throttling window in minutes.
    pub throttle_window_minutes: i64,
    /// Set when a TLS-terminating proxy sits in front: cookies become Secure and HSTS is sent.
    pub behind_tls_proxy: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `stadtkern=debug,sqlx=warn`.
    pub level: String,
}

/// Login through an OpenID Connect provider (Keycloak; BundID through its SAML broker).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Label of the login button, for example "Mit Servicekonto anmelden".
    #[serde(default = "default_oidc_label")]
    pub label: String,
    /// Extra scopes besides `openid`.
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// Claim that carries the user's groups or roles (dotted path, e.g. `realm_access.roles`).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Maps a claim value to a Stadtkern role name.
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
}

fn default_oidc_label() -> String {
    "Mit Servicekonto anmelden".into()
}
fn default_oidc_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}
fn default_role_claim() -> String {
    "roles".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.into(),
            database: String::new(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            public_url: String::new(),
            city: CityConfig::default(),
            http: HttpConfig::default(),
            security: SecurityConfig::default(),
            log: LogConfig::default(),
            oidc: None,
            templates_dir: None,
            sta: StaConfig::default(),
            mqtt: MqttConfig::default(),
            mail: MailConfig::default(),
            payment: PaymentConfig::default(),
        }
    }
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig {
            name: "Musterstadt".into(),
            latitude: 51.5136,
            longitude: 7.4653,
            operator: "Stadt Musterstadt, Der Oberbürgermeister".into(),
            address: "Rathaus, Marktplatz 1, 44135 Musterstadt".into(),
            email: "digital@musterstadt.example".into(),
            phone: "+49 231 0000000".into(),
        }
    }
}

impl HttpConfig {
    /// The limit for multipart uploads (at least the general body limit).
    pub fn upload_limit(&self) -> usize {
        self.upload_limit_bytes.max(self.body_limit_bytes)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit_bytes: 2 * 1024 * 1024,
            upload_limit_bytes: 25 * 1024 * 1024,
            public_writes_per_minute: 30,
            request_timeout_secs: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            session_idle_hours: 8,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            throttle_window_minutes: 15,
            behind_tls_proxy: false,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Config {
    /// Parses a TOML configuration. Unknown keys, wrong types and bad values give an error that
    /// names the key and, from the TOML parser, the line.
    pub fn from_toml(text: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text)
            .map_err(|e| Error::invalid("config", format!("invalid configuration: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that the types alone do not.
    pub fn validate(&self) -> Result<()> {
        let mut inv = Invalid::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            inv.push(
                "listen",
                format!(
                    "'{}' is not a socket address such as 127.0.0.1:8080",
                    self.listen
                ),
            );
        }
        let supported = ["postgres://", "postgresql://", "sqlite:"];
        if !self.database.is_empty() && !supported.iter().any(|p| self.database.starts_with(p)) {
            inv.push(
                "database",
                format!(
                    "'{}' is not a supported database URL: use postgres://USER@HOST/DB or sqlite://PATH",
                    redact_url(&self.database)
                ),
            );
        }
        let web = ["http://", "https://"];
        if !self.public_url.is_empty() && !web.iter().any(|p| self.public_url.starts_with(p)) {
            inv.push("public_url", "must start with http:// or https://");
        }
        if let Some(url) = &self.mail.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            inv.push(
                "mail.smtp_url",
                format!(
                    "'{}' is not an SMTP URL: use smtp://HOST:PORT or smtps://HOST:PORT",
                    redact_url(url)
                ),
            );
        }
        if !self.mail.from.contains('@') {
            inv.push("mail.from", "must contain an e-mail address");
        }
        if let Some(url) = &self.payment.provider_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            inv.push(
                "payment.provider_url",
                "must start with http:// or https://",
            );
        }
        if self.payment.creditor_name.trim().is_empty() || self.payment.iban.trim().is_empty() {
            inv.push(
                "payment",
                "creditor_name and iban are needed for invoices of citizen services",
            );
        }
        if self.mail.max_attempts < 1 {
            inv.push("mail.max_attempts", "must be at least 1");
        }
        if self.http.body_limit_bytes < 1024 {
            inv.push("http.body_limit_bytes", "must be at least 1024");
        }
        if !(-90.0..=90.0).contains(&self.city.latitude) {
            inv.push("city.latitude", "must be between -90 and 90");
        }
        if !(-180.0..=180.0).contains(&self.city.longitude) {
            inv.push("city.longitude", "must be between -180 and 180");
        }
        if self.security.max_failures_per_account < 1 || self.security.max_failures_per_address < 1
        {
            inv.push("security", "failure limits must be at least 1");
        }
        if let Some(l) = &self.mqtt.listen
            && l.parse::<SocketAddr>().is_err()
        {
            inv.push(
                "mqtt.listen",
                format!("'{l}' is not a socket address such as 127.0.0.1:1884"),
            );
        }
        if let Some(u) = &self.mqtt.url
            && !u.starts_with("mqtt://")
        {
            inv.push(
                "mqtt.url",
                format!("'{}' is not an mqtt://HOST:PORT URL", redact_url(u)),
            );
        }
        let group = &self.mqtt.share_group;
        if group.is_empty() || group.contains(['/', '+', '#']) {
            inv.push(
                "mqtt.share_group",
                "must be a non-empty name without '/', '+' or '#'",
            );
        }
        if let Some(o) = &self.oidc {
            if !(o.issuer.starts_with("https://") || o.issuer.starts_with("http://")) {
                inv.push("oidc.issuer", "must be an http(s) URL");
            }
            if o.client_id.is_empty() {
                inv.push("oidc.client_id", "must not be empty");
            }
            for (claim, role) in &o.role_map {
                if role.parse::<crate::Role>().is_err() {
                    inv.push(
                        "oidc.role_map",
                        format!("'{claim}' maps to unknown role '{role}'"),
                    );
                }
            }
        }
        inv.into_result()
    }

    /// The effective public URL: the configured one, or derived from the listen address.
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The effective database URL.
    pub fn database_url(&self) -> String {
        if self.database.is_empty() {
            format!("sqlite://{}", self.data_dir.join("stadtkern.db").display())
        } else {
            self.database.clone()
        }
    }

    /// Whether requests arrive over TLS (cookies Secure, HSTS on).
    pub fn tls(&self) -> bool {
        self.security.behind_tls_proxy || self.public_url.starts_with("https://")
    }
}

/// Hides the password in a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_listen_on_8080() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_key_name() {
        let e = Config::from_toml("listen = \"127.0.0.1:9000\"\nlisten_port = 3\n").unwrap_err();
        assert!(e.to_string().contains("listen_port"), "{e}");
        let e = Config::from_toml("[city]\nnmae = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("nmae"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::from_toml("listen = \"nowhere\"").unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
        let e = Config::from_toml("database = \"mysql://root@x/db\"").unwrap_err();
        assert!(e.to_string().contains("database"), "{e}");
        let e = Config::from_toml("listen = 5").unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
        let e = Config::from_toml(
            "[oidc]\nissuer=\"https://kc\"\nclient_id=\"a\"\nrole_map={x=\"king\"}",
        )
        .unwrap_err();
        assert!(e.to_string().contains("king"), "{e}");
    }

    #[test]
    fn mqtt_defaults_to_the_embedded_broker_and_checks_its_keys() {
        let c = Config::from_toml("").unwrap();
        assert!(c.mqtt.enabled && c.mqtt.listen.is_none() && c.mqtt.url.is_none());
        let c = Config::from_toml("[mqtt]\nurl = \"mqtt://broker:1883\"").unwrap();
        assert_eq!(c.mqtt.url.as_deref(), Some("mqtt://broker:1883"));
        let e = Config::from_toml("[mqtt]\nlisten = \"1884\"").unwrap_err();
        assert!(e.to_string().contains("mqtt.listen"), "{e}");
        let e = Config::from_toml("[mqtt]\nurl = \"http://broker\"").unwrap_err();
        assert!(e.to_string().contains("mqtt.url"), "{e}");
        let e = Config::from_toml("[mqtt]\nshare_group = \"a/b\"").unwrap_err();
        assert!(e.to_string().contains("mqtt.share_group"), "{e}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
