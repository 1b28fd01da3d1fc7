//! Extensions beyond the standard (documented in `docs/sensorthings.md`):
//!
//! * time-bucketed aggregation: `Datastreams(1)/Observations/$aggregate?interval=PT15M&fn=avg,max`
//!   and `Aggregates?datastreams=1,2,3&interval=P1D&fn=avg`, computed in SQL with integer
//!   arithmetic on the microsecond columns, under the reader's visibility;
//! * `LatestObservations`: the latest Observation of every visible Datastream, read from the
//!   `sta_latest` table that triggers keep current (O(datastreams), not O(observations));
//! * fast paths used by the ordinary reader: `$count` of Observations from the per-stream
//!   counters when nothing but the stream and visibility restricts them, and
//!   `$expand=Observations($orderby=phenomenonTime desc;$top=1)` from `sta_latest`.

use crate::conn::Conn;
use crate::filter::{Compiler, Params};
use crate::model::{Kind, Link};
use crate::odata::{Expr, QueryOptions, SortDirection};
use crate::read::{Reader, Renderer, page_text, put_json};
use crate::resource::{Resolved, Target, resolve};
use crate::service::{Reply, options};
use crate::visibility::Access;
use kern::{Error, Result};
use platform::Env;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use store::Cells;
use store::sea_query::Values;

/// Aggregate functions offered.
pub const FUNCTIONS: [&str; 5] = ["avg", "min", "max", "sum", "count"];

/// The longest list of Datastreams in one `Aggregates` request.
const MAX_STREAMS: usize = 1000;

/// Dispatches the extension paths; `None` for every other path.
pub async fn get(
    env: &Env,
    access: &Access,
    conn: Conn<'_>,
    base: &str,
    path: &str,
    raw_query: &str,
) -> Option<Result<Reply>> {
    let p = path.trim_matches('/');
    let out = if p == "LatestObservations" {
        return Some(latest(env, access, conn, base, raw_query).await);
    } else if p == "Aggregates" {
        aggregates(env, access, conn, base, raw_query).await
    } else if let Some(prefix) = p.strip_suffix("/$aggregate") {
        aggregate_one(env, access, conn, base, prefix, raw_query).await
    } else {
        return None;
    };
    Some(out.map(|body| Reply::Json {
        status: 200,
        body,
        location: None,
    }))
}

/// The custom (non-`$`) query parameters, percent-decoded.
fn custom(raw_query: &str) -> HashMap<String, String> {
    raw_query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with('$') && !p.starts_with("%24"))
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(n), d(v))
        })
        .collect()
}

/// An ISO 8601 duration of fixed length (`PT15M`, `PT1H30M`, `P1D`, `P1W`) in microseconds.
pub fn parse_interval(s: &str) -> Result<i64> {
    let bad = |why: &str| {
        Error::invalid(
            "interval",
            format!("'{s}' {why}; expected an ISO 8601 duration such as PT15M, PT1H, P1D or P1M"),
        )
    };
    let rest = s
        .strip_prefix('P')
        .ok_or_else(|| bad("does not start with P"))?;
    let mut total: i128 = 0;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for ch in rest.chars() {
        match ch {
            'T' if !in_time && num.is_empty() => in_time = true,
            '0'..='9' | '.' => num.push(ch),
            u => {
                let n: f64 = num
                    .parse()
                    .map_err(|_| bad("has a unit without a number"))?;
                num.clear();
                let unit: f64 = match (in_time, u) {
                    (false, 'W') => 7.0 * 86_400e6,
                    (false, 'D') => 86_400e6,
                    (false, 'Y') | (false, 'M') => {
                        return Err(bad(
                            "mixes months or years with days or times; use whole months or years (P1M, P1Y) or a fixed duration (P30D)",
                        ));
                    }
                    (true, 'H') => 3_600e6,
                    (true, 'M') => 60e6,
                    (true, 'S') => 1e6,
                    _ => return Err(bad(&format!("has an unknown unit '{u}'"))),
                };
                total += (n * unit).round() as i128;
                any = true;
            }
        }
    }
    if !num.is_empty() || !any {
        return Err(bad("is incomplete"));
    }
    if total < 1_000_000 {
        return Err(bad("is shorter than one second"));
    }
    if total > 366 * 86_400_000_000 {
        return Err(bad("is longer than a year"));
    }
    Ok(total as i64)
}

