//! Writing: create with deep insert and links, update (PATCH merge, PUT replace, JSON PATCH),
//! delete with the spec's cascades, and association links (`$ref`). Every request runs in one
//! transaction: bad input anywhere leaves nothing written.

use crate::model::{Kind, Link, PropType};
use crate::odata::NavigationProperty as N;
use crate::visibility::{self, Access};
use geo::BoundingRect;
use kern::{Error, Principal, Result};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use store::sea_query::{Value as V, Values};
use store::{Backend, Tx};

/// What changed, reported after commit (the MQTT bridge publishes these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    pub id: i64,
    pub op: ChangeOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Created,
    Updated,
    Deleted,
}

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// One write transaction.
pub struct Writer<'a> {
    pub tx: Tx,
    pub access: &'a Access,
    pub principal: &'a Principal,
    pub now: i64,
    pub changes: Vec<Change>,
}

fn inv(field: &str, msg: impl Into<String>) -> Error {
    Error::invalid(field.trim_end_matches('.'), msg)
}

fn json_value(v: &Value) -> V {
    if v.is_null() {
        V::Json(None)
    } else {
        V::Json(Some(Box::new(v.clone())))
    }
}

/// A geometry from GeoJSON (a geometry or a Feature).
pub fn geometry_of(v: &Value) -> Option<geo::Geometry<f64>> {
    let gj = geojson::GeoJson::from_json_value(v.clone()).ok()?;
    match gj {
        geojson::GeoJson::Geometry(g) => geo::Geometry::try_from(g).ok(),
        geojson::GeoJson::Feature(f) => f.geometry.and_then(|g| geo::Geometry::try_from(g).ok()),
        geojson::GeoJson::FeatureCollection(fc) => geo::Geometry::try_from(fc).ok(),
    }
}

/// The geometry member of GeoJSON (for PostGIS, which reads geometries only).
fn geometry_json(v: &Value) -> Value {
    if v.get("type").and_then(Value::as_str) == Some("Feature") {
        v.get("geometry").cloned().unwrap_or(Value::Null)
    } else {
        v.clone()
    }
}

/// Column values of one property.
fn prop_values(
    kind: Kind,
    name: &str,
    ty: PropType,
    v: &Value,
    field: &str,
    now: i64,
) -> Result<Vec<(&'static str, V)>> {
    let f = format!("{field}{name}");
    Ok(match ty {
        PropType::Text(c) => match v {
            Value::String(s) => vec![(c, V::String(Some(s.clone())))],
            Value::Null => return Err(inv(&f, "darf nicht null sein")),
            // Sensor metadata may be any JSON; it is kept as text.
            other if name == "metadata" => vec![(c, V::String(Some(other.to_string())))],
            _ => return Err(inv(&f, "muss ein Text sein")),
        },
        PropType::Json(c) => {
            let ok = match name {
                "properties" | "parameters" | "unitOfMeasurement" => v.is_object() || v.is_null(),
                "multiObservationDataTypes" | "unitOfMeasurements" => v.is_array(),
                _ => true,
            };
            if !ok {
                return Err(inv(
                    &f,
                    if v.is_array()
                        || name.ends_with('s') && name != "properties" && name != "parameters"
                    {
                        "muss eine JSON-Liste sein"
                    } else {
                        "muss ein JSON-Objekt sein"
                    },
                ));
            }
            if name == "unitOfMeasurement" && v.is_null() {
                return Err(inv(&f, "darf nicht null sein"));
            }
            vec![(c, json_value(v))]
        }
        PropType::Geo(c) | PropType::GeoPlain(c) => {
            if v.is_null() && matches!(ty, PropType::GeoPlain(_)) {
                vec![(c, V::Json(None))]
            } else if v.is_object() && geometry_of(v).is_some() {
                vec![(c, json_value(v))]
            } else {
                return Err(inv(
                    &f,
                    "muss ein GeoJSON-Objekt (Geometrie oder Feature) sein",
                ));
            }
        }
        PropType::Instant(c) => match v {
            Value::Null if kind == Kind::Observation => vec![(c, V::BigInt(None))],
            Value::String(s) => match crate::time::parse_instant(s) {
                Some(t) => vec![(c, V::BigInt(Some(t)))],
                None => return Err(inv(&f, "muss ein Zeitpunkt nach ISO 8601 sein")),
            },
            _ => return Err(inv(&f, "muss ein Zeitpunkt nach ISO 8601 sein")),
        },
        PropType::Time(s, e) => match v {
            Value::Null if kind == Kind::Observation && name == "phenomenonTime" => {
                vec![(s, V::BigInt(Some(now))), (e, V::BigInt(None))]
            }
            Value::Null => vec![(s, V::BigInt(None)), (e, V::BigInt(None))],
            Value::String(t) => match crate::time::parse_time(t) {
                Some((a, b)) => vec![(s, V::BigInt(Some(a))), (e, V::BigInt(b))],
                None => {
                    return Err(inv(
                        &f,
                        "muss ein Zeitpunkt oder Intervall (start/ende) nach ISO 8601 sein",
                    ));
                }
            },
            _ => {
                return Err(inv(
                    &f,
                    "muss ein Zeitpunkt oder Intervall nach ISO 8601 sein",
                ));
            }
        },
        PropType::Result => {
            let (k, n, s, j) = match v {
                Value::Null => (0, None, None, None),
                Value::Number(x) => (1, x.as_f64(), None, None),
                Value::String(x) => (2, None, Some(x.clone()), None),
                Value::Bool(b) => (3, None, Some(b.to_string()), None),
                other => (4, None, None, Some(Box::new(other.clone()))),
            };
            vec![
                ("result_kind", V::BigInt(Some(k))),
                ("result_number", V::Double(n)),
                ("result_string", V::String(s)),
                ("result_json", V::Json(j)),
            ]
        }
    })
}

