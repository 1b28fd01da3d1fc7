//! The SensorThings MQTT extension (OGC 18-088, section 14) without the network: which topics a
//! committed change is published to, what each message holds for a given reader, creating
//! Observations from published messages, the hooks the HTTP layer reports commits to, and the
//! service root's MQTT settings. The broker and the bridge to an external broker live in the
//! `mqtt` crate.
//!
//! Topics (all below `v1.1/`):
//!
//! * created entities go to their entity set (`Things`) and to every collection they are a
//!   member of through a navigation property (`Datastreams(1)/Observations`,
//!   `Things(1)/Locations`);
//! * updated entities go to their entity topic (`Things(1)`) and, per changed property, to the
//!   property topic (`Things(1)/name`);
//! * a subscription may add `$select` (and `$expand`) to an entity set or entity topic
//!   (`Observations?$select=result,phenomenonTime`); its messages are published under exactly
//!   that topic.
//!
//! Every message is the JSON the HTTP API answers for the same path to the same reader, so
//! visibility rules apply unchanged: what a reader may not `GET`, it is not sent.

pub mod topic;

use crate::model::{Kind, Link};
use crate::service::{self, Reply, UpdateMode, Written};
use crate::write::{Change, ChangeOp};
use kern::{Error, Result};
use platform::{Actor, Env};
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};
use store::sea_query::Values;

pub use topic::{Filter, Refused, VERSION, create_path, matches};

/// Conformance class: creating Observations by publishing to MQTT.
pub const CREATE_CLASS: &str = "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation";
/// Conformance class: receiving updates by subscribing to MQTT topics.
pub const RECEIVE_CLASS: &str =
    "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates";

type Listener = Arc<dyn Fn(&[Event]) + Send + Sync>;

/// A committed change as it is published: updates name the properties whose value changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub change: Change,
    /// For updates: the changed properties (their property topics get a message).
    pub props: Vec<String>,
}

/// What the HTTP layer tells the MQTT side: committed changes (to publish them) and the MQTT
/// endpoints that run (for the service root). Cheap to clone; clones share everything, so a
/// listener added after the router was built still hears every commit.
#[derive(Clone, Default)]
pub struct Hooks {
    inner: Arc<RwLock<HooksInner>>,
}

#[derive(Default)]
struct HooksInner {
    listeners: Vec<Listener>,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("endpoints", &self.endpoints())
            .finish_non_exhaustive()
    }
}

impl Hooks {
    /// Calls `f` with the changes of every commit reported through [`Hooks::committed`].
    pub fn on_commit(&self, f: impl Fn(&[Event]) + Send + Sync + 'static) {
        self.write().listeners.push(Arc::new(f));
    }

    /// Whether anyone listens (without listeners, nothing needs to be prepared for them).
    pub fn listening(&self) -> bool {
        !self.read().listeners.is_empty()
    }

    /// Reports the changes of a committed write. Call it after every successful write
    /// (`service::post`, `delete`, `$batch`, CreateObservations, MQTT create); updates go
    /// through [`update`], which also reports the changed properties.
    pub fn committed(&self, changes: &[Change]) {
        self.report(changes, None);
    }

    fn report(&self, changes: &[Change], changed: Option<(Kind, i64, &[String])>) {
        if changes.is_empty() {
            return;
        }
        let listeners = self.read().listeners.clone();
        if listeners.is_empty() {
            return;
        }
        let events: Vec<Event> = changes
            .iter()
            .map(|c| {
                let props = match changed {
                    Some((k, id, props))
                        if c.kind == k && c.id == id && c.op == ChangeOp::Updated =>
                    {
                        props.to_vec()
                    }
                    _ => Vec::new(),
                };
                Event {
                    change: c.clone(),
                    props,
                }
            })
            .collect();
        for l in listeners {
            l(&events);
        }
    }

