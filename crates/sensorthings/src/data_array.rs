//! The Data Array extension (OGC 18-088 v1.1, section 14.3): `$resultFormat=dataArray` on reads
//! of Observations, and `POST /CreateObservations` for many Observations in one request.
//!
//! Reads reuse the ordinary collection query (same `$filter`, `$orderby`, paging, `$count`,
//! visibility) and reshape the page into one `{components, dataArray@iot.count, dataArray}`
//! group per (Multi)Datastream. Expanded Observations of Datastreams are reshaped the same way.
//!
//! CreateObservations is built for bulk ingest: each (Multi)Datastream group is validated in
//! Rust, written with one multi-row `INSERT` per chunk in one transaction, and the stream's
//! phenomenon/result time is widened once per group. A row that cannot be stored answers
//! `"error"` in its place; the other rows are stored.

use crate::conn::Conn;
use crate::model::Kind;
use crate::odata::{QueryOptions, Segment};
use crate::read::Reader;
use crate::resource::Target;
use crate::service::{Reply, Written, with_writer};
use crate::write::{Change, ChangeOp, Writer, ref_id};
use kern::{Error, Result};
use platform::{Actor, Env};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use store::sea_query::{Value as V, Values};

/// The components of a data array when `$select` names none.
pub const DEFAULT_COMPONENTS: [&str; 7] = [
    "id",
    "phenomenonTime",
    "resultTime",
    "result",
    "resultQuality",
    "validTime",
    "parameters",
];

/// Components accepted by CreateObservations.
const CREATE_COMPONENTS: [&str; 7] = [
    "phenomenonTime",
    "result",
    "resultTime",
    "resultQuality",
    "validTime",
    "parameters",
    "FeatureOfInterest/id",
];

/// Rows per INSERT statement (well below both backends' parameter limits).
const CHUNK: usize = 1000;

