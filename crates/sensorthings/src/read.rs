//! Reading: entity sets with every query option, single entities, properties, `$expand` to any
//! depth without N+1 queries (one statement per expanded navigation property and level), and the
//! JSON representation of entities.

use crate::conn::Conn;
use crate::filter::{Compiler, Params};
use crate::model::{Kind, Link, PropType, parent_cond};
use crate::odata::{ExpandItem, Path, QueryOptions, Segment};
use crate::visibility::{self, Access};
use kern::{Error, Result};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use store::Cells;
use store::sea_query::Values;

/// Everything a read needs.
pub struct Reader<'a> {
    pub db: Conn<'a>,
    pub access: &'a Access,
    /// `https://host/sta/v1.1`
    pub base: String,
    pub now: i64,
    pub default_top: u64,
    pub max_top: u64,
}

/// The `SELECT` list of an entity type's columns for alias `a`.
pub fn columns(kind: Kind, a: &str) -> String {
    kind.columns()
        .iter()
        .map(|c| format!("{a}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_cell(row: &Cells, col: &str) -> Option<Value> {
    row.get(col).as_json().filter(|v| !v.is_null())
}

/// A number as JSON, integral values without a fraction.
pub fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// The value of one property of a row (`None` when it is absent).
pub fn property_value(kind: Kind, row: &Cells, name: &str) -> Option<Value> {
    if name == "id" || name == "@iot.id" {
        return row.get("id").as_i64().map(|i| json!(i));
    }
    if kind.has_visibility() {
        if name == "visibility" {
            return row.get("visibility").as_str().map(|s| json!(s));
        }
        if name == "groups" {
            return Some(visibility::groups_json(
                row.get("groups").as_str().unwrap_or(""),
            ));
        }
    }
    let p = kind.prop(name)?;
    match p.ty {
        PropType::Text(c) => row.get(c).as_str().map(|s| json!(s)),
        PropType::Json(c) | PropType::Geo(c) | PropType::GeoPlain(c) => json_cell(row, c),
        PropType::Instant(c) => Some(
            row.get(c)
                .as_i64()
                .map(|t| json!(crate::time::format(t)))
                .unwrap_or(Value::Null),
        ),
        PropType::Time(s, e) => row
            .get(s)
            .as_i64()
            .map(|st| json!(crate::time::format_time(st, row.get(e).as_i64()))),
        PropType::Result => Some(match row.get("result_kind").as_i64().unwrap_or(0) {
            1 => row
                .get("result_number")
                .as_f64()
                .map(number)
                .unwrap_or(Value::Null),
            2 => json!(row.get("result_string").as_str().unwrap_or("")),
            3 => json!(row.get("result_string").as_str() == Some("true")),
            4 => json_cell(row, "result_json").unwrap_or(Value::Null),
            _ => Value::Null,
        }),
    }
}

/// The JSON representation of one row, with `$select` applied.
pub fn render(kind: Kind, row: &Cells, base: &str, select: Option<&[Path]>) -> Map<String, Value> {
    Renderer::new(kind, base, select).row(row)
}

/// Renders many rows of one entity type with the same `$select`: everything that does not
/// depend on the row (which properties are wanted, the self-link prefix, the navigation-link
/// keys) is worked out once per request instead of once per row. The output is exactly that of
/// rendering each row on its own.
pub struct Renderer {
    kind: Kind,
    /// `https://host/sta/v1.1/Observations(` (the id and `)` follow).
    prefix: String,
    id: bool,
    self_link: bool,
    /// The selected properties, in the type's order.
    props: Vec<&'static str>,
    /// `visibility`/`groups` when explicitly selected.
    extras: Vec<&'static str>,
    /// The selected navigation properties: the key (`Datastream@iot.navigationLink`) and the
    /// link suffix (`/Datastream`).
    navs: Vec<(String, String)>,
}

impl Renderer {
    pub fn new(kind: Kind, base: &str, select: Option<&[Path]>) -> Self {
        let selected: Option<Vec<&str>> = select.map(|s| {
            s.iter()
                .filter_map(|p| p.segments.first().and_then(Segment::as_name))
                .collect()
        });
        let wants = |n: &str| selected.as_ref().is_none_or(|s| s.contains(&n));
        let extras = match &selected {
            Some(s) if kind.has_visibility() => ["visibility", "groups"]
                .into_iter()
                .filter(|e| s.contains(e))
                .collect(),
            _ => Vec::new(),
        };
        Renderer {
            kind,
            prefix: format!("{base}/{}(", kind.set()),
            id: wants("id") || wants("@iot.id"),
            self_link: wants("@iot.selfLink"),
            props: kind
                .props()
                .iter()
                .map(|p| p.name)
                .filter(|n| wants(n))
                .collect(),
            extras,
            navs: kind
                .navs()
                .iter()
                .filter(|n| wants(n.name()))
                .map(|n| {
                    (
                        format!("{}@iot.navigationLink", n.name()),
                        format!("/{}", n.name()),
                    )
                })
                .collect(),
        }
    }

    /// The JSON representation of one row.
    pub fn row(&self, row: &Cells) -> Map<String, Value> {
        let kind = self.kind;
        let id = row.get("id").as_i64().unwrap_or(0);
        let mut me = String::new();
        if self.self_link || !self.navs.is_empty() {
            use std::fmt::Write as _;
            me.reserve(self.prefix.len() + 24);
            me.push_str(&self.prefix);
            let _ = write!(me, "{id})");
        }
        let mut m = Map::new();
        if self.id {
            m.insert("@iot.id".into(), json!(id));
        }
        if self.self_link {
            m.insert("@iot.selfLink".into(), Value::String(me.clone()));
        }
        for p in &self.props {
            if let Some(v) = property_value(kind, row, p) {
                m.insert((*p).into(), v);
            }
        }
        for extra in &self.extras {
            if let Some(v) = property_value(kind, row, extra) {
                m.insert((*extra).into(), v);
            }
        }
        for (key, suffix) in &self.navs {
            let mut link = String::with_capacity(me.len() + suffix.len());
            link.push_str(&me);
            link.push_str(suffix);
            m.insert(key.clone(), Value::String(link));
        }
        m
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The query string of the next page: the request's options with `$top`/`$skip` moved on.
fn next_query(raw_query: &str, top: u64, skip: u64) -> String {
    let mut parts: Vec<String> = raw_query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split('=').next().unwrap_or("");
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            !name.eq_ignore_ascii_case("$top") && !name.eq_ignore_ascii_case("$skip")
        })
        .map(str::to_string)
        .collect();
    parts.push(format!("$top={top}"));
    parts.push(format!("$skip={skip}"));
    parts.join("&")
}

/// `$select` names properties or navigation properties of the type; anything else is a bad
/// request (OData 4.01, 5.1.3), not silently ignored.
fn check_select(kind: Kind, o: &QueryOptions) -> Result<()> {
    for p in o.select.iter().flatten() {
        let Some(name) = p.segments.first().and_then(Segment::as_name) else {
            continue;
        };
        let known = kind.prop(name).is_some()
            || kind.nav(name).is_some()
            || matches!(name, "id" | "@iot.id" | "@iot.selfLink")
            || (kind.has_visibility() && matches!(name, "visibility" | "groups"));
        if !known {
            return Err(Error::invalid(
                "$select",
                format!("{} has no property '{name}'", kind.name()),
            ));
        }
    }
    Ok(())
}

impl Reader<'_> {
    fn top(&self, o: &QueryOptions) -> u64 {
        o.top.unwrap_or(self.default_top).min(self.max_top)
    }

    /// Conditions shared by every row of a query: visibility and `$filter`.
    fn conditions(
        &self,
        params: &mut Params,
        kind: Kind,
        a: &str,
        o: &QueryOptions,
    ) -> Result<(Vec<String>, Vec<String>)> {
        check_select(kind, o)?;
        let mut conds = Vec::new();
        if let Some(v) = self.access.visible(kind, a) {
            conds.push(v);
        }
        let mut c = Compiler::new(self.db.backend(), params, self.access, self.now);
        if let Some(f) = &o.filter {
            conds.push(c.filter(kind, a, f)?);
        }
        let mut order = c.order(kind, a, &o.orderby).map_err(|e| match e {
            Error::Invalid(mut inv) => {
                for p in &mut inv.problems {
                    p.field = Some("$orderby".into());
                }
                Error::Invalid(inv)
            }
            other => other,
        })?;
        order.push(format!("{a}.id ASC"));
        Ok((conds, order))
    }

    async fn fetch(&self, sql: &str, params: Params) -> Result<Vec<Cells>> {
        self.db.fetch_cells_sql(sql, Values(params.values)).await
    }

    /// `GET` of an entity set (`parent` for nested paths).
    pub async fn collection(
        &self,
        kind: Kind,
        parent: Option<(Kind, i64, Link)>,
        o: &QueryOptions,
        self_path: &str,
        raw_query: &str,
    ) -> Result<Value> {
        let mut params = Params::default();
        let (mut conds, order) = self.conditions(&mut params, kind, "c", o)?;
        if let Some((pk, pid, link)) = parent {
            conds.insert(0, parent_cond(pk, link, pid, "c"));
        }
        let where_ = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let top = self.top(o);
        let skip = o.skip.unwrap_or(0);
        let mut out = Map::new();
        if o.count == Some(true) {
            // Per-stream counters when nothing but the stream and visibility restricts.
            let n = match crate::aggregate::fast_count(self, kind, parent, o).await? {
                Some(n) => n,
                None => {
                    let sql = format!("SELECT COUNT(*) AS n FROM {} c{where_}", kind.table());
                    let rows = self.fetch(&sql, params.clone()).await?;
                    rows.first().and_then(|r| r.get("n").as_i64()).unwrap_or(0)
                }
            };
            out.insert("@iot.count".into(), json!(n));
        }
        let sql = format!(
            "SELECT {} FROM {} c{where_} ORDER BY {} LIMIT {} OFFSET {skip}",
            columns(kind, "c"),
            kind.table(),
            order.join(", "),
            top + 1
        );
        let mut rows = self.fetch(&sql, params).await?;
        // `$top=0` asks for no entities (e.g. only the count): no next page to point to.
        let more = top > 0 && rows.len() as u64 > top;
        rows.truncate(top as usize);
        let renderer = Renderer::new(kind, &self.base, o.select.as_deref());
        let mut items: Vec<Map<String, Value>> = rows.iter().map(|r| renderer.row(r)).collect();
        self.expand(kind, &rows, &mut items, &o.expand).await?;
        if more {
            out.insert(
                "@iot.nextLink".into(),
                json!(format!(
                    "{}{self_path}?{}",
                    self.base,
                    next_query(raw_query, top, skip + top)
                )),
            );
        }
        out.insert(
            "value".into(),
            Value::Array(items.into_iter().map(Value::Object).collect()),
        );
        Ok(Value::Object(out))
    }

    /// The rows of one entity (no visibility check: the path resolver did it).
    pub async fn row(&self, kind: Kind, id: i64) -> Result<Cells> {
        let sql = format!(
            "SELECT {} FROM {} c WHERE c.id = {id}",
            columns(kind, "c"),
            kind.table()
        );
        self.fetch(&sql, Params::default())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(format!("{}({id}) gibt es nicht.", kind.name())))
    }

    /// `GET` of one entity.
    pub async fn entity(&self, kind: Kind, id: i64, o: &QueryOptions) -> Result<Value> {
        check_select(kind, o)?;
        let row = self.row(kind, id).await?;
        let mut items = vec![render(kind, &row, &self.base, o.select.as_deref())];
        self.expand(kind, std::slice::from_ref(&row), &mut items, &o.expand)
            .await?;
        Ok(Value::Object(items.pop().unwrap_or_default()))
    }

    /// Adds expanded navigation properties to rendered parents.
    pub fn expand<'s>(
        &'s self,
        kind: Kind,
        rows: &'s [Cells],
        outs: &'s mut [Map<String, Value>],
        items: &'s [ExpandItem],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 's>> {
        Box::pin(async move {
            for item in items {
                self.expand_one(kind, rows, outs, item).await?;
            }
            Ok(())
        })
    }

    async fn expand_one(
        &self,
        kind: Kind,
        rows: &[Cells],
        outs: &mut [Map<String, Value>],
        item: &ExpandItem,
    ) -> Result<()> {
        let nav = kind.nav(&item.navigation).ok_or_else(|| {
            Error::invalid(
                "$expand",
                format!(
                    "{} has no navigation property '{}'",
                    kind.name(),
                    item.navigation
                ),
            )
        })?;
        let (ck, link) = kind.link(nav).expect("navs have links");
        let o = &item.options;
        if rows.is_empty() {
            return Ok(());
        }
        let mut params = Params::default();
        let (conds, order) = self.conditions(&mut params, ck, "c", o)?;
        let common = if conds.is_empty() {
            "1 = 1".to_string()
        } else {
            conds.join(" AND ")
        };
        let select = o.select.as_deref();
        match link {
            Link::Ref(col) => {
                let mut ids: Vec<i64> = rows.iter().filter_map(|r| r.get(col).as_i64()).collect();
                ids.sort_unstable();
                ids.dedup();
                if ids.is_empty() {
                    return Ok(());
                }
                let list = ids
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {} FROM {} c WHERE c.id IN ({list}) AND {common}",
                    columns(ck, "c"),
                    ck.table()
                );
                let children = self.fetch(&sql, params).await?;
                let renderer = Renderer::new(ck, &self.base, select);
                let mut rendered: Vec<Map<String, Value>> =
                    children.iter().map(|r| renderer.row(r)).collect();
                self.expand(ck, &children, &mut rendered, &o.expand).await?;
                let by_id: HashMap<i64, Map<String, Value>> = children
                    .iter()
                    .filter_map(|r| r.get("id").as_i64())
                    .zip(rendered)
                    .collect();
                for (row, out) in rows.iter().zip(outs.iter_mut()) {
                    if let Some(c) = row.get(col).as_i64().and_then(|id| by_id.get(&id)) {
                        out.insert(nav.name().into(), Value::Object(c.clone()));
                    }
                }
            }
            Link::Fk(_) | Link::Table { .. } => {
                let top = self.top(o);
                let skip = o.skip.unwrap_or(0);
                let pids: Vec<i64> = rows.iter().filter_map(|r| r.get("id").as_i64()).collect();
                let mut children: Vec<(i64, Cells)> = Vec::new();
                // The latest Observation of each stream comes from the `sta_latest` table.
                let latest = crate::aggregate::latest_children(self, kind, ck, &pids, o).await?;
                let mut more: HashMap<i64, bool> = HashMap::new();
                let fast = latest.is_some();
                if let Some((c, m)) = latest {
                    children = c;
                    more.extend(m.into_iter().map(|p| (p, true)));
                }
                // One statement per chunk of parents: a UNION ALL of per-parent index range
                // scans, each limited to the page (what a LATERAL join would do, on both
                // backends). Each branch keeps its ORDER BY; UNION ALL appends them in order.
                for chunk in pids.chunks(200).filter(|_| !fast) {
                    let branches: Vec<String> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, pid)| {
                            format!(
                                "SELECT * FROM (SELECT {}, {pid} AS sta_pid FROM {} c WHERE {} AND {common} ORDER BY {} LIMIT {} OFFSET {skip}) s{i}",
                                columns(ck, "c"),
                                ck.table(),
                                parent_cond(kind, link, *pid, "c"),
                                order.join(", "),
                                top + 1
                            )
                        })
                        .collect();
                    let sql = branches.join(" UNION ALL ");
                    for r in self.fetch(&sql, params.clone()).await? {
                        let pid = r.get("sta_pid").as_i64().unwrap_or(0);
                        children.push((pid, r));
                    }
                }
                let mut counts: HashMap<i64, i64> = HashMap::new();
                if o.count == Some(true) {
                    let list = pids
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = match link {
                        Link::Fk(col) => format!(
                            "SELECT c.{col} AS sta_pid, COUNT(*) AS n FROM {} c WHERE c.{col} IN ({list}) AND {common} GROUP BY c.{col}",
                            ck.table()
                        ),
                        Link::Table {
                            table,
                            parent,
                            child,
                        } => format!(
                            "SELECT l.{parent} AS sta_pid, COUNT(*) AS n FROM {} c JOIN {table} l ON l.{child} = c.id WHERE l.{parent} IN ({list}) AND {common} GROUP BY l.{parent}",
                            ck.table()
                        ),
                        Link::Ref(_) => unreachable!("handled above"),
                    };
                    for r in self.fetch(&sql, params.clone()).await? {
                        counts.insert(
                            r.get("sta_pid").as_i64().unwrap_or(0),
                            r.get("n").as_i64().unwrap_or(0),
                        );
                    }
                }
                // Keep at most `top` per parent; note which parents have more.
                let mut per: HashMap<i64, usize> = HashMap::new();
                let mut kept_rows = Vec::new();
                let mut kept_pids = Vec::new();
                for (pid, r) in children {
                    let n = per.entry(pid).or_default();
                    if (*n as u64) < top {
                        *n += 1;
                        kept_pids.push(pid);
                        kept_rows.push(r);
                    } else if top > 0 {
                        more.insert(pid, true);
                    }
                }
                let renderer = Renderer::new(ck, &self.base, select);
                let mut rendered: Vec<Map<String, Value>> =
                    kept_rows.iter().map(|r| renderer.row(r)).collect();
                self.expand(ck, &kept_rows, &mut rendered, &o.expand)
                    .await?;
                let mut grouped: HashMap<i64, Vec<Value>> = HashMap::new();
                for (pid, m) in kept_pids.into_iter().zip(rendered) {
                    grouped.entry(pid).or_default().push(Value::Object(m));
                }
                for (row, out) in rows.iter().zip(outs.iter_mut()) {
                    let pid = row.get("id").as_i64().unwrap_or(0);
                    if o.count == Some(true) {
                        out.insert(
                            format!("{}@iot.count", nav.name()),
                            json!(counts.get(&pid).copied().unwrap_or(0)),
                        );
                    }
                    out.insert(
                        nav.name().into(),
                        Value::Array(grouped.remove(&pid).unwrap_or_default()),
                    );
                    if more.contains_key(&pid) {
                        let mut q = Vec::new();
                        if let Some(f) = &o.filter {
                            q.push(format!("$filter={}", enc(&f.to_string())));
                        }
                        if !o.orderby.is_empty() {
                            let keys: Vec<String> = o
                                .orderby
                                .iter()
                                .map(|k| {
                                    format!(
                                        "{} {}",
                                        k.expr,
                                        match k.direction {
                                            crate::odata::SortDirection::Asc => "asc",
                                            crate::odata::SortDirection::Desc => "desc",
                                        }
                                    )
                                })
                                .collect();
                            q.push(format!("$orderby={}", enc(&keys.join(","))));
                        }
                        q.push(format!("$top={top}"));
                        q.push(format!("$skip={}", skip + top));
                        out.insert(
                            format!("{}@iot.nextLink", nav.name()),
                            json!(format!(
                                "{}/{}({pid})/{}?{}",
                                self.base,
                                kind.set(),
                                nav.name(),
                                q.join("&")
                            )),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// `GET .../$ref` of an entity set: the self links.
    pub async fn refs(
        &self,
        kind: Kind,
        parent: Option<(Kind, i64, Link)>,
        o: &QueryOptions,
        self_path: &str,
        raw_query: &str,
    ) -> Result<Value> {
        let o2 = QueryOptions {
            select: Some(vec![Path::from_names(&["@iot.selfLink"])]),
            expand: Vec::new(),
            ..o.clone()
        };
        self.collection(kind, parent, &o2, self_path, raw_query)
            .await
    }
}