/// A calendar interval: whole months or years (`P1M`, `P3M`, `P1Y`, `P1Y6M`), as a number of
/// months; `None` for anything else (then [`parse_interval`] decides).
pub fn parse_calendar(s: &str) -> Option<u32> {
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() || rest.contains('T') {
        return None;
    }
    let (mut months, mut num, mut last) = (0u32, String::new(), ' ');
    for ch in rest.chars() {
        match ch {
            '0'..='9' => num.push(ch),
            'Y' if last == ' ' => {
                months = months.checked_add(num.parse::<u32>().ok()?.checked_mul(12)?)?;
                num.clear();
                last = 'Y';
            }
            'M' if last != 'M' => {
                months = months.checked_add(num.parse().ok()?)?;
                num.clear();
                last = 'M';
            }
            _ => return None,
        }
    }
    (num.is_empty() && months > 0 && months <= 120).then_some(months)
}

/// The UTC offset (seconds) written in an ISO 8601 instant; 0 for `Z` or none.
fn offset_of(s: &str) -> i32 {
    let s = s.trim();
    let Some(t) = s.find('T') else { return 0 };
    let time = &s[t..];
    let Some(i) = time.rfind(['+', '-']) else {
        return 0;
    };
    let (sign, hm) = (if &time[i..i + 1] == "-" { -1 } else { 1 }, &time[i + 1..]);
    let (h, m) = hm
        .split_once(':')
        .unwrap_or((hm.get(..2).unwrap_or("0"), hm.get(2..).unwrap_or("0")));
    let (h, m) = (h.parse::<i32>().unwrap_or(0), m.parse::<i32>().unwrap_or(0));
    sign * (h * 3600 + m * 60)
}

const DAY: i64 = 86_400_000_000;

/// Local wall time (at the origin's offset) of an instant in microseconds.
fn local(t: i64, offset: i32) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(t + offset as i64 * 1_000_000)
        .unwrap_or_default()
        .naive_utc()
}

/// The instant `k` calendar buckets after the origin.
fn calendar_start(s: &Spec, months: u32, k: i64) -> i64 {
    let o = local(s.origin, s.offset);
    let total = k * months as i64;
    let shifted = if total >= 0 {
        o.checked_add_months(chrono::Months::new(total as u32))
    } else {
        o.checked_sub_months(chrono::Months::new((-total) as u32))
    }
    .unwrap_or(o);
    shifted.and_utc().timestamp_micros() - s.offset as i64 * 1_000_000
}

/// Which calendar bucket the instant `t` falls in.
fn calendar_index(s: &Spec, months: u32, t: i64) -> i64 {
    use chrono::Datelike;
    let (o, l) = (local(s.origin, s.offset), local(t, s.offset));
    let mut between =
        (l.year() as i64 * 12 + l.month0() as i64) - (o.year() as i64 * 12 + o.month0() as i64);
    if (l.day(), l.time()) < (o.day(), o.time()) {
        between -= 1;
    }
    between.div_euclid(months as i64)
}

