//! The SensorThings service: one function per HTTP method over resource paths, used by the web
//! layer's thin router (and later by MQTT and `$batch`).

use crate::conn::Conn;
use crate::model::{Kind, Link};
use crate::odata::{QueryOptions, parse_query};
use crate::read::{Reader, property_value};
use crate::resource::{Resolved, Target, resolve};
use crate::visibility::Access;
use crate::write::{Change, Writer, json_patch};
use kern::{Error, Invalid, Result};
use platform::{Actor, Env, audit};
use serde_json::{Value, json};

/// The version prefix of every path.
pub const PREFIX: &str = "/sta/v1.1";

/// Conformance classes implemented (OGC 18-088 requirement classes, plus the MultiDatastream
/// extension). Batch, dataArray and MQTT are added when they exist.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/multi-datastream",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/batch-request/batch-request",
];

/// What a request answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON document with a status; `location` for 201 Created.
    Json {
        status: u16,
        body: Value,
        location: Option<String>,
    },
    /// A JSON document already serialised (200 OK), written straight from the rows for large
    /// answers; [`get`] and [`get_in`] turn it into [`Reply::Json`], [`get_text`] keeps it.
    JsonText(String),
    /// A raw property value (`$value`).
    Text(String),
    /// A status without body.
    Empty(u16),
}

/// The result of a write: the answer and what changed (for after-commit hooks).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub reply: Reply,
    pub changes: Vec<Change>,
}

pub(crate) fn base(env: &Env) -> String {
    format!("{}{PREFIX}", env.config.public_url())
}

fn reader<'a>(env: &'a Env, access: &'a Access, conn: Conn<'a>) -> Reader<'a> {
    Reader {
        db: conn,
        access,
        base: base(env),
        now: env.now().timestamp_micros(),
        default_top: env.config.sta.default_top.max(1),
        max_top: env.config.sta.max_top.max(1),
    }
}

/// Parses the query options; a parse error names the option, position and expectation.
pub fn options(raw_query: &str) -> Result<QueryOptions> {
    parse_query(raw_query).map_err(|e| {
        let mut inv = Invalid::new();
        inv.problems.push(kern::error::Problem {
            field: None,
            message: e.to_string(),
        });
        Error::Invalid(inv)
    })
}

/// The service root document.
pub fn root(env: &Env) -> Value {
    let b = base(env);
    let value: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| json!({ "name": k.set(), "url": format!("{b}/{}", k.set()) }))
        .collect();
    json!({
        "value": value,
        "serverSettings": { "conformance": CONFORMANCE },
    })
}

/// `GET` of any resource path (`path` without the prefix, e.g. `/Things(1)/Datastreams`).
pub async fn get(env: &Env, actor: &Actor, path: &str, raw_query: &str) -> Result<Reply> {
    get_in(env, actor, Conn::Pool(&env.db), path, raw_query).await
}

/// [`get`] for answering over HTTP: large documents come back as [`Reply::JsonText`], written
/// straight from the rows without a `Value` tree (the same bytes `serde_json` would write).
pub async fn get_text(env: &Env, actor: &Actor, path: &str, raw_query: &str) -> Result<Reply> {
    get_any(env, actor, Conn::Pool(&env.db), path, raw_query, true).await
}

/// `GET` on the pools or inside a shared transaction (`$batch`).
pub async fn get_in(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    path: &str,
    raw_query: &str,
) -> Result<Reply> {
    get_any(env, actor, conn, path, raw_query, false).await
}

async fn get_any(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    path: &str,
    raw_query: &str,
    text: bool,
) -> Result<Reply> {
    let reply = get_reply(env, actor, conn, path, raw_query, text).await?;
    match reply {
        Reply::JsonText(body) if !text => Ok(Reply::Json {
            status: 200,
            body: serde_json::from_str(&body)
                .map_err(|e| Error::Internal(format!("rendered JSON unreadable: {e}")))?,
            location: None,
        }),
        other => Ok(other),
    }
}

