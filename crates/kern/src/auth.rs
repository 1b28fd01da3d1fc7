//! The authorisation model: roles for people, scopes for machines, and the principal that a
//! request acts as.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Roles a person can hold. Staff roles are further scoped to org units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Staff,
    DataSteward,
    Moderator,
    CouncilReader,
    Resident,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Staff,
        Role::DataSteward,
        Role::Moderator,
        Role::CouncilReader,
        Role::Resident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::DataSteward => "data_steward",
            Role::Moderator => "moderator",
            Role::CouncilReader => "council_reader",
            Role::Resident => "resident",
        }
    }

    /// Translation key of the role's display name.
    pub fn label_key(self) -> &'static str {
        match self {
            Role::Admin => "role-admin",
            Role::Staff => "role-staff",
            Role::DataSteward => "role-data-steward",
            Role::Moderator => "role-moderator",
            Role::CouncilReader => "role-council-reader",
            Role::Resident => "role-resident",
        }
    }

    /// Whether a person with this role may use the staff area at all.
    pub fn is_staff_side(self) -> bool {
        !matches!(self, Role::Resident)
    }

    /// The machine scopes a role implies when a person acts through the API with a session.
    fn implies(self, scope: &Scope) -> bool {
        match self {
            Role::Admin => true,
            Role::DataSteward => matches!(scope.module.as_str(), "opendata" | "sta"),
            Role::Moderator => matches!(scope.module.as_str(), "participation" | "open311"),
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown role '{s}'; known roles: {}",
                    Role::ALL.map(|r| r.as_str()).join(", ")
                )
            })
    }
}

/// An API scope: `module:right`, or the single word `admin` which grants everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope {
    pub module: String,
    pub right: String,
}

impl Scope {
    pub fn admin() -> Self {
        Scope {
            module: "admin".into(),
            right: String::new(),
        }
    }
    pub fn is_admin(&self) -> bool {
        self.module == "admin" && self.right.is_empty()
    }
    /// Whether this (granted) scope covers the requested one. `admin` covers all, `x:*` covers
    /// every right of module x.
    pub fn covers(&self, wanted: &Scope) -> bool {
        self.is_admin()
            || (self.module == wanted.module && (self.right == "*" || self.right == wanted.right))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_admin() {
            f.write_str("admin")
        } else {
            write!(f, "{}:{}", self.module, self.right)
        }
    }
}

fn valid_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "admin" {
            return Ok(Scope::admin());
        }
        match s.split_once(':') {
            Some((m, r)) if valid_word(m) && (valid_word(r) || r == "*") => Ok(Scope {
                module: m.into(),
                right: r.into(),
            }),
            _ => Err(format!(
                "invalid scope '{s}': expected 'module:right' (for example 'sta:write') or 'admin'"
            )),
        }
    }
}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPrincipal {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// Org units a staff member works for (ids).
    pub org_units: Vec<i64>,
}

/// A machine authenticated with an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenPrincipal {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub enum Principal {
    #[default]
    Anonymous,
    User(UserPrincipal),
    Token(TokenPrincipal),
}

impl Principal {
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }

    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Principal::User(u) => Some(u),
            _ => None,
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        match self {
            Principal::User(u) => u.roles.contains(&role) || u.roles.contains(&Role::Admin),
            Principal::Token(t) => t.scopes.iter().any(Scope::is_admin),
            Principal::Anonymous => false,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// Whether the principal holds the scope `module:right` (tokens by their scopes, people by
    /// what their roles imply).
    pub fn has_scope(&self, wanted: &str) -> bool {
        let Ok(wanted) = wanted.parse::<Scope>() else {
            return false;
        };
        match self {
            Principal::Token(t) => t.scopes.iter().any(|s| s.covers(&wanted)),
            Principal::User(u) => u.roles.iter().any(|r| r.implies(&wanted)),
            Principal::Anonymous => false,
        }
    }

    /// Whether a staff member works for the org unit (admins work for all).
    pub fn in_org_unit(&self, org_unit: i64) -> bool {
        match self {
            Principal::User(u) => u.roles.contains(&Role::Admin) || u.org_units.contains(&org_unit),
            Principal::Token(t) => t.scopes.iter().any(Scope::is_admin),
            Principal::Anonymous => false,
        }
    }

    /// A short label for logs and the audit trail.
    pub fn actor_label(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User(u) => format!("user:{}", u.username),
            Principal::Token(t) => format!("token:{}", t.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_cover() {
        let w: Scope = "sta:write".parse().unwrap();
        assert!(Scope::admin().covers(&w));
        assert!("sta:*".parse::<Scope>().unwrap().covers(&w));
        assert!(!"sta:read".parse::<Scope>().unwrap().covers(&w));
        assert!("STA write".parse::<Scope>().is_err());
        assert!("sta:".parse::<Scope>().is_err());
        assert_eq!(w.to_string(), "sta:write");
    }

    #[test]
    fn principals_check_roles_scopes_and_org_units() {
        let staff = Principal::User(UserPrincipal {
            id: 1,
            username: "s".into(),
            display_name: "S".into(),
            roles: vec![Role::Staff],
            org_units: vec![3],
        });
        assert!(staff.has_role(Role::Staff));
        assert!(!staff.is_admin());
        assert!(staff.in_org_unit(3));
        assert!(!staff.in_org_unit(4));
        assert!(!staff.has_scope("sta:write"));
        let token = Principal::Token(TokenPrincipal {
            id: 1,
            name: "probe".into(),
            scopes: vec!["sta:write".parse().unwrap()],
        });
        assert!(token.has_scope("sta:write"));
        assert!(!token.has_scope("opendata:publish"));
        assert!(!Principal::Anonymous.has_scope("sta:read"));
        assert!("nope".parse::<Role>().unwrap_err().contains("known roles"));
    }
}