fn components(o: &QueryOptions) -> Result<Vec<String>> {
    let Some(sel) = &o.select else {
        return Ok(DEFAULT_COMPONENTS.iter().map(|s| s.to_string()).collect());
    };
    let mut out = Vec::new();
    for p in sel {
        let name = p.segments.first().and_then(Segment::as_name).unwrap_or("");
        let name = if name == "@iot.id" { "id" } else { name };
        if p.segments.len() != 1 || !DEFAULT_COMPONENTS.contains(&name) {
            return Err(Error::invalid(
                "$select",
                format!(
                    "'{name}' is not a component of a data array; use {}",
                    DEFAULT_COMPONENTS.join(", ")
                ),
            ));
        }
        if !out.iter().any(|c| c == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

fn row_of(item: &Map<String, Value>, comps: &[String]) -> Value {
    Value::Array(
        comps
            .iter()
            .map(|c| {
                let key = if c == "id" { "@iot.id" } else { c.as_str() };
                item.get(key).cloned().unwrap_or(Value::Null)
            })
            .collect(),
    )
}

fn group(comps: &[String], rows: Vec<Value>) -> Map<String, Value> {
    let mut g = Map::new();
    g.insert("components".into(), json!(comps));
    g.insert("dataArray@iot.count".into(), json!(rows.len()));
    g.insert("dataArray".into(), Value::Array(rows));
    g
}

/// `GET ...?$resultFormat=dataArray`.
pub async fn get(
    r: &Reader<'_>,
    target: Target,
    is_ref: bool,
    o: &QueryOptions,
    path: &str,
    raw_query: &str,
) -> Result<Reply> {
    let self_path = path.trim_end_matches('/').to_string();
    let bad = || {
        Error::invalid(
            "$resultFormat",
            "dataArray applies to Observations (Observations, Datastreams(1)/Observations) and to Datastreams or MultiDatastreams with $expand=Observations",
        )
    };
    if is_ref {
        return Err(bad());
    }
    let body = match target {
        Target::Collection {
            kind: Kind::Observation,
            parent,
        } => {
            let comps = components(o)?;
            let all = QueryOptions {
                select: None,
                expand: Vec::new(),
                ..o.clone()
            };
            let mut page = r
                .collection(Kind::Observation, parent, &all, &self_path, raw_query)
                .await?;
            let items = match page.get_mut("value") {
                Some(Value::Array(a)) => std::mem::take(a),
                _ => Vec::new(),
            };
            let ids: Vec<i64> = items
                .iter()
                .filter_map(|i| i.get("@iot.id").and_then(Value::as_i64))
                .collect();
            let mut stream_of: HashMap<i64, (Kind, i64)> = HashMap::new();
            if !ids.is_empty() {
                let list = ids
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT id, datastream_id, multi_datastream_id FROM sta_observations WHERE id IN ({list})"
                );
                for row in r.db.fetch_cells_sql(&sql, Values(vec![])).await? {
                    let id = row.get("id").as_i64().unwrap_or(0);
                    let s = match row.get("datastream_id").as_i64() {
                        Some(d) => (Kind::Datastream, d),
                        None => (
                            Kind::MultiDatastream,
                            row.get("multi_datastream_id").as_i64().unwrap_or(0),
                        ),
                    };
                    stream_of.insert(id, s);
                }
            }
            let mut order: Vec<(Kind, i64)> = Vec::new();
            let mut rows: HashMap<(Kind, i64), Vec<Value>> = HashMap::new();
            for item in &items {
                let Value::Object(m) = item else { continue };
                let id = m.get("@iot.id").and_then(Value::as_i64).unwrap_or(0);
                let s = stream_of.get(&id).copied().unwrap_or((Kind::Datastream, 0));
                if !rows.contains_key(&s) {
                    order.push(s);
                }
                rows.entry(s).or_default().push(row_of(m, &comps));
            }
            let groups: Vec<Value> = order
                .into_iter()
                .map(|s| {
                    let mut g = Map::new();
                    g.insert(
                        format!("{}@iot.navigationLink", s.0.name()),
                        json!(format!("{}/{}({})", r.base, s.0.set(), s.1)),
                    );
                    g.extend(group(&comps, rows.remove(&s).unwrap_or_default()));
                    Value::Object(g)
                })
                .collect();
            if let Value::Object(m) = &mut page {
                m.insert("value".into(), Value::Array(groups));
            }
            page
        }
        Target::Collection {
            kind: kind @ (Kind::Datastream | Kind::MultiDatastream),
            parent,
        } => {
            let mut page = r.collection(kind, parent, o, &self_path, raw_query).await?;
            if let Some(Value::Array(items)) = page.get_mut("value") {
                for item in items {
                    reshape_expanded(item, o)?;
                }
            }
            page
        }
        Target::Entity {
            kind: kind @ (Kind::Datastream | Kind::MultiDatastream),
            id,
            ..
        } => {
            let mut v = r.entity(kind, id, o).await?;
            reshape_expanded(&mut v, o)?;
            v
        }
        _ => return Err(bad()),
    };
    Ok(Reply::Json {
        status: 200,
        body,
        location: None,
    })
}

/// Replaces a (Multi)Datastream's expanded `Observations` list by one data-array group.
fn reshape_expanded(item: &mut Value, o: &QueryOptions) -> Result<()> {
    let Some(exp) = o.expand.iter().find(|e| e.navigation == "Observations") else {
        return Ok(());
    };
    let comps = components(&exp.options)?;
    let Value::Object(m) = item else {
        return Ok(());
    };
    if let Some(Value::Array(list)) = m.remove("Observations") {
        let rows: Vec<Value> = list
            .iter()
            .filter_map(Value::as_object)
            .map(|x| row_of(x, &comps))
            .collect();
        m.insert("Observations".into(), Value::Object(group(&comps, rows)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CreateObservations

/// One validated group of the request.
struct Group {
    kind: Kind,
    stream: i64,
    comps: Vec<String>,
    rows: Vec<Value>,
}

/// One Observation ready for the INSERT.
#[derive(Debug, Clone, PartialEq)]
pub struct NewObs {
    pub foi: Option<i64>,
    pub pt_start: i64,
    pub pt_end: Option<i64>,
    pub result_time: Option<i64>,
    pub result: Value,
    pub quality: Option<Value>,
    pub valid: Option<(i64, Option<i64>)>,
    pub parameters: Option<Value>,
}

fn parse_time_lenient(s: &str) -> Option<(i64, Option<i64>)> {
    if let Some(t) = crate::time::parse_time(s) {
        return Some(t);
    }
    // Offsets without a colon (`2010-12-23T10:20:00-0700`), as in the spec's example.
    let one = |x: &str| {
        chrono::DateTime::parse_from_str(x.trim(), "%Y-%m-%dT%H:%M:%S%.f%z")
            .ok()
            .map(|t| t.timestamp_micros())
    };
    match s.split_once('/') {
        Some((a, b)) => {
            let a = one(a).or_else(|| crate::time::parse_instant(a))?;
            let b = one(b).or_else(|| crate::time::parse_instant(b))?;
            (a <= b).then_some((a, Some(b)))
        }
        None => one(s).map(|a| (a, None)),
    }
}

/// Reads one row of a data array; `None` when it is not a valid Observation.
fn parse_row(row: &Value, comps: &[String], now: i64, arity: Option<usize>) -> Option<NewObs> {
    parse_vals(row.as_array()?, comps, now, arity)
}

/// Reads the values of one data-array row (see [`parse_row`]).
fn parse_vals<S: AsRef<str>>(
    vals: &[Value],
    comps: &[S],
    now: i64,
    arity: Option<usize>,
) -> Option<NewObs> {
    if vals.len() != comps.len() {
        return None;
    }
    let mut o = NewObs {
        foi: None,
        pt_start: now,
        pt_end: None,
        result_time: None,
        result: Value::Null,
        quality: None,
        valid: None,
        parameters: None,
    };
    for (c, v) in comps.iter().zip(vals) {
        match c.as_ref() {
            "phenomenonTime" => match v {
                Value::Null => {}
                Value::String(s) => {
                    let (a, b) = parse_time_lenient(s)?;
                    o.pt_start = a;
                    o.pt_end = b;
                }
                _ => return None,
            },
            "resultTime" => match v {
                Value::Null => {}
                Value::String(s) => {
                    let (a, b) = parse_time_lenient(s)?;
                    if b.is_some() {
                        return None;
                    }
                    o.result_time = Some(a);
                }
                _ => return None,
            },
            "validTime" => match v {
                Value::Null => {}
                Value::String(s) => o.valid = Some(parse_time_lenient(s)?),
                _ => return None,
            },
            "result" => {
                if let Some(n) = arity
                    && v.as_array().map(Vec::len) != Some(n)
                {
                    return None;
                }
                o.result = v.clone();
            }
            "resultQuality" => o.quality = (!v.is_null()).then(|| v.clone()),
            "parameters" => match v {
                Value::Null => {}
                Value::Object(_) => o.parameters = Some(v.clone()),
                _ => return None,
            },
            "FeatureOfInterest/id" => {
                o.foi = Some(
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))?,
                )
            }
            _ => return None,
        }
    }
    Some(o)
}

fn parse_groups(v: &Value) -> Result<Vec<Group>> {
    let Some(list) = v.as_array() else {
        return Err(Error::invalid(
            "body",
            "CreateObservations expects a JSON list of {Datastream|MultiDatastream, components, dataArray}",
        ));
    };
    let mut out = Vec::new();
    for (i, g) in list.iter().enumerate() {
        let f = |name: &str| format!("[{i}].{name}");
        let Some(obj) = g.as_object() else {
            return Err(Error::invalid(
                format!("[{i}]"),
                "muss ein JSON-Objekt sein",
            ));
        };
        let (kind, link) = match (obj.get("Datastream"), obj.get("MultiDatastream")) {
            (Some(d), None) => (Kind::Datastream, d),
            (None, Some(m)) => (Kind::MultiDatastream, m),
            _ => {
                return Err(Error::invalid(
                    f("Datastream"),
                    "genau eins von Datastream oder MultiDatastream (mit @iot.id) ist nötig",
                ));
            }
        };
        let stream =
            ref_id(link).ok_or_else(|| Error::invalid(f(kind.name()), "braucht eine @iot.id"))?;
        let comps: Vec<String> = match obj.get("components").and_then(Value::as_array) {
            Some(c) => c
                .iter()
                .map(|x| {
                    x.as_str()
                        .filter(|s| CREATE_COMPONENTS.contains(s))
                        .map(str::to_string)
                        .ok_or_else(|| {
                            Error::invalid(
                                f("components"),
                                format!(
                                    "unbekannte Komponente {x}; erlaubt sind {}",
                                    CREATE_COMPONENTS.join(", ")
                                ),
                            )
                        })
                })
                .collect::<Result<_>>()?,
            None => return Err(Error::invalid(f("components"), "fehlt (Liste von Namen)")),
        };
        if !comps.iter().any(|c| c == "result") {
            return Err(Error::invalid(f("components"), "muss \"result\" enthalten"));
        }
        let set: BTreeSet<&String> = comps.iter().collect();
        if set.len() != comps.len() {
            return Err(Error::invalid(
                f("components"),
                "nennt eine Komponente doppelt",
            ));
        }
        let rows = obj
            .get("dataArray")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| Error::invalid(f("dataArray"), "fehlt (Liste von Zeilen)"))?;
        if let Some(n) = obj.get("dataArray@iot.count")
            && n.as_u64() != Some(rows.len() as u64)
        {
            return Err(Error::invalid(
                f("dataArray@iot.count"),
                format!("sagt {n}, dataArray hat {} Zeilen", rows.len()),
            ));
        }
        out.push(Group {
            kind,
            stream,
            comps,
            rows,
        });
    }
    Ok(out)
}

/// `POST /CreateObservations`.
pub async fn create_observations(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    body: &[u8],
) -> Result<Written> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("body", format!("kein gültiges JSON: {e}")))?;
    let groups = parse_groups(&v)?;
    let base = crate::service::base(env);
    let mut answer: Vec<Value> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    for (gi, g) in groups.into_iter().enumerate() {
        let Group {
            kind,
            stream,
            comps,
            rows,
        } = g;
        let field = format!("[{gi}].{}", kind.name());
        let (links, ch) = with_writer(env, actor, conn, "sta.create", "/CreateObservations", |w| {
            Box::pin(async move {
                let links = insert_group(w, kind, stream, &comps, &rows, &field).await?;
                Ok(Value::Array(links))
            })
        })
        .await?;
        changes.extend(ch);
        if let Value::Array(l) = links {
            answer.extend(l.into_iter().map(|x| match x {
                Value::Number(id) => json!(format!("{base}/Observations({id})")),
                other => other,
            }));
        }
    }
    Ok(Written {
        reply: Reply::Json {
            status: 201,
            body: Value::Array(answer),
            location: None,
        },
        changes,
    })
}

/// Checks the stream and writes the valid rows; answers an id or `"error"` per row.
async fn insert_group(
    w: &mut Writer<'_>,
    kind: Kind,
    stream: i64,
    comps: &[String],
    rows: &[Value],
    field: &str,
) -> Result<Vec<Value>> {
    if !w.visible(kind, stream).await? {
        return Err(Error::invalid(
            format!("{field}.@iot.id"),
            format!("{}({stream}) gibt es nicht", kind.name()),
        ));
    }
    let info =
        w.tx.fetch_cells_sql(
            &format!("SELECT thing_id FROM {} WHERE id = {stream}", kind.table()),
            Values(vec![]),
        )
        .await?;
    let thing = info
        .first()
        .and_then(|r| r.get("thing_id").as_i64())
        .unwrap_or(0);
    w.access.require_observation_write(w.principal, thing)?;
    let arity = if kind == Kind::MultiDatastream {
        let n =
            w.tx.fetch_cells_sql(
                &format!(
                    "SELECT COUNT(*) AS n FROM sta_multi_datastream_props WHERE md_id = {stream}"
                ),
                Values(vec![]),
            )
            .await?;
        Some(n.first().and_then(|r| r.get("n").as_i64()).unwrap_or(0) as usize)
    } else {
        None
    };
    let now = w.now;
    let mut parsed: Vec<Option<NewObs>> = rows
        .iter()
        .map(|r| parse_row(r, comps, now, arity))
        .collect();
    // FeaturesOfInterest named by rows must exist (and be visible); one query for all.
    let named: BTreeSet<i64> = parsed.iter().flatten().filter_map(|o| o.foi).collect();
    if !named.is_empty() {
        let list = named
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!("SELECT c.id FROM sta_features c WHERE c.id IN ({list})");
        if let Some(v) = w.access.visible(Kind::FeatureOfInterest, "c") {
            sql.push_str(&format!(" AND {v}"));
        }
        let found: BTreeSet<i64> =
            w.tx.fetch_cells_sql(&sql, Values(vec![]))
                .await?
                .iter()
                .filter_map(|r| r.get("id").as_i64())
                .collect();
        for p in parsed.iter_mut() {
            if p.as_ref()
                .and_then(|o| o.foi)
                .is_some_and(|f| !found.contains(&f))
            {
                *p = None;
            }
        }
    }
    // Rows without a FeatureOfInterest get the one generated from the Thing's Location.
    if parsed.iter().flatten().any(|o| o.foi.is_none()) {
        let f = w.feature_from_location(thing, &format!("{field}.")).await?;
        for o in parsed.iter_mut().flatten() {
            o.foi.get_or_insert(f);
        }
    }
    let good: Vec<&NewObs> = parsed.iter().flatten().collect();
    let ids = insert_rows(&mut w.tx, kind, stream, &good).await?;
    w.changes.extend(ids.iter().map(|id| Change {
        kind: Kind::Observation,
        id: *id,
        op: ChangeOp::Created,
    }));
    widen_stream_times(&mut w.tx, kind, stream, &good).await?;
    let mut features: Vec<i64> = good.iter().filter_map(|o| o.foi).collect();
    features.sort_unstable();
    features.dedup();
    w.widen_observed_area_by_features(kind, stream, &features)
        .await?;
    let mut next = ids.into_iter();
    Ok(parsed
        .iter()
        .map(|p| match p {
            Some(_) => next.next().map(|id| json!(id)).unwrap_or(json!("error")),
            None => json!("error"),
        })
        .collect())
}

/// Writes `x` as an SQL literal (`NULL` for none).
fn num(sql: &mut String, x: Option<i64>) {
    use std::fmt::Write;
    match x {
        Some(v) => {
            let _ = write!(sql, "{v}");
        }
        None => sql.push_str("NULL"),
    }
}

/// Inserts Observations of one stream with multi-row INSERTs; returns their ids in row order.
/// Numbers and times are written as literals (formatted here, never taken from the request as
/// text); strings and JSON are bound parameters.
pub async fn insert_rows(
    tx: &mut store::Tx,
    kind: Kind,
    stream: i64,
    rows: &[&NewObs],
) -> Result<Vec<i64>> {
    let rows: Vec<(i64, &NewObs)> = rows.iter().map(|o| (stream, *o)).collect();
    insert_rows_of(tx, kind, &rows).await
}

/// [`insert_rows`] for rows of several streams (each row names its stream); ids in row order.
pub async fn insert_rows_of(
    tx: &mut store::Tx,
    kind: Kind,
    rows: &[(i64, &NewObs)],
) -> Result<Vec<i64>> {
    let col = if kind == Kind::MultiDatastream {
        "multi_datastream_id"
    } else {
        "datastream_id"
    };
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        use std::fmt::Write;
        let mut sql = String::with_capacity(chunk.len() * 96 + 256);
        let _ = write!(
            sql,
            "INSERT INTO sta_observations ({col}, feature_id, pt_start, pt_end, result_time, result_kind, \
             result_number, result_string, result_json, result_quality, valid_start, valid_end, parameters) VALUES "
        );
        let mut vals: Vec<V> = Vec::new();
        // Appends a bound parameter `$n` to the statement.
        let bind = |v: V, sql: &mut String, vals: &mut Vec<V>| {
            vals.push(v);
            let _ = write!(sql, "${}", vals.len());
        };
        for (i, (stream, o)) in chunk.iter().enumerate() {
            sql.push_str(if i > 0 { ", (" } else { "(" });
            let _ = write!(sql, "{stream}, ");
            num(&mut sql, o.foi);
            let _ = write!(sql, ", {}, ", o.pt_start);
            num(&mut sql, o.pt_end);
            sql.push_str(", ");
            num(&mut sql, o.result_time);
            // result_kind, result_number, result_string, result_json
            match &o.result {
                Value::Null => sql.push_str(", 0, NULL, NULL, NULL"),
                Value::Number(x) => match x.as_f64() {
                    Some(f) if f.is_finite() => {
                        let _ = write!(sql, ", 1, {f:?}, NULL, NULL");
                    }
                    _ => {
                        sql.push_str(", 4, NULL, NULL, ");
                        bind(
                            V::Json(Some(Box::new(o.result.clone()))),
                            &mut sql,
                            &mut vals,
                        );
                    }
                },
                Value::String(x) => {
                    sql.push_str(", 2, NULL, ");
                    bind(V::String(Some(x.clone())), &mut sql, &mut vals);
                    sql.push_str(", NULL");
                }
                Value::Bool(b) => {
                    let _ = write!(sql, ", 3, NULL, '{b}', NULL");
                }
                other => {
                    sql.push_str(", 4, NULL, NULL, ");
                    bind(V::Json(Some(Box::new(other.clone()))), &mut sql, &mut vals);
                }
            }
            sql.push_str(", ");
            match &o.quality {
                Some(q) => bind(V::Json(Some(Box::new(q.clone()))), &mut sql, &mut vals),
                None => sql.push_str("NULL"),
            }
            sql.push_str(", ");
            num(&mut sql, o.valid.map(|v| v.0));
            sql.push_str(", ");
            num(&mut sql, o.valid.and_then(|v| v.1));
            sql.push_str(", ");
            match &o.parameters {
                Some(p) => bind(V::Json(Some(Box::new(p.clone()))), &mut sql, &mut vals),
                None => sql.push_str("NULL"),
            }
            sql.push(')');
        }
        sql.push_str(" RETURNING id");
        let mut got: Vec<i64> = tx
            .fetch_cells_sql(&sql, Values(vals))
            .await?
            .iter()
            .filter_map(|r| r.get("id").as_i64())
            .collect();
        // Ids are handed out in VALUES order on both backends; RETURNING need not keep it.
        got.sort_unstable();
        ids.extend(got);
    }
    Ok(ids)
}