async fn get_reply(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    path: &str,
    raw_query: &str,
    text: bool,
) -> Result<Reply> {
    let access = Access::of(&actor.principal);
    // Extensions at their own paths (LatestObservations, Aggregates, .../$aggregate).
    if let Some(reply) =
        crate::aggregate::get(env, &access, conn, &base(env), path, raw_query).await
    {
        return reply;
    }
    let o = options(raw_query)?;
    let r = reader(env, &access, conn);
    let Resolved { target, is_ref } = resolve(conn, &access, path).await?;
    if o.result_format.is_some() {
        return crate::data_array::get(&r, target, is_ref, &o, path, raw_query).await;
    }
    let self_path = path.trim_end_matches('/').to_string();
    let body = match target {
        Target::Collection { kind, parent } => {
            if is_ref {
                let page = r
                    .refs(kind, parent, &o, &self_path.replace("/$ref", ""), raw_query)
                    .await?;
                fix_ref_links(page, &self_path)
            } else if text
                && let Some(body) = r
                    .collection_text(kind, parent, &o, &self_path, raw_query)
                    .await?
            {
                return Ok(Reply::JsonText(body));
            } else {
                r.collection(kind, parent, &o, &self_path, raw_query)
                    .await?
            }
        }
        Target::Entity { kind, id, .. } => {
            if is_ref {
                json!({ "@iot.selfLink": format!("{}/{}({id})", r.base, kind.set()) })
            } else {
                r.entity(kind, id, &o).await?
            }
        }
        Target::Property {
            kind,
            id,
            name,
            raw,
        } => {
            let row = r.row(kind, id).await?;
            let v = property_value(kind, &row, &name).unwrap_or(Value::Null);
            if raw {
                return Ok(Reply::Text(match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                }));
            }
            let key = if name == "id" {
                "@iot.id".to_string()
            } else {
                name
            };
            json!({ key: v })
        }
    };
    Ok(Reply::Json {
        status: 200,
        body,
        location: None,
    })
}

/// Keeps nextLinks of a `$ref` listing on the `$ref` path.
fn fix_ref_links(mut page: Value, self_path: &str) -> Value {
    if let Some(Value::String(next)) = page.get_mut("@iot.nextLink") {
        let without = self_path.replace("/$ref", "");
        *next = next.replacen(&format!("{without}?"), &format!("{self_path}?"), 1);
    }
    page
}

/// Runs `f` in one transaction with an audit entry; commits only if everything succeeded.
pub(crate) async fn with_writer<F>(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    action: &str,
    path: &str,
    f: F,
) -> Result<(Value, Vec<Change>)>
where
    F: for<'w, 'x> FnOnce(
        &'w mut Writer<'x>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Value>> + Send + 'w>,
    >,
{
    let access = Access::of(&actor.principal);
    let tx = match conn {
        Conn::Pool(db) => db.begin().await?,
        Conn::Tx(shared) => shared.take().await?,
    };
    let mut w = Writer {
        tx,
        access: &access,
        principal: &actor.principal,
        now: env.now().timestamp_micros(),
        changes: Vec::new(),
    };
    let out = match f(&mut w).await {
        Ok(out) => out,
        Err(e) => {
            // In a changeset the transaction goes back (the whole changeset rolls back).
            if let Conn::Tx(shared) = conn {
                shared.put(w.tx).await;
            }
            return Err(e);
        }
    };
    // Observations are the bulk data: creating them is not audited one by one.
    let audited = w
        .changes
        .iter()
        .any(|c| c.kind != Kind::Observation && c.kind != Kind::FeatureOfInterest);
    if audited {
        let summary: Vec<String> = w
            .changes
            .iter()
            .map(|c| format!("{:?} {}({})", c.op, c.kind.name(), c.id))
            .take(50)
            .collect();
        audit::record_tx(
            env,
            &mut w.tx,
            actor,
            action,
            &format!("sta:{path}"),
            json!({ "changes": summary }),
        )
        .await?;
    }
    let changes = std::mem::take(&mut w.changes);
    match conn {
        Conn::Pool(_) => w.tx.commit().await?,
        Conn::Tx(shared) => shared.put(w.tx).await,
    }
    Ok((out, changes))
}

fn parse_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid("body", format!("kein gültiges JSON: {e}")))
}

