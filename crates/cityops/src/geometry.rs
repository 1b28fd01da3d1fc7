//! Geometry of roadworks: parsing and validating GeoJSON (WGS 84), and measuring in metres in a
//! local equirectangular projection around the city centre.
//!
//! Within the few tens of kilometres of a city the projection `x = R·Δλ·cos φ₀`, `y = R·Δφ`
//! errs by well under one per cent, which is plenty for buffers of a few metres. Everything is
//! computed here in Rust with `geo`, so SQLite and PostgreSQL instances give the same answer.

use geo::{
    BoundingRect, Centroid, Contains, Coord, Distance, Euclidean, Geometry, Length, LineString,
    MapCoords, Point, Validation,
};

/// Mean Earth radius in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Half the size of the box around the city centre that any roadworks must lie in (degrees of
/// latitude; the longitude half-width is scaled by 1/cos φ₀ so the box is about 2 × 33 km).
pub const BBOX_HALF_DEG_LAT: f64 = 0.3;

/// The local projection around the city centre.
#[derive(Debug, Clone, Copy)]
pub struct Projection {
    lat0: f64,
    lon0: f64,
    cos0: f64,
}

impl Projection {
    pub fn new(lat0: f64, lon0: f64) -> Projection {
        Projection {
            lat0,
            lon0,
            cos0: lat0.to_radians().cos(),
        }
    }

    /// WGS 84 (x = longitude, y = latitude) to metres east/north of the centre.
    pub fn to_metres(&self, g: &Geometry<f64>) -> Geometry<f64> {
        g.map_coords(|c| Coord {
            x: EARTH_RADIUS_M * (c.x - self.lon0).to_radians() * self.cos0,
            y: EARTH_RADIUS_M * (c.y - self.lat0).to_radians(),
        })
    }

    /// Metres east/north of the centre back to WGS 84.
    pub fn to_wgs84(&self, x: f64, y: f64) -> (f64, f64) {
        let lon = self.lon0 + (x / (EARTH_RADIUS_M * self.cos0)).to_degrees();
        let lat = self.lat0 + (y / EARTH_RADIUS_M).to_degrees();
        (lon, lat)
    }

    /// Whether a WGS 84 coordinate lies inside the sane box around the city.
    pub fn in_city_box(&self, c: Coord<f64>) -> bool {
        let half_lon = BBOX_HALF_DEG_LAT / self.cos0;
        (c.y - self.lat0).abs() <= BBOX_HALF_DEG_LAT && (c.x - self.lon0).abs() <= half_lon
    }
}

/// Which geometry kinds a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    /// The works site: a LineString or a Polygon.
    Site,
    /// A detour: a LineString.
    Line,
}

/// Parses a GeoJSON geometry (or a Feature carrying one) and checks it: the right kind, valid
/// (no self-intersecting rings, closed rings), not degenerate (a line of some length, a polygon
/// with an area), every coordinate finite and inside the box around the city. The message is a
/// German sentence for the user.
pub fn parse(text: &str, kinds: Kinds, proj: &Projection) -> Result<Geometry<f64>, String> {
    let gj: geojson::GeoJson = text
        .trim()
        .parse()
        .map_err(|_| "Die Geometrie ist kein gültiges GeoJSON.".to_string())?;
    let geom = match gj {
        geojson::GeoJson::Geometry(g) => g,
        geojson::GeoJson::Feature(f) => f
            .geometry
            .ok_or_else(|| "Das GeoJSON-Feature enthält keine Geometrie.".to_string())?,
        geojson::GeoJson::FeatureCollection(_) => {
            return Err("Bitte genau eine Geometrie angeben, keine FeatureCollection.".into());
        }
    };
    let g: Geometry<f64> = Geometry::try_from(geom)
        .map_err(|_| "Die Geometrie lässt sich nicht lesen.".to_string())?;
    check(&g, kinds, proj)?;
    Ok(g)
}