/// Creates Observations of many Datastreams in one go (the MQTT bulk path): each row names
/// its Datastream and carries the values of `comps` (no `FeatureOfInterest/id`). Checks and
/// effects are those of CreateObservations, done once per request instead of once per
/// Datastream: one query for the visible Datastreams and their Things, the write right per
/// Thing, one lookup of the FeaturesOfInterest generated from the Things' Locations (created
/// where missing), multi-row INSERTs across Datastreams, one UPDATE widening the streams'
/// times and one query for their observedArea. Any invalid row or Datastream fails the whole
/// call (the caller then stores the rows one by one, with their exact errors). Returns the new
/// ids in row order and the changes (Observations, and FeaturesOfInterest created on the way).
pub async fn create_rows(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    comps: &'static [&'static str],
    rows: &[(i64, Vec<Value>)],
) -> Result<(Vec<i64>, Vec<Change>)> {
    let bad = |msg: &str| Error::invalid("dataArray", msg.to_string());
    let now = env.now().timestamp_micros();
    let mut parsed: Vec<(i64, NewObs)> = Vec::with_capacity(rows.len());
    for (s, vals) in rows {
        let o = parse_vals(vals, comps, now, None).ok_or_else(|| bad("ungültige Zeile"))?;
        if o.foi.is_some() {
            return Err(bad("FeatureOfInterest/id nimmt dieser Weg nicht"));
        }
        parsed.push((*s, o));
    }
    let (ids, changes) = with_writer(env, actor, conn, "sta.create", "/CreateObservations", |w| {
        Box::pin(async move {
            let ids = insert_many_streams(w, parsed).await?;
            Ok(Value::Array(ids.into_iter().map(Value::from).collect()))
        })
    })
    .await?;
    let ids = ids
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    Ok((ids, changes))
}

fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_many_streams(
    w: &mut Writer<'_>,
    mut parsed: Vec<(i64, NewObs)>,
) -> Result<Vec<i64>> {
    let bad = |msg: &str| Error::invalid("dataArray", msg.to_string());
    let streams: BTreeSet<i64> = parsed.iter().map(|p| p.0).collect();
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    // The visible Datastreams and their Things.
    let mut sql = format!(
        "SELECT c.id, c.thing_id FROM sta_datastreams c WHERE c.id IN ({})",
        id_list(streams.iter().copied())
    );
    if let Some(v) = w.access.visible(Kind::Datastream, "c") {
        sql.push_str(&format!(" AND {v}"));
    }
    let thing_of: HashMap<i64, i64> =
        w.tx.fetch_cells_sql(&sql, Values(vec![]))
            .await?
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("id").as_i64()?,
                    r.get("thing_id").as_i64().unwrap_or(0),
                ))
            })
            .collect();
    if thing_of.len() != streams.len() {
        return Err(bad("ein Datastream gibt es nicht"));
    }
    let things: BTreeSet<i64> = thing_of.values().copied().collect();
    for t in &things {
        w.access.require_observation_write(w.principal, *t)?;
    }
    // The FeatureOfInterest of each Thing: generated from its first Location.
    let locs: HashMap<i64, i64> =
        w.tx.fetch_cells_sql(
            &format!(
                "SELECT tl.thing_id AS t, MIN(l.id) AS lid FROM sta_locations l \
                 JOIN sta_thing_locations tl ON tl.location_id = l.id \
                 WHERE tl.thing_id IN ({}) GROUP BY tl.thing_id",
                id_list(things.iter().copied())
            ),
            Values(vec![]),
        )
        .await?
        .iter()
        .filter_map(|r| Some((r.get("t").as_i64()?, r.get("lid").as_i64()?)))
        .collect();
    let mut feature_of_loc: HashMap<i64, i64> = HashMap::new();
    if !locs.is_empty() {
        feature_of_loc =
            w.tx.fetch_cells_sql(
                &format!(
                    "SELECT generated_from AS lid, MIN(id) AS f FROM sta_features \
                     WHERE generated_from IN ({}) GROUP BY generated_from",
                    id_list(locs.values().copied())
                ),
                Values(vec![]),
            )
            .await?
            .iter()
            .filter_map(|r| Some((r.get("lid").as_i64()?, r.get("f").as_i64()?)))
            .collect();
    }
    let mut feature_of_thing: HashMap<i64, i64> = HashMap::new();
    for t in &things {
        let f = match locs.get(t).and_then(|l| feature_of_loc.get(l)) {
            Some(f) => *f,
            // No Location (the error of the ordinary path) or no feature yet (created here).
            None => w.feature_from_location(*t, "").await?,
        };
        feature_of_thing.insert(*t, f);
    }
    for (s, o) in parsed.iter_mut() {
        o.foi = feature_of_thing.get(&thing_of[s]).copied();
    }
    let refs: Vec<(i64, &NewObs)> = parsed.iter().map(|(s, o)| (*s, o)).collect();
    let ids = insert_rows_of(&mut w.tx, Kind::Datastream, &refs).await?;
    if ids.len() != refs.len() {
        return Err(Error::internal("INSERT returned fewer ids than rows"));
    }
    w.changes.extend(ids.iter().map(|id| Change {
        kind: Kind::Observation,
        id: *id,
        op: ChangeOp::Created,
    }));
    // Per stream: the time span of its new rows and its FeaturesOfInterest.
    let mut spans: HashMap<i64, Span> = HashMap::new();
    let mut pairs: BTreeSet<(i64, i64)> = BTreeSet::new();
    for (s, o) in &refs {
        let e = spans.entry(*s).or_insert((i64::MAX, i64::MIN, None, None));
        e.0 = e.0.min(o.pt_start);
        e.1 = e.1.max(o.pt_end.unwrap_or(o.pt_start));
        if let Some(rt) = o.result_time {
            e.2 = Some(e.2.map_or(rt, |x| x.min(rt)));
            e.3 = Some(e.3.map_or(rt, |x| x.max(rt)));
        }
        if let Some(f) = o.foi {
            pairs.insert((*s, f));
        }
    }
    let mut spans: Vec<_> = spans.into_iter().collect();
    spans.sort_unstable_by_key(|s| s.0);
    if w.tx.backend() == store::Backend::Postgres {
        // Concurrent groups (the MQTT committers) write the same Datastreams: their rows are
        // locked in id order, as the insert trigger locks their sta_latest rows, so two groups
        // never wait for each other in a cycle. NO KEY UPDATE leaves the foreign-key checks of
        // other inserts (KEY SHARE) unblocked.
        w.tx.fetch_cells_sql(
            &format!(
                "SELECT id FROM sta_datastreams WHERE id IN ({}) ORDER BY id FOR NO KEY UPDATE",
                id_list(spans.iter().map(|s| s.0))
            ),
            Values(vec![]),
        )
        .await?;
    }
    widen_many_stream_times(&mut w.tx, &spans).await?;
    w.widen_observed_areas(&pairs.into_iter().collect::<Vec<_>>())
        .await?;
    Ok(ids)
}