/// Rolls the per-day partial aggregates of a calendar interval up into month/year buckets.
/// `rows` are ordered by (Datastream, day); the key is the Datastream (or 0).
fn calendar_rollup(s: &Spec, months: u32, rows: &[Cells], ds: bool) -> Vec<(i64, Value)> {
    struct Acc {
        key: (i64, i64),
        sum: f64,
        count: i64,
        min: Option<f64>,
        max: Option<f64>,
    }
    let mut accs: Vec<Acc> = Vec::new();
    for r in rows {
        let stream = if ds {
            r.get("sta_ds").as_i64().unwrap_or(0)
        } else {
            0
        };
        let day = s.origin + r.get("sta_bucket").as_i64().unwrap_or(0) * DAY;
        let key = (stream, calendar_index(s, months, day));
        if accs.last().is_none_or(|a| a.key != key) {
            accs.push(Acc {
                key,
                sum: 0.0,
                count: 0,
                min: None,
                max: None,
            });
        }
        let a = accs.last_mut().expect("pushed above");
        a.sum += r.get("sta_sum").as_f64().unwrap_or(0.0);
        a.count += r.get("sta_count").as_i64().unwrap_or(0);
        if let Some(v) = r.get("sta_min").as_f64() {
            a.min = Some(a.min.map_or(v, |m| m.min(v)));
        }
        if let Some(v) = r.get("sta_max").as_f64() {
            a.max = Some(a.max.map_or(v, |m| m.max(v)));
        }
    }
    accs.into_iter()
        .map(|a| {
            let start = calendar_start(s, months, a.key.1);
            let end = calendar_start(s, months, a.key.1 + 1);
            let mut m = Map::new();
            m.insert(
                "phenomenonTime".into(),
                json!(crate::time::format_time(start, Some(end))),
            );
            for f in &s.fns {
                let v = match *f {
                    "count" => json!(a.count),
                    "sum" if a.count > 0 => crate::read::number(a.sum),
                    "avg" if a.count > 0 => crate::read::number(a.sum / a.count as f64),
                    "min" => a.min.map(crate::read::number).unwrap_or(Value::Null),
                    "max" => a.max.map(crate::read::number).unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                m.insert((*f).into(), v);
            }
            (a.key.0, Value::Object(m))
        })
        .collect()
}

/// The requested functions, checked.
fn functions(q: &HashMap<String, String>) -> Result<Vec<&'static str>> {
    let raw = q
        .get("fn")
        .map(String::as_str)
        .unwrap_or("avg,min,max,count");
    let mut out = Vec::new();
    for f in raw.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let known = FUNCTIONS.iter().find(|k| **k == f).ok_or_else(|| {
            Error::invalid(
                "fn",
                format!("unknown function '{f}'; use {}", FUNCTIONS.join(", ")),
            )
        })?;
        if !out.contains(known) {
            out.push(*known);
        }
    }
    if out.is_empty() {
        return Err(Error::invalid("fn", "names no function"));
    }
    Ok(out)
}

/// Interval, origin and functions of an aggregation request.
struct Spec {
    /// Bucket width in microseconds; one day for calendar intervals, which SQL computes per day
    /// and [`calendar_rollup`] sums up.
    width: i64,
    origin: i64,
    /// The origin's UTC offset in seconds: calendar buckets begin at its wall-clock time.
    offset: i32,
    /// Months per bucket for calendar intervals (`P1M`, `P1Y`).
    months: Option<u32>,
    fns: Vec<&'static str>,
    interval: String,
}

/// Day rows one calendar aggregation may read before it is refused.
const MAX_DAY_ROWS: u64 = 1_000_000;

fn spec(q: &HashMap<String, String>) -> Result<Spec> {
    let interval = q
        .get("interval")
        .ok_or_else(|| Error::invalid("interval", "fehlt (z. B. interval=PT15M)"))?
        .clone();
    let months = parse_calendar(&interval);
    let width = match months {
        Some(_) => DAY,
        None => parse_interval(&interval)?,
    };
    let offset = q.get("origin").map(|o| offset_of(o)).unwrap_or(0);
    let origin = match q.get("origin") {
        None => 0,
        Some(s) => crate::time::parse_instant(s).ok_or_else(|| {
            Error::invalid(
                "origin",
                format!("'{s}' is not an ISO 8601 instant such as 2024-01-01T00:00:00+01:00"),
            )
        })?,
    };
    if months.is_some() {
        use chrono::{Datelike, Timelike};
        let o = local(origin, offset);
        if o.day() > 28 || o.nanosecond() != 0 {
            return Err(Error::invalid(
                "origin",
                "a calendar interval (months, years) needs an origin on day 1 to 28 of a month, in whole seconds",
            ));
        }
    }
    Ok(Spec {
        width,
        origin,
        offset,
        months,
        fns: functions(q)?,
        interval,
    })
}

