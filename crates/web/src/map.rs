//! Server-rendered maps: an inline SVG of the city's districts with markers, so a map needs no
//! JavaScript, no tile server and no third-party request. A map is a picture (`role="img"`
//! with a title); every page that shows one also shows the same objects as a list, which is
//! what keyboard and screen-reader users work with.

use serde_json::Value;
use std::fmt::Write;

/// A point on the map.
pub struct Marker {
    pub latitude: f64,
    pub longitude: f64,
    /// Tooltip (SVG `<title>`).
    pub label: String,
    /// CSS class suffix: `map-marker-{kind}`.
    pub kind: &'static str,
}

const WIDTH: f64 = 640.0;

/// A ring of (longitude, latitude) points.
type Ring = Vec<(f64, f64)>;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The outer rings of a GeoJSON Polygon or MultiPolygon as (lon, lat) lists.
fn rings(g: &Value) -> Vec<Ring> {
    let ring = |r: &Value| -> Ring {
        r.as_array()
            .map(|pts| {
                pts.iter()
                    .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    match g["type"].as_str() {
        Some("Polygon") => g["coordinates"].get(0).map(ring).into_iter().collect(),
        Some("MultiPolygon") => g["coordinates"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p.get(0)).map(ring).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A line or area on the map (a roadworks site, a detour).
pub struct Shape {
    /// GeoJSON geometry: LineString, MultiLineString, Polygon or MultiPolygon.
    pub geometry: Value,
    pub label: String,
    /// CSS class suffix: `map-shape-{kind}`.
    pub kind: &'static str,
}

/// Every line of a GeoJSON geometry (outer rings of areas, line strings) as (lon, lat) lists.
pub fn lines_of(g: &Value) -> Vec<Ring> {
    let line = |r: &Value| -> Ring {
        r.as_array()
            .map(|pts| {
                pts.iter()
                    .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    match g["type"].as_str() {
        Some("LineString") => vec![line(&g["coordinates"])],
        Some("MultiLineString") => g["coordinates"]
            .as_array()
            .map(|ls| ls.iter().map(line).collect())
            .unwrap_or_default(),
        _ => rings(g),
    }
}

/// The mean of a geometry's points (lat, lon): where its marker goes.
pub fn centre_of(g: &Value) -> Option<(f64, f64)> {
    let pts: Vec<(f64, f64)> = match g["type"].as_str() {
        Some("Point") => vec![(g["coordinates"][0].as_f64()?, g["coordinates"][1].as_f64()?)],
        _ => lines_of(g).into_iter().flatten().collect(),
    };
    if pts.is_empty() {
        return None;
    }
    let n = pts.len() as f64;
    let (x, y) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    Some((y / n, x / n))
}

/// An SVG map of `districts` (name, GeoJSON geometry) with `markers`; `title` names it for
/// assistive technology, `list_hint` says where the equivalent list is.
pub fn svg(
    districts: &[(String, Value)],
    markers: &[Marker],
    title: &str,
    list_hint: &str,
) -> String {
    svg_with_shapes(districts, &[], markers, title, list_hint)
}

/// The same with lines and areas drawn over the districts.
pub fn svg_with_shapes(
    districts: &[(String, Value)],
    shapes_on_top: &[Shape],
    markers: &[Marker],
    title: &str,
    list_hint: &str,
) -> String {
    let shapes: Vec<(String, Vec<Ring>)> = districts
        .iter()
        .map(|(n, g)| (n.clone(), rings(g)))
        .collect();
    let mut pts: Vec<(f64, f64)> = shapes
        .iter()
        .flat_map(|(_, r)| r.iter().flatten().copied())
        .collect();
    pts.extend(
        shapes_on_top
            .iter()
            .flat_map(|s| lines_of(&s.geometry).into_iter().flatten()),
    );
    pts.extend(
        markers
            .iter()
            .filter(|m| m.latitude.is_finite() && m.longitude.is_finite())
            .map(|m| (m.longitude, m.latitude)),
    );
    if pts.is_empty() {
        return String::new();
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in &pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let pad_x = ((x1 - x0) * 0.03).max(0.002);
    let pad_y = ((y1 - y0) * 0.03).max(0.002);
    let (x0, x1, y0, y1) = (x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y);
    let cos = ((y0 + y1) / 2.0).to_radians().cos();
    let scale = WIDTH / ((x1 - x0) * cos);
    let height = ((y1 - y0) * scale).max(1.0);
    let px = |lon: f64, lat: f64| ((lon - x0) * cos * scale, (y1 - lat) * scale);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="map" viewBox="0 0 {WIDTH:.0} {height:.0}" role="img" aria-labelledby="map-title map-desc" xmlns="http://www.w3.org/2000/svg"><title id="map-title">{}</title><desc id="map-desc">{}</desc>"#,
        esc(title),
        esc(list_hint)
    );
    for (name, rs) in &shapes {
        for r in rs {
            let mut d = String::new();
            for (i, (lon, lat)) in r.iter().enumerate() {
                let (x, y) = px(*lon, *lat);
                let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            let _ = write!(
                out,
                r#"<path class="map-district" d="{d}Z"><title>{}</title></path>"#,
                esc(name)
            );
        }
    }
    for sh in shapes_on_top {
        for l in lines_of(&sh.geometry) {
            let mut d = String::new();
            for (i, (lon, lat)) in l.iter().enumerate() {
                let (x, y) = px(*lon, *lat);
                let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            let _ = write!(
                out,
                r#"<path class="map-shape map-shape-{}" d="{d}"><title>{}</title></path>"#,
                sh.kind,
                esc(&sh.label)
            );
        }
    }
    for m in markers {
        if !(m.latitude.is_finite() && m.longitude.is_finite()) {
            continue;
        }
        let (x, y) = px(m.longitude, m.latitude);
        let _ = write!(
            out,
            r#"<circle class="map-marker map-marker-{}" cx="{x:.1}" cy="{y:.1}" r="6"><title>{}</title></circle>"#,
            m.kind,
            esc(&m.label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_map_has_a_title_districts_and_escaped_markers() {
        let d = vec![(
            "Mitte".to_string(),
            json!({"type":"Polygon","coordinates":[[[7.0,51.0],[7.1,51.0],[7.1,51.1],[7.0,51.0]]]}),
        )];
        let m = vec![Marker {
            latitude: 51.05,
            longitude: 7.05,
            label: "A <b> & \"c\"".into(),
            kind: "on",
        }];
        let s = svg(&d, &m, "Karte", "Liste unten");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains(r#"role="img""#) && s.contains("<title id=\"map-title\">Karte</title>"));
        assert!(s.contains("map-district") && s.contains("map-marker-on"));
        assert!(s.contains("A &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(!s.contains("<b>"));
        assert_eq!(svg(&[], &[], "x", "y"), "");
        let site = Shape {
            geometry: json!({"type":"LineString","coordinates":[[7.02,51.02],[7.04,51.04]]}),
            label: "Baustelle".into(),
            kind: "current",
        };
        let s = svg_with_shapes(&d, &[site], &[], "Karte", "Liste");
        assert!(s.contains("map-shape-current"));
        assert_eq!(
            centre_of(&json!({"type":"LineString","coordinates":[[7.0,51.0],[7.2,51.2]]})),
            Some((51.1, 7.1))
        );
    }
}
