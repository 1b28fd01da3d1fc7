//! Translation of `$filter` and `$orderby` expressions to SQL for SQLite and PostgreSQL.
//!
//! The planner writes SQL text with numbered parameters (`$1`, `$2`, ...; SQLite and
//! PostgreSQL both accept them) because the OData semantics need window functions, JSON path
//! access and PostGIS calls that sea-query cannot express for both dialects; every value from
//! the request is a bound parameter, identifiers come from the static data model only.
//!
//! Paths over navigation properties become joins inside an `EXISTS` around the nearest boolean
//! expression (so `Datastreams/name eq 'x'` on Things means "some Datastream is named x"),
//! or a scalar subquery in `$orderby` (to-one paths only). Every joined entity is subject to the
//! reader's visibility, so a filter cannot probe hidden data.

use crate::model::{Kind, PropType, link_cond};
use crate::odata::{
    BinaryOp, Expr, Function, LambdaKind, Literal, OrderBy, Path, Segment, SortDirection, UnaryOp,
};
use crate::visibility::Access;
use geo::BoundingRect;
use kern::{Error, Result};
use store::Backend;
use store::sea_query::Value;
use wkt::ToWkt;

/// Bound values of a statement, numbered from 1.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pub values: Vec<Value>,
}

impl Params {
    pub fn push(&mut self, v: Value) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Num,
    Str,
    Bool,
    /// Microseconds since the epoch.
    Time,
    /// Microseconds since midnight.
    TimeOfDay,
    /// Microseconds.
    Duration,
    Geo,
    /// A value inside a JSON column; typed when compared.
    Json,
    /// An Observation's result.
    Result,
    Null,
}

#[derive(Debug, Clone)]
struct Join {
    from: String,
    cond: String,
    to_many: bool,
}

/// A compiled (sub)expression.
#[derive(Debug, Clone)]
struct E {
    sql: String,
    ty: Ty,
    /// The end of a time interval (equal to `sql` for instants).
    end: Option<String>,
    /// For `Json`: the column and the path parameters.
    json: Option<(String, Vec<String>)>,
    /// For `Result`: the row alias.
    alias: Option<String>,
    chain: Vec<Join>,
    /// For geometry columns with a bounding box: the row alias.
    bbox: Option<String>,
    /// For geometry literals: the bounding box.
    lit_box: Option<geo::Rect<f64>>,
}

impl E {
    fn new(sql: impl Into<String>, ty: Ty) -> E {
        E {
            sql: sql.into(),
            ty,
            end: None,
            json: None,
            alias: None,
            chain: Vec::new(),
            bbox: None,
            lit_box: None,
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid("$filter", msg)
}

/// Compiles expressions for one statement.
pub struct Compiler<'a> {
    pub backend: Backend,
    pub params: &'a mut Params,
    pub access: &'a Access,
    /// `now()` in microseconds.
    pub now: i64,
    next_alias: usize,
    vars: Vec<(String, Kind, String)>,
}

const MIN_TIME: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
const MAX_TIME: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z

impl<'a> Compiler<'a> {
    pub fn new(backend: Backend, params: &'a mut Params, access: &'a Access, now: i64) -> Self {
        Compiler {
            backend,
            params,
            access,
            now,
            next_alias: 0,
            vars: Vec::new(),
        }
    }

    fn pg(&self) -> bool {
        self.backend == Backend::Postgres
    }

    pub fn alias(&mut self) -> String {
        self.next_alias += 1;
        format!("f{}", self.next_alias)
    }

    fn param(&mut self, v: Value, pg_type: &str) -> String {
        let p = self.params.push(v);
        if self.pg() {
            format!("CAST({p} AS {pg_type})")
        } else {
            p
        }
    }

    fn int(&mut self, v: i64) -> String {
        self.param(Value::BigInt(Some(v)), "BIGINT")
    }

    fn text(&mut self, v: &str) -> String {
        self.param(Value::String(Some(v.to_string())), "TEXT")
    }

    /// A boolean SQL condition for `$filter` on rows `alias` of `kind`.
    pub fn filter(&mut self, kind: Kind, alias: &str, e: &Expr) -> Result<String> {
        let c = self.expr(kind, alias, e)?;
        self.boolean(c)
    }