/// The value reset by PUT when an optional property is left out.
fn empty_value(ty: PropType) -> Vec<(&'static str, V)> {
    match ty {
        PropType::Text(c) => vec![(c, V::String(Some(String::new())))],
        PropType::Json(c) | PropType::Geo(c) | PropType::GeoPlain(c) => vec![(c, V::Json(None))],
        PropType::Instant(c) => vec![(c, V::BigInt(None))],
        PropType::Time(s, e) => vec![(s, V::BigInt(None)), (e, V::BigInt(None))],
        PropType::Result => vec![],
    }
}

/// The id named by a reference object (`{"@iot.id": 1}` or `{"@iot.selfLink": ".../X(1)"}`).
pub fn ref_id(v: &Value) -> Option<i64> {
    let o = v.as_object()?;
    if let Some(id) = o.get("@iot.id") {
        return id
            .as_i64()
            .or_else(|| id.as_str().and_then(|s| s.parse().ok()));
    }
    let link = o.get("@iot.selfLink")?.as_str()?;
    let open = link.rfind('(')?;
    link[open + 1..]
        .trim_end_matches(')')
        .trim_matches('\'')
        .parse()
        .ok()
}

impl<'a> Writer<'a> {
    fn backend(&self) -> Backend {
        self.tx.backend()
    }

    async fn q(&mut self, sql: &str, values: Vec<V>) -> Result<Vec<store::Cells>> {
        self.tx.fetch_cells_sql(sql, Values(values)).await
    }

    async fn exec(&mut self, sql: &str, values: Vec<V>) -> Result<u64> {
        self.tx.execute_sql(sql, Values(values)).await
    }

    /// Whether the entity exists and the writer may see it.
    pub async fn visible(&mut self, kind: Kind, id: i64) -> Result<bool> {
        let mut sql = format!("SELECT c.id FROM {} c WHERE c.id = {id}", kind.table());
        if let Some(v) = self.access.visible(kind, "c") {
            sql.push_str(&format!(" AND {v}"));
        }
        Ok(!self.q(&sql, vec![]).await?.is_empty())
    }

    async fn scalar(&mut self, sql: &str) -> Result<Option<i64>> {
        Ok(self
            .q(sql, vec![])
            .await?
            .first()
            .and_then(|r| r.values.first().and_then(|c| c.as_i64())))
    }

    async fn insert(&mut self, table: &str, cols: Vec<(&'static str, V)>) -> Result<i64> {
        let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
        let ph: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING id",
            names.join(", "),
            ph.join(", ")
        );
        let rows = self
            .q(&sql, cols.into_iter().map(|(_, v)| v).collect())
            .await?;
        rows.first()
            .and_then(|r| r.get("id").as_i64())
            .ok_or_else(|| Error::internal("insert returned no id"))
    }

    async fn link(&mut self, table: &str, a: (&str, i64), b: (&str, i64)) -> Result<()> {
        let sql = format!(
            "INSERT INTO {table} ({}, {}) VALUES ({}, {}) ON CONFLICT DO NOTHING",
            a.0, b.0, a.1, b.1
        );
        self.exec(&sql, vec![]).await.map(|_| ())
    }

    /// Keeps bounding box (and the PostGIS column) in step with a GeoJSON column.
    async fn set_geometry(&mut self, kind: Kind, id: i64, v: &Value) -> Result<()> {
        let g = geometry_of(v);
        let r = g.as_ref().and_then(|g| g.bounding_rect());
        let mut vals = vec![
            V::Double(r.map(|r| r.min().x)),
            V::Double(r.map(|r| r.min().y)),
            V::Double(r.map(|r| r.max().x)),
            V::Double(r.map(|r| r.max().y)),
        ];
        let mut sql = format!(
            "UPDATE {} SET min_x = $1, min_y = $2, max_x = $3, max_y = $4",
            kind.table()
        );
        if self.backend() == Backend::Postgres {
            vals.push(V::String(Some(geometry_json(v).to_string())));
            sql.push_str(", geom = ST_SetSRID(ST_GeomFromGeoJSON(CAST($5 AS TEXT)), 4326)");
        }
        sql.push_str(&format!(" WHERE id = {id}"));
        self.exec(&sql, vals).await.map(|_| ())
    }

    async fn historical_location(&mut self, thing: i64, locations: &[i64]) -> Result<i64> {
        let now = self.now;
        let hl = self
            .insert(
                "sta_historical_locations",
                vec![
                    ("thing_id", V::BigInt(Some(thing))),
                    ("time", V::BigInt(Some(now))),
                ],
            )
            .await?;
        for l in locations {
            self.link("sta_hist_locations", ("hist_id", hl), ("location_id", *l))
                .await?;
        }
        self.changes.push(Change {
            kind: Kind::HistoricalLocation,
            id: hl,
            op: ChangeOp::Created,
        });
        Ok(hl)
    }

    /// The Thing an Observation's (Multi)Datastream belongs to.
    async fn thing_of_stream(&mut self, kind: Kind, id: i64) -> Result<Option<i64>> {
        self.scalar(&format!(
            "SELECT thing_id FROM {} WHERE id = {id}",
            kind.table()
        ))
        .await
    }

