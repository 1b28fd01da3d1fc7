//! Data sovereignty: who sees which Things and Datastreams, and who may write.
//!
//! Each Thing, Datastream and MultiDatastream is `public`, `internal` or `restricted` (to named
//! groups). Everything else follows from them:
//!
//! * a Datastream/MultiDatastream is visible when it *and* its Thing are visible;
//! * an Observation when its (Multi)Datastream is visible;
//! * a HistoricalLocation when its Thing is visible;
//! * a Location when it belongs to a visible Thing, or to no Thing at all;
//! * a FeatureOfInterest when a visible Observation refers to it, or none does;
//! * Sensors and ObservedProperties are catalogue entries and always visible.
//!
//! Readers: anonymous sees `public`; any principal with `sta:read` or `sta:write` also sees
//! `internal`; the scope `sta:group-NAME` grants the group NAME's `restricted` data; `admin`,
//! `sta:*` and data stewards see everything.
//!
//! Writers need `sta:write` (or admin). A token that also holds `sta:thing-ID` scopes is a
//! sensor token limited to those Things: it may only create Observations in their
//! (Multi)Datastreams (with their automatic FeaturesOfInterest).

use crate::model::Kind;
use kern::{Error, Principal, Result};

pub const PUBLIC: &str = "public";
pub const INTERNAL: &str = "internal";
pub const RESTRICTED: &str = "restricted";

/// What a principal may see and do in the SensorThings API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Sees everything.
    pub all: bool,
    /// Sees `internal` data.
    pub internal: bool,
    /// Groups whose `restricted` data it sees.
    pub groups: Vec<String>,
    /// May write.
    pub write: bool,
    /// When set, writes are limited to Observations of these Things.
    pub things: Option<Vec<i64>>,
}