/// The numeric value of an Observation for aggregation: numbers, and booleans as 0/1.
const VALUE: &str = "CASE WHEN c.result_kind = 1 THEN c.result_number \
                     WHEN c.result_kind = 3 THEN (CASE WHEN c.result_string = 'true' THEN 1.0 ELSE 0.0 END) END";

/// `SELECT` list and bucket expression.
fn select_list(s: &Spec) -> (String, String) {
    // Floor division also for times before the origin (% truncates towards zero).
    let d = format!("(c.pt_start - ({}))", s.origin);
    let w = s.width;
    let bucket = format!("(({d} - ((({d} % {w}) + {w}) % {w})) / {w})");
    let mut cols = vec![format!("{bucket} AS sta_bucket")];
    let partials: Vec<&str> = if s.months.is_some() {
        vec!["sum", "count", "min", "max"]
    } else {
        s.fns.clone()
    };
    for f in &partials {
        cols.push(match *f {
            "avg" => format!("AVG({VALUE}) AS sta_avg"),
            "min" => format!("MIN({VALUE}) AS sta_min"),
            "max" => format!("MAX({VALUE}) AS sta_max"),
            "sum" => format!("SUM({VALUE}) AS sta_sum"),
            _ => format!("COUNT({VALUE}) AS sta_count"),
        });
    }
    (cols.join(", "), bucket)
}

fn bucket_json(s: &Spec, row: &Cells) -> Value {
    let b = row.get("sta_bucket").as_i64().unwrap_or(0);
    let start = s.origin + b * s.width;
    let mut m = Map::new();
    m.insert(
        "phenomenonTime".into(),
        json!(crate::time::format_time(start, Some(start + s.width))),
    );
    for f in &s.fns {
        let cell = row.get(&format!("sta_{f}"));
        let v = if *f == "count" {
            json!(cell.as_i64().unwrap_or(0))
        } else {
            cell.as_f64()
                .map(crate::read::number)
                .unwrap_or(Value::Null)
        };
        m.insert((*f).into(), v);
    }
    Value::Object(m)
}

/// Conditions on Observations `c`: visibility and `$filter`.
fn observation_conditions(
    env: &Env,
    access: &Access,
    conn: Conn<'_>,
    params: &mut Params,
    o: &QueryOptions,
) -> Result<Vec<String>> {
    let mut conds = vec!["(c.result_kind = 1 OR c.result_kind = 3)".to_string()];
    if let Some(v) = access.visible(Kind::Observation, "c") {
        conds.push(v);
    }
    if let Some(f) = &o.filter {
        let mut c = Compiler::new(conn.backend(), params, access, env.now().timestamp_micros());
        conds.push(c.filter(Kind::Observation, "c", f)?);
    }
    Ok(conds)
}

fn too_many(max: u64) -> Error {
    Error::invalid(
        "interval",
        format!(
            "the request gives more than {max} buckets; narrow the time range with $filter or choose a longer interval"
        ),
    )
}