/// `POST` to an entity set (create, possibly nested below a parent) or to a `$ref` collection.
pub async fn post(env: &Env, actor: &Actor, path: &str, body: &[u8]) -> Result<Written> {
    post_in(env, actor, Conn::Pool(&env.db), path, body).await
}

/// `POST` on the pools or inside a shared transaction (`$batch`).
pub async fn post_in(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    path: &str,
    body: &[u8],
) -> Result<Written> {
    let access = Access::of(&actor.principal);
    if !access.write {
        platform::require_scope(&actor.principal, "sta:write")?;
    }
    if path.trim_matches('/') == "CreateObservations" {
        return crate::data_array::create_observations(env, actor, conn, body).await;
    }
    let v = parse_body(body)?;
    let Resolved { target, is_ref } = resolve(conn, &access, path).await?;
    let Target::Collection { kind, parent } = target else {
        return Err(Error::invalid(
            "path",
            "POST creates entities in an entity set, e.g. /Things or /Things(1)/Datastreams",
        ));
    };
    let b = base(env);
    let (out, changes) = with_writer(env, actor, conn, "sta.create", path, |w| {
        Box::pin(async move {
            if is_ref {
                let parent =
                    parent.ok_or_else(|| Error::invalid("path", "$ref needs a parent entity"))?;
                w.add_ref(parent, kind, &v).await?;
                return Ok(Value::Null);
            }
            let given = match parent {
                Some((pk, pid, link)) => given_for(w, pk, pid, link, kind, &v).await?,
                None => (Vec::new(), None),
            };
            let id = w.create(kind, &v, String::new(), given.0).await?;
            if let Some((table, pcol, pid, ccol)) = given.1 {
                w.link_after(table, pcol, pid, ccol, id, kind).await?;
            }
            Ok(json!(id))
        })
    })
    .await?;
    if is_ref {
        return Ok(Written {
            reply: Reply::Empty(204),
            changes,
        });
    }
    let id = out.as_i64().unwrap_or(0);
    let access2 = Access {
        all: true,
        ..Access::default()
    };
    let r = Reader {
        base: b.clone(),
        ..reader(env, &access2, conn)
    };
    let body = r.entity(kind, id, &QueryOptions::default()).await?;
    Ok(Written {
        reply: Reply::Json {
            status: 201,
            body,
            location: Some(format!("{b}/{}({id})", kind.set())),
        },
        changes,
    })
}