    /// The FeatureOfInterest generated from the Thing's Location (created once per Location).
    pub(crate) async fn feature_from_location(&mut self, thing: i64, field: &str) -> Result<i64> {
        let loc = self
            .q(
                &format!(
                    "SELECT l.id, l.name, l.description, l.encoding_type, l.location FROM sta_locations l \
                     JOIN sta_thing_locations tl ON tl.location_id = l.id WHERE tl.thing_id = {thing} \
                     ORDER BY l.id LIMIT 1"
                ),
                vec![],
            )
            .await?;
        let Some(loc) = loc.first() else {
            return Err(inv(
                &format!("{field}FeatureOfInterest"),
                "fehlt, und das Thing hat keine Location, aus der es abgeleitet werden könnte",
            ));
        };
        let lid = loc.get("id").as_i64().unwrap_or(0);
        if let Some(f) = self
            .scalar(&format!(
                "SELECT id FROM sta_features WHERE generated_from = {lid} ORDER BY id LIMIT 1"
            ))
            .await?
        {
            return Ok(f);
        }
        let feature = loc.get("location").as_json().unwrap_or(Value::Null);
        let id = self
            .insert(
                "sta_features",
                vec![
                    (
                        "name",
                        V::String(loc.get("name").as_str().map(str::to_string)),
                    ),
                    (
                        "description",
                        V::String(loc.get("description").as_str().map(str::to_string)),
                    ),
                    (
                        "encoding_type",
                        V::String(loc.get("encoding_type").as_str().map(str::to_string)),
                    ),
                    ("feature", json_value(&feature)),
                    ("generated_from", V::BigInt(Some(lid))),
                ],
            )
            .await?;
        self.set_geometry(Kind::FeatureOfInterest, id, &feature)
            .await?;
        self.changes.push(Change {
            kind: Kind::FeatureOfInterest,
            id,
            op: ChangeOp::Created,
        });
        Ok(id)
    }