/// `GET Datastreams(1)/Observations/$aggregate?interval=...&fn=...`.
async fn aggregate_one(
    env: &Env,
    access: &Access,
    conn: Conn<'_>,
    base: &str,
    prefix: &str,
    raw_query: &str,
) -> Result<Value> {
    let q = custom(raw_query);
    let s = spec(&q)?;
    let o = options(raw_query)?;
    let Resolved { target, is_ref } = resolve(conn, access, prefix).await?;
    let (sk, sid) = match target {
        Target::Collection {
            kind: Kind::Observation,
            parent: Some((Kind::Datastream, id, _)),
        } if !is_ref => (Kind::Datastream, id),
        _ => {
            return Err(Error::invalid(
                "path",
                "$aggregate follows the Observations of one Datastream, e.g. Datastreams(1)/Observations/$aggregate",
            ));
        }
    };
    let max = env.config.sta.max_top.max(1);
    let mut params = Params::default();
    let mut conds = observation_conditions(env, access, conn, &mut params, &o)?;
    conds.insert(0, format!("c.datastream_id = {sid}"));
    let (cols, bucket) = select_list(&s);
    let limit = if s.months.is_some() {
        MAX_DAY_ROWS
    } else {
        max
    };
    let sql = format!(
        "SELECT {cols} FROM sta_observations c WHERE {} GROUP BY {bucket} ORDER BY 1 LIMIT {}",
        conds.join(" AND "),
        limit + 1
    );
    let rows = conn.fetch_cells_sql(&sql, Values(params.values)).await?;
    if rows.len() as u64 > limit {
        return Err(too_many(max));
    }
    let value: Vec<Value> = match s.months {
        Some(n) => calendar_rollup(&s, n, &rows, false)
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
        None => rows.iter().map(|r| bucket_json(&s, r)).collect(),
    };
    if value.len() as u64 > max {
        return Err(too_many(max));
    }
    Ok(json!({
        format!("{}@iot.navigationLink", sk.name()): format!("{base}/{}({sid})", sk.set()),
        "interval": s.interval,
        "origin": crate::time::format(s.origin),
        "functions": s.fns,
        "value": value,
    }))
}

fn id_list(q: &HashMap<String, String>, name: &str) -> Result<Option<Vec<i64>>> {
    let Some(raw) = q.get(name) else {
        return Ok(None);
    };
    let ids = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                Error::invalid(name, format!("'{s}' is not a number; give ids like 1,2,3"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if ids.is_empty() {
        return Err(Error::invalid(name, "names no id"));
    }
    Ok(Some(ids))
}

/// `GET Aggregates?datastreams=1,2,3&interval=P1D&fn=avg[&$filter=...]`.
async fn aggregates(
    env: &Env,
    access: &Access,
    conn: Conn<'_>,
    base: &str,
    raw_query: &str,
) -> Result<Value> {
    let q = custom(raw_query);
    let mut ids = id_list(&q, "datastreams")?
        .ok_or_else(|| Error::invalid("datastreams", "fehlt (z. B. datastreams=1,2,3)"))?;
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_STREAMS {
        return Err(Error::invalid(
            "datastreams",
            format!("at most {MAX_STREAMS} Datastreams per request"),
        ));
    }
    let s = spec(&q)?;
    let o = options(raw_query)?;
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    // Every named Datastream must exist and be visible (hidden ones look like missing ones).
    let mut sql = format!("SELECT c.id FROM sta_datastreams c WHERE c.id IN ({list})");
    if let Some(v) = access.visible(Kind::Datastream, "c") {
        sql.push_str(&format!(" AND {v}"));
    }
    let seen: HashSet<i64> = conn
        .fetch_cells_sql(&sql, Values(vec![]))
        .await?
        .iter()
        .filter_map(|r| r.get("id").as_i64())
        .collect();
    if let Some(missing) = ids.iter().find(|i| !seen.contains(i)) {
        return Err(Error::not_found(format!(
            "Datastream({missing}) gibt es nicht."
        )));
    }
    let max = env.config.sta.max_top.max(1);
    let mut params = Params::default();
    let mut conds = observation_conditions(env, access, conn, &mut params, &o)?;
    conds.insert(0, format!("c.datastream_id IN ({list})"));
    let (cols, bucket) = select_list(&s);
    let limit = if s.months.is_some() {
        MAX_DAY_ROWS
    } else {
        max
    };
    let sql = format!(
        "SELECT c.datastream_id AS sta_ds, {cols} FROM sta_observations c WHERE {} \
         GROUP BY c.datastream_id, {bucket} ORDER BY 1, 2 LIMIT {}",
        conds.join(" AND "),
        limit + 1
    );
    let rows = conn.fetch_cells_sql(&sql, Values(params.values)).await?;
    if rows.len() as u64 > limit {
        return Err(too_many(max));
    }
    let buckets: Vec<(i64, Value)> = match s.months {
        Some(n) => calendar_rollup(&s, n, &rows, true),
        None => rows
            .iter()
            .map(|r| (r.get("sta_ds").as_i64().unwrap_or(0), bucket_json(&s, r)))
            .collect(),
    };
    if buckets.len() as u64 > max {
        return Err(too_many(max));
    }
    let mut per: HashMap<i64, Vec<Value>> = HashMap::new();
    for (ds, b) in buckets {
        per.entry(ds).or_default().push(b);
    }
    let value: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "Datastream@iot.id": id,
                "Datastream@iot.navigationLink": format!("{base}/Datastreams({id})"),
                "buckets": per.remove(id).unwrap_or_default(),
            })
        })
        .collect();
    Ok(json!({
        "interval": s.interval,
        "origin": crate::time::format(s.origin),
        "functions": s.fns,
        "value": value,
    }))
}

