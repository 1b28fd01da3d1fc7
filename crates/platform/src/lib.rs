//! Stadtkern's foundation services, used by the web layer, the command line and every module.
//!
//! [`Env`] bundles what a service needs: configuration, database, clock and randomness. Domain
//! functions take `&Env` plus the acting [`Principal`] and check authorisation themselves, so
//! the same rules hold for HTML pages, the JSON API and the command line.

pub mod accounts;
pub mod audit;
pub mod city;
pub mod demo;
pub mod feedback;
pub mod mail;
pub mod oidc;
pub mod sessions;
pub mod tokens;

use kern::{Clock, Config, Error, Principal, Random, Result, Role};
use std::sync::Arc;
use store::Db;

pub use store;

/// The environment every service runs in. Cheap to clone.
#[derive(Clone)]
pub struct Env {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    /// The OIDC provider's metadata and keys, fetched on first use (see [`oidc`]).
    pub(crate) oidc: Arc<oidc::Cache>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Env({:?})", self.db)
    }
}

impl Env {
    pub fn new(config: Config, db: Db, clock: Arc<dyn Clock>, rng: Arc<dyn Random>) -> Env {
        Env {
            config: Arc::new(config),
            db,
            clock,
            rng,
            oidc: Arc::default(),
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The instance secret (random, created once, shared by all replicas through the database).
    /// Keys CSRF tokens and other HMACs.
    pub async fn instance_secret(&self) -> Result<Vec<u8>> {
        let rng = self.rng.clone();
        let hexed = store::settings::get_or_create(&self.db, "instance.secret", move || {
            kern::secret::b64_encode(&rng.bytes(32))
        })
        .await?;
        kern::secret::b64_decode(&hexed)
            .ok_or_else(|| Error::internal("instance secret is malformed"))
    }
}

/// Who did something, from where: what the audit log records.
///
/// The command line and the demo seeder act as the system, which may do what an admin may. That
/// privilege is a private flag set only by [`Actor::system`], never derived from request data.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub principal: Principal,
    pub address: String,
    system: bool,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            principal: Principal::Anonymous,
            address: "system".into(),
            system: true,
        }
    }
    pub fn new(principal: Principal, address: impl Into<String>) -> Actor {
        Actor {
            principal,
            address: address.into(),
            system: false,
        }
    }
    pub fn label(&self) -> String {
        if self.system {
            "system".into()
        } else {
            self.principal.actor_label()
        }
    }
    /// Whether this is the system itself (command line, seeding), not a request.
    pub fn is_system(&self) -> bool {
        self.system
    }
    pub fn user_id(&self) -> Option<i64> {
        self.principal.user().map(|u| u.id)
    }
}

/// Refuses unless the principal holds the role (admins hold every role).
pub fn require_role(p: &Principal, role: Role) -> Result<()> {
    if p.is_anonymous() {
        Err(Error::Unauthorized("Bitte melden Sie sich an.".into()))
    } else if p.has_role(role) {
        Ok(())
    } else {
        Err(Error::forbidden("Dafür fehlt Ihnen die Berechtigung."))
    }
}

/// Refuses unless the principal holds the scope.
pub fn require_scope(p: &Principal, scope: &str) -> Result<()> {
    if p.is_anonymous() {
        Err(Error::Unauthorized(format!(
            "Anmeldung oder API-Token mit Berechtigung '{scope}' erforderlich."
        )))
    } else if p.has_scope(scope) {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "Die Berechtigung '{scope}' fehlt."
        )))
    }
}