type Given = (
    Vec<(&'static str, i64)>,
    Option<(&'static str, &'static str, i64, &'static str)>,
);

/// How an entity created below a parent (`Things(1)/Datastreams`) is tied to it.
async fn given_for(
    _w: &mut Writer<'_>,
    _pk: Kind,
    pid: i64,
    link: Link,
    _kind: Kind,
    _v: &Value,
) -> Result<Given> {
    Ok(match link {
        Link::Fk(col) => (vec![(col, pid)], None),
        Link::Table {
            table,
            parent,
            child,
        } => (vec![], Some((table, parent, pid, child))),
        Link::Ref(_) => {
            return Err(Error::invalid(
                "path",
                "cannot create below a to-one navigation property",
            ));
        }
    })
}

impl Writer<'_> {
    async fn link_after(
        &mut self,
        table: &'static str,
        pcol: &'static str,
        pid: i64,
        ccol: &'static str,
        cid: i64,
        kind: Kind,
    ) -> Result<()> {
        let parent_kind = match (table, pcol) {
            ("sta_thing_locations", "thing_id") => Kind::Thing,
            ("sta_thing_locations", _) => Kind::Location,
            ("sta_hist_locations", "hist_id") => Kind::HistoricalLocation,
            ("sta_hist_locations", _) => Kind::Location,
            ("sta_multi_datastream_props", "md_id") => Kind::MultiDatastream,
            _ => Kind::ObservedProperty,
        };
        let link = Link::Table {
            table,
            parent: pcol,
            child: ccol,
        };
        self.add_ref((parent_kind, pid, link), kind, &json!({ "@iot.id": cid }))
            .await
    }
}

/// `PATCH` (merge; `json_patch` for `application/json-patch+json`) and `PUT` (replace).
pub async fn update(
    env: &Env,
    actor: &Actor,
    path: &str,
    body: &[u8],
    mode: UpdateMode,
) -> Result<Written> {
    update_in(env, actor, Conn::Pool(&env.db), path, body, mode).await
}

/// `PATCH`/`PUT` on the pools or inside a shared transaction (`$batch`).
pub async fn update_in(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    path: &str,
    body: &[u8],
    mode: UpdateMode,
) -> Result<Written> {
    let access = Access::of(&actor.principal);
    access.require_write(&actor.principal)?;
    let v = parse_body(body)?;
    let Resolved { target, is_ref } = resolve(conn, &access, path).await?;
    let Target::Entity { kind, id, via } = target else {
        return Err(Error::invalid(
            "path",
            "updates address one entity, e.g. /Things(1)",
        ));
    };
    let current = if mode == UpdateMode::JsonPatch {
        let r = reader(env, &access, conn);
        let mut doc = r.entity(kind, id, &QueryOptions::default()).await?;
        json_patch(&mut doc, &v)?;
        Some(doc)
    } else {
        None
    };
    let (_, changes) = with_writer(env, actor, conn, "sta.update", path, |w| {
        Box::pin(async move {
            if is_ref {
                let via = via.ok_or_else(|| Error::invalid("path", "$ref needs a parent"))?;
                w.set_ref(via, kind, &v).await?;
                return Ok(Value::Null);
            }
            match mode {
                UpdateMode::Merge => w.update(kind, id, &v, false).await?,
                UpdateMode::Replace => w.update(kind, id, &v, true).await?,
                UpdateMode::JsonPatch => {
                    w.update(kind, id, current.as_ref().unwrap_or(&Value::Null), false)
                        .await?
                }
            }
            Ok(Value::Null)
        })
    })
    .await?;
    if is_ref {
        return Ok(Written {
            reply: Reply::Empty(204),
            changes,
        });
    }
    let r = reader(env, &access, conn);
    let body = r.entity(kind, id, &QueryOptions::default()).await?;
    Ok(Written {
        reply: Reply::Json {
            status: 200,
            body,
            location: None,
        },
        changes,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    Merge,
    Replace,
    JsonPatch,
}

/// `DELETE` of an entity (with cascades) or of a link (`.../Locations(2)/$ref`).
pub async fn delete(env: &Env, actor: &Actor, path: &str) -> Result<Written> {
    delete_in(env, actor, Conn::Pool(&env.db), path).await
}

/// `DELETE` on the pools or inside a shared transaction (`$batch`).
pub async fn delete_in(env: &Env, actor: &Actor, conn: Conn<'_>, path: &str) -> Result<Written> {
    let access = Access::of(&actor.principal);
    access.require_write(&actor.principal)?;
    let Resolved { target, is_ref } = resolve(conn, &access, path).await?;
    let Target::Entity { kind, id, via } = target else {
        return Err(Error::invalid(
            "path",
            "DELETE addresses one entity, e.g. /Things(1)",
        ));
    };
    let (_, changes) = with_writer(env, actor, conn, "sta.delete", path, |w| {
        Box::pin(async move {
            if is_ref {
                let via = via.ok_or_else(|| {
                    Error::invalid(
                        "path",
                        "$ref on DELETE needs a parent, e.g. /Things(1)/Locations(2)/$ref",
                    )
                })?;
                w.remove_ref(via, id).await?;
            } else {
                w.delete(kind, id).await?;
            }
            Ok(Value::Null)
        })
    })
    .await?;
    Ok(Written {
        reply: Reply::Empty(200),
        changes,
    })
}