    /// `ORDER BY` terms for `$orderby`.
    pub fn order(&mut self, kind: Kind, alias: &str, keys: &[OrderBy]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for k in keys {
            let e = self.expr(kind, alias, &k.expr)?;
            // Columns that are never NULL get no NULLS clause: PostgreSQL matches an index to
            // `DESC` (= NULLS FIRST) only, so `DESC NULLS LAST` would sort a whole Datastream
            // for `$orderby=phenomenonTime desc`.
            let never_null = e.chain.is_empty()
                && (e.sql == format!("{alias}.id")
                    || (kind == Kind::Observation && e.sql == format!("{alias}.pt_start")));
            let dir = match (k.direction, never_null) {
                (SortDirection::Asc, false) => "ASC NULLS FIRST",
                (SortDirection::Desc, false) => "DESC NULLS LAST",
                (SortDirection::Asc, true) => "ASC",
                (SortDirection::Desc, true) => "DESC",
            };
            let mut parts = match e.ty {
                Ty::Result => {
                    let a = e.alias.clone().unwrap_or_default();
                    vec![format!("{a}.result_number"), format!("{a}.result_string")]
                }
                Ty::Json => {
                    let (col, path) = e.json.clone().unwrap_or_default();
                    vec![self.json_raw(&col, &path)]
                }
                // Geometries order by their stored form (GeoJSON text on SQLite, PostGIS's
                // B-tree order on PostgreSQL): $orderby accepts every property.
                _ => vec![e.sql.clone()],
            };
            if !e.chain.is_empty() {
                if e.chain.iter().any(|j| j.to_many) {
                    return Err(Error::invalid(
                        "$orderby",
                        "cannot order by a property of a to-many navigation path",
                    ));
                }
                let from: Vec<&str> = e.chain.iter().map(|j| j.from.as_str()).collect();
                let conds: Vec<&str> = e.chain.iter().map(|j| j.cond.as_str()).collect();
                parts = parts
                    .into_iter()
                    .map(|p| {
                        format!(
                            "(SELECT {p} FROM {} WHERE {} LIMIT 1)",
                            from.join(", "),
                            conds.join(" AND ")
                        )
                    })
                    .collect();
            }
            for p in parts {
                out.push(format!("{p} {dir}"));
            }
        }
        Ok(out)
    }

    /// Wraps a boolean-valued expression, resolving pending navigation joins with `EXISTS`.
    fn boolean(&mut self, e: E) -> Result<String> {
        let sql = match e.ty {
            Ty::Bool => e.sql.clone(),
            Ty::Json => {
                let b = self.coerce(e.clone(), Ty::Bool)?;
                format!("({} = {})", b.sql, self.bool_lit(true))
            }
            _ => return Err(bad("expected a boolean expression")),
        };
        Ok(wrap_exists(sql, &e.chain))
    }

    fn bool_lit(&self, b: bool) -> &'static str {
        match (self.pg(), b) {
            (true, true) => "TRUE",
            (true, false) => "FALSE",
            (false, true) => "1",
            (false, false) => "0",
        }
    }

    fn expr(&mut self, kind: Kind, alias: &str, e: &Expr) -> Result<E> {
        match e {
            Expr::Literal(l) => self.literal(l),
            Expr::Path(p) => self.path(kind, alias, p),
            Expr::Unary { op, expr } => {
                let inner = self.expr(kind, alias, expr)?;
                match op {
                    UnaryOp::Not => {
                        let chain = Vec::new();
                        let b = self.boolean(inner)?;
                        Ok(E {
                            chain,
                            ..E::new(format!("(NOT {b})"), Ty::Bool)
                        })
                    }
                    UnaryOp::Neg => {
                        let ty = match inner.ty {
                            Ty::Duration => Ty::Duration,
                            _ => Ty::Num,
                        };
                        let chain = inner.chain.clone();
                        let n = self.coerce(inner, Ty::Num)?;
                        Ok(E {
                            chain,
                            ..E::new(format!("(- {})", n.sql), ty)
                        })
                    }
                }
            }
            Expr::Binary { op, left, right } => {
                let l = self.expr(kind, alias, left)?;
                let r = self.expr(kind, alias, right)?;
                if op.is_logical() {
                    let l = self.boolean(l)?;
                    let r = self.boolean(r)?;
                    let w = if *op == BinaryOp::And { "AND" } else { "OR" };
                    return Ok(E::new(format!("({l} {w} {r})"), Ty::Bool));
                }
                if op.is_comparison() {
                    let mut chain = l.chain.clone();
                    chain.extend(r.chain.clone());
                    let sql = self.compare(*op, l, r)?;
                    return Ok(E::new(wrap_exists(sql, &chain), Ty::Bool));
                }
                self.arith(*op, l, r)
            }
            Expr::Call { func, args } => self.call(kind, alias, *func, args),
            Expr::Lambda {
                path,
                kind: lk,
                predicate,
            } => self.lambda(kind, alias, path, *lk, predicate.as_ref()),
        }
    }