/// Whether `s` is a valid group name (lower-case letters, digits, `-`, `_`).
pub fn valid_group(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Access {
    pub fn of(p: &Principal) -> Access {
        let mut a = Access::default();
        match p {
            Principal::Anonymous => {}
            Principal::User(_) => {
                a.all = p.is_admin() || p.has_scope("sta:all");
                a.internal = a.all || p.has_scope("sta:read");
                a.write = p.has_scope("sta:write");
            }
            Principal::Token(t) => {
                let mut things = Vec::new();
                for s in &t.scopes {
                    if s.is_admin() || (s.module == "sta" && s.right == "*") {
                        a.all = true;
                    }
                    if s.module != "sta" {
                        continue;
                    }
                    match s.right.as_str() {
                        "read" => a.internal = true,
                        "write" => {
                            a.internal = true;
                            a.write = true;
                        }
                        r => {
                            if let Some(g) = r.strip_prefix("group-") {
                                if valid_group(g) {
                                    a.groups.push(g.to_string());
                                }
                            } else if let Some(Ok(id)) =
                                r.strip_prefix("thing-").map(str::parse::<i64>)
                            {
                                things.push(id);
                            }
                        }
                    }
                }
                if a.all {
                    a.internal = true;
                    a.write = true;
                }
                if !things.is_empty() && !t.scopes.iter().any(|s| s.is_admin()) {
                    a.things = Some(things);
                }
            }
        }
        a
    }

    /// Everything visible, nothing to check.
    pub fn sees_all(&self) -> bool {
        self.all
    }

    /// Refuses writes without the write right (or by a thing-limited token).
    pub fn require_write(&self, principal: &Principal) -> Result<()> {
        if !self.write {
            return platform::require_scope(principal, "sta:write");
        }
        if self.things.is_some() {
            return Err(Error::forbidden(
                "Dieses Token darf nur Observations seiner eigenen Things anlegen.",
            ));
        }
        Ok(())
    }

    /// Refuses creating Observations unless the writer may write into the Thing.
    pub fn require_observation_write(&self, principal: &Principal, thing: i64) -> Result<()> {
        if !self.write {
            return platform::require_scope(principal, "sta:write");
        }
        match &self.things {
            Some(list) if !list.contains(&thing) => Err(Error::forbidden(format!(
                "Dieses Token darf keine Observations für Thing {thing} anlegen."
            ))),
            _ => Ok(()),
        }
    }

    /// The condition on a row `a` with its own visibility columns; `None` when all is visible.
    fn own(&self, a: &str) -> Option<String> {
        if self.all {
            return None;
        }
        let mut ors = vec![if self.internal {
            format!("{a}.visibility IN ('public', 'internal')")
        } else {
            format!("{a}.visibility = 'public'")
        }];
        if !self.groups.is_empty() {
            // Group names are checked to be [a-z0-9_-], so they are safe as literals.
            let any: Vec<String> = self
                .groups
                .iter()
                .map(|g| format!("{a}.groups LIKE '%,{},%' ESCAPE '!'", escape_like(g)))
                .collect();
            ors.push(format!(
                "({a}.visibility = 'restricted' AND ({}))",
                any.join(" OR ")
            ));
        }
        Some(format!("({})", ors.join(" OR ")))
    }

    /// The SQL condition under which row `a` of `kind` is visible; `None` when everything is.
    pub fn visible(&self, kind: Kind, a: &str) -> Option<String> {
        if self.all {
            return None;
        }
        // A thing-limited (sensor) token also sees its own Things and their streams.
        let mine = |col: String| match &self.things {
            Some(list) if !list.is_empty() => format!(
                " OR {col} IN ({})",
                list.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        let own = |al: &str| self.own(al).unwrap_or_else(|| "1 = 1".into());
        let things = || {
            format!(
                "SELECT vt.id FROM sta_things vt WHERE ({}{})",
                own("vt"),
                mine("vt.id".into())
            )
        };
        let streams = |table: &str, al: &str| {
            format!(
                "SELECT {al}.id FROM {table} {al} WHERE ({} AND {al}.thing_id IN ({})){}",
                own(al),
                things(),
                mine(format!("{al}.thing_id"))
            )
        };
        Some(match kind {
            Kind::Thing => format!("({}{})", own(a), mine(format!("{a}.id"))),
            Kind::Datastream | Kind::MultiDatastream => format!(
                "(({} AND {a}.thing_id IN ({})){})",
                own(a),
                things(),
                mine(format!("{a}.thing_id"))
            ),
            Kind::HistoricalLocation => format!("{a}.thing_id IN ({})", things()),
            Kind::Location => format!(
                "({a}.id IN (SELECT vl.location_id FROM sta_thing_locations vl WHERE vl.thing_id IN ({})) \
                 OR NOT EXISTS (SELECT 1 FROM sta_thing_locations vl2 WHERE vl2.location_id = {a}.id))",
                things()
            ),
            // Exactly one of the two is set. A CASE instead of OR keeps SQLite from a
            // multi-index OR plan that collects (and sorts) every visible Observation before a
            // `LIMIT`; both backends then scan in the requested order and stop early.
            Kind::Observation => format!(
                "(CASE WHEN {a}.datastream_id IS NOT NULL THEN {a}.datastream_id IN ({}) \
                 ELSE {a}.multi_datastream_id IN ({}) END)",
                streams("sta_datastreams", "vd"),
                streams("sta_multi_datastreams", "vm")
            ),
            Kind::FeatureOfInterest => format!(
                "(EXISTS (SELECT 1 FROM sta_observations vo WHERE vo.feature_id = {a}.id AND {}) \
                 OR NOT EXISTS (SELECT 1 FROM sta_observations vo2 WHERE vo2.feature_id = {a}.id))",
                self.visible(Kind::Observation, "vo")?
            ),
            Kind::Sensor | Kind::ObservedProperty => return None,
        })
    }
}

fn escape_like(g: &str) -> String {
    g.replace('!', "!!").replace('_', "!_").replace('%', "!%")
}

/// Parses `visibility` and `groups` from an entity's JSON (for create and update).
pub fn parse(
    obj: &serde_json::Map<String, serde_json::Value>,
    field_prefix: &str,
) -> Result<Option<(String, String)>> {
    let vis = obj.get("visibility");
    let groups = obj.get("groups");
    if vis.is_none() && groups.is_none() {
        return Ok(None);
    }
    let v = match vis {
        None | Some(serde_json::Value::Null) => PUBLIC,
        Some(serde_json::Value::String(s))
            if [PUBLIC, INTERNAL, RESTRICTED].contains(&s.as_str()) =>
        {
            s.as_str()
        }
        Some(_) => {
            return Err(Error::invalid(
                format!("{field_prefix}visibility"),
                "muss \"public\", \"internal\" oder \"restricted\" sein",
            ));
        }
    };
    let mut list = Vec::new();
    match groups {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Array(a)) => {
            for g in a {
                match g.as_str() {
                    Some(g) if valid_group(g) => list.push(g.to_string()),
                    _ => {
                        return Err(Error::invalid(
                            format!("{field_prefix}groups"),
                            "Gruppennamen bestehen aus a-z, 0-9, - und _",
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(Error::invalid(
                format!("{field_prefix}groups"),
                "muss eine Liste von Gruppennamen sein",
            ));
        }
    }
    if v == RESTRICTED && list.is_empty() {
        return Err(Error::invalid(
            format!("{field_prefix}groups"),
            "eingeschränkte Sichtbarkeit braucht mindestens eine Gruppe",
        ));
    }
    let stored = if list.is_empty() {
        String::new()
    } else {
        format!(",{},", list.join(","))
    };
    Ok(Some((v.to_string(), stored)))
}

/// The stored group list as JSON.
pub fn groups_json(stored: &str) -> serde_json::Value {
    serde_json::Value::Array(
        stored
            .split(',')
            .filter(|g| !g.is_empty())
            .map(|g| serde_json::Value::String(g.to_string()))
            .collect(),
    )
}
