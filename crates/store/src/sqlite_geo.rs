//! Geospatial SQL functions for SQLite, computed in Rust with the `geo` crate, so that the
//! SensorThings `$filter` geo functions give the same answers as PostGIS does on PostgreSQL.
//!
//! Registered on every SQLite connection (see [`register`]):
//!
//! * `sta_geo_distance(a, b)`: planar (Euclidean) distance in the coordinates' units, as
//!   PostGIS `ST_Distance` on `geometry` values;
//! * `sta_geo_length(a)`: planar length of (multi)line strings, 0 for other types (`ST_Length`);
//! * `sta_floor`, `sta_ceiling`, `sta_lower`, `sta_upper`: as PostgreSQL's (SQLite builds may
//!   lack floor/ceiling, and its lower/upper only know ASCII);
//! * `sta_geo_rel(a, b, what)`: 1/0 for `what` in `intersects`, `disjoint`, `equals`,
//!   `touches`, `within`, `overlaps`, `crosses`, `contains`, or a DE-9IM pattern
//!   (`ST_Relate(a, b, pattern)`).
//!
//! Arguments are GeoJSON text (a geometry or a Feature, as stored) or WKT. A value that does not
//! parse gives NULL, as an unknown value does in SQL.

use geo::{Distance, Euclidean, Geometry, Length, Relate};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use std::sync::Arc;

/// Parses GeoJSON (geometry, Feature) or WKT text into a geometry.
pub fn parse_geometry(text: &str) -> Option<Geometry<f64>> {
    let t = text.trim_start();
    if t.starts_with('{') {
        let gj: geojson::GeoJson = t.parse().ok()?;
        match gj {
            geojson::GeoJson::Geometry(g) => Geometry::try_from(g).ok(),
            geojson::GeoJson::Feature(f) => f.geometry.and_then(|g| Geometry::try_from(g).ok()),
            geojson::GeoJson::FeatureCollection(fc) => Geometry::try_from(fc).ok(),
        }
    } else {
        use std::str::FromStr;
        let w = wkt::Wkt::<f64>::from_str(t).ok()?;
        Geometry::try_from(w).ok()
    }
}

/// The planar distance between two geometries.
pub fn distance(a: &Geometry<f64>, b: &Geometry<f64>) -> f64 {
    Euclidean.distance(a, b)
}

/// The planar length of the linear parts of a geometry.
pub fn length(a: &Geometry<f64>) -> f64 {
    match a {
        Geometry::Line(l) => Euclidean.length(l),
        Geometry::LineString(l) => Euclidean.length(l),
        Geometry::MultiLineString(l) => Euclidean.length(l),
        Geometry::GeometryCollection(c) => c.iter().map(length).sum(),
        _ => 0.0,
    }
}

/// A spatial relation by name, or a DE-9IM pattern; `None` for an unknown name or pattern.
pub fn relate(a: &Geometry<f64>, b: &Geometry<f64>, what: &str) -> Option<bool> {
    let m = a.relate(b);
    Some(match what {
        "intersects" => m.is_intersects(),
        "disjoint" => m.is_disjoint(),
        "equals" => m.is_equal_topo(),
        "touches" => m.is_touches(),
        "within" => m.is_within(),
        "overlaps" => m.is_overlaps(),
        "crosses" => m.is_crosses(),
        "contains" => m.is_contains(),
        pattern => m.matches(pattern).ok()?,
    })
}

fn geometry_arg(ctx: &Context<'_>, i: usize) -> rusqlite::Result<Option<Arc<Geometry<f64>>>> {
    if matches!(ctx.get_raw(i), ValueRef::Null) {
        return Ok(None);
    }
    // Constant arguments (the literal of a filter) are parsed once per statement.
    let parsed: Arc<Option<Geometry<f64>>> = ctx.get_or_create_aux(i as i32, |v| {
        let text = match v {
            ValueRef::Text(t) => std::str::from_utf8(t).unwrap_or(""),
            _ => "",
        };
        Ok::<_, rusqlite::Error>(parse_geometry(text))
    })?;
    Ok(parsed.as_ref().clone().map(Arc::new))
}

fn register_on(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("sta_geo_distance", 2, flags, |ctx| {
        match (geometry_arg(ctx, 0)?, geometry_arg(ctx, 1)?) {
            (Some(a), Some(b)) => Ok(Some(distance(&a, &b))),
            _ => Ok(None),
        }
    })?;
    conn.create_scalar_function("sta_geo_length", 1, flags, |ctx| {
        Ok(geometry_arg(ctx, 0)?.map(|a| length(&a)))
    })?;
    conn.create_scalar_function("sta_geo_rel", 3, flags, |ctx| {
        let what: String = ctx.get(2)?;
        match (geometry_arg(ctx, 0)?, geometry_arg(ctx, 1)?) {
            (Some(a), Some(b)) => Ok(relate(&a, &b, &what).map(i64::from)),
            _ => Ok(None),
        }
    })?;
    // floor/ceiling are not in every SQLite build; these match PostgreSQL's on doubles.
    conn.create_scalar_function("sta_floor", 1, flags, |ctx| {
        Ok(ctx.get::<Option<f64>>(0)?.map(f64::floor))
    })?;
    conn.create_scalar_function("sta_ceiling", 1, flags, |ctx| {
        Ok(ctx.get::<Option<f64>>(0)?.map(f64::ceil))
    })?;
    // SQLite's lower()/upper() only know ASCII; PostgreSQL's know Unicode ("Süd" -> "SÜD").
    conn.create_scalar_function("sta_lower", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_lowercase()))
    })?;
    conn.create_scalar_function("sta_upper", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_uppercase()))
    })?;
    Ok(())
}

/// Registers the functions on a freshly opened sqlx SQLite connection.
///
/// This is the one place in the workspace that needs `unsafe`: rusqlite wraps sqlx's raw
/// connection handle (both link the same `libsqlite3-sys`, which the lock file pins to one
/// version). The handle stays valid for the call because we hold sqlx's lock on it, and
/// `from_handle` does not take ownership (nothing is closed when the wrapper drops).
#[allow(unsafe_code)]
pub(crate) async fn register(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let raw = handle.as_raw_handle().as_ptr();
    // SAFETY: `raw` is a valid, open connection for the lifetime of `handle` (see above).
    let wrapped = unsafe { rusqlite::Connection::from_handle(raw) }
        .map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
    register_on(&wrapped).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
    drop(wrapped);
    drop(handle);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_and_measures() {
        let poly = parse_geometry("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))").unwrap();
        let p = parse_geometry(r#"{"type":"Point","coordinates":[5,5]}"#).unwrap();
        let f = parse_geometry(
            r#"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[20,5]}}"#,
        )
        .unwrap();
        assert_eq!(relate(&p, &poly, "within"), Some(true));
        assert_eq!(relate(&poly, &p, "contains"), Some(true));
        assert_eq!(relate(&f, &poly, "intersects"), Some(false));
        assert_eq!(relate(&p, &poly, "T*F**F***"), Some(true));
        assert_eq!(distance(&f, &poly), 10.0);
        let l = parse_geometry("LINESTRING(0 0, 3 4)").unwrap();
        assert_eq!(length(&l), 5.0);
        assert!(parse_geometry("nonsense").is_none());
    }
}