    fn literal(&mut self, l: &Literal) -> Result<E> {
        Ok(match l {
            Literal::Null => E::new("NULL", Ty::Null),
            Literal::Bool(b) => E::new(self.bool_lit(*b), Ty::Bool),
            Literal::Int(i) => E::new(self.int(*i), Ty::Num),
            Literal::Double(d) => E::new(
                self.param(Value::Double(Some(*d)), "DOUBLE PRECISION"),
                Ty::Num,
            ),
            Literal::String(s) => E::new(self.text(s), Ty::Str),
            Literal::DateTime(t) => E::new(self.int(crate::time::micros(t)), Ty::Time),
            Literal::Date(d) => {
                let us = d
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc().timestamp_micros())
                    .unwrap_or(0);
                E::new(self.int(us), Ty::Time)
            }
            Literal::TimeOfDay(t) => {
                use chrono::Timelike;
                let us = i64::from(t.num_seconds_from_midnight()) * 1_000_000
                    + i64::from(t.nanosecond() / 1000);
                E::new(self.int(us), Ty::TimeOfDay)
            }
            Literal::Duration(d) => {
                let delta = d.to_time_delta().ok_or_else(|| {
                    bad("durations with years or months have no fixed length; use days")
                })?;
                let us = delta
                    .num_microseconds()
                    .ok_or_else(|| bad("duration too long"))?;
                E::new(self.int(us), Ty::Duration)
            }
            Literal::Geometry(g) => {
                let text = g.geometry.wkt_string();
                let p = self.text(&text);
                let sql = if self.pg() {
                    format!("ST_GeomFromText({p}, 4326)")
                } else {
                    p
                };
                E {
                    lit_box: g.geometry.bounding_rect(),
                    ..E::new(sql, Ty::Geo)
                }
            }
        })
    }

    fn path(&mut self, kind: Kind, alias: &str, path: &Path) -> Result<E> {
        let (mut kind, mut alias) = match &path.variable {
            Some(v) => {
                let (_, k, a) = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _, _)| n == v)
                    .cloned()
                    .ok_or_else(|| bad(format!("unknown lambda variable '{v}'")))?;
                (k, a)
            }
            None => (kind, alias.to_string()),
        };
        let mut chain = Vec::new();
        let segs = &path.segments;
        let mut i = 0;
        while i < segs.len() {
            let Segment::Name(name) = &segs[i] else {
                return Err(bad(format!("unexpected index in path '{path}'")));
            };
            if let Some(nav) = kind.nav(name) {
                let (ck, link) = kind.link(nav).expect("navs have links");
                let a = self.alias();
                let mut cond = link_cond(link, &alias, &a);
                if let Some(v) = self.access.visible(ck, &a) {
                    cond = format!("{cond} AND {v}");
                }
                chain.push(Join {
                    from: format!("{} {a}", ck.table()),
                    cond,
                    to_many: nav.is_collection(),
                });
                kind = ck;
                alias = a;
                i += 1;
                continue;
            }
            let rest = &segs[i + 1..];
            let mut e = self.property(kind, &alias, name, rest, path)?;
            e.chain = chain;
            return Ok(e);
        }
        Err(bad(format!(
            "the path '{path}' ends on a navigation property; name a property of {}",
            kind.name()
        )))
    }

    fn property(
        &mut self,
        kind: Kind,
        alias: &str,
        name: &str,
        rest: &[Segment],
        path: &Path,
    ) -> Result<E> {
        if name == "id" || name == "@iot.id" {
            return Ok(E::new(format!("{alias}.id"), Ty::Num));
        }
        if kind.has_visibility() && (name == "visibility" || name == "groups") && rest.is_empty() {
            return Ok(E::new(format!("{alias}.{name}"), Ty::Str));
        }
        let Some(p) = kind.prop(name) else {
            return Err(bad(format!(
                "{} has no property '{name}' (in '{path}')",
                kind.name()
            )));
        };
        let json = |this: &mut Self, col: String| -> E {
            let keys: Vec<String> = rest
                .iter()
                .map(|s| match s {
                    Segment::Name(n) => n.clone(),
                    Segment::Index(i) => format!("[{i}]"),
                })
                .collect();
            let _ = this;
            E {
                json: Some((col, keys)),
                ..E::new(String::new(), Ty::Json)
            }
        };
        if !rest.is_empty() {
            return match p.ty {
                PropType::Json(c) | PropType::Geo(c) | PropType::GeoPlain(c) => {
                    Ok(json(self, format!("{alias}.{c}")))
                }
                PropType::Result => Ok(json(self, format!("{alias}.result_json"))),
                _ => Err(bad(format!("'{name}' has no sub-properties (in '{path}')"))),
            };
        }
        Ok(match p.ty {
            PropType::Text(c) => E::new(format!("{alias}.{c}"), Ty::Str),
            PropType::Json(c) => json(self, format!("{alias}.{c}")),
            PropType::Geo(c) => E {
                bbox: Some(alias.to_string()),
                ..E::new(
                    if self.pg() {
                        format!("{alias}.geom")
                    } else {
                        format!("{alias}.{c}")
                    },
                    Ty::Geo,
                )
            },
            PropType::GeoPlain(c) => E::new(
                if self.pg() {
                    format!("ST_SetSRID(ST_GeomFromGeoJSON(CAST({alias}.{c} AS TEXT)), 4326)")
                } else {
                    format!("{alias}.{c}")
                },
                Ty::Geo,
            ),
            PropType::Instant(c) => E::new(format!("{alias}.{c}"), Ty::Time),
            PropType::Time(s, e) => E {
                end: Some(format!("COALESCE({alias}.{e}, {alias}.{s})")),
                ..E::new(format!("{alias}.{s}"), Ty::Time)
            },
            PropType::Result => E {
                alias: Some(alias.to_string()),
                ..E::new(String::new(), Ty::Result)
            },
        })
    }

    /// The JSON value at the path, in the backend's native form (for ordering).
    fn json_raw(&mut self, col: &str, keys: &[String]) -> String {
        if keys.is_empty() {
            return col.to_string();
        }
        if self.pg() {
            let arr = self.pg_path(keys);
            format!("({col} #> {arr})")
        } else {
            let p = self.sqlite_path(keys);
            format!("json_extract({col}, {p})")
        }
    }

    fn pg_path(&mut self, keys: &[String]) -> String {
        let parts: Vec<String> = keys
            .iter()
            .map(|k| {
                let k = k
                    .strip_prefix('[')
                    .and_then(|k| k.strip_suffix(']'))
                    .unwrap_or(k);
                self.text(k)
            })
            .collect();
        format!("ARRAY[{}]", parts.join(", "))
    }

    fn sqlite_path(&mut self, keys: &[String]) -> String {
        let mut s = String::from("$");
        for k in keys {
            if k.starts_with('[') {
                s.push_str(k);
            } else {
                s.push_str(&format!(".\"{}\"", k.replace('"', "\\\"")));
            }
        }
        self.text(&s)
    }

    /// Converts a value to the wanted type (JSON values and results by their stored type).
    fn coerce(&mut self, e: E, want: Ty) -> Result<E> {
        let chain = e.chain.clone();
        let out = match (e.ty, want) {
            (a, b) if a == b => return Ok(e),
            (Ty::Json, _) => {
                let (col, keys) = e.json.clone().unwrap_or_default();
                let sql = if self.pg() {
                    let (x, xt) = if keys.is_empty() {
                        (col.clone(), format!("({col} #>> '{{}}')"))
                    } else {
                        let arr = self.pg_path(&keys);
                        (format!("({col} #> {arr})"), format!("({col} #>> {arr})"))
                    };
                    match want {
                        Ty::Num => format!(
                            "(CASE WHEN jsonb_typeof({x}) = 'number' THEN CAST({xt} AS DOUBLE PRECISION) END)"
                        ),
                        Ty::Bool => format!(
                            "(CASE WHEN jsonb_typeof({x}) = 'boolean' THEN CAST({xt} AS BOOLEAN) END)"
                        ),
                        _ => format!("(CASE WHEN jsonb_typeof({x}) = 'string' THEN {xt} END)"),
                    }
                } else {
                    let p = if keys.is_empty() {
                        self.text("$")
                    } else {
                        self.sqlite_path(&keys)
                    };
                    match want {
                        Ty::Num => format!(
                            "(CASE WHEN json_type({col}, {p}) IN ('integer', 'real') THEN json_extract({col}, {p}) END)"
                        ),
                        Ty::Bool => format!(
                            "(CASE json_type({col}, {p}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
                        ),
                        _ => format!(
                            "(CASE WHEN json_type({col}, {p}) = 'text' THEN json_extract({col}, {p}) END)"
                        ),
                    }
                };
                let ty = match want {
                    Ty::Num | Ty::Bool => want,
                    _ => Ty::Str,
                };
                E::new(sql, ty)
            }
            (Ty::Result, _) => {
                let a = e.alias.clone().unwrap_or_default();
                match want {
                    // A numeric result read as text is its JSON number (`6`, `6.5`), so a
                    // string literal compares with the number's text.
                    Ty::Str => {
                        let n = format!("{a}.result_number");
                        let num_text = if self.pg() {
                            format!("CAST({n} AS TEXT)")
                        } else {
                            format!(
                                "(CASE WHEN {n} = CAST({n} AS INTEGER) THEN CAST(CAST({n} AS INTEGER) AS TEXT) ELSE CAST({n} AS TEXT) END)"
                            )
                        };
                        E::new(
                            format!(
                                "(CASE {a}.result_kind WHEN 2 THEN {a}.result_string WHEN 1 THEN {num_text} END)"
                            ),
                            Ty::Str,
                        )
                    }
                    Ty::Bool => E::new(
                        format!(
                            "(CASE WHEN {a}.result_kind = 3 THEN {a}.result_string = 'true' END)"
                        ),
                        Ty::Bool,
                    ),
                    _ => E::new(format!("{a}.result_number"), Ty::Num),
                }
            }
            (Ty::Time, Ty::Num) | (Ty::Duration, Ty::Num) | (Ty::TimeOfDay, Ty::Num) => {
                E::new(e.sql.clone(), Ty::Num)
            }
            (Ty::Null, _) => E::new("NULL", want),
            (have, _) => {
                return Err(bad(format!(
                    "expected {} but found {}",
                    ty_name(want),
                    ty_name(have)
                )));
            }
        };
        Ok(E { chain, ..out })
    }

    fn compare(&mut self, op: BinaryOp, l: E, r: E) -> Result<String> {
        let sym = match op {
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            _ => ">=",
        };
        // null comparisons
        if l.ty == Ty::Null || r.ty == Ty::Null {
            let other = if l.ty == Ty::Null { r } else { l };
            let is = match op {
                BinaryOp::Eq => "IS NULL",
                BinaryOp::Ne => "IS NOT NULL",
                _ => return Ok("(1 = 0)".into()),
            };
            let col = match other.ty {
                Ty::Result => {
                    let a = other.alias.unwrap_or_default();
                    return Ok(if op == BinaryOp::Eq {
                        format!("({a}.result_kind = 0)")
                    } else {
                        format!("({a}.result_kind <> 0)")
                    });
                }
                Ty::Json => {
                    let (c, k) = other.json.unwrap_or_default();
                    self.json_raw(&c, &k)
                }
                Ty::Null => "NULL".into(),
                _ => other.sql,
            };
            return Ok(format!("({col} {is})"));
        }
        // decide the type of the comparison
        let concrete = |t: Ty| !matches!(t, Ty::Json | Ty::Result);
        let target = |t: Ty| -> Result<Ty> {
            match t {
                Ty::Time => Err(bad(
                    "a JSON value or result cannot be compared with a date-time",
                )),
                Ty::Duration | Ty::TimeOfDay => Ok(Ty::Num),
                t => Ok(t),
            }
        };
        let (l, r) = match (concrete(l.ty), concrete(r.ty)) {
            (true, false) => {
                let t = target(l.ty)?;
                (l, self.coerce(r, t)?)
            }
            (false, true) => {
                let t = target(r.ty)?;
                (self.coerce(l, t)?, r)
            }
            (false, false) => {
                let l = self.coerce(l, Ty::Num)?;
                let r = self.coerce(r, Ty::Num)?;
                (l, r)
            }
            (true, true) => (l, r),
        };
        if l.ty == Ty::Time && r.ty == Ty::Time && (l.end.is_some() || r.end.is_some()) {
            let le = l.end.clone().unwrap_or_else(|| l.sql.clone());
            let re = r.end.clone().unwrap_or_else(|| r.sql.clone());
            let (ls, rs) = (&l.sql, &r.sql);
            return Ok(match op {
                BinaryOp::Eq => format!("({ls} = {rs} AND {le} = {re})"),
                BinaryOp::Ne => format!("NOT ({ls} = {rs} AND {le} = {re})"),
                BinaryOp::Lt => format!("({le} < {rs})"),
                BinaryOp::Le => format!("({le} <= {rs})"),
                BinaryOp::Gt => format!("({ls} > {re})"),
                _ => format!("({ls} >= {re})"),
            });
        }
        let compatible = l.ty == r.ty
            || matches!(
                (l.ty, r.ty),
                (Ty::Num, Ty::Time | Ty::Duration | Ty::TimeOfDay)
                    | (Ty::Time | Ty::Duration | Ty::TimeOfDay, Ty::Num)
            );
        if !compatible || l.ty == Ty::Geo {
            return Err(bad(format!(
                "cannot compare {} with {}",
                ty_name(l.ty),
                ty_name(r.ty)
            )));
        }
        Ok(format!("({} {sym} {})", l.sql, r.sql))
    }

    fn arith(&mut self, op: BinaryOp, l: E, r: E) -> Result<E> {
        let mut chain = l.chain.clone();
        chain.extend(r.chain.clone());
        let ty = match (l.ty, op, r.ty) {
            (Ty::Time, BinaryOp::Add | BinaryOp::Sub, Ty::Duration) => Ty::Time,
            (Ty::Duration, BinaryOp::Add, Ty::Time) => Ty::Time,
            (Ty::Time, BinaryOp::Sub, Ty::Time) => Ty::Duration,
            (Ty::Duration, BinaryOp::Add | BinaryOp::Sub, Ty::Duration) => Ty::Duration,
            _ => Ty::Num,
        };
        let l = self.coerce(l, Ty::Num)?;
        let r = self.coerce(r, Ty::Num)?;
        let sql = match op {
            BinaryOp::Add => format!("({} + {})", l.sql, r.sql),
            BinaryOp::Sub => format!("({} - {})", l.sql, r.sql),
            BinaryOp::Mul => format!("({} * {})", l.sql, r.sql),
            BinaryOp::Div => format!("({} / {})", l.sql, r.sql),
            _ => {
                if self.pg() {
                    format!(
                        "CAST(MOD(CAST({} AS NUMERIC), CAST({} AS NUMERIC)) AS DOUBLE PRECISION)",
                        l.sql, r.sql
                    )
                } else {
                    // Truncated remainder on doubles too, as PostgreSQL's MOD (SQLite's % casts
                    // to integers).
                    format!(
                        "({a} - {b} * CAST({a} / {b} AS INTEGER))",
                        a = l.sql,
                        b = r.sql
                    )
                }
            }
        };
        Ok(E {
            chain,
            ..E::new(sql, ty)
        })
    }

    fn call(&mut self, kind: Kind, alias: &str, f: Function, args: &[Expr]) -> Result<E> {
        let mut a = Vec::new();
        for x in args {
            a.push(self.expr(kind, alias, x)?);
        }
        let chain: Vec<Join> = a.iter().flat_map(|x| x.chain.clone()).collect();
        let pg = self.pg();
        let out = |sql: String, ty: Ty| -> Result<E> {
            Ok(E {
                chain: chain.clone(),
                ..E::new(sql, ty)
            })
        };
        use Function as F;
        match f {
            F::Substringof | F::Contains | F::Startswith | F::Endswith | F::Indexof | F::Concat => {
                let x = self.coerce(a[0].clone(), Ty::Str)?.sql;
                let y = self.coerce(a[1].clone(), Ty::Str)?.sql;
                let (hay, needle) = if f == F::Substringof {
                    (&y, &x)
                } else {
                    (&x, &y)
                };
                let pos = if pg {
                    format!("STRPOS({hay}, {needle})")
                } else {
                    format!("INSTR({hay}, {needle})")
                };
                match f {
                    F::Substringof | F::Contains => out(format!("({pos} > 0)"), Ty::Bool),
                    F::Indexof => out(format!("({pos} - 1)"), Ty::Num),
                    F::Startswith => out(format!("(SUBSTR({x}, 1, LENGTH({y})) = {y})"), Ty::Bool),
                    F::Endswith => {
                        if pg {
                            out(format!("(RIGHT({x}, LENGTH({y})) = {y})"), Ty::Bool)
                        } else {
                            out(
                                format!("(LENGTH({y}) = 0 OR SUBSTR({x}, -LENGTH({y})) = {y})"),
                                Ty::Bool,
                            )
                        }
                    }
                    _ => out(format!("({x} || {y})"), Ty::Str),
                }
            }
            F::Length | F::Tolower | F::Toupper | F::Trim => {
                let x = self.coerce(a[0].clone(), Ty::Str)?.sql;
                match f {
                    F::Length => out(format!("LENGTH({x})"), Ty::Num),
                    F::Tolower if !pg => out(format!("sta_lower({x})"), Ty::Str),
                    F::Toupper if !pg => out(format!("sta_upper({x})"), Ty::Str),
                    F::Tolower => out(format!("LOWER({x})"), Ty::Str),
                    F::Toupper => out(format!("UPPER({x})"), Ty::Str),
                    _ => out(format!("TRIM({x})"), Ty::Str),
                }
            }
            F::Substring => {
                let x = self.coerce(a[0].clone(), Ty::Str)?.sql;
                let s = self.coerce(a[1].clone(), Ty::Num)?.sql;
                let (s, l) = if pg {
                    (
                        format!("CAST({s} AS INTEGER)"),
                        a.get(2)
                            .map(|l| l.sql.clone())
                            .map(|l| format!("CAST({l} AS INTEGER)")),
                    )
                } else {
                    (s, a.get(2).map(|l| l.sql.clone()))
                };
                match l {
                    Some(l) => out(format!("SUBSTR({x}, {s} + 1, {l})"), Ty::Str),
                    None => out(format!("SUBSTR({x}, {s} + 1)"), Ty::Str),
                }
            }
            F::Year | F::Month | F::Day | F::Hour | F::Minute | F::Second => {
                let t = self.time_arg(&a[0])?;
                let (fmt, field) = match f {
                    F::Year => ("%Y", "YEAR"),
                    F::Month => ("%m", "MONTH"),
                    F::Day => ("%d", "DAY"),
                    F::Hour => ("%H", "HOUR"),
                    F::Minute => ("%M", "MINUTE"),
                    _ => ("%S", "SECOND"),
                };
                if pg {
                    out(
                        format!(
                            "CAST(FLOOR(EXTRACT({field} FROM (TO_TIMESTAMP({t} / 1000000.0) AT TIME ZONE 'UTC'))) AS BIGINT)"
                        ),
                        Ty::Num,
                    )
                } else {
                    out(
                        format!("CAST(STRFTIME('{fmt}', ({t}) / 1000000, 'unixepoch') AS INTEGER)"),
                        Ty::Num,
                    )
                }
            }
            F::Fractionalseconds => {
                let t = self.time_arg(&a[0])?;
                out(format!("((({t}) % 1000000) / 1000000.0)"), Ty::Num)
            }
            F::Date => {
                let t = self.time_arg(&a[0])?;
                out(format!("((({t}) / 86400000000) * 86400000000)"), Ty::Time)
            }
            F::Time => {
                let t = self.time_arg(&a[0])?;
                out(format!("(({t}) % 86400000000)"), Ty::TimeOfDay)
            }
            F::Totaloffsetminutes => {
                self.time_arg(&a[0])?;
                out("0".into(), Ty::Num)
            }
            F::Now => {
                let n = self.now;
                let p = self.int(n);
                out(p, Ty::Time)
            }
            F::Mindatetime => {
                let p = self.int(MIN_TIME);
                out(p, Ty::Time)
            }
            F::Maxdatetime => {
                let p = self.int(MAX_TIME);
                out(p, Ty::Time)
            }
            F::Round | F::Floor | F::Ceiling => {
                let x = self.coerce(a[0].clone(), Ty::Num)?.sql;
                let name = match f {
                    F::Round => "ROUND",
                    F::Floor => "FLOOR",
                    _ => "CEILING",
                };
                if pg {
                    out(
                        format!("CAST({name}(CAST({x} AS NUMERIC)) AS DOUBLE PRECISION)"),
                        Ty::Num,
                    )
                } else if f == F::Round {
                    out(format!("ROUND({x})"), Ty::Num)
                } else {
                    out(format!("sta_{}({x})", name.to_ascii_lowercase()), Ty::Num)
                }
            }
            F::GeoDistance => {
                let (x, y) = (self.geo_arg(&a[0])?, self.geo_arg(&a[1])?);
                if pg {
                    out(format!("ST_Distance({x}, {y})"), Ty::Num)
                } else {
                    out(format!("sta_geo_distance({x}, {y})"), Ty::Num)
                }
            }
            F::GeoLength => {
                let x = self.geo_arg(&a[0])?;
                if pg {
                    out(format!("ST_Length({x})"), Ty::Num)
                } else {
                    out(format!("sta_geo_length({x})"), Ty::Num)
                }
            }
            _ => {
                let (x, y) = (self.geo_arg(&a[0])?, self.geo_arg(&a[1])?);
                let (rel, pg_fn) = match f {
                    F::GeoIntersects | F::StIntersects => ("intersects", "ST_Intersects"),
                    F::StEquals => ("equals", "ST_Equals"),
                    F::StDisjoint => ("disjoint", "ST_Disjoint"),
                    F::StTouches => ("touches", "ST_Touches"),
                    F::StWithin => ("within", "ST_Within"),
                    F::StOverlaps => ("overlaps", "ST_Overlaps"),
                    F::StCrosses => ("crosses", "ST_Crosses"),
                    F::StContains => ("contains", "ST_Contains"),
                    _ => ("relate", "ST_Relate"),
                };
                let mut sql = if f == F::StRelate {
                    let pattern = match &args[2] {
                        Expr::Literal(Literal::String(s)) => s.clone(),
                        _ => return Err(bad("st_relate needs a DE-9IM pattern string")),
                    };
                    let p = self.text(&pattern);
                    if pg {
                        format!("ST_Relate({x}, {y}, {p})")
                    } else {
                        format!("(sta_geo_rel({x}, {y}, {p}) = 1)")
                    }
                } else if pg {
                    format!("{pg_fn}({x}, {y})")
                } else {
                    let p = self.text(rel);
                    format!("(sta_geo_rel({x}, {y}, {p}) = 1)")
                };
                // Bounding-box pre-filter on SQLite (PostGIS uses its GiST index itself).
                if !pg && rel != "disjoint" {
                    let pairs = [(&a[0], &a[1]), (&a[1], &a[0])];
                    for (col, lit) in pairs {
                        if let (Some(al), Some(b)) = (&col.bbox, &lit.lit_box) {
                            let (x0, y0, x1, y1) = (b.min().x, b.min().y, b.max().x, b.max().y);
                            let ps: Vec<String> = [x0, x1, y0, y1]
                                .into_iter()
                                .map(|v| self.param(Value::Double(Some(v)), "DOUBLE PRECISION"))
                                .collect();
                            sql = format!(
                                "({al}.max_x >= {} AND {al}.min_x <= {} AND {al}.max_y >= {} AND {al}.min_y <= {} AND {sql})",
                                ps[0], ps[1], ps[2], ps[3]
                            );
                            break;
                        }
                    }
                }
                out(sql, Ty::Bool)
            }
        }
    }

    fn time_arg(&mut self, e: &E) -> Result<String> {
        match e.ty {
            Ty::Time => Ok(e.sql.clone()),
            other => Err(bad(format!(
                "expected a date-time but found {}",
                ty_name(other)
            ))),
        }
    }

    fn geo_arg(&mut self, e: &E) -> Result<String> {
        match e.ty {
            Ty::Geo => Ok(e.sql.clone()),
            other => Err(bad(format!(
                "expected a geometry (a location, a feature or geography'POINT(...)') but found {}",
                ty_name(other)
            ))),
        }
    }

    fn lambda(
        &mut self,
        kind: Kind,
        alias: &str,
        path: &Path,
        lk: LambdaKind,
        pred: Option<&crate::odata::LambdaPredicate>,
    ) -> Result<E> {
        // Resolve the collection path into a chain of joins.
        let (mut k, mut al) = match &path.variable {
            Some(v) => {
                let (_, k, a) = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _, _)| n == v)
                    .cloned()
                    .ok_or_else(|| bad(format!("unknown lambda variable '{v}'")))?;
                (k, a)
            }
            None => (kind, alias.to_string()),
        };
        let mut chain = Vec::new();
        for s in &path.segments {
            let Segment::Name(n) = s else {
                return Err(bad("unexpected index in a lambda path"));
            };
            let nav = k
                .nav(n)
                .ok_or_else(|| bad(format!("{} has no navigation property '{n}'", k.name())))?;
            let (ck, link) = k.link(nav).expect("navs have links");
            let a = self.alias();
            let mut cond = link_cond(link, &al, &a);
            if let Some(v) = self.access.visible(ck, &a) {
                cond = format!("{cond} AND {v}");
            }
            chain.push(Join {
                from: format!("{} {a}", ck.table()),
                cond,
                to_many: true,
            });
            k = ck;
            al = a;
        }
        let inner = match pred {
            None => "1 = 1".to_string(),
            Some(p) => {
                self.vars.push((p.var.clone(), k, al.clone()));
                let r = self.expr(k, &al, &p.body);
                self.vars.pop();
                let b = self.boolean(r?)?;
                match lk {
                    LambdaKind::Any => b,
                    LambdaKind::All => format!("NOT COALESCE({b}, {})", self.bool_lit(false)),
                }
            }
        };
        let from: Vec<&str> = chain.iter().map(|j| j.from.as_str()).collect();
        let conds: Vec<&str> = chain.iter().map(|j| j.cond.as_str()).collect();
        let sub = format!(
            "EXISTS (SELECT 1 FROM {} WHERE {} AND {inner})",
            from.join(", "),
            conds.join(" AND ")
        );
        Ok(E::new(
            match (lk, pred) {
                (LambdaKind::All, Some(_)) => format!("(NOT {sub})"),
                _ => sub,
            },
            Ty::Bool,
        ))
    }
}

fn wrap_exists(sql: String, chain: &[Join]) -> String {
    if chain.is_empty() {
        return sql;
    }
    let from: Vec<&str> = chain.iter().map(|j| j.from.as_str()).collect();
    let conds: Vec<&str> = chain.iter().map(|j| j.cond.as_str()).collect();
    format!(
        "EXISTS (SELECT 1 FROM {} WHERE {} AND {sql})",
        from.join(", "),
        conds.join(" AND ")
    )
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Num => "a number",
        Ty::Str => "a string",
        Ty::Bool => "a boolean",
        Ty::Time => "a date-time",
        Ty::TimeOfDay => "a time of day",
        Ty::Duration => "a duration",
        Ty::Geo => "a geometry",
        Ty::Json => "a JSON value",
        Ty::Result => "a result",
        Ty::Null => "null",
    }
}