/// The span of a stream's new rows: phenomenonTime start and end, resultTime min and max.
type Span = (i64, i64, Option<i64>, Option<i64>);

/// [`widen_stream_times`] for many Datastreams in one statement per chunk: each entry is the
/// stream and the [`Span`] of its new rows.
async fn widen_many_stream_times(tx: &mut store::Tx, spans: &[(i64, Span)]) -> Result<()> {
    let lit =
        |x: Option<i64>| x.map_or_else(|| "CAST(NULL AS BIGINT)".to_string(), |v| v.to_string());
    for chunk in spans.chunks(CHUNK) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(s, (ps, pe, ra, rb))| format!("({s}, {ps}, {pe}, {}, {})", lit(*ra), lit(*rb)))
            .collect();
        let sql = format!(
            "UPDATE sta_datastreams SET \
             pt_start = CASE WHEN pt_start IS NULL OR pt_start > v.column2 THEN v.column2 ELSE pt_start END, \
             pt_end = CASE WHEN pt_end IS NULL OR pt_end < v.column3 THEN v.column3 ELSE pt_end END, \
             rt_start = CASE WHEN v.column4 IS NOT NULL AND (rt_start IS NULL OR rt_start > v.column4) THEN v.column4 ELSE rt_start END, \
             rt_end = CASE WHEN v.column5 IS NOT NULL AND (rt_end IS NULL OR rt_end < v.column5) THEN v.column5 ELSE rt_end END \
             FROM (VALUES {}) AS v WHERE sta_datastreams.id = v.column1",
            values.join(", ")
        );
        tx.execute_sql(&sql, Values(vec![])).await?;
    }
    Ok(())
}