    /// Sets the MQTT endpoints that clients can reach (`mqtt://host:1884`, `ws://host/mqtt`).
    /// With endpoints set, the service root advertises the MQTT conformance classes.
    pub fn set_endpoints(&self, endpoints: Vec<String>) {
        self.write().endpoints = endpoints;
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.read().endpoints.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HooksInner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HooksInner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Adds the MQTT conformance classes and endpoints to a service root document, if any endpoint
/// runs.
pub fn advertise(root: &mut Value, endpoints: &[String]) {
    if endpoints.is_empty() {
        return;
    }
    let Some(settings) = root
        .get_mut("serverSettings")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(Value::Array(conf)) = settings.get_mut("conformance") {
        for c in [CREATE_CLASS, RECEIVE_CLASS] {
            if !conf.iter().any(|v| v == c) {
                conf.push(json!(c));
            }
        }
    }
    for c in [CREATE_CLASS, RECEIVE_CLASS] {
        settings.insert(c.to_string(), json!({ "endpoints": endpoints }));
    }
}

/// What a message shows: an entity (with the subscriber's query options) or one property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shows {
    Entity { kind: Kind, id: i64 },
    Property { kind: Kind, id: i64, name: String },
}

impl Shows {
    /// The HTTP resource path of the message content (without `/sta/v1.1`).
    pub fn path(&self) -> String {
        match self {
            Shows::Entity { kind, id } => format!("/{}({id})", kind.set()),
            Shows::Property { kind, id, name } => format!("/{}({id})/{name}", kind.set()),
        }
    }

    /// Whether the subscriber's query options apply (entities only).
    pub fn takes_options(&self) -> bool {
        matches!(self, Shows::Entity { .. })
    }
}

/// One topic a change is published to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub topic: String,
    pub shows: Shows,
}

/// The topics a committed change is published to (see the module documentation).
pub async fn notices(env: &Env, event: &Event) -> Result<Vec<Notice>> {
    let change = &event.change;
    let (kind, id) = (change.kind, change.id);
    let entity = Shows::Entity { kind, id };
    let mut out = Vec::new();
    match change.op {
        ChangeOp::Created => {
            out.push(Notice {
                topic: topic::set_topic(kind),
                shows: entity.clone(),
            });
            for (pk, pid, nav) in memberships(env, kind, id).await? {
                out.push(Notice {
                    topic: format!("{}/{nav}", topic::entity_topic(pk, pid)),
                    shows: entity.clone(),
                });
            }
        }
        ChangeOp::Updated => {
            out.push(Notice {
                topic: topic::entity_topic(kind, id),
                shows: entity,
            });
            for p in &event.props {
                out.push(Notice {
                    topic: format!("{}/{p}", topic::entity_topic(kind, id)),
                    shows: Shows::Property {
                        kind,
                        id,
                        name: p.clone(),
                    },
                });
            }
        }
        ChangeOp::Deleted => {}
    }
    Ok(out)
}