/// Checks an already parsed geometry (see [`parse`]).
pub fn check(g: &Geometry<f64>, kinds: Kinds, proj: &Projection) -> Result<(), String> {
    let kind_ok = matches!(
        (kinds, g),
        (_, Geometry::LineString(_)) | (Kinds::Site, Geometry::Polygon(_))
    );
    if !kind_ok {
        return Err(match kinds {
            Kinds::Site => "Erlaubt sind eine Linie (LineString) oder eine Fläche (Polygon).",
            Kinds::Line => "Eine Umleitung ist eine Linie (LineString).",
        }
        .into());
    }
    let mut coords = 0usize;
    for c in geo::CoordsIter::coords_iter(g) {
        coords += 1;
        if !c.x.is_finite() || !c.y.is_finite() {
            return Err("Die Geometrie enthält ungültige Koordinaten.".into());
        }
        if !proj.in_city_box(c) {
            return Err(format!(
                "Die Koordinate {:.5}, {:.5} (Länge, Breite) liegt nicht im Stadtgebiet. \
                 GeoJSON erwartet zuerst die Länge, dann die Breite (WGS 84).",
                c.x, c.y
            ));
        }
    }
    if coords == 0 {
        return Err("Die Geometrie hat keine Koordinaten.".into());
    }
    let metres = proj.to_metres(g);
    match &metres {
        Geometry::LineString(l) if l.0.len() < 2 || Euclidean.length(l) < 1.0 => {
            return Err("Die Linie ist zu kurz (mindestens 1 Meter).".into());
        }
        Geometry::Polygon(p) => {
            if !p.is_valid() {
                return Err(
                    "Die Fläche ist ungültig (Ring nicht geschlossen oder schneidet sich selbst)."
                        .into(),
                );
            }
            if geo::Area::unsigned_area(p) < 1.0 {
                return Err("Die Fläche ist zu klein (mindestens 1 Quadratmeter).".into());
            }
        }
        _ => {}
    }
    if !g.is_valid() {
        return Err("Die Geometrie ist ungültig.".into());
    }
    Ok(())
}

/// The shortest distance in metres between two projected geometries (0 when they touch).
pub fn distance_m(a: &Geometry<f64>, b: &Geometry<f64>) -> f64 {
    Euclidean.distance(a, b)
}

/// How many metres of the projected line `a` run within `buffer` metres of `b` (sampled every
/// 5 metres). Two detours that merely cross share about twice the buffer; two that use the
/// same road share its length.
pub fn shared_length_m(a: &Geometry<f64>, b: &Geometry<f64>, buffer: f64) -> f64 {
    let Geometry::LineString(line) = a else {
        return 0.0;
    };
    const STEP: f64 = 5.0;
    let mut shared = 0.0;
    for seg in line.lines() {
        let len = Euclidean.length(&seg);
        if len <= 0.0 {
            continue;
        }
        let n = (len / STEP).ceil().max(1.0) as usize;
        let piece = len / n as f64;
        for i in 0..n {
            let t = (i as f64 + 0.5) / n as f64;
            let p = Point::new(
                seg.start.x + (seg.end.x - seg.start.x) * t,
                seg.start.y + (seg.end.y - seg.start.y) * t,
            );
            if Euclidean.distance(&Geometry::Point(p), b) <= buffer {
                shared += piece;
            }
        }
    }
    shared
}

/// A representative point (WGS 84: longitude, latitude) of a geometry.
pub fn centre(g: &Geometry<f64>) -> Option<(f64, f64)> {
    g.centroid().map(|p| (p.x(), p.y()))
}

/// The number of the district whose outline (GeoJSON Polygon or MultiPolygon) contains the
/// geometry's centre.
pub fn district_of(g: &Geometry<f64>, districts: &[(i64, serde_json::Value)]) -> Option<i64> {
    let (x, y) = centre(g)?;
    let p = Point::new(x, y);
    districts.iter().find_map(|(number, outline)| {
        let shape: geojson::Geometry = serde_json::from_value(outline.clone()).ok()?;
        let shape: Geometry<f64> = Geometry::try_from(shape).ok()?;
        shape.contains(&p).then_some(*number)
    })
}

/// Whether a WGS 84 geometry comes within `radius_m` of a point, measured in the projection.
pub fn within_radius(
    proj: &Projection,
    g: &Geometry<f64>,
    lon: f64,
    lat: f64,
    radius_m: f64,
) -> bool {
    let centre = proj.to_metres(&Geometry::Point(Point::new(lon, lat)));
    distance_m(&proj.to_metres(g), &centre) <= radius_m
}