/// `GET LatestObservations[?thing=1,2][&observedProperty=3][&$filter=<on Datastreams>][&$top]`.
async fn latest(
    env: &Env,
    access: &Access,
    conn: Conn<'_>,
    base: &str,
    raw_query: &str,
) -> Result<Reply> {
    let q = custom(raw_query);
    let o = options(raw_query)?;
    if !o.expand.is_empty() || !o.orderby.is_empty() || o.result_format.is_some() {
        return Err(Error::invalid(
            "LatestObservations",
            "takes $filter (on Datastreams), $select, $top, $skip and $count, plus thing= and observedProperty=",
        ));
    }
    let mut params = Params::default();
    let mut conds = Vec::new();
    if let Some(v) = access.visible(Kind::Datastream, "d") {
        conds.push(v);
    }
    if let Some(things) = id_list(&q, "thing")? {
        conds.push(format!(
            "d.thing_id IN ({})",
            things
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(ops) = id_list(&q, "observedProperty")? {
        conds.push(format!(
            "d.obs_prop_id IN ({})",
            ops.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(f) = &o.filter {
        let mut c = Compiler::new(
            conn.backend(),
            &mut params,
            access,
            env.now().timestamp_micros(),
        );
        conds.push(c.filter(Kind::Datastream, "d", f)?);
    }
    let where_ = if conds.is_empty() {
        String::new()
    } else {
        format!(" AND {}", conds.join(" AND "))
    };
    let max = env.config.sta.max_top.max(1);
    let top = o.top.unwrap_or(max).min(max);
    let skip = o.skip.unwrap_or(0);
    let from = format!(
        "FROM sta_latest l JOIN sta_datastreams d ON d.id = l.datastream_id \
         WHERE l.obs_id IS NOT NULL{where_}"
    );
    let mut count = None;
    if o.count == Some(true) {
        let rows = conn
            .fetch_cells_sql(
                &format!("SELECT COUNT(*) AS n {from}"),
                Values(params.values.clone()),
            )
            .await?;
        count = Some(rows.first().and_then(|r| r.get("n").as_i64()).unwrap_or(0));
    }
    let sql = format!(
        "SELECT {}, d.id AS sta_ds, d.name AS sta_ds_name {from} ORDER BY d.id LIMIT {} OFFSET {skip}",
        latest_columns("datastream_id"),
        top + 1
    );
    let mut rows = conn.fetch_cells_sql(&sql, Values(params.values)).await?;
    let more = rows.len() as u64 > top;
    rows.truncate(top as usize);
    let next = more.then(|| {
        let mut kept: Vec<String> = raw_query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("$top") && !p.starts_with("$skip"))
            .map(str::to_string)
            .collect();
        kept.push(format!("$top={top}"));
        kept.push(format!("$skip={}", skip + top));
        format!("{base}/LatestObservations?{}", kept.join("&"))
    });
    // Each Observation carries its Datastream inline: `{"@iot.id":…,"@iot.selfLink":…,"name":…}`.
    let renderer =
        Renderer::new(Kind::Observation, base, o.select.as_deref()).with_slot("Datastream");
    let (ds_col, name_col) = match rows.first() {
        Some(r) => (
            r.columns.iter().position(|c| c == "sta_ds"),
            r.columns.iter().position(|c| c == "sta_ds_name"),
        ),
        None => (None, None),
    };
    let ds_link = format!("{base}/Datastreams(");
    let datastream = |r: &Cells, out: &mut Vec<u8>| {
        let get = |i: Option<usize>| i.and_then(|i| r.values.get(i));
        let ds = get(ds_col).and_then(|c| c.as_i64()).unwrap_or(0);
        let name = get(name_col).and_then(|c| c.as_str()).unwrap_or("");
        out.extend_from_slice(b"{\"@iot.id\":");
        put_json(out, &ds);
        out.extend_from_slice(b",\"@iot.selfLink\":");
        put_json(out, &format!("{ds_link}{ds})"));
        out.extend_from_slice(b",\"name\":");
        put_json(out, name);
        out.push(b'}');
    };
    Ok(Reply::JsonText(page_text(count, next.as_deref(), |out| {
        renderer.write_rows(&rows, out, &datastream)
    })))
}

/// `$count` of Observations from the per-stream counters, when only the stream (and
/// visibility) restricts them; `None` when a real `COUNT(*)` is needed.
pub async fn fast_count(
    r: &Reader<'_>,
    kind: Kind,
    parent: Option<(Kind, i64, Link)>,
    o: &QueryOptions,
) -> Result<Option<i64>> {
    if kind != Kind::Observation || o.filter.is_some() {
        return Ok(None);
    }
    let sql = match parent {
        // The path resolver checked that the stream is visible.
        Some((Kind::Datastream, id, _)) => {
            format!("SELECT obs_count AS n FROM sta_latest WHERE datastream_id = {id}")
        }
        Some((Kind::MultiDatastream, id, _)) => {
            format!("SELECT obs_count AS n FROM sta_latest_multi WHERE multi_datastream_id = {id}")
        }
        Some(_) => return Ok(None),
        None => {
            let part = |t: &str, col: &str, sk: Kind| match r.access.visible(sk, "c") {
                None => format!("SELECT CAST(COALESCE(SUM(obs_count), 0) AS BIGINT) AS n FROM {t}"),
                Some(v) => format!(
                    "SELECT CAST(COALESCE(SUM(l.obs_count), 0) AS BIGINT) AS n FROM {t} l JOIN {} c ON c.id = l.{col} WHERE {v}",
                    sk.table()
                ),
            };
            // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
            format!(
                "SELECT CAST(({}) + ({}) AS BIGINT) AS n",
                part("sta_latest", "datastream_id", Kind::Datastream),
                part(
                    "sta_latest_multi",
                    "multi_datastream_id",
                    Kind::MultiDatastream
                )
            )
        }
    };
    let rows = r.db.fetch_cells_sql(&sql, Values(vec![])).await?;
    Ok(Some(
        rows.first().and_then(|x| x.get("n").as_i64()).unwrap_or(0),
    ))
}

/// Whether expand options ask for exactly the latest Observation.
fn is_latest_only(o: &QueryOptions) -> bool {
    o.filter.is_none()
        && o.skip.unwrap_or(0) == 0
        && o.top == Some(1)
        && o.orderby.len() == 1
        && o.orderby[0].direction == SortDirection::Desc
        && o.orderby[0].expr == Expr::path(&["phenomenonTime"])
}

/// The columns of an Observation row, read from the copy of the latest one in a stream table `l`
/// (`sta_latest` or `sta_latest_multi`, whose stream column is `stream`).
fn latest_columns(stream: &str) -> String {
    Kind::Observation
        .columns()
        .iter()
        .map(|c| match *c {
            "id" => "l.obs_id AS id".to_string(),
            "datastream_id" | "multi_datastream_id" if *c != stream => {
                format!("CAST(NULL AS BIGINT) AS {c}")
            }
            c => format!("l.{c} AS {c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$expand=Observations($orderby=phenomenonTime desc;$top=1)` of (Multi)Datastreams from the
/// latest table: the children (with the parent id) and the parents that have more.
pub async fn latest_children(
    r: &Reader<'_>,
    parent: Kind,
    child: Kind,
    pids: &[i64],
    o: &QueryOptions,
) -> Result<Option<(Vec<(i64, Cells)>, HashSet<i64>)>> {
    let (t, col) = match (parent, child) {
        (Kind::Datastream, Kind::Observation) => ("sta_latest", "datastream_id"),
        (Kind::MultiDatastream, Kind::Observation) => ("sta_latest_multi", "multi_datastream_id"),
        _ => return Ok(None),
    };
    if !is_latest_only(o) || pids.is_empty() {
        return Ok(None);
    }
    let mut children = Vec::with_capacity(pids.len());
    let mut more = HashSet::new();
    for chunk in pids.chunks(5000) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {}, l.{col} AS sta_pid, l.obs_count AS sta_n FROM {t} l \
             WHERE l.obs_id IS NOT NULL AND l.{col} IN ({list})",
            latest_columns(col)
        );
        for row in r.db.fetch_cells_sql(&sql, Values(vec![])).await? {
            let pid = row.get("sta_pid").as_i64().unwrap_or(0);
            if row.get("sta_n").as_i64().unwrap_or(0) > 1 {
                more.insert(pid);
            }
            children.push((pid, row));
        }
    }
    Ok(Some((children, more)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_fixed_durations() {
        assert_eq!(parse_interval("PT15M").unwrap(), 15 * 60 * 1_000_000);
        assert_eq!(parse_interval("P1D").unwrap(), 86_400_000_000);
        assert_eq!(parse_interval("P1W").unwrap(), 7 * 86_400_000_000);
        assert_eq!(parse_interval("PT1H30M").unwrap(), 5_400_000_000);
        assert!(
            parse_interval("PT0.5S")
                .unwrap_err()
                .to_string()
                .contains("second")
        );
        for bad in ["15M", "P1M", "P1Y", "PT", "P", "PTxM", "PT0S", "P400D"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn calendar_intervals_are_months() {
        assert_eq!(parse_calendar("P1M"), Some(1));
        assert_eq!(parse_calendar("P3M"), Some(3));
        assert_eq!(parse_calendar("P1Y"), Some(12));
        assert_eq!(parse_calendar("P1Y6M"), Some(18));
        for other in ["P1D", "PT1M", "P1M2D", "P0M", "PM", "P1M1Y", "P1000Y"] {
            assert_eq!(parse_calendar(other), None, "{other}");
        }
        assert_eq!(offset_of("2026-01-01T00:00:00+01:00"), 3600);
        assert_eq!(offset_of("2026-01-01T00:00:00-02:30"), -9000);
        assert_eq!(offset_of("2026-01-01T00:00:00Z"), 0);
    }

    #[test]
    fn calendar_buckets_follow_the_origin_wall_clock() {
        let origin = crate::time::parse_instant("2026-01-01T00:00:00+01:00").unwrap();
        let s = Spec {
            width: DAY,
            origin,
            offset: 3600,
            months: Some(1),
            fns: vec!["sum"],
            interval: "P1M".into(),
        };
        let at = |t: &str| crate::time::parse_instant(t).unwrap();
        // 31 January 23:30 local is still January; 1 February 00:00 local is February.
        assert_eq!(calendar_index(&s, 1, at("2026-01-31T23:30:00+01:00")), 0);
        assert_eq!(calendar_index(&s, 1, at("2026-02-01T00:00:00+01:00")), 1);
        assert_eq!(calendar_index(&s, 1, at("2025-12-31T23:59:00+01:00")), -1);
        assert_eq!(calendar_start(&s, 1, 1), at("2026-02-01T00:00:00+01:00"));
        assert_eq!(calendar_start(&s, 1, -1), at("2025-12-01T00:00:00+01:00"));
        assert_eq!(calendar_index(&s, 12, at("2027-03-01T00:00:00+01:00")), 1);
        assert_eq!(calendar_start(&s, 3, 1), at("2026-04-01T00:00:00+01:00"));
    }
}
