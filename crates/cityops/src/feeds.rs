//! Open formats for the public roadworks: GeoJSON (RFC 7946), iCalendar (RFC 5545) and a
//! DATEX II v3 SituationPublication. Only what the public list shows goes in: no contact
//! person, e-mail or phone.

use crate::geometry::{self, Kinds, Projection};
use crate::roadworks::PublicWorks;
use chrono::{DateTime, Duration, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::{Value, json};
use std::io;

// ---- GeoJSON ----

/// A FeatureCollection of the works (WGS 84), the detour as a property.
pub fn geojson(works: &[PublicWorks]) -> Value {
    let features: Vec<Value> = works
        .iter()
        .map(|w| {
            json!({
                "type": "Feature",
                "id": w.id,
                "geometry": w.geometry,
                "properties": {
                    "title": w.title,
                    "description": w.description,
                    "street": w.street,
                    "district": w.district_number,
                    "start": w.period_start.format("%Y-%m-%d").to_string(),
                    "end": w.period_end.format("%Y-%m-%d").to_string(),
                    "working_hours": w.working_hours,
                    "closure": w.closure,
                    "applicant": w.applicant_org,
                    "status": w.status,
                    "phase": w.phase,
                    "detour": w.detour,
                    "updated": w.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }
            })
        })
        .collect();
    json!({ "type": "FeatureCollection", "features": features })
}

// ---- iCalendar ----

/// Escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma, line breaks.
pub fn ical_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets (RFC 5545 3.1): CRLF followed by one space, never inside
/// a UTF-8 character. The result ends with CRLF.
pub fn ical_fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut used = 0usize;
    for c in line.chars() {
        let n = c.len_utf8();
        if used + n > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += n;
    }
    out.push_str("\r\n");
    out
}

fn ical_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The works as a calendar of all-day events (the end date is exclusive, as RFC 5545 wants).
pub fn ical(works: &[PublicWorks], now: DateTime<Utc>, host: &str, city: &str) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//Stadtkern//Baustellen//DE".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        "METHOD:PUBLISH".to_string(),
        format!(
            "X-WR-CALNAME:{}",
            ical_escape(&format!("Baustellen {city}"))
        ),
    ];
    for w in works {
        let closure = match w.closure.as_str() {
            "full" => "Vollsperrung",
            "lane" => "Fahrstreifen gesperrt",
            _ => "keine Sperrung",
        };
        let mut description = format!("{closure}. Arbeitszeiten: {}.", w.working_hours);
        if !w.description.is_empty() {
            description = format!("{}\n{description}", w.description);
        }
        description.push_str(&format!("\nAusführend: {}", w.applicant_org));
        lines.push("BEGIN:VEVENT".into());
        lines.push(format!("UID:roadworks-{}@{host}", w.id));
        lines.push(format!("DTSTAMP:{}", ical_time(now)));
        lines.push(format!("LAST-MODIFIED:{}", ical_time(w.updated_at)));
        lines.push(format!(
            "DTSTART;VALUE=DATE:{}",
            w.period_start.format("%Y%m%d")
        ));
        lines.push(format!(
            "DTEND;VALUE=DATE:{}",
            (w.period_end + Duration::days(1)).format("%Y%m%d")
        ));
        lines.push(format!(
            "SUMMARY:{}",
            ical_escape(&format!("Baustelle: {} ({})", w.title, w.street))
        ));
        lines.push(format!("DESCRIPTION:{}", ical_escape(&description)));
        lines.push(format!(
            "LOCATION:{}",
            ical_escape(&format!("{}, {city}", w.street))
        ));
        if let Some((lon, lat)) = geometry_centre(&w.geometry) {
            lines.push(format!("GEO:{lat:.6};{lon:.6}"));
        }
        lines.push("STATUS:CONFIRMED".into());
        lines.push("TRANSP:TRANSPARENT".into());
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    lines.iter().map(|l| ical_fold(l)).collect()
}

fn geometry_centre(g: &Value) -> Option<(f64, f64)> {
    let gj: geojson::Geometry = serde_json::from_value(g.clone()).ok()?;
    let g: geo::Geometry<f64> = geo::Geometry::try_from(gj).ok()?;
    geometry::centre(&g)
}

// ---- DATEX II v3 ----

