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
    /// A member the caller writes ([`Renderer::with_slot`]).
    slot: Option<String>,
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
            slot: None,
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

/// Where one member of a pre-serialised entity comes from (see [`Renderer::write_rows`]).
#[derive(Debug, Clone, Copy)]
enum Src {
    Id,
    SelfLink,
    /// Index into [`Renderer::navs`].
    Nav(usize),
    Prop(PropType),
    Visibility,
    Groups,
    /// A member the caller writes (`LatestObservations`' inline Datastream).
    Slot,
}

/// [`Src`] with its column indices resolved against one result's columns.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Id,
    SelfLink,
    Nav(usize),
    Text(Option<usize>),
    Json(Option<usize>),
    Instant(Option<usize>),
    Time(Option<usize>, Option<usize>),
    /// `result_kind`, `result_number`, `result_string`, `result_json`.
    Result([Option<usize>; 4]),
    Visibility(Option<usize>),
    Groups(Option<usize>),
    Slot,
}

static NULL_CELL: store::Cell = store::Cell::Null;

fn cell(row: &Cells, i: Option<usize>) -> &store::Cell {
    i.and_then(|i| row.values.get(i)).unwrap_or(&NULL_CELL)
}

/// Appends `v` as JSON (writing into a `Vec` cannot fail).
pub(crate) fn put_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Appends a number exactly as [`number`] renders it.
fn put_number(out: &mut Vec<u8>, f: f64) {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        put_json(out, &(f as i64));
    } else if f.is_finite() {
        put_json(out, &f);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends a JSON column's value when it holds one that is not `null` (as [`json_cell`]).
fn put_json_cell(out: &mut Vec<u8>, key: &[u8], c: &store::Cell, first: &mut bool) {
    if let Some(v) = c.as_json().filter(|v| !v.is_null()) {
        member(out, key, first);
        put_json(out, &v);
    }
}

/// Starts a member: the separator (unless it is the first) and the pre-escaped `"key":`.
fn member(out: &mut Vec<u8>, key: &[u8], first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(key);
}

impl Renderer {
    /// Adds a member written by the caller through the `slot` argument of
    /// [`Renderer::write_rows`], under `key`.
    pub fn with_slot(mut self, key: &str) -> Self {
        self.slot = Some(key.to_string());
        self
    }

    /// The members of a rendered row in the order `serde_json` writes a map: sorted by key.
    fn members(&self) -> Vec<(String, Src)> {
        let kind = self.kind;
        let mut m: Vec<(String, Src)> = Vec::new();
        if self.id {
            m.push(("@iot.id".into(), Src::Id));
        }
        if self.self_link {
            m.push(("@iot.selfLink".into(), Src::SelfLink));
        }
        for p in &self.props {
            if let Some(prop) = kind.prop(p) {
                m.push(((*p).into(), Src::Prop(prop.ty)));
            }
        }
        for e in &self.extras {
            let src = if *e == "visibility" {
                Src::Visibility
            } else {
                Src::Groups
            };
            m.push(((*e).into(), src));
        }
        for (i, (key, _)) in self.navs.iter().enumerate() {
            m.push((key.clone(), Src::Nav(i)));
        }
        if let Some(key) = &self.slot {
            m.retain(|(k, _)| k != key);
            m.push((key.clone(), Src::Slot));
        }
        m.sort_by(|a, b| a.0.cmp(&b.0));
        m
    }

    /// Appends the rows as JSON objects separated by commas, byte for byte what
    /// `serde_json` writes for [`Renderer::row`] (plus the slot member): no `Value` tree,
    /// column positions looked up once, each value written straight from its cell.
    pub fn write_rows(
        &self,
        rows: &[Cells],
        out: &mut Vec<u8>,
        slot: &dyn Fn(&Cells, &mut Vec<u8>),
    ) {
        let Some(first_row) = rows.first() else {
            return;
        };
        let columns = first_row.columns.clone();
        let col = |name: &str| columns.iter().position(|c| c == name);
        let members: Vec<(Vec<u8>, Bound)> = self
            .members()
            .into_iter()
            .map(|(key, src)| {
                let mut k = serde_json::to_vec(&key).unwrap_or_default();
                k.push(b':');
                let bound = match src {
                    Src::Id => Bound::Id,
                    Src::SelfLink => Bound::SelfLink,
                    Src::Nav(i) => Bound::Nav(i),
                    Src::Slot => Bound::Slot,
                    Src::Visibility => Bound::Visibility(col("visibility")),
                    Src::Groups => Bound::Groups(col("groups")),
                    Src::Prop(ty) => match ty {
                        PropType::Text(c) => Bound::Text(col(c)),
                        PropType::Json(c) | PropType::Geo(c) | PropType::GeoPlain(c) => {
                            Bound::Json(col(c))
                        }
                        PropType::Instant(c) => Bound::Instant(col(c)),
                        PropType::Time(s, e) => Bound::Time(col(s), col(e)),
                        PropType::Result => Bound::Result([
                            col("result_kind"),
                            col("result_number"),
                            col("result_string"),
                            col("result_json"),
                        ]),
                    },
                };
                (k, bound)
            })
            .collect();
        let id_col = col("id");
        // The self link, escaped once: `"https://host/sta/v1.1/Observations(` + id + `)`.
        let prefix = serde_json::to_string(&self.prefix).unwrap_or_default();
        let prefix = &prefix[..prefix.len().saturating_sub(1)];
        let suffixes: Vec<String> = self
            .navs
            .iter()
            .map(|(_, s)| {
                let q = serde_json::to_string(s).unwrap_or_default();
                q[1..].to_string()
            })
            .collect();
        let mut scratch = String::with_capacity(64);
        for (n, row) in rows.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.push(b'{');
            let id = cell(row, id_col).as_i64().unwrap_or(0);
            let mut first = true;
            for (key, bound) in &members {
                match *bound {
                    Bound::Id => {
                        member(out, key, &mut first);
                        put_json(out, &id);
                    }
                    Bound::SelfLink | Bound::Nav(_) => {
                        member(out, key, &mut first);
                        out.extend_from_slice(prefix.as_bytes());
                        put_json(out, &id);
                        out.push(b')');
                        match *bound {
                            Bound::Nav(i) => out.extend_from_slice(suffixes[i].as_bytes()),
                            _ => out.push(b'"'),
                        }
                    }
                    Bound::Text(c) | Bound::Visibility(c) => {
                        if let Some(s) = cell(row, c).as_str() {
                            member(out, key, &mut first);
                            put_json(out, s);
                        }
                    }
                    Bound::Groups(c) => {
                        member(out, key, &mut first);
                        put_json(
                            out,
                            &visibility::groups_json(cell(row, c).as_str().unwrap_or("")),
                        );
                    }
                    Bound::Json(c) => put_json_cell(out, key, cell(row, c), &mut first),
                    Bound::Instant(c) => {
                        member(out, key, &mut first);
                        match cell(row, c).as_i64() {
                            Some(t) => {
                                scratch.clear();
                                scratch.push('"');
                                crate::time::write_instant(&mut scratch, t);
                                scratch.push('"');
                                out.extend_from_slice(scratch.as_bytes());
                            }
                            None => out.extend_from_slice(b"null"),
                        }
                    }
                    Bound::Time(s, e) => {
                        if let Some(st) = cell(row, s).as_i64() {
                            member(out, key, &mut first);
                            scratch.clear();
                            scratch.push('"');
                            crate::time::write_time(&mut scratch, st, cell(row, e).as_i64());
                            scratch.push('"');
                            out.extend_from_slice(scratch.as_bytes());
                        }
                    }
                    Bound::Result([kind, num, string, json]) => {
                        member(out, key, &mut first);
                        match cell(row, kind).as_i64().unwrap_or(0) {
                            1 => match cell(row, num).as_f64() {
                                Some(f) => put_number(out, f),
                                None => out.extend_from_slice(b"null"),
                            },
                            2 => put_json(out, cell(row, string).as_str().unwrap_or("")),
                            3 => put_json(out, &(cell(row, string).as_str() == Some("true"))),
                            4 => match cell(row, json).as_json() {
                                Some(v) => put_json(out, &v),
                                None => out.extend_from_slice(b"null"),
                            },
                            _ => out.extend_from_slice(b"null"),
                        }
                    }
                    Bound::Slot => {
                        member(out, key, &mut first);
                        slot(row, out);
                    }
                }
            }
            out.push(b'}');
        }
    }
}