/// The bounding box (min lon, min lat, max lon, max lat) of a geometry.
pub fn bbox(g: &Geometry<f64>) -> Option<[f64; 4]> {
    g.bounding_rect()
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
}

/// GeoJSON text of a WGS 84 geometry.
pub fn to_geojson(g: &Geometry<f64>) -> serde_json::Value {
    serde_json::to_value(geojson::Geometry::new(geojson::Value::from(g)))
        .unwrap_or(serde_json::Value::Null)
}

/// The coordinates of a line (or a polygon's outer ring) as (longitude, latitude) pairs.
pub fn coords(g: &Geometry<f64>) -> Vec<(f64, f64)> {
    match g {
        Geometry::LineString(l) => l.0.iter().map(|c| (c.x, c.y)).collect(),
        Geometry::Polygon(p) => p.exterior().0.iter().map(|c| (c.x, c.y)).collect(),
        other => geo::CoordsIter::coords_iter(other)
            .map(|c| (c.x, c.y))
            .collect(),
    }
}

/// A straight line between two WGS 84 points (longitude, latitude), for tests and the demo.
pub fn line(points: &[(f64, f64)]) -> Geometry<f64> {
    Geometry::LineString(LineString::from(points.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proj() -> Projection {
        Projection::new(51.5136, 7.4653)
    }

    #[test]
    fn projection_measures_metres() {
        let p = proj();
        // 0.001° of latitude is about 111 m.
        let a = p.to_metres(&line(&[(7.4653, 51.5136), (7.4653, 51.5146)]));
        let Geometry::LineString(l) = a else { panic!() };
        let len = Euclidean.length(&l);
        assert!((len - 111.2).abs() < 0.5, "{len}");
        let (lon, lat) = p.to_wgs84(0.0, 0.0);
        assert!((lon - 7.4653).abs() < 1e-12 && (lat - 51.5136).abs() < 1e-12);
    }

    #[test]
    fn parse_accepts_lines_and_polygons() {
        let p = proj();
        let l = r#"{"type":"LineString","coordinates":[[7.46,51.51],[7.461,51.511]]}"#;
        assert!(parse(l, Kinds::Site, &p).is_ok());
        let poly = r#"{"type":"Polygon","coordinates":[[[7.46,51.51],[7.461,51.51],[7.461,51.511],[7.46,51.51]]]}"#;
        assert!(parse(poly, Kinds::Site, &p).is_ok());
        assert!(parse(poly, Kinds::Line, &p).is_err(), "a detour is a line");
    }

    #[test]
    fn parse_refuses_bad_geometry() {
        let p = proj();
        for (bad, why) in [
            ("nicht json", "GeoJSON"),
            (r#"{"type":"Point","coordinates":[7.46,51.51]}"#, "Linie"),
            (
                r#"{"type":"LineString","coordinates":[[7.46,51.51],[7.46,51.51]]}"#,
                "zu kurz",
            ),
            (
                r#"{"type":"LineString","coordinates":[[51.51,7.46],[51.52,7.47]]}"#,
                "Stadtgebiet",
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[7.46,51.51],[7.47,51.52],[7.47,51.51],[7.46,51.52],[7.46,51.51]]]}"#,
                "ungültig",
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[7.46,51.51],[7.47,51.51],[7.48,51.51],[7.46,51.51]]]}"#,
                "",
            ),
        ] {
            let e = parse(bad, Kinds::Site, &p).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn shared_length_tells_crossing_from_sharing() {
        let p = proj();
        let a = p.to_metres(&line(&[(7.460, 51.510), (7.470, 51.510)]));
        let same = p.to_metres(&line(&[(7.462, 51.51001), (7.468, 51.51001)]));
        let cross = p.to_metres(&line(&[(7.465, 51.505), (7.465, 51.515)]));
        let shared = shared_length_m(&a, &same, 10.0);
        assert!(shared > 380.0 && shared < 440.0, "{shared}");
        let crossing = shared_length_m(&a, &cross, 10.0);
        assert!(crossing <= 25.0, "{crossing}");
    }
}