pub const NS_D2: &str = "http://datex2.eu/schema/3/d2Payload";
pub const NS_COM: &str = "http://datex2.eu/schema/3/common";
pub const NS_SIT: &str = "http://datex2.eu/schema/3/situation";
pub const NS_LOC: &str = "http://datex2.eu/schema/3/locationReferencing";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Who publishes: the country code and national identifier of `publicationCreator`.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub country: String,
    pub national_identifier: String,
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn text_el<W: io::Write>(w: &mut Writer<W>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

/// A multilingual string: `<com:values><com:value lang="de">…</com:value></com:values>`.
fn ml_string<W: io::Write>(w: &mut Writer<W>, name: &str, de: &str) -> io::Result<()> {
    w.create_element(name).write_inner_content(|w| {
        w.create_element("com:values").write_inner_content(|w| {
            w.create_element("com:value")
                .with_attribute(("lang", "de"))
                .write_text_content(BytesText::new(de))?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(())
}

/// The location of a site: a line as `loc:SingleRoadLinearLocation` with a `gmlLineString`
/// (`posList` of latitude–longitude pairs, WGS 84), anything else as a `loc:PointLocation` at
/// its centre.
fn location<W: io::Write>(
    w: &mut Writer<W>,
    g: &geo::Geometry<f64>,
    street: &str,
) -> io::Result<()> {
    match g {
        geo::Geometry::LineString(_) => {
            let pos: Vec<String> = geometry::coords(g)
                .iter()
                .map(|(lon, lat)| format!("{lat:.6} {lon:.6}"))
                .collect();
            w.create_element("sit:locationReference")
                .with_attribute(("xsi:type", "loc:SingleRoadLinearLocation"))
                .write_inner_content(|w| {
                    w.create_element("loc:supplementaryPositionalDescription")
                        .write_inner_content(|w| {
                            w.create_element("loc:roadInformation")
                                .write_inner_content(|w| text_el(w, "loc:roadName", street))?;
                            Ok(())
                        })?;
                    w.create_element("loc:gmlLineString")
                        .with_attribute(("srsName", "http://www.opengis.net/def/crs/EPSG/0/4326"))
                        .write_inner_content(|w| text_el(w, "loc:posList", &pos.join(" ")))?;
                    Ok(())
                })?;
        }
        other => {
            let (lon, lat) = geometry::centre(other).unwrap_or_default();
            w.create_element("sit:locationReference")
                .with_attribute(("xsi:type", "loc:PointLocation"))
                .write_inner_content(|w| {
                    w.create_element("loc:pointByCoordinates")
                        .write_inner_content(|w| {
                            w.create_element("loc:pointCoordinates")
                                .write_inner_content(|w| {
                                    text_el(w, "loc:latitude", &format!("{lat:.6}"))?;
                                    text_el(w, "loc:longitude", &format!("{lon:.6}"))
                                })?;
                            Ok(())
                        })?;
                    Ok(())
                })?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record<W: io::Write>(
    w: &mut Writer<W>,
    kind: &str,
    id: &str,
    version: &str,
    works: &PublicWorks,
    site: &geo::Geometry<f64>,
    now: DateTime<Utc>,
    body: impl FnOnce(&mut Writer<W>) -> io::Result<()>,
) -> io::Result<()> {
    w.create_element("sit:situationRecord")
        .with_attribute(("xsi:type", kind))
        .with_attribute(("id", id))
        .with_attribute(("version", version))
        .write_inner_content(|w| {
            text_el(
                w,
                "sit:situationRecordCreationTime",
                &time(works.updated_at.min(now)),
            )?;
            text_el(w, "sit:situationRecordVersionTime", &time(works.updated_at))?;
            text_el(w, "sit:probabilityOfOccurrence", "certain")?;
            w.create_element("sit:validity").write_inner_content(|w| {
                text_el(w, "com:validityStatus", "definedByValidityTimeSpec")?;
                w.create_element("com:validityTimeSpecification")
                    .write_inner_content(|w| {
                        text_el(w, "com:overallStartTime", &time(works.period_start))?;
                        // The last day is included: the period ends at the next midnight.
                        text_el(
                            w,
                            "com:overallEndTime",
                            &time(works.period_end + Duration::days(1)),
                        )
                    })?;
                Ok(())
            })?;
            let mut comment = works.title.clone();
            if !works.working_hours.is_empty() {
                comment.push_str(&format!(" – Arbeitszeiten: {}", works.working_hours));
            }
            w.create_element("sit:generalPublicComment")
                .write_inner_content(|w| ml_string(w, "com:comment", &comment))?;
            location(w, site, &works.street)?;
            body(w)
        })?;
    Ok(())
}

/// A DATEX II v3 `SituationPublication` of the works: one situation per works, a
/// `sit:MaintenanceWorks` record and, for closures, a `sit:RoadOrCarriagewayOrLaneManagement`
/// record (`roadClosed` or `laneClosures`).
pub fn datex_situations(
    works: &[PublicWorks],
    now: DateTime<Utc>,
    publisher: &Publisher,
    proj: &Projection,
) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let result: io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("d2:payload")
            .with_attribute(("xmlns:d2", NS_D2))
            .with_attribute(("xmlns:com", NS_COM))
            .with_attribute(("xmlns:sit", NS_SIT))
            .with_attribute(("xmlns:loc", NS_LOC))
            .with_attribute(("xmlns:xsi", NS_XSI))
            .with_attribute(("xsi:type", "sit:SituationPublication"))
            .with_attribute(("lang", "de"))
            .with_attribute(("modelBaseVersion", "3"))
            .write_inner_content(|w| {
                text_el(w, "com:publicationTime", &time(now))?;
                w.create_element("com:publicationCreator")
                    .write_inner_content(|w| {
                        text_el(w, "com:country", &publisher.country)?;
                        text_el(w, "com:nationalIdentifier", &publisher.national_identifier)
                    })?;
                for works in works {
                    let Ok(site) = geometry::parse(&works.geometry.to_string(), Kinds::Site, proj)
                    else {
                        continue;
                    };
                    let version = works.updated_at.timestamp().to_string();
                    let sid = format!("stadtkern-roadworks-{}", works.id);
                    w.create_element("sit:situation")
                        .with_attribute(("id", sid.as_str()))
                        .with_attribute(("version", version.as_str()))
                        .write_inner_content(|w| {
                            text_el(
                                w,
                                "sit:overallSeverity",
                                match works.closure.as_str() {
                                    "full" => "high",
                                    "lane" => "medium",
                                    _ => "low",
                                },
                            )?;
                            w.create_element("sit:headerInformation")
                                .write_inner_content(|w| {
                                    text_el(w, "com:confidentiality", "noRestriction")?;
                                    text_el(w, "com:informationStatus", "real")
                                })?;
                            record(
                                w,
                                "sit:MaintenanceWorks",
                                &format!("{sid}-works"),
                                &version,
                                works,
                                &site,
                                now,
                                |w| text_el(w, "sit:roadMaintenanceType", "roadworks"),
                            )?;
                            let management = match works.closure.as_str() {
                                "full" => Some("roadClosed"),
                                "lane" => Some("laneClosures"),
                                _ => None,
                            };
                            if let Some(m) = management {
                                record(
                                    w,
                                    "sit:RoadOrCarriagewayOrLaneManagement",
                                    &format!("{sid}-closure"),
                                    &version,
                                    works,
                                    &site,
                                    now,
                                    |w| {
                                        text_el(w, "sit:complianceOption", "mandatory")?;
                                        text_el(w, "sit:roadOrCarriagewayOrLaneManagementType", m)
                                    },
                                )?;
                            }
                            Ok(())
                        })?;
                }
                Ok(())
            })?;
        Ok(())
    })();
    // Writing into a Vec cannot fail.
    debug_assert!(result.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

// ---- DATEX II v3 parking ----

pub const NS_PRK: &str = "http://datex2.eu/schema/3/parking";

fn payload<W: io::Write>(
    w: &mut Writer<W>,
    xsi_type: &str,
    now: DateTime<Utc>,
    publisher: &Publisher,
    body: impl FnOnce(&mut Writer<W>) -> io::Result<()>,
) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("d2:payload")
        .with_attribute(("xmlns:d2", NS_D2))
        .with_attribute(("xmlns:com", NS_COM))
        .with_attribute(("xmlns:prk", NS_PRK))
        .with_attribute(("xmlns:loc", NS_LOC))
        .with_attribute(("xmlns:xsi", NS_XSI))
        .with_attribute(("xsi:type", xsi_type))
        .with_attribute(("lang", "de"))
        .with_attribute(("modelBaseVersion", "3"))
        .write_inner_content(|w| {
            text_el(w, "com:publicationTime", &time(now))?;
            w.create_element("com:publicationCreator")
                .write_inner_content(|w| {
                    text_el(w, "com:country", &publisher.country)?;
                    text_el(w, "com:nationalIdentifier", &publisher.national_identifier)
                })?;
            body(w)
        })?;
    Ok(())
}

fn record_id(p: &crate::parking::Parking) -> String {
    format!("stadtkern-parking-{}", p.id)
}

fn record_version(p: &crate::parking::Parking) -> String {
    p.created_at.timestamp().to_string()
}

/// The static DATEX II v3 `ParkingTablePublication`: one `prk:UrbanParkingSite` per car park
/// (`offStreetParking`) or zone (`onStreetParking`) with name, spaces, location and tariffs.
pub fn datex_parking_table(
    parkings: &[crate::parking::Parking],
    now: DateTime<Utc>,
    publisher: &Publisher,
) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let r = payload(&mut w, "prk:ParkingTablePublication", now, publisher, |w| {
        w.create_element("prk:parkingTable")
            .with_attribute(("id", "stadtkern-parking-table"))
            .with_attribute(("version", "1"))
            .write_inner_content(|w| {
                for p in parkings {
                    let id = record_id(p);
                    let version = record_version(p);
                    w.create_element("prk:parkingRecord")
                        .with_attribute(("xsi:type", "prk:UrbanParkingSite"))
                        .with_attribute(("id", id.as_str()))
                        .with_attribute(("version", version.as_str()))
                        .write_inner_content(|w| {
                            ml_string(w, "prk:parkingName", &p.name)?;
                            text_el(w, "prk:parkingRecordVersionTime", &time(p.created_at))?;
                            if !p.tariffs.is_empty() {
                                ml_string(w, "prk:parkingDescription", &p.tariffs)?;
                            }
                            text_el(w, "prk:parkingNumberOfSpaces", &p.capacity.to_string())?;
                            w.create_element("prk:parkingLocation")
                                .with_attribute(("xsi:type", "loc:PointLocation"))
                                .write_inner_content(|w| {
                                    w.create_element("loc:pointByCoordinates")
                                        .write_inner_content(|w| {
                                            w.create_element("loc:pointCoordinates")
                                                .write_inner_content(|w| {
                                                    text_el(
                                                        w,
                                                        "loc:latitude",
                                                        &format!("{:.6}", p.latitude),
                                                    )?;
                                                    text_el(
                                                        w,
                                                        "loc:longitude",
                                                        &format!("{:.6}", p.longitude),
                                                    )
                                                })?;
                                            Ok(())
                                        })?;
                                    Ok(())
                                })?;
                            text_el(
                                w,
                                "prk:urbanParkingSiteType",
                                if p.kind == "on_street" {
                                    "onStreetParking"
                                } else {
                                    "offStreetParking"
                                },
                            )
                        })?;
                }
                Ok(())
            })?;
        Ok(())
    });
    debug_assert!(r.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// The dynamic DATEX II v3 `ParkingStatusPublication`: occupied and vacant spaces per site
/// with a known, fresh value (silent sensors report `noParkingInformationAvailable`).
pub fn datex_parking_status(
    status: &[crate::parking::Status],
    now: DateTime<Utc>,
    publisher: &Publisher,
) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let r = payload(
        &mut w,
        "prk:ParkingStatusPublication",
        now,
        publisher,
        |w| {
            for s in status.iter().filter(|s| s.parking.datastream_id.is_some()) {
                let p = &s.parking;
                let id = record_id(p);
                let version = record_version(p);
                w.create_element("prk:parkingRecordStatus")
                    .with_attribute(("xsi:type", "prk:ParkingSiteStatus"))
                    .write_inner_content(|w| {
                        w.create_element("prk:parkingRecordReference")
                            .with_attribute(("targetClass", "prk:ParkingRecord"))
                            .with_attribute(("id", id.as_str()))
                            .with_attribute(("version", version.as_str()))
                            .write_empty()?;
                        text_el(
                            w,
                            "prk:parkingStatusOriginTime",
                            &time(s.observed_at.unwrap_or(now)),
                        )?;
                        match (s.free, s.occupied) {
                            (Some(free), Some(occ)) => {
                                w.create_element("prk:parkingOccupancy")
                                    .write_inner_content(|w| {
                                        text_el(
                                            w,
                                            "prk:parkingNumberOfVacantSpaces",
                                            &free.to_string(),
                                        )?;
                                        text_el(
                                            w,
                                            "prk:parkingNumberOfOccupiedSpaces",
                                            &format!("{}", occ.round() as i64),
                                        )?;
                                        let pct = if p.capacity > 0 {
                                            (100.0 * occ / p.capacity as f64).clamp(0.0, 100.0)
                                        } else {
                                            100.0
                                        };
                                        text_el(w, "prk:parkingOccupancy", &format!("{pct:.1}"))
                                    })?;
                                let state = if free == 0 {
                                    "full"
                                } else if (free as f64) < 0.1 * p.capacity as f64 {
                                    "almostFull"
                                } else {
                                    "spacesAvailable"
                                };
                                text_el(w, "prk:parkingSiteStatus", state)
                            }
                            _ => {
                                text_el(w, "prk:parkingSiteStatus", "noParkingInformationAvailable")
                            }
                        }
                    })?;
            }
            Ok(())
        },
    );
    debug_assert!(r.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_fold() {
        assert_eq!(ical_escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        let long = format!("SUMMARY:{}", "ä".repeat(60));
        let folded = ical_fold(&long);
        for l in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = folded.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, long);
        assert_eq!(ical_fold("X:1"), "X:1\r\n");
    }
}