/// A page of an entity set before rendering.
struct Page {
    count: Option<i64>,
    rows: Vec<Cells>,
    next: Option<String>,
}

/// A page document as JSON text: `@iot.count`, `@iot.nextLink` and `value` in the order
/// `serde_json` writes them; `rows` appends the comma-separated entities.
pub(crate) fn page_text(
    count: Option<i64>,
    next: Option<&str>,
    rows: impl FnOnce(&mut Vec<u8>),
) -> String {
    let mut out = Vec::with_capacity(16 * 1024);
    out.push(b'{');
    if let Some(n) = count {
        out.extend_from_slice(b"\"@iot.count\":");
        put_json(&mut out, &n);
        out.push(b',');
    }
    if let Some(next) = next {
        out.extend_from_slice(b"\"@iot.nextLink\":");
        put_json(&mut out, next);
        out.push(b',');
    }
    out.extend_from_slice(b"\"value\":[");
    rows(&mut out);
    out.extend_from_slice(b"]}");
    // Only JSON written by serde_json and ASCII punctuation went in.
    String::from_utf8(out).expect("serde_json writes UTF-8")
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

    /// One page of an entity set: its rows, the count when asked for and the next link when
    /// more rows follow.
    async fn page(
        &self,
        kind: Kind,
        parent: Option<(Kind, i64, Link)>,
        o: &QueryOptions,
        self_path: &str,
        raw_query: &str,
    ) -> Result<Page> {
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
        let mut count = None;
        if o.count == Some(true) {
            // Per-stream counters when nothing but the stream and visibility restricts.
            count = Some(
                match crate::aggregate::fast_count(self, kind, parent, o).await? {
                    Some(n) => n,
                    None => {
                        let sql = format!("SELECT COUNT(*) AS n FROM {} c{where_}", kind.table());
                        let rows = self.fetch(&sql, params.clone()).await?;
                        rows.first().and_then(|r| r.get("n").as_i64()).unwrap_or(0)
                    }
                },
            );
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
        let next = more.then(|| {
            format!(
                "{}{self_path}?{}",
                self.base,
                next_query(raw_query, top, skip + top)
            )
        });
        Ok(Page { count, rows, next })
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
        let page = self.page(kind, parent, o, self_path, raw_query).await?;
        let renderer = Renderer::new(kind, &self.base, o.select.as_deref());
        let mut items: Vec<Map<String, Value>> =
            page.rows.iter().map(|r| renderer.row(r)).collect();
        self.expand(kind, &page.rows, &mut items, &o.expand).await?;
        let mut out = Map::new();
        if let Some(n) = page.count {
            out.insert("@iot.count".into(), json!(n));
        }
        if let Some(next) = page.next {
            out.insert("@iot.nextLink".into(), Value::String(next));
        }
        out.insert(
            "value".into(),
            Value::Array(items.into_iter().map(Value::Object).collect()),
        );
        Ok(Value::Object(out))
    }

    /// [`Reader::collection`] as JSON text written straight from the rows, byte for byte the
    /// same document; `None` when the request expands (expanded pages take the `Value` path).
    pub async fn collection_text(
        &self,
        kind: Kind,
        parent: Option<(Kind, i64, Link)>,
        o: &QueryOptions,
        self_path: &str,
        raw_query: &str,
    ) -> Result<Option<String>> {
        if !o.expand.is_empty() {
            return Ok(None);
        }
        let page = self.page(kind, parent, o, self_path, raw_query).await?;
        let renderer = Renderer::new(kind, &self.base, o.select.as_deref());
        Ok(Some(page_text(page.count, page.next.as_deref(), |out| {
            renderer.write_rows(&page.rows, out, &|_, _| {})
        })))
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

#[cfg(test)]
mod tests {
    use super::*;
    use store::Cell;

    /// A small deterministic generator, so that failures can be replayed.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a, T>(&mut self, of: &'a [T]) -> &'a T {
            &of[(self.next() % of.len() as u64) as usize]
        }
    }

    const TEXTS: [&str; 7] = [
        "",
        "Zählstelle Kaiserstraße",
        "quote \" backslash \\ slash /",
        "line\nbreak\ttab\r\u{1}\u{1f}",
        "emoji 🚲 and ß",
        "true",
        "12.5",
    ];
    const JSONS: [&str; 9] = [
        "null",
        "{}",
        r#"{"z":1,"a":{"y":[1,2.5,"x"],"b":null}}"#,
        r#"{ "spaced" : true , "n": -0.0 }"#,
        r#"[1, 2, 3]"#,
        r#""just a string""#,
        "42",
        "not json {",
        r#"{"type":"Point","coordinates":[7.4653,51.5136]}"#,
    ];
    const NUMBERS: [f64; 10] = [
        0.0,
        -0.0,
        21.5,
        -3.25,
        1e20,
        9.5e15,
        123_456_789.0,
        0.1 + 0.2,
        f64::NAN,
        f64::INFINITY,
    ];
    const TIMES: [i64; 6] = [
        0,
        1_764_000_000_000_000,
        1_764_000_000_123_000,
        1_764_000_000_123_456,
        -62_200_000_000_000_000,
        260_000_000_000_000_000,
    ];

    fn cell(g: &mut Gen, col: &str) -> Cell {
        if g.next().is_multiple_of(7) && col != "id" {
            return Cell::Null;
        }
        match col {
            "id" | "datastream_id" | "thing_id" | "feature_id" => {
                Cell::Int((g.next() % 100_000) as i64)
            }
            "result_kind" => Cell::Int((g.next() % 6) as i64),
            "result_number" => Cell::Float(*g.pick(&NUMBERS)),
            "result_string" => Cell::Text(g.pick(&TEXTS).to_string()),
            "visibility" => Cell::Text(g.pick(&["public", "internal", "restricted"]).to_string()),
            "groups" => Cell::Text(g.pick(&["", "a", "verkehr,energie", ",x,"]).to_string()),
            c if c.ends_with("time")
                || c.ends_with("_start")
                || c.ends_with("_end")
                || c.ends_with("_at") =>
            {
                Cell::Int(*g.pick(&TIMES))
            }
            _ => {
                if g.next().is_multiple_of(2) {
                    Cell::Text(g.pick(&JSONS).to_string())
                } else {
                    Cell::Text(g.pick(&TEXTS).to_string())
                }
            }
        }
    }

    fn rows(g: &mut Gen, kind: Kind, n: usize, extra: &[&str]) -> Vec<Cells> {
        let names: Vec<String> = kind
            .columns()
            .iter()
            .chain(extra)
            .map(|c| c.to_string())
            .collect();
        let names = std::sync::Arc::new(names);
        (0..n)
            .map(|_| Cells {
                columns: names.clone(),
                values: names
                    .iter()
                    .map(|c| match c.as_str() {
                        "sta_ds" => Cell::Int((g.next() % 1000) as i64),
                        _ => cell(g, c),
                    })
                    .collect(),
            })
            .collect()
    }

    fn selects(kind: Kind) -> Vec<Option<Vec<Path>>> {
        let mut names: Vec<&str> = kind.props().iter().map(|p| p.name).collect();
        names.extend(kind.navs().iter().map(|n| n.name()));
        names.extend(["id", "@iot.selfLink", "visibility", "groups"]);
        let mut out = vec![None, Some(vec![Path::from_names(&["id"])])];
        for w in names.windows(3) {
            out.push(Some(w.iter().map(|n| Path::from_names(&[n])).collect()));
        }
        out
    }

    #[test]
    fn written_rows_are_byte_for_byte_what_serde_json_writes() {
        let mut g = Gen(0x5eed_cafe_f00d);
        let base = "https://stadt.example/sta/v1.1";
        for kind in Kind::ALL {
            let rows = rows(&mut g, kind, 400, &[]);
            for select in selects(kind) {
                let r = Renderer::new(kind, base, select.as_deref());
                let expected: Vec<String> = rows
                    .iter()
                    .map(|row| Value::Object(r.row(row)).to_string())
                    .collect();
                let mut out = Vec::new();
                r.write_rows(&rows, &mut out, &|_, _| {});
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    expected.join(","),
                    "{kind:?} with $select {select:?}"
                );
            }
        }
    }

    #[test]
    fn a_slot_member_lands_where_serde_json_sorts_it() {
        let mut g = Gen(77);
        let rows = rows(&mut g, Kind::Observation, 200, &["sta_ds"]);
        for select in selects(Kind::Observation) {
            let r = Renderer::new(Kind::Observation, "http://x/sta/v1.1", select.as_deref());
            let expected: Vec<String> = rows
                .iter()
                .map(|row| {
                    let mut m = r.row(row);
                    m.insert(
                        "Datastream".into(),
                        json!({ "@iot.id": row.get("sta_ds").as_i64() }),
                    );
                    Value::Object(m).to_string()
                })
                .collect();
            let mut out = Vec::new();
            r.with_slot("Datastream")
                .write_rows(&rows, &mut out, &|row, out| {
                    out.extend_from_slice(b"{\"@iot.id\":");
                    put_json(out, &row.get("sta_ds").as_i64());
                    out.push(b'}');
                });
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected.join(","),
                "{select:?}"
            );
        }
    }

    #[test]
    fn page_text_is_the_page_document() {
        let doc = page_text(Some(3), Some("http://x/a?$top=1&$skip=1"), |out| {
            out.extend_from_slice(b"{\"a\":1},{\"b\":2}")
        });
        let expected = json!({
            "@iot.count": 3,
            "@iot.nextLink": "http://x/a?$top=1&$skip=1",
            "value": [{"a": 1}, {"b": 2}],
        });
        assert_eq!(doc, expected.to_string());
        assert_eq!(page_text(None, None, |_| {}), r#"{"value":[]}"#);
    }
}