    /// Creates an entity (with nested entities), or links an existing one given by `@iot.id`.
    /// `given` are foreign keys set by the parent of a nested create.
    pub fn create<'s>(
        &'s mut self,
        kind: Kind,
        v: &'s Value,
        field: String,
        given: Vec<(&'static str, i64)>,
    ) -> Fut<'s, i64> {
        Box::pin(async move {
            let Some(obj) = v.as_object() else {
                return Err(inv(&field, "muss ein JSON-Objekt sein"));
            };
            if obj.contains_key("@iot.id") || obj.contains_key("@iot.selfLink") {
                let id = ref_id(v)
                    .ok_or_else(|| inv(&format!("{field}@iot.id"), "muss eine Zahl sein"))?;
                if !self.visible(kind, id).await? {
                    return Err(inv(
                        &format!("{field}@iot.id"),
                        format!("{}({id}) gibt es nicht", kind.name()),
                    ));
                }
                if !given.is_empty() {
                    self.access.require_write(self.principal)?;
                    let sets: Vec<String> =
                        given.iter().map(|(c, v)| format!("{c} = {v}")).collect();
                    self.exec(
                        &format!(
                            "UPDATE {} SET {} WHERE id = {id}",
                            kind.table(),
                            sets.join(", ")
                        ),
                        vec![],
                    )
                    .await?;
                }
                return Ok(id);
            }
            self.create_new(kind, obj, field, given).await
        })
    }

    async fn create_new(
        &mut self,
        kind: Kind,
        obj: &Map<String, Value>,
        field: String,
        given: Vec<(&'static str, i64)>,
    ) -> Result<i64> {
        if kind != Kind::Observation {
            self.access.require_write(self.principal)?;
        }
        // Unknown members are refused, so typos do not pass silently.
        for k in obj.keys() {
            let known = kind.prop(k).is_some()
                || kind.nav(k).is_some()
                || k.ends_with("@iot.navigationLink")
                || k == "@iot.selfLink"
                || (kind.has_visibility() && (k == "visibility" || k == "groups"));
            if !known {
                return Err(inv(
                    &format!("{field}{k}"),
                    format!("{} hat keine Eigenschaft '{k}'", kind.name()),
                ));
            }
        }
        let mut cols: Vec<(&'static str, V)> = Vec::new();
        // 1. to-one relations first: their ids go into our row.
        for nav in kind.navs() {
            let Some((ck, Link::Ref(col))) = kind.link(*nav) else {
                continue;
            };
            let id = if let Some((_, id)) = given.iter().find(|(c, _)| *c == col) {
                Some(*id)
            } else if let Some(sub) = obj.get(nav.name()) {
                Some(
                    self.create(ck, sub, format!("{field}{}.", nav.name()), vec![])
                        .await?,
                )
            } else {
                None
            };
            if let Some(id) = id {
                cols.push((col, V::BigInt(Some(id))));
            }
        }
        let has = |cols: &Vec<(&'static str, V)>, c: &str| cols.iter().any(|(n, _)| *n == c);
        let need = |ok: bool, what: &str| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(inv(&format!("{field}{what}"), "fehlt (Pflichtangabe)"))
            }
        };
        match kind {
            Kind::Datastream => {
                need(has(&cols, "thing_id"), "Thing")?;
                need(has(&cols, "sensor_id"), "Sensor")?;
                need(has(&cols, "obs_prop_id"), "ObservedProperty")?;
            }
            Kind::MultiDatastream => {
                need(has(&cols, "thing_id"), "Thing")?;
                need(has(&cols, "sensor_id"), "Sensor")?;
                need(obj.contains_key("ObservedProperties"), "ObservedProperties")?;
            }
            Kind::HistoricalLocation => need(has(&cols, "thing_id"), "Thing")?,
            Kind::Observation => {
                let ds = has(&cols, "datastream_id");
                let mds = has(&cols, "multi_datastream_id");
                if ds == mds {
                    return Err(inv(
                        &format!("{field}Datastream"),
                        "genau eins von Datastream oder MultiDatastream ist nötig",
                    ));
                }
                let (sk, col) = if ds {
                    (Kind::Datastream, "datastream_id")
                } else {
                    (Kind::MultiDatastream, "multi_datastream_id")
                };
                let sid = cols
                    .iter()
                    .find(|(c, _)| *c == col)
                    .and_then(|(_, v)| match v {
                        V::BigInt(Some(i)) => Some(*i),
                        _ => None,
                    })
                    .unwrap_or(0);
                let thing = self.thing_of_stream(sk, sid).await?.unwrap_or(0);
                self.access
                    .require_observation_write(self.principal, thing)?;
                if !has(&cols, "feature_id") {
                    let f = self.feature_from_location(thing, &field).await?;
                    cols.push(("feature_id", V::BigInt(Some(f))));
                }
                if sk == Kind::MultiDatastream {
                    let n = self
                        .scalar(&format!(
                            "SELECT COUNT(*) FROM sta_multi_datastream_props WHERE md_id = {sid}"
                        ))
                        .await?
                        .unwrap_or(0);
                    let ok = obj
                        .get("result")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.len() as i64 == n);
                    if !ok {
                        return Err(inv(
                            &format!("{field}result"),
                            format!(
                                "muss bei einem MultiDatastream eine Liste mit {n} Werten sein"
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
        // 2. own properties
        for p in kind.props() {
            match obj.get(p.name) {
                Some(v) => cols.extend(prop_values(kind, p.name, p.ty, v, &field, self.now)?),
                None if p.required => {
                    return Err(inv(&format!("{field}{}", p.name), "fehlt (Pflichtangabe)"));
                }
                None if kind == Kind::Observation && p.name == "phenomenonTime" => cols.extend(
                    prop_values(kind, p.name, p.ty, &Value::Null, &field, self.now)?,
                ),
                None => {}
            }
        }
        if kind == Kind::MultiDatastream {
            let types = obj
                .get("multiObservationDataTypes")
                .and_then(Value::as_array)
                .map(Vec::len);
            let units = obj
                .get("unitOfMeasurements")
                .and_then(Value::as_array)
                .map(Vec::len);
            let props = obj
                .get("ObservedProperties")
                .and_then(Value::as_array)
                .map(Vec::len);
            if types != units || types != props {
                return Err(inv(
                    &format!("{field}multiObservationDataTypes"),
                    "multiObservationDataTypes, unitOfMeasurements und ObservedProperties müssen gleich lang sein",
                ));
            }
        }
        if kind.has_visibility()
            && let Some((vis, groups)) = visibility::parse(obj, &field)?
        {
            cols.push(("visibility", V::String(Some(vis))));
            cols.push(("groups", V::String(Some(groups))));
        }
        for (c, id) in &given {
            if !has(&cols, c) {
                cols.push((c, V::BigInt(Some(*id))));
            }
        }
        let id = self.insert(kind.table(), cols).await?;
        self.changes.push(Change {
            kind,
            id,
            op: ChangeOp::Created,
        });
        for p in kind.props() {
            if let (PropType::Geo(_), Some(v)) = (p.ty, obj.get(p.name)) {
                self.set_geometry(kind, id, v).await?;
            }
        }
        if kind == Kind::Observation {
            self.stream_times(id).await?;
        }
        // 3. to-many relations: nested creates and links.
        for nav in kind.navs() {
            let Some(sub) = obj.get(nav.name()) else {
                continue;
            };
            let (ck, link) = kind.link(*nav).expect("navs have links");
            if matches!(link, Link::Ref(_)) {
                continue;
            }
            let Some(items) = sub.as_array() else {
                return Err(inv(
                    &format!("{field}{}", nav.name()),
                    "muss eine Liste sein",
                ));
            };
            let mut linked = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}{}[{i}].", nav.name());
                match link {
                    Link::Fk(col) => {
                        self.create(ck, item, f, vec![(col, id)]).await?;
                    }
                    Link::Table {
                        table,
                        parent,
                        child,
                    } => {
                        let cid = self.create(ck, item, f, vec![]).await?;
                        if table == "sta_multi_datastream_props" {
                            self.exec(
                                &format!(
                                    "INSERT INTO {table} (md_id, op_id, rank) VALUES ({id}, {cid}, {i})"
                                ),
                                vec![],
                            )
                            .await?;
                        } else {
                            self.link(table, (parent, id), (child, cid)).await?;
                        }
                        linked.push(cid);
                    }
                    Link::Ref(_) => {}
                }
            }
            match (kind, nav) {
                (Kind::Thing, N::Locations) if !linked.is_empty() => {
                    self.historical_location(id, &linked).await?;
                }
                (Kind::Location, N::Things) => {
                    for t in linked {
                        self.historical_location(t, &[id]).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(id)
    }

    /// Widens the (Multi)Datastream's phenomenonTime and resultTime to cover an Observation.
    async fn stream_times(&mut self, obs: i64) -> Result<()> {
        for (table, col) in [
            ("sta_datastreams", "datastream_id"),
            ("sta_multi_datastreams", "multi_datastream_id"),
        ] {
            let sql = format!(
                "UPDATE {table} SET \
                 pt_start = CASE WHEN pt_start IS NULL OR pt_start > o.os THEN o.os ELSE pt_start END, \
                 pt_end = CASE WHEN pt_end IS NULL OR pt_end < o.oe THEN o.oe ELSE pt_end END, \
                 rt_start = CASE WHEN o.ort IS NULL THEN rt_start WHEN rt_start IS NULL OR rt_start > o.ort THEN o.ort ELSE rt_start END, \
                 rt_end = CASE WHEN o.ort IS NULL THEN rt_end WHEN rt_end IS NULL OR rt_end < o.ort THEN o.ort ELSE rt_end END \
                 FROM (SELECT pt_start AS os, COALESCE(pt_end, pt_start) AS oe, result_time AS ort, {col} AS sid FROM sta_observations WHERE id = {obs}) o \
                 WHERE {table}.id = o.sid"
            );
            self.exec(&sql, vec![]).await?;
            self.widen_observed_area(table, col, obs).await?;
        }
        Ok(())
    }

    /// The (Multi)Datastreams whose phenomenonTime or resultTime the Observation `obs` bounds
    /// (its time equals one of their ends): they must be recomputed when it moves or goes.
    async fn bounded_streams(
        &mut self,
        obs: i64,
    ) -> Result<Vec<(&'static str, &'static str, i64)>> {
        let mut out = Vec::new();
        for (table, col) in [
            ("sta_datastreams", "datastream_id"),
            ("sta_multi_datastreams", "multi_datastream_id"),
        ] {
            let rows = self
                .q(
                    &format!(
                        "SELECT d.id AS sid FROM sta_observations o JOIN {table} d ON d.id = o.{col} \
                         WHERE o.id = {obs} AND (o.pt_start <= d.pt_start \
                         OR COALESCE(o.pt_end, o.pt_start) >= d.pt_end \
                         OR o.result_time <= d.rt_start OR o.result_time >= d.rt_end)"
                    ),
                    vec![],
                )
                .await?;
            out.extend(
                rows.iter()
                    .filter_map(|r| r.get("sid").as_i64())
                    .map(|sid| (table, col, sid)),
            );
        }
        Ok(out)
    }

    /// Recomputes phenomenonTime and resultTime of (Multi)Datastreams from their Observations
    /// (after an Observation on their boundary moved or was deleted).
    async fn refit_stream_times(&mut self, streams: &[(&str, &str, i64)]) -> Result<()> {
        for (table, col, sid) in streams {
            self.exec(
                &format!(
                    "UPDATE {table} SET \
                     pt_start = (SELECT MIN(o.pt_start) FROM sta_observations o WHERE o.{col} = {sid}), \
                     pt_end = (SELECT MAX(COALESCE(o.pt_end, o.pt_start)) FROM sta_observations o WHERE o.{col} = {sid}), \
                     rt_start = (SELECT MIN(o.result_time) FROM sta_observations o WHERE o.{col} = {sid}), \
                     rt_end = (SELECT MAX(o.result_time) FROM sta_observations o WHERE o.{col} = {sid}) \
                     WHERE id = {sid}"
                ),
                vec![],
            )
            .await?;
        }
        Ok(())
    }

    /// Widens the (Multi)Datastream's observedArea to the bounding box of the Observation's
    /// FeatureOfInterest (OGC 18-088, Datastream: "the spatial bounding box of the spatial
    /// extent of all FeaturesOfInterest" of its Observations).
    async fn widen_observed_area(&mut self, table: &str, col: &str, obs: i64) -> Result<()> {
        let rows = self
            .q(
                &format!(
                    "SELECT d.id AS sid, d.observed_area AS area, f.min_x, f.min_y, f.max_x, f.max_y \
                     FROM sta_observations o JOIN {table} d ON d.id = o.{col} \
                     JOIN sta_features f ON f.id = o.feature_id WHERE o.id = {obs}"
                ),
                vec![],
            )
            .await?;
        match rows.first() {
            Some(r) => self.widen_area_row(table, r).await,
            None => Ok(()),
        }
    }

    /// Widens a (Multi)Datastream's observedArea once for the FeaturesOfInterest of a whole
    /// batch of new Observations (`CreateObservations`, MQTT bulk ingest).
    pub(crate) async fn widen_observed_area_by_features(
        &mut self,
        kind: Kind,
        sid: i64,
        features: &[i64],
    ) -> Result<()> {
        if features.is_empty() {
            return Ok(());
        }
        let list = features
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let table = kind.table();
        let rows = self
            .q(
                &format!(
                    "SELECT d.id AS sid, d.observed_area AS area, f.min_x, f.min_y, f.max_x, f.max_y \
                     FROM {table} d, (SELECT MIN(min_x) AS min_x, MIN(min_y) AS min_y, \
                     MAX(max_x) AS max_x, MAX(max_y) AS max_y FROM sta_features WHERE id IN ({list})) f \
                     WHERE d.id = {sid}"
                ),
                vec![],
            )
            .await?;
        match rows.first() {
            Some(r) => self.widen_area_row(table, r).await,
            None => Ok(()),
        }
    }

    /// [`Writer::widen_observed_area_by_features`] for many Datastreams at once: `pairs` are
    /// (Datastream, FeatureOfInterest) of new Observations; one query reads the stored areas
    /// and the features' boxes, and only Datastreams whose area grows are written.
    pub(crate) async fn widen_observed_areas(&mut self, pairs: &[(i64, i64)]) -> Result<()> {
        for chunk in pairs.chunks(1000) {
            let values: Vec<String> = chunk.iter().map(|(s, f)| format!("({s}, {f})")).collect();
            let rows = self
                .q(
                    &format!(
                        "SELECT d.id AS sid, d.observed_area AS area, f.min_x, f.min_y, f.max_x, f.max_y \
                         FROM (VALUES {}) AS v JOIN sta_datastreams d ON d.id = v.column1 \
                         JOIN sta_features f ON f.id = v.column2 ORDER BY d.id",
                        values.join(", ")
                    ),
                    vec![],
                )
                .await?;
            // One box per stream: the smallest minimum and largest maximum of its features.
            let mut merged: Vec<store::Cells> = Vec::new();
            let pick = |a: &store::Cell, b: &store::Cell, min: bool| match (a.as_f64(), b.as_f64())
            {
                (Some(x), Some(y)) => store::Cell::Float(if min { x.min(y) } else { x.max(y) }),
                (Some(x), None) | (None, Some(x)) => store::Cell::Float(x),
                (None, None) => store::Cell::Null,
            };
            for r in rows {
                match merged.last_mut() {
                    Some(m) if m.get("sid").as_i64() == r.get("sid").as_i64() => {
                        let mut values = m.values.clone();
                        for (i, c) in m.columns.iter().enumerate() {
                            values[i] = match c.as_str() {
                                "min_x" | "min_y" => pick(&m.values[i], r.get(c), true),
                                "max_x" | "max_y" => pick(&m.values[i], r.get(c), false),
                                _ => m.values[i].clone(),
                            };
                        }
                        m.values = values;
                    }
                    _ => merged.push(r),
                }
            }
            for m in &merged {
                self.widen_area_row("sta_datastreams", m).await?;
            }
        }
        Ok(())
    }

    /// Unites the stored observedArea of row `sid` with the box `min_x..max_y` of `r`.
    async fn widen_area_row(&mut self, table: &str, r: &store::Cells) -> Result<()> {
        let (Some(x0), Some(y0), Some(x1), Some(y1)) = (
            r.get("min_x").as_f64(),
            r.get("min_y").as_f64(),
            r.get("max_x").as_f64(),
            r.get("max_y").as_f64(),
        ) else {
            return Ok(());
        };
        let mut b = geo::Rect::new(geo::coord! { x: x0, y: y0 }, geo::coord! { x: x1, y: y1 });
        if let Some(old) = r
            .get("area")
            .as_json()
            .as_ref()
            .and_then(geometry_of)
            .and_then(|g| g.bounding_rect())
        {
            if old.min().x <= x0 && old.min().y <= y0 && old.max().x >= x1 && old.max().y >= y1 {
                return Ok(());
            }
            b = geo::Rect::new(
                geo::coord! { x: old.min().x.min(x0), y: old.min().y.min(y0) },
                geo::coord! { x: old.max().x.max(x1), y: old.max().y.max(y1) },
            );
        }
        let (lo, hi) = (b.min(), b.max());
        let n = crate::read::number;
        let area = if lo == hi {
            serde_json::json!({ "type": "Point", "coordinates": [n(lo.x), n(lo.y)] })
        } else if lo.x == hi.x || lo.y == hi.y {
            serde_json::json!({ "type": "LineString", "coordinates": [[n(lo.x), n(lo.y)], [n(hi.x), n(hi.y)]] })
        } else {
            serde_json::json!({ "type": "Polygon", "coordinates": [[
                [n(lo.x), n(lo.y)], [n(hi.x), n(lo.y)], [n(hi.x), n(hi.y)], [n(lo.x), n(hi.y)], [n(lo.x), n(lo.y)]
            ]] })
        };
        let sid = r.get("sid").as_i64().unwrap_or(0);
        self.exec(
            &format!("UPDATE {table} SET observed_area = $1 WHERE id = {sid}"),
            vec![json_value(&area)],
        )
        .await
        .map(|_| ())
    }

    /// PATCH (merge) or PUT (`replace`) of an entity.
    pub async fn update(&mut self, kind: Kind, id: i64, v: &Value, replace: bool) -> Result<()> {
        if kind == Kind::Observation {
            // A sensor token may correct its own observations? No: updates need full write.
        }
        self.access.require_write(self.principal)?;
        let Some(obj) = v.as_object() else {
            return Err(inv("body", "muss ein JSON-Objekt sein"));
        };
        let mut sets: Vec<(&'static str, V)> = Vec::new();
        let mut geo_changed = None;
        let mut new_locations = None;
        for (k, val) in obj {
            if k == "@iot.id" || k == "@iot.selfLink" || k.ends_with("@iot.navigationLink") {
                continue;
            }
            if let Some(p) = kind.prop(k) {
                if p.required && val.is_null() {
                    return Err(inv(k, "darf nicht null sein"));
                }
                sets.extend(prop_values(kind, p.name, p.ty, val, "", self.now)?);
                if matches!(p.ty, PropType::Geo(_)) {
                    geo_changed = Some(val.clone());
                }
                continue;
            }
            if kind.has_visibility() && (k == "visibility" || k == "groups") {
                continue;
            }
            if let Some(nav) = kind.nav(k) {
                let (ck, link) = kind.link(nav).expect("navs have links");
                // An update links existing entities only; related entities inline are created
                // by POST (OGC 18-088, 10.3: deep insert is a create operation).
                let is_ref = |v: &Value| {
                    v.as_object().is_some_and(|o| {
                        o.contains_key("@iot.id") || o.contains_key("@iot.selfLink")
                    })
                };
                let refs_only = match val {
                    Value::Array(items) => items.iter().all(is_ref),
                    other => is_ref(other),
                };
                if !refs_only {
                    return Err(inv(
                        k,
                        "ein Update verknüpft nur bestehende Entitäten per @iot.id; neue Entitäten per POST anlegen",
                    ));
                }
                match link {
                    Link::Ref(col) => {
                        let cid = self.create(ck, val, format!("{k}."), vec![]).await?;
                        sets.push((col, V::BigInt(Some(cid))));
                    }
                    _ if kind == Kind::Thing && nav == N::Locations => {
                        let Some(items) = val.as_array() else {
                            return Err(inv(k, "muss eine Liste sein"));
                        };
                        let mut ids = Vec::new();
                        for (i, item) in items.iter().enumerate() {
                            ids.push(self.create(ck, item, format!("{k}[{i}]."), vec![]).await?);
                        }
                        new_locations = Some(ids);
                    }
                    _ => {
                        return Err(inv(
                            k,
                            format!(
                                "lässt sich nicht per Update ändern; neue Einträge per POST auf {}({id})/{k} anlegen",
                                kind.set()
                            ),
                        ));
                    }
                }
                continue;
            }
            return Err(inv(
                k,
                format!("{} hat keine Eigenschaft '{k}'", kind.name()),
            ));
        }
        if replace {
            for p in kind.props() {
                if obj.contains_key(p.name) {
                    continue;
                }
                if p.required {
                    return Err(inv(
                        p.name,
                        "fehlt (Pflichtangabe; PUT ersetzt die ganze Entität)",
                    ));
                }
                if !(kind == Kind::Datastream || kind == Kind::MultiDatastream)
                    || !matches!(p.ty, PropType::Time(..))
                {
                    sets.extend(empty_value(p.ty));
                }
            }
        }
        if kind.has_visibility()
            && let Some((vis, groups)) = visibility::parse(obj, "")?
        {
            sets.push(("visibility", V::String(Some(vis))));
            sets.push(("groups", V::String(Some(groups))));
        }
        let bounded = if kind == Kind::Observation && !sets.is_empty() {
            self.bounded_streams(id).await?
        } else {
            Vec::new()
        };
        if !sets.is_empty() {
            let assign: Vec<String> = sets
                .iter()
                .enumerate()
                .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
                .collect();
            let sql = format!(
                "UPDATE {} SET {} WHERE id = {id}",
                kind.table(),
                assign.join(", ")
            );
            self.exec(&sql, sets.into_iter().map(|(_, v)| v).collect())
                .await?;
        }
        if let Some(g) = geo_changed {
            self.set_geometry(kind, id, &g).await?;
        }
        if kind == Kind::Observation {
            self.refit_stream_times(&bounded).await?;
            self.stream_times(id).await?;
        }
        if let Some(locs) = new_locations {
            self.exec(
                &format!("DELETE FROM sta_thing_locations WHERE thing_id = {id}"),
                vec![],
            )
            .await?;
            for l in &locs {
                self.link("sta_thing_locations", ("thing_id", id), ("location_id", *l))
                    .await?;
            }
            self.historical_location(id, &locs).await?;
        }
        self.changes.push(Change {
            kind,
            id,
            op: ChangeOp::Updated,
        });
        Ok(())
    }

    /// Deletes an entity; the foreign keys cascade as the spec requires (a Thing takes its
    /// Datastreams and their Observations with it, and so on).
    pub async fn delete(&mut self, kind: Kind, id: i64) -> Result<()> {
        self.access.require_write(self.principal)?;
        if kind == Kind::Location {
            // A HistoricalLocation without any Location left goes with it.
            let gone = self
                .q(
                    &format!(
                        "SELECT h.hist_id AS id FROM sta_hist_locations h WHERE h.location_id = {id} \
                         AND NOT EXISTS (SELECT 1 FROM sta_hist_locations o \
                         WHERE o.hist_id = h.hist_id AND o.location_id <> {id})"
                    ),
                    vec![],
                )
                .await?;
            for hl in gone.iter().filter_map(|r| r.get("id").as_i64()) {
                self.exec(
                    &format!("DELETE FROM sta_historical_locations WHERE id = {hl}"),
                    vec![],
                )
                .await?;
                self.changes.push(Change {
                    kind: Kind::HistoricalLocation,
                    id: hl,
                    op: ChangeOp::Deleted,
                });
            }
        }
        let bounded = if kind == Kind::Observation {
            self.bounded_streams(id).await?
        } else {
            Vec::new()
        };
        self.exec(
            &format!("DELETE FROM {} WHERE id = {id}", kind.table()),
            vec![],
        )
        .await?;
        self.refit_stream_times(&bounded).await?;
        self.changes.push(Change {
            kind,
            id,
            op: ChangeOp::Deleted,
        });
        Ok(())
    }

    /// `POST .../Collection/$ref`: links an existing entity to the parent.
    pub async fn add_ref(
        &mut self,
        parent: (Kind, i64, Link),
        kind: Kind,
        v: &Value,
    ) -> Result<()> {
        self.access.require_write(self.principal)?;
        let (pk, pid, link) = parent;
        let cid = ref_id(v).ok_or_else(|| inv("@iot.id", "fehlt oder ist keine Zahl"))?;
        if !self.visible(kind, cid).await? {
            return Err(inv(
                "@iot.id",
                format!("{}({cid}) gibt es nicht", kind.name()),
            ));
        }
        match link {
            Link::Table {
                table,
                parent,
                child,
            } => {
                if table == "sta_multi_datastream_props" {
                    return Err(inv(
                        "@iot.id",
                        "die ObservedProperties eines MultiDatastreams stehen fest",
                    ));
                }
                self.link(table, (parent, pid), (child, cid)).await?;
                if pk == Kind::Thing && kind == Kind::Location {
                    self.historical_location(pid, &[cid]).await?;
                }
                if pk == Kind::Location && kind == Kind::Thing {
                    self.historical_location(cid, &[pid]).await?;
                }
            }
            Link::Fk(col) => {
                self.exec(
                    &format!("UPDATE {} SET {col} = {pid} WHERE id = {cid}", kind.table()),
                    vec![],
                )
                .await?;
            }
            Link::Ref(_) => return Err(inv("path", "use PUT on a to-one $ref")),
        }
        self.changes.push(Change {
            kind: pk,
            id: pid,
            op: ChangeOp::Updated,
        });
        Ok(())
    }

    /// `PUT .../Nav/$ref` of a to-one navigation property: points it to another entity.
    pub async fn set_ref(&mut self, via: (Kind, i64, Link), kind: Kind, v: &Value) -> Result<()> {
        self.access.require_write(self.principal)?;
        let (pk, pid, link) = via;
        let Link::Ref(col) = link else {
            return Err(inv(
                "path",
                "PUT $ref is for to-one navigation properties; use POST on the collection's $ref",
            ));
        };
        let cid = ref_id(v).ok_or_else(|| inv("@iot.id", "fehlt oder ist keine Zahl"))?;
        if !self.visible(kind, cid).await? {
            return Err(inv(
                "@iot.id",
                format!("{}({cid}) gibt es nicht", kind.name()),
            ));
        }
        self.exec(
            &format!("UPDATE {} SET {col} = {cid} WHERE id = {pid}", pk.table()),
            vec![],
        )
        .await?;
        self.changes.push(Change {
            kind: pk,
            id: pid,
            op: ChangeOp::Updated,
        });
        Ok(())
    }

    /// `DELETE .../Nav(id)/$ref`: removes a link (only for links that are not required).
    pub async fn remove_ref(&mut self, via: (Kind, i64, Link), id: i64) -> Result<()> {
        self.access.require_write(self.principal)?;
        let (pk, pid, link) = via;
        match link {
            Link::Table {
                table,
                parent,
                child,
            } if table != "sta_multi_datastream_props" => {
                self.exec(
                    &format!("DELETE FROM {table} WHERE {parent} = {pid} AND {child} = {id}"),
                    vec![],
                )
                .await?;
            }
            _ => {
                return Err(inv(
                    "path",
                    "diese Beziehung ist Pflicht und lässt sich nur umhängen, nicht lösen",
                ));
            }
        }
        self.changes.push(Change {
            kind: pk,
            id: pid,
            op: ChangeOp::Updated,
        });
        Ok(())
    }
}

/// Applies an RFC 6902 JSON Patch to a document.
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<()> {
    let ops = patch
        .as_array()
        .ok_or_else(|| inv("body", "ein JSON Patch ist eine Liste von Operationen"))?;
    for (i, op) in ops.iter().enumerate() {
        let f = format!("[{i}]");
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| inv(&format!("{f}.op"), "fehlt"))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| inv(&format!("{f}.path"), "fehlt"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| inv(&format!("{f}.value"), "fehlt"))
        };
        match name {
            "add" => pointer_add(doc, path, value()?, &f)?,
            "replace" => {
                pointer_remove(doc, path, &f)?;
                pointer_add(doc, path, value()?, &f)?;
            }
            "remove" => {
                pointer_remove(doc, path, &f)?;
            }
            "move" | "copy" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or_else(|| inv(&format!("{f}.from"), "fehlt"))?;
                let v = if name == "move" {
                    pointer_remove(doc, from, &f)?
                } else {
                    doc.pointer(from).cloned().ok_or_else(|| {
                        inv(&format!("{f}.from"), format!("'{from}' gibt es nicht"))
                    })?
                };
                pointer_add(doc, path, v, &f)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(inv(
                        &format!("{f}.path"),
                        format!("Test auf '{path}' fehlgeschlagen"),
                    ));
                }
            }
            other => {
                return Err(inv(
                    &format!("{f}.op"),
                    format!("unbekannte Operation '{other}'"),
                ));
            }
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> Option<(String, String)> {
    let i = path.rfind('/')?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Some((path[..i].to_string(), last))
}

fn pointer_add(doc: &mut Value, path: &str, v: Value, f: &str) -> Result<()> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (parent, key) = split_pointer(path).ok_or_else(|| inv(&format!("{f}.path"), "ungültig"))?;
    let target = doc
        .pointer_mut(&parent)
        .ok_or_else(|| inv(&format!("{f}.path"), format!("'{parent}' gibt es nicht")))?;
    match target {
        Value::Object(m) => {
            m.insert(key, v);
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(v);
            } else {
                let i: usize = key
                    .parse()
                    .map_err(|_| inv(&format!("{f}.path"), "ungültiger Index"))?;
                if i > a.len() {
                    return Err(inv(&format!("{f}.path"), "Index außerhalb der Liste"));
                }
                a.insert(i, v);
            }
        }
        _ => {
            return Err(inv(
                &format!("{f}.path"),
                "Ziel ist kein Objekt und keine Liste",
            ));
        }
    }
    Ok(())
}

fn pointer_remove(doc: &mut Value, path: &str, f: &str) -> Result<Value> {
    let (parent, key) = split_pointer(path).ok_or_else(|| inv(&format!("{f}.path"), "ungültig"))?;
    let target = doc
        .pointer_mut(&parent)
        .ok_or_else(|| inv(&format!("{f}.path"), format!("'{parent}' gibt es nicht")))?;
    let gone = match target {
        Value::Object(m) => m.remove(&key),
        Value::Array(a) => key
            .parse::<usize>()
            .ok()
            .filter(|i| *i < a.len())
            .map(|i| a.remove(i)),
        _ => None,
    };
    gone.ok_or_else(|| inv(&format!("{f}.path"), format!("'{path}' gibt es nicht")))
}
