//! MQTT topics of the SensorThings MQTT extension (OGC 18-088, section 14): which topics a
//! subscriber may name, which topics create Observations, and how a topic filter matches a
//! topic. Pure functions, no I/O.

use crate::model::Kind;

/// The version prefix of every topic.
pub const VERSION: &str = "v1.1";

/// Query options a subscription topic may carry (`v1.1/Observations?$select=result`).
const TOPIC_OPTIONS: &[&str] = &["$select", "$expand"];

/// A subscription, split into the MQTT filter part and the query options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The filter as the client sent it (the topic its messages are published under when it
    /// carries query options).
    pub raw: String,
    /// The filter without query options; may hold the wildcards `+` and `#`.
    pub base: String,
    /// The query options (`$select=result,phenomenonTime`), empty if none.
    pub query: String,
}

/// Why a subscription is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Filter {
    /// Checks a subscription filter. Wildcards are allowed without query options; query options
    /// (only `$select` and `$expand`) need a concrete topic.
    pub fn parse(raw: &str) -> Result<Filter, Refused> {
        let (base, query) = match raw.split_once('?') {
            Some((b, q)) => (b, q),
            None => (raw, ""),
        };
        if !valid_filter(base) {
            return Err(Refused(format!("'{raw}' is not a valid MQTT topic filter")));
        }
        if !query.is_empty() {
            if base.contains(['+', '#']) {
                return Err(Refused(
                    "query options need a topic without wildcards".to_string(),
                ));
            }
            for part in query.split('&') {
                let name = part.split_once('=').map(|(n, _)| n).unwrap_or(part);
                if !TOPIC_OPTIONS.contains(&name) {
                    return Err(Refused(format!(
                        "'{name}' is not supported in topics; use $select or $expand"
                    )));
                }
            }
        }
        Ok(Filter {
            raw: raw.to_string(),
            base: base.to_string(),
            query: query.to_string(),
        })
    }

    /// Whether a message on `topic` (a topic without query options) reaches this subscription.
    pub fn matches(&self, topic: &str) -> bool {
        matches(topic, &self.base)
    }

    /// The topic a message for `topic` is published under to this subscriber: the topic itself,
    /// or with query options the subscribed topic (which then names exactly `topic`).
    pub fn delivery_topic(&self, topic: &str) -> String {
        if self.query.is_empty() {
            topic.to_string()
        } else {
            self.raw.clone()
        }
    }
}

/// MQTT 3.1.1 filter syntax: `#` only as the last level, `+` only as a whole level.
pub fn valid_filter(f: &str) -> bool {
    if f.is_empty() || f.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = f.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if l.contains('#') && (*l != "#" || i + 1 != levels.len()) {
            return false;
        }
        if l.contains('+') && *l != "+" {
            return false;
        }
    }
    true
}

/// MQTT 3.1.1 topic matching. Topics starting with `$` are not matched by filters starting
/// with a wildcard.
pub fn matches(topic: &str, filter: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut t = topic.split('/');
    let mut f = filter.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The resource path an Observation published to `topic` is created under, if `topic` is one
/// of the create topics: `v1.1/Observations` and `v1.1/{Datastreams|MultiDatastreams|
/// FeaturesOfInterest}(ID)/Observations`.
pub fn create_path(topic: &str) -> Option<String> {
    let rest = topic.strip_prefix(VERSION)?.strip_prefix('/')?;
    if rest == "Observations" {
        return Some("/Observations".into());
    }
    let (parent, last) = rest.split_once('/')?;
    if last != "Observations" {
        return None;
    }
    let open = parent.find('(')?;
    let set = &parent[..open];
    let id = parent[open + 1..].strip_suffix(')')?;
    let id: i64 = id.parse().ok()?;
    let kind = Kind::from_set(set)?;
    matches!(
        kind,
        Kind::Datastream | Kind::MultiDatastream | Kind::FeatureOfInterest
    )
    .then(|| format!("/{set}({id})/Observations"))
}

/// The topic of an entity set (`v1.1/Things`).
pub fn set_topic(kind: Kind) -> String {
    format!("{VERSION}/{}", kind.set())
}

/// The topic of one entity (`v1.1/Things(1)`).
pub fn entity_topic(kind: Kind, id: i64) -> String {
    format!("{VERSION}/{}({id})", kind.set())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_topics_are_observation_collections() {
        assert_eq!(
            create_path("v1.1/Observations").as_deref(),
            Some("/Observations")
        );
        assert_eq!(
            create_path("v1.1/Datastreams(12)/Observations").as_deref(),
            Some("/Datastreams(12)/Observations")
        );
        assert_eq!(
            create_path("v1.1/MultiDatastreams(3)/Observations").as_deref(),
            Some("/MultiDatastreams(3)/Observations")
        );
        assert_eq!(
            create_path("v1.1/FeaturesOfInterest(3)/Observations").as_deref(),
            Some("/FeaturesOfInterest(3)/Observations")
        );
        for no in [
            "v1.1/Things",
            "v1.0/Observations",
            "v1.1/Things(1)/Observations",
            "v1.1/Datastreams(x)/Observations",
            "v1.1/Datastreams(1)/Observations/extra",
            "v1.1/Observations(1)",
        ] {
            assert_eq!(create_path(no), None, "{no}");
        }
    }

    #[test]
    fn filters_match_like_mqtt() {
        assert!(matches("v1.1/Things", "v1.1/Things"));
        assert!(matches("v1.1/Things(1)/name", "v1.1/+/name"));
        assert!(matches("v1.1/Things(1)/name", "v1.1/#"));
        assert!(matches("v1.1/Things", "v1.1/Things/#"));
        assert!(matches("v1.1/Things", "#"));
        assert!(!matches("v1.1/Things(1)", "v1.1/Things"));
        assert!(!matches("v1.1/Things", "v1.1/+/name"));
        assert!(!matches("$SYS/x", "#"));
        assert!(valid_filter("v1.1/+/Observations"));
        assert!(!valid_filter("v1.1/Things#"));
        assert!(!valid_filter("v1.1/#/x"));
        assert!(!valid_filter("v1.1/a+"));
    }

    #[test]
    fn select_topics_keep_their_query_and_refuse_others() {
        let f = Filter::parse("v1.1/Observations?$select=result,phenomenonTime").unwrap();
        assert_eq!(f.base, "v1.1/Observations");
        assert_eq!(f.query, "$select=result,phenomenonTime");
        assert!(f.matches("v1.1/Observations"));
        assert_eq!(
            f.delivery_topic("v1.1/Observations"),
            "v1.1/Observations?$select=result,phenomenonTime"
        );
        assert!(Filter::parse("v1.1/Observations?$filter=result gt 1").is_err());
        assert!(Filter::parse("v1.1/+?$select=id").is_err());
        assert!(Filter::parse("v1.1/Things#").is_err());
        let plain = Filter::parse("v1.1/+/Observations").unwrap();
        assert_eq!(
            plain.delivery_topic("v1.1/Datastreams(1)/Observations"),
            "v1.1/Datastreams(1)/Observations"
        );
    }
}