/// The collections (parent entity and navigation property) an entity is a member of.
async fn memberships(env: &Env, kind: Kind, id: i64) -> Result<Vec<(Kind, i64, &'static str)>> {
    let mut fk: Vec<(Kind, &'static str, &'static str)> = Vec::new();
    let mut out = Vec::new();
    for pk in Kind::ALL {
        for nav in pk.navs() {
            match pk.link(*nav) {
                Some((ck, Link::Fk(col))) if ck == kind => fk.push((pk, col, nav.name())),
                Some((
                    ck,
                    Link::Table {
                        table,
                        parent,
                        child,
                    },
                )) if ck == kind => {
                    let sql =
                        format!("SELECT l.{parent} AS p FROM {table} l WHERE l.{child} = {id}");
                    for row in env.db.fetch_cells_sql(&sql, Values(vec![])).await? {
                        if let Some(pid) = row.get("p").as_i64() {
                            out.push((pk, pid, nav.name()));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if !fk.is_empty() {
        let cols: Vec<String> = fk
            .iter()
            .enumerate()
            .map(|(i, (_, col, _))| format!("c.{col} AS f{i}"))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} c WHERE c.id = {id}",
            cols.join(", "),
            kind.table()
        );
        if let Some(row) = env.db.fetch_cells_sql(&sql, Values(vec![])).await?.first() {
            for (i, (pk, _, nav)) in fk.iter().enumerate() {
                if let Some(pid) = row.get(&format!("f{i}")).as_i64() {
                    out.push((*pk, pid, *nav));
                }
            }
        }
    }
    Ok(out)
}

/// The message for `shows` as `actor` would get it over HTTP; `None` when the actor may not see
/// it (or it is gone meanwhile). `query` holds the subscriber's query options for entities.
pub async fn render(
    env: &Env,
    actor: &Actor,
    shows: &Shows,
    query: &str,
) -> Result<Option<String>> {
    let query = if shows.takes_options() { query } else { "" };
    match service::get(env, actor, &shows.path(), query).await {
        Ok(Reply::Json { body, .. }) => Ok(Some(body.to_string())),
        Ok(_) => Ok(None),
        Err(Error::NotFound(_) | Error::Forbidden(_) | Error::Unauthorized(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a payload is one of the server's own notifications (it carries `@iot.selfLink`):
/// with an external broker the server hears its own messages on the create topics.
pub fn is_notification(payload: &[u8]) -> bool {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("@iot.selfLink").map(|_| ()))
        .is_some()
}

/// Creates the Observation published to `topic` (a create topic) with `payload` (its JSON), as
/// `actor`. The caller reports the changes to the [`Hooks`] and acknowledges the message after
/// this returns `Ok` (the row is committed by then).
pub async fn create(env: &Env, actor: &Actor, topic: &str, payload: &[u8]) -> Result<Written> {
    let path = create_path(topic).ok_or_else(|| {
        Error::invalid(
            "topic",
            format!(
                "'{topic}' is no create topic: publish Observations to v1.1/Observations or v1.1/Datastreams(ID)/Observations"
            ),
        )
    })?;
    if is_notification(payload) {
        return Err(Error::invalid(
            "payload",
            "carries @iot.selfLink: a notification of the server, not a new Observation",
        ));
    }
    service::post(env, actor, &path, payload).await
}

/// One message published to a create topic, waiting to be stored.
pub struct Publication {
    /// The client's identity (shared by all messages of a connection).
    pub actor: Arc<Actor>,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// Creates the Observations of several messages (group commit): all in one transaction when
/// every one of them succeeds, which saves a commit (and on PostgreSQL a WAL flush) per
/// message. When one fails, that transaction is rolled back and every message is stored on its
/// own, so a bad message never takes good ones with it. The answer has one result per message,
/// in order: the committed changes of the message (its Observation, and a FeatureOfInterest
/// created on the way), to be reported to the [`Hooks`]. An `Ok` is committed when this
/// returns (the caller acknowledges it then).
pub async fn create_many(env: &Env, items: &[Publication]) -> Vec<Result<Vec<Change>>> {
    let one = |w: Result<Written>| w.map(|w| w.changes);
    if items.len() == 1 {
        let p = &items[0];
        return vec![one(create(env, &p.actor, &p.topic, &p.payload).await)];
    }
    if let Some(all) = create_bulk(env, items).await {
        return all.into_iter().map(Ok).collect();
    }
    let ready = items
        .iter()
        .all(|p| create_path(&p.topic).is_some() && !is_notification(&p.payload));
    if ready && let Some(all) = create_together(env, items).await {
        return all.into_iter().map(|w| Ok(w.changes)).collect();
    }
    let mut out = Vec::with_capacity(items.len());
    for p in items {
        out.push(one(create(env, &p.actor, &p.topic, &p.payload).await));
    }
    out
}

/// The components of the rows the bulk path writes.
const BULK_COMPONENTS: [&str; 6] = [
    "phenomenonTime",
    "result",
    "resultTime",
    "resultQuality",
    "validTime",
    "parameters",
];

/// A message the bulk path can store as one data-array row: its Datastream and the row's
/// values under [`BULK_COMPONENTS`]. `None` for anything else (MultiDatastreams, a
/// FeatureOfInterest given or linked, deep inserts, unknown members, no result), which takes
/// the ordinary path with its exact error messages.
fn bulk_row(p: &Publication) -> Option<(i64, Vec<Value>)> {
    let path = create_path(&p.topic)?;
    let Value::Object(mut obj) = serde_json::from_slice::<Value>(&p.payload).ok()? else {
        return None;
    };
    let stream: i64 = match path
        .strip_prefix("/Datastreams(")
        .and_then(|r| r.strip_suffix(")/Observations"))
    {
        Some(id) if !obj.contains_key("Datastream") => id.parse().ok()?,
        Some(_) => return None,
        None if path == "/Observations" => {
            let d = obj.remove("Datastream")?;
            let d = d.as_object()?;
            if d.len() != 1 {
                return None;
            }
            d.get("@iot.id")?.as_i64()?
        }
        None => return None,
    };
    if !obj.contains_key("result") || obj.keys().any(|k| !BULK_COMPONENTS.contains(&k.as_str())) {
        return None;
    }
    Some((
        stream,
        BULK_COMPONENTS
            .iter()
            .map(|c| obj.remove(*c).unwrap_or(Value::Null))
            .collect(),
    ))
}

/// All messages through the bulk insert of CreateObservations, in one transaction: each run of
/// messages by the same client identity is one [`crate::data_array::create_rows`] call (one
/// check of all its Datastreams and rights, multi-row INSERTs across Datastreams). `None` when
/// a message does not fit the bulk path or any row fails (nothing is committed then). The
/// answer holds the changes of each message.
async fn create_bulk(env: &Env, items: &[Publication]) -> Option<Vec<Vec<Change>>> {
    let rows: Vec<(i64, Vec<Value>)> = items.iter().map(bulk_row).collect::<Option<_>>()?;
    let tx = env.db.begin().await.ok()?;
    let shared = crate::conn::Shared::new(tx);
    let mut out: Vec<Vec<Change>> = Vec::with_capacity(items.len());
    let same = |a: &Publication, b: &Publication| {
        Arc::ptr_eq(&a.actor, &b.actor) || a.actor.principal == b.actor.principal
    };
    let mut i = 0;
    while i < items.len() {
        let mut j = i + 1;
        while j < items.len() && same(&items[j], &items[i]) {
            j += 1;
        }
        let (ids, changes) = crate::data_array::create_rows(
            env,
            &items[i].actor,
            crate::conn::Conn::Tx(&shared),
            &BULK_COMPONENTS,
            &rows[i..j],
        )
        .await
        .ok()?;
        if ids.len() != j - i {
            return None;
        }
        // Changes other than the new Observations (a derived FeatureOfInterest) go with the
        // first message of the run.
        let mut others: Vec<Change> = changes
            .into_iter()
            .filter(|c| c.kind != Kind::Observation)
            .collect();
        for id in ids {
            let mut changes = std::mem::take(&mut others);
            changes.push(Change {
                kind: Kind::Observation,
                id,
                op: ChangeOp::Created,
            });
            out.push(changes);
        }
        i = j;
    }
    shared.into_inner()?.commit().await.ok()?;
    Some(out)
}

/// All messages in one transaction; `None` if any of them (or the commit) fails.
async fn create_together(env: &Env, items: &[Publication]) -> Option<Vec<Written>> {
    let tx = env.db.begin().await.ok()?;
    let shared = crate::conn::Shared::new(tx);
    let mut done = Vec::with_capacity(items.len());
    for p in items {
        let path = create_path(&p.topic)?;
        let conn = crate::conn::Conn::Tx(&shared);
        done.push(
            service::post_in(env, &p.actor, conn, &path, &p.payload)
                .await
                .ok()?,
        );
    }
    shared.into_inner()?.commit().await.ok()?;
    Some(done)
}

/// `PATCH`/`PUT` (see `service::update`) that reports the committed changes to `hooks`, naming
/// the properties whose value changed (for the property topics `v1.1/Things(1)/name`).
pub async fn update(
    env: &Env,
    hooks: &Hooks,
    actor: &Actor,
    path: &str,
    body: &[u8],
    mode: UpdateMode,
) -> Result<Written> {
    let target = if hooks.listening() {
        last_entity(path)
    } else {
        None
    };
    let before = match target {
        Some((kind, id)) => snapshot(env, kind, id).await,
        None => None,
    };
    let w = service::update(env, actor, path, body, mode).await?;
    match (target, before) {
        (Some((kind, id)), Some(before)) => {
            let after = snapshot(env, kind, id).await.unwrap_or_default();
            let changed: Vec<String> = before
                .iter()
                .filter(|(k, v)| after.get(*k) != Some(*v))
                .chain(after.iter().filter(|(k, _)| !before.contains_key(*k)))
                .map(|(k, _)| k.clone())
                .collect();
            hooks.report(&w.changes, Some((kind, id, &changed)));
        }
        _ => hooks.committed(&w.changes),
    }
    Ok(w)
}

/// The entity a resource path ends in (`/Things(1)/Datastreams(2)` -> Datastream 2).
fn last_entity(path: &str) -> Option<(Kind, i64)> {
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let open = last.find('(')?;
    let kind = Kind::from_set(&last[..open])?;
    let id = last[open + 1..].strip_suffix(')')?.parse().ok()?;
    Some((kind, id))
}

/// Every property value of an entity as an administrator reads it (with `visibility` and
/// `groups` where the entity has them); `None` when it cannot be read.
async fn snapshot(env: &Env, kind: Kind, id: i64) -> Option<serde_json::Map<String, Value>> {
    let admin = Actor::new(
        kern::Principal::Token(kern::auth::TokenPrincipal {
            id: 0,
            name: "mqtt".into(),
            scopes: vec![kern::Scope::admin()],
        }),
        "mqtt",
    );
    let mut names: Vec<&str> = kind.props().iter().map(|p| p.name).collect();
    if kind.has_visibility() {
        names.extend(["visibility", "groups"]);
    }
    let query = format!("$select={}", names.join(","));
    match service::get(env, &admin, &format!("/{}({id})", kind.set()), &query).await {
        Ok(Reply::Json {
            body: Value::Object(m),
            ..
        }) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(topic: &str, payload: Value) -> Publication {
        Publication {
            actor: Arc::new(Actor::default()),
            topic: topic.into(),
            payload: payload.to_string().into_bytes(),
        }
    }

    #[test]
    fn simple_observations_take_the_bulk_path() {
        let (s, row) = bulk_row(&p(
            "v1.1/Datastreams(7)/Observations",
            json!({ "result": 21.5, "phenomenonTime": "2026-12-06T10:00:00Z" }),
        ))
        .unwrap();
        assert_eq!(s, 7);
        assert_eq!(row[0], json!("2026-12-06T10:00:00Z"));
        assert_eq!(row[1], json!(21.5));
        assert!(row[2..].iter().all(Value::is_null));
        let (s, _) = bulk_row(&p(
            "v1.1/Observations",
            json!({ "result": 1, "Datastream": { "@iot.id": 3 } }),
        ))
        .unwrap();
        assert_eq!(s, 3);
    }

    #[test]
    fn everything_else_takes_the_ordinary_path() {
        for (topic, body) in [
            (
                "v1.1/Datastreams(7)/Observations",
                json!({ "phenomenonTime": "2026-12-06T10:00:00Z" }),
            ),
            (
                "v1.1/Datastreams(7)/Observations",
                json!({ "result": 1, "FeatureOfInterest": { "@iot.id": 1 } }),
            ),
            (
                "v1.1/Datastreams(7)/Observations",
                json!({ "result": 1, "Datastream": { "@iot.id": 8 } }),
            ),
            ("v1.1/Observations", json!({ "result": 1 })),
            (
                "v1.1/Observations",
                json!({ "result": 1, "Datastream": { "name": "new" } }),
            ),
            (
                "v1.1/MultiDatastreams(2)/Observations",
                json!({ "result": [1, 2] }),
            ),
            (
                "v1.1/Datastreams(7)/Observations",
                json!({ "result": 1, "colour": "red" }),
            ),
            ("v1.1/Datastreams(7)/Observations", json!([1, 2])),
            ("v1.1/Things", json!({ "result": 1 })),
        ] {
            assert!(
                bulk_row(&p(topic, body.clone())).is_none(),
                "{topic} {body}"
            );
        }
    }
}