/// Widens the stream's phenomenonTime and resultTime once for a whole batch.
pub async fn widen_stream_times(
    tx: &mut store::Tx,
    kind: Kind,
    stream: i64,
    rows: &[&NewObs],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ps = rows.iter().map(|o| o.pt_start).min().unwrap_or(0);
    let pe = rows
        .iter()
        .map(|o| o.pt_end.unwrap_or(o.pt_start))
        .max()
        .unwrap_or(0);
    let rts: Vec<i64> = rows.iter().filter_map(|o| o.result_time).collect();
    let mut sets = vec![
        format!(
            "pt_start = CASE WHEN pt_start IS NULL OR pt_start > {ps} THEN {ps} ELSE pt_start END"
        ),
        format!("pt_end = CASE WHEN pt_end IS NULL OR pt_end < {pe} THEN {pe} ELSE pt_end END"),
    ];
    if let (Some(a), Some(b)) = (rts.iter().min(), rts.iter().max()) {
        sets.push(format!(
            "rt_start = CASE WHEN rt_start IS NULL OR rt_start > {a} THEN {a} ELSE rt_start END"
        ));
        sets.push(format!(
            "rt_end = CASE WHEN rt_end IS NULL OR rt_end < {b} THEN {b} ELSE rt_end END"
        ));
    }
    tx.execute_sql(
        &format!(
            "UPDATE {} SET {} WHERE id = {stream}",
            kind.table(),
            sets.join(", ")
        ),
        Values(vec![]),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_checked_against_the_components() {
        let comps = vec!["phenomenonTime".to_string(), "result".to_string()];
        let ok = parse_row(&json!(["2010-12-23T10:20:00-0700", 20]), &comps, 0, None).unwrap();
        assert_eq!(
            ok.pt_start,
            crate::time::parse_instant("2010-12-23T17:20:00Z").unwrap()
        );
        assert_eq!(ok.result, json!(20));
        assert!(parse_row(&json!(["2010-12-23T10:20:00Z"]), &comps, 0, None).is_none());
        assert!(parse_row(&json!(["gestern", 1]), &comps, 0, None).is_none());
        assert!(parse_row(&json!(["2010-12-23T10:20:00Z", 1]), &comps, 0, Some(2)).is_none());
        assert!(parse_row(&json!(["2010-12-23T10:20:00Z", [1, 2]]), &comps, 0, Some(2)).is_some());
    }
}
