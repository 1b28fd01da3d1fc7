//! Export einer abgeschlossenen Akte als XDOMEA-3.x-Nachricht
//! „Abgabe.Abgabe.0401“ (Abgabe von Schriftgut an eine andere Behörde oder
//! ein anderes System) samt ZIP-Paket.
//!
//! Aufbau der Nachricht (Namensraum `urn:xoev-de:xdomea:schema:3.1.0`):
//!
//! ```text
//! Abgabe.Abgabe.0401
//! ├─ Kopf: ProzessID, Nachrichtentyp (code 0401), Erstellungszeitpunkt,
//! │        Absender, Empfaenger (je Institution/Name), SendendesSystem,
//! │        Importbestaetigung (immer 1), Empfangsbestaetigung
//! └─ Schriftgutobjekt
//!    └─ Akte: Identifikation/ID, AllgemeineMetadaten (Betreff, Kennzeichen),
//!       │     ArchivspezifischeMetadaten/Aufbewahrungsdauer/AnzahlJahre,
//!       │     Laufzeit (Beginn, Ende)
//!       └─ Akteninhalt
//!          └─ Vorgang: Identifikation/ID, AllgemeineMetadaten
//!             └─ Dokument*: Identifikation/ID, AllgemeineMetadaten/Betreff
//!                └─ Version*: Nummer, Format (Name = Code 100 „Sonstiges“,
//!                             SonstigerName = Endung und MIME-Typ, Version,
//!                             Primaerdokument: Dateiname, DateinameOriginal,
//!                             DatumUhrzeit)
//! ```
//!
//! Die Reihenfolge der Elemente ist die des Schemas. Codelisten-Elemente
//! (`Nachrichtentyp`, Format-`Name`) tragen `listURI` und `listVersionID`;
//! ihr Kindelement `code` steht ohne Namensraum.
//!
//! Das ZIP-Paket enthält `{ProzessID}_Abgabe.Abgabe.0401.xml` und je
//! Dokumentversion eine Datei; ihr Name (`Dateiname` in der Nachricht)
//! beginnt mit der Dokument-ID, gefolgt von Versionsnummer und dem
//! bereinigten Originalnamen, und ist im Paket eindeutig.
//!
//! Das Schema verlangt UUIDs für Prozess-, Akten- und Dokument-IDs und
//! einen Dateinamen, der mit einer UUID beginnt; [`zip()`] weist andere IDs
//! ab. Die Nachricht wurde mit xmllint gegen die XSD von XDOMEA 3.1.0
//! (`xdomea.xsd` samt `xoev-code.xsd`) geprüft; die XSD liegen nicht im
//! Repository, der Test `message_follows_schema_order` hält die geforderte
//! Struktur fest.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{Cursor, Write};

/// Namensraum der erzeugten Nachricht.
pub const NAMESPACE: &str = "urn:xoev-de:xdomea:schema:3.1.0";
const PRODUCT: &str = "Stadtkern";
const LIST_NACHRICHTENTYP: &str = "urn:xoev-de:xdomea:codeliste:nachrichtentyp";
/// Vom Schema für diese Codeliste fest vorgegebene Version.
const LIST_NACHRICHTENTYP_VERSION: &str = "2.0";
const LIST_DATEIFORMAT: &str = "urn:xoev-de:xdomea:codeliste:dateiformat";
/// Pflichtattribut, dessen Wert das Schema nicht festlegt; angenommen wird
/// die erste Fassung der Liste.
const LIST_DATEIFORMAT_VERSION: &str = "1.0";
/// Code „Sonstiges“ der Dateiformat-Liste; das Format steht dann in
/// `SonstigerName`.
const DATEIFORMAT_SONSTIGES: &str = "100";

/// Die zu exportierende Akte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseExport {
    /// UUID des Abgabeprozesses.
    pub process_id: String,
    pub created_at: DateTime<Utc>,
    pub sender: String,
    pub receiver: String,
    pub file_id: String,
    /// Aktenzeichen.
    pub file_reference: String,
    pub subject: String,
    pub opened: NaiveDate,
    pub closed: NaiveDate,
    pub retention_years: i64,
    pub documents: Vec<ExportDocument>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDocument {
    pub id: String,
    pub title: String,
    pub versions: Vec<ExportVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportVersion {
    pub number: i64,
    pub file_name: String,
    pub media_type: String,
    pub created_at: DateTime<Utc>,
    pub bytes: Vec<u8>,
}

/// `true` für eine UUID in der üblichen Schreibweise 8-4-4-4-12 (hex).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Name der Nachrichtendatei im Paket.
pub fn message_file_name(c: &CaseExport) -> String {
    format!("{}_Abgabe.Abgabe.0401.xml", c.process_id)
}

/// Deterministische, UUID-förmige Kennung aus einem Text (FNV-1a, 128 Bit,
/// Version-8-/Varianten-Bits gesetzt). Keine Zufallszahlen: derselbe Export
/// ergibt dieselbe Nachricht.
fn derived_uuid(seed: &str) -> String {
    let mut h: [u64; 2] = [0xcbf2_9ce4_8422_2325, 0x8422_2325_cbf2_9ce4];
    for (i, acc) in h.iter_mut().enumerate() {
        for b in seed.bytes().chain([i as u8]) {
            *acc ^= u64::from(b);
            *acc = acc.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&h[0].to_be_bytes());
    bytes[8..].copy_from_slice(&h[1].to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Dokument-ID als Namensteil: nur ASCII-Buchstaben, Ziffern, `-`, `_`, `.`.
fn sanitize_id(id: &str) -> String {
    let s = safe(&id.chars().take(80).collect::<String>());
    if s.is_empty() { "dokument".into() } else { s }
}

fn safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => out.push(c),
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'Ä' => out.push_str("Ae"),
            'Ö' => out.push_str("Oe"),
            'Ü' => out.push_str("Ue"),
            'ß' => out.push_str("ss"),
            _ => out.push('_'),
        }
    }
    out
}

fn sanitize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut out = safe(base);
    out = out.trim_matches('.').to_string();
    if out.is_empty() {
        out = "datei".into();
    }
    if out.len() > 120 {
        let ext = out
            .rfind('.')
            .map(|i| out[i..].to_string())
            .unwrap_or_default();
        let ext = if ext.len() > 10 { String::new() } else { ext };
        out = format!("{}{ext}", &out[..120 - ext.len()]);
    }
    out
}

/// Eindeutige Paketnamen für alle Versionen, in Dokument-/Versionsreihenfolge.
fn package_names(c: &CaseExport) -> Vec<Vec<String>> {
    let mut used: HashSet<String> = HashSet::new();
    used.insert(message_file_name(c).to_ascii_lowercase());
    c.documents
        .iter()
        .map(|d| {
            d.versions
                .iter()
                .map(|v| {
                    let base = format!(
                        "{}_{}_{}",
                        sanitize_id(&d.id),
                        v.number,
                        sanitize(&v.file_name)
                    );
                    let (stem, ext) = match base.rfind('.') {
                        Some(i) if i > 0 => (base[..i].to_string(), base[i..].to_string()),
                        _ => (base.clone(), String::new()),
                    };
                    let mut name = base;
                    let mut n = 2;
                    while !used.insert(name.to_ascii_lowercase()) {
                        name = format!("{stem}_{n}{ext}");
                        n += 1;
                    }
                    name
                })
                .collect()
        })
        .collect()
}

fn format_code(file_name: &str, media_type: &str) -> String {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    ext.unwrap_or_else(|| match media_type {
        "application/pdf" => "pdf".into(),
        "image/png" => "png".into(),
        "image/jpeg" => "jpg".into(),
        "text/plain" => "txt".into(),
        "application/xml" | "text/xml" => "xml".into(),
        _ => "bin".into(),
    })
}

/// `SonstigerName` zum Code „Sonstiges“: Endung und, falls bekannt, MIME-Typ.
fn format_name(file_name: &str, media_type: &str) -> String {
    let code = format_code(file_name, media_type);
    let media_type = media_type.trim();
    if media_type.is_empty() {
        code
    } else {
        format!("{code} ({media_type})")
    }
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

type W = Writer<Vec<u8>>;

fn text(w: &mut W, name: &str, value: &str) {
    let _ = w
        .create_element(name)
        .write_text_content(BytesText::new(value));
}

fn block(w: &mut W, name: &str, inner: impl FnOnce(&mut W)) {
    let _ = w.create_element(name).write_inner_content(|w| {
        inner(w);
        Ok(())
    });
}

fn institution(w: &mut W, name: &str, value: &str) {
    block(w, name, |w| {
        block(w, "xdomea:Institution", |w| text(w, "xdomea:Name", value));
    });
}

fn metadata(w: &mut W, subject: &str, reference: Option<&str>) {
    block(w, "xdomea:AllgemeineMetadaten", |w| {
        text(w, "xdomea:Betreff", subject);
        if let Some(r) = reference.filter(|r| !r.is_empty()) {
            text(w, "xdomea:Kennzeichen", r);
        }
    });
}

/// Ein Codelisten-Element; `code` ist im Schema unqualifiziert.
fn coded(w: &mut W, name: &str, list: &str, version: &str, code: &str) {
    let _ = w
        .create_element(name)
        .with_attribute(("listURI", list))
        .with_attribute(("listVersionID", version))
        .write_inner_content(|w| {
            text(w, "code", code);
            Ok(())
        });
}

fn identification(w: &mut W, id: &str) {
    block(w, "xdomea:Identifikation", |w| text(w, "xdomea:ID", id));
}

/// Die Nachricht `Abgabe.Abgabe.0401` als XML (UTF-8, eingerückt).
pub fn message_xml(c: &CaseExport) -> String {
    let names = package_names(c);
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let _ = w
        .create_element("xdomea:Abgabe.Abgabe.0401")
        .with_attribute(("xmlns:xdomea", NAMESPACE))
        .write_inner_content(|w| {
            block(w, "xdomea:Kopf", |w| {
                text(w, "xdomea:ProzessID", &c.process_id);
                coded(
                    w,
                    "xdomea:Nachrichtentyp",
                    LIST_NACHRICHTENTYP,
                    LIST_NACHRICHTENTYP_VERSION,
                    "0401",
                );
                text(w, "xdomea:Erstellungszeitpunkt", &ts(&c.created_at));
                institution(w, "xdomea:Absender", &c.sender);
                institution(w, "xdomea:Empfaenger", &c.receiver);
                block(w, "xdomea:SendendesSystem", |w| {
                    text(w, "xdomea:Produktname", PRODUCT);
                });
                // Bei der Abgabe fest 1 (Schema: fixed="1").
                text(w, "xdomea:Importbestaetigung", "1");
                text(w, "xdomea:Empfangsbestaetigung", "0");
            });
            block(w, "xdomea:Schriftgutobjekt", |w| {
                block(w, "xdomea:Akte", |w| {
                    identification(w, &c.file_id);
                    metadata(w, &c.subject, Some(&c.file_reference));
                    block(w, "xdomea:ArchivspezifischeMetadaten", |w| {
                        block(w, "xdomea:Aufbewahrungsdauer", |w| {
                            text(w, "xdomea:AnzahlJahre", &c.retention_years.to_string());
                        });
                    });
                    block(w, "xdomea:Laufzeit", |w| {
                        text(w, "xdomea:Beginn", &c.opened.to_string());
                        text(w, "xdomea:Ende", &c.closed.to_string());
                    });
                    block(w, "xdomea:Akteninhalt", |w| {
                        block(w, "xdomea:Vorgang", |w| {
                            identification(w, &derived_uuid(&format!("vorgang:{}", c.file_id)));
                            metadata(w, &c.subject, Some(&c.file_reference));
                            for (d, doc_names) in c.documents.iter().zip(&names) {
                                block(w, "xdomea:Dokument", |w| {
                                    identification(w, &d.id);
                                    metadata(w, &d.title, None);
                                    for (v, name) in d.versions.iter().zip(doc_names) {
                                        block(w, "xdomea:Version", |w| {
                                            text(w, "xdomea:Nummer", &v.number.to_string());
                                            block(w, "xdomea:Format", |w| {
                                                coded(
                                                    w,
                                                    "xdomea:Name",
                                                    LIST_DATEIFORMAT,
                                                    LIST_DATEIFORMAT_VERSION,
                                                    DATEIFORMAT_SONSTIGES,
                                                );
                                                text(
                                                    w,
                                                    "xdomea:SonstigerName",
                                                    &format_name(&v.file_name, &v.media_type),
                                                );
                                                text(w, "xdomea:Version", "unbekannt");
                                                block(w, "xdomea:Primaerdokument", |w| {
                                                    text(w, "xdomea:Dateiname", name);
                                                    text(
                                                        w,
                                                        "xdomea:DateinameOriginal",
                                                        &v.file_name,
                                                    );
                                                    text(
                                                        w,
                                                        "xdomea:DatumUhrzeit",
                                                        &ts(&v.created_at),
                                                    );
                                                });
                                            });
                                        });
                                    }
                                });
                            }
                        });
                    });
                });
            });
            Ok(())
        });
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

fn validate(c: &CaseExport) -> Result<(), String> {
    if !is_uuid(&c.process_id) {
        return Err(format!(
            "Die Prozess-ID „{}“ ist keine UUID (Form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).",
            c.process_id
        ));
    }
    if !is_uuid(&c.file_id) {
        return Err(format!("Die Akten-ID „{}“ ist keine UUID.", c.file_id));
    }
    for (field, v) in [
        ("Absender", &c.sender),
        ("Empfänger", &c.receiver),
        ("Akten-ID", &c.file_id),
        ("Betreff", &c.subject),
    ] {
        if v.trim().is_empty() {
            return Err(format!("Das Feld „{field}“ der Akte ist leer."));
        }
    }
    if c.closed < c.opened {
        return Err(format!(
            "Die Akte wurde am {} geschlossen, aber erst am {} eröffnet.",
            c.closed, c.opened
        ));
    }
    if c.retention_years < 0 {
        return Err("Die Aufbewahrungsdauer darf nicht negativ sein.".into());
    }
    if c.retention_years > i64::from(u16::MAX) {
        return Err(format!(
            "Die Aufbewahrungsdauer von {} Jahren ist zu groß (höchstens {}).",
            c.retention_years,
            u16::MAX
        ));
    }
    let mut ids = HashSet::new();
    for d in &c.documents {
        if d.id.trim().is_empty() {
            return Err(format!("Das Dokument „{}“ hat keine ID.", d.title));
        }
        if !is_uuid(&d.id) {
            return Err(format!(
                "Die ID „{}“ des Dokuments „{}“ ist keine UUID.",
                d.id, d.title
            ));
        }
        if !ids.insert(d.id.to_ascii_lowercase()) {
            return Err(format!("Die Dokument-ID „{}“ kommt mehrfach vor.", d.id));
        }
        let mut numbers = HashSet::new();
        for v in &d.versions {
            if !numbers.insert(v.number) {
                return Err(format!(
                    "Dokument „{}“: Version {} kommt mehrfach vor.",
                    d.title, v.number
                ));
            }
        }
    }
    Ok(())
}

fn zip_time(t: &DateTime<Utc>) -> zip::DateTime {
    let y = u16::try_from(t.year()).unwrap_or(1980);
    zip::DateTime::from_date_and_time(
        y,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        (t.second() as u8) & !1,
    )
    .unwrap_or_default()
}

/// Das Abgabepaket als ZIP (Deflate): Nachricht plus alle Dokumentversionen.
pub fn zip(c: &CaseExport) -> Result<Vec<u8>, String> {
    use zip::write::SimpleFileOptions;
    validate(c)?;
    let names = package_names(c);
    let xml = message_xml(c);
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = |t: &DateTime<Utc>| {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip_time(t))
            .unix_permissions(0o644)
    };
    let fail =
        |e: &dyn std::fmt::Display| format!("Das ZIP-Paket konnte nicht erstellt werden: {e}");
    z.start_file(message_file_name(c), opts(&c.created_at))
        .map_err(|e| fail(&e))?;
    z.write_all(xml.as_bytes()).map_err(|e| fail(&e))?;
    for (d, doc_names) in c.documents.iter().zip(&names) {
        for (v, name) in d.versions.iter().zip(doc_names) {
            z.start_file(name.as_str(), opts(&v.created_at))
                .map_err(|e| fail(&e))?;
            z.write_all(&v.bytes).map_err(|e| fail(&e))?;
        }
    }
    Ok(z.finish().map_err(|e| fail(&e))?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use quick_xml::Reader;
    use std::io::Read;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 5, h, 30, 15).unwrap()
    }

    fn sample() -> CaseExport {
        CaseExport {
            process_id: "2f6c1d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f".into(),
            created_at: at(10),
            sender: "Stadt Musterstadt – Bürgerbüro".into(),
            receiver: "Stadtarchiv Musterstadt".into(),
            file_id: "5b0f7c9a-1111-4222-8333-944445555666".into(),
            file_reference: "32.1-2024/0815".into(),
            subject: "Hundesteuer <Bello> & Co".into(),
            opened: NaiveDate::from_ymd_opt(2024, 1, 10).unwrap(),
            closed: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            retention_years: 10,
            documents: vec![
                ExportDocument {
                    id: "7d3e0000-aaaa-4bbb-8ccc-000000000001".into(),
                    title: "Anmeldung".into(),
                    versions: vec![
                        ExportVersion {
                            number: 1,
                            file_name: "Anmeldung.pdf".into(),
                            media_type: "application/pdf".into(),
                            created_at: at(8),
                            bytes: b"%PDF-1.7 erste Fassung".to_vec(),
                        },
                        ExportVersion {
                            number: 2,
                            file_name: "Anmeldung.pdf".into(),
                            media_type: "application/pdf".into(),
                            created_at: at(9),
                            bytes: b"%PDF-1.7 zweite Fassung".to_vec(),
                        },
                    ],
                },
                ExportDocument {
                    id: "7d3e0000-aaaa-4bbb-8ccc-000000000002".into(),
                    title: "Bescheid \"Steuer\"".into(),
                    versions: vec![ExportVersion {
                        number: 1,
                        file_name: "../Bescheid Größe.txt".into(),
                        media_type: "text/plain".into(),
                        created_at: at(9),
                        bytes: "Bescheid über 120,00 €".as_bytes().to_vec(),
                    }],
                },
            ],
        }
    }

    /// Liest alle Texte eines Elements (lokaler Name) aus der Nachricht.
    fn texts_of(xml: &str, local: &str) -> Vec<String> {
        let mut r = Reader::from_str(xml);
        let mut out = Vec::new();
        let mut inside = false;
        let mut buf = String::new();
        loop {
            match r.read_event().expect("XML wohlgeformt") {
                Event::Start(s) if s.local_name().as_ref() == local => {
                    inside = true;
                    buf.clear();
                }
                Event::Text(t) if inside => buf.push_str(&t.xml10_content()),
                Event::GeneralRef(g) if inside => buf.push(match &*g {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => '?',
                }),
                Event::End(e) if inside && e.local_name().as_ref() == local => {
                    inside = false;
                    out.push(buf.clone());
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn message_is_well_formed_and_escaped() {
        let xml = message_xml(&sample());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(xml.contains(
            "<xdomea:Abgabe.Abgabe.0401 xmlns:xdomea=\"urn:xoev-de:xdomea:schema:3.1.0\">"
        ));
        assert!(xml.contains("Hundesteuer &lt;Bello&gt; &amp; Co"));
        assert_eq!(texts_of(&xml, "Betreff")[0], "Hundesteuer <Bello> & Co");
        assert_eq!(
            texts_of(&xml, "ProzessID"),
            vec!["2f6c1d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f"]
        );
        assert_eq!(texts_of(&xml, "code")[0], "0401");
        assert_eq!(
            texts_of(&xml, "Erstellungszeitpunkt"),
            vec!["2024-03-05T10:30:15Z"]
        );
        assert_eq!(texts_of(&xml, "Kennzeichen")[0], "32.1-2024/0815");
        assert_eq!(texts_of(&xml, "Beginn"), vec!["2024-01-10"]);
        assert_eq!(texts_of(&xml, "Ende"), vec!["2024-03-01"]);
        assert_eq!(texts_of(&xml, "AnzahlJahre"), vec!["10"]);
        assert_eq!(texts_of(&xml, "Nummer"), vec!["1", "2", "1"]);
        assert!(texts_of(&xml, "Betreff").contains(&"Bescheid \"Steuer\"".to_string()));
        let ids = texts_of(&xml, "ID");
        assert_eq!(ids.len(), 4); // Akte, Vorgang, 2 Dokumente
        assert!(ids.iter().all(|i| is_uuid(i)), "{ids:?}");
        assert_eq!(texts_of(&xml, "Name")[0], "Stadt Musterstadt – Bürgerbüro");
    }

    #[test]
    fn message_is_deterministic() {
        assert_eq!(message_xml(&sample()), message_xml(&sample()));
        assert_eq!(derived_uuid("a"), derived_uuid("a"));
        assert_ne!(derived_uuid("a"), derived_uuid("b"));
        assert!(is_uuid(&derived_uuid("")));
    }

    #[test]
    fn zip_contains_message_and_all_files() {
        let c = sample();
        let bytes = zip(&c).unwrap();
        let mut a = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let names: Vec<String> = (0..a.len())
            .map(|i| a.name_for_index(i).unwrap().to_string())
            .collect();
        assert_eq!(
            names[0],
            "2f6c1d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f_Abgabe.Abgabe.0401.xml"
        );
        assert_eq!(names.len(), 4);
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());

        let mut xml = String::new();
        a.by_name(&names[0])
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        assert_eq!(xml, message_xml(&c));
        let listed = texts_of(&xml, "Dateiname");
        assert_eq!(listed, names[1..].to_vec());
        assert_eq!(
            listed,
            vec![
                "7d3e0000-aaaa-4bbb-8ccc-000000000001_1_Anmeldung.pdf",
                "7d3e0000-aaaa-4bbb-8ccc-000000000001_2_Anmeldung.pdf",
                "7d3e0000-aaaa-4bbb-8ccc-000000000002_1_Bescheid_Groesse.txt",
            ]
        );
        assert_eq!(
            texts_of(&xml, "DateinameOriginal"),
            vec!["Anmeldung.pdf", "Anmeldung.pdf", "../Bescheid Größe.txt"]
        );
        let originals: Vec<&Vec<u8>> = c
            .documents
            .iter()
            .flat_map(|d| d.versions.iter().map(|v| &v.bytes))
            .collect();
        for (name, original) in listed.iter().zip(originals) {
            let mut f = a.by_name(name).unwrap();
            assert_eq!(f.compression(), zip::CompressionMethod::Deflated);
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            assert_eq!(&got, original);
        }
        let f = a.by_index(0).unwrap();
        let t = f.last_modified().unwrap();
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2024, 3, 5, 10, 30, 14)
        );
    }

    #[test]
    fn colliding_names_are_made_unique() {
        let mut c = sample();
        c.documents[1].id = "A?".into();
        c.documents.push(ExportDocument {
            id: "A!".into(),
            title: "Kollision".into(),
            versions: vec![ExportVersion {
                number: 1,
                file_name: "Bescheid Größe.txt".into(),
                media_type: "text/plain".into(),
                created_at: at(9),
                bytes: vec![1, 2, 3],
            }],
        });
        let names: Vec<String> = package_names(&c).concat();
        assert_eq!(names[2], "A__1_Bescheid_Groesse.txt");
        assert_eq!(names[3], "A__1_Bescheid_Groesse_2.txt");
        c.documents[2].id = "A/B".into();
        assert_eq!(package_names(&c).concat()[3], "A_B_1_Bescheid_Groesse.txt");
        // Das Schema verlangt UUIDs als Dokument-IDs.
        assert!(zip(&c).unwrap_err().contains("keine UUID"));
        c.documents[1].id = "7d3e0000-aaaa-4bbb-8ccc-000000000002".into();
        c.documents[2].id = "7D3E0000-AAAA-4BBB-8CCC-000000000002".into();
        assert!(zip(&c).unwrap_err().contains("mehrfach"));
        c.documents[2].id = "7d3e0000-aaaa-4bbb-8ccc-000000000003".into();
        let bytes = zip(&c).unwrap();
        let a = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(a.len(), 5);
    }

    fn local_of(s: &quick_xml::events::BytesStart<'_>) -> String {
        let name = s.local_name();
        let n: &str = name.as_ref();
        n.to_string()
    }

    /// Lokale Namen der Kindelemente des ersten Elements `parent`, in
    /// Dokumentreihenfolge.
    fn children_of(xml: &str, parent: &str) -> Vec<String> {
        let mut r = Reader::from_str(xml);
        let mut depth = 0usize;
        let mut inside: Option<usize> = None;
        let mut out = Vec::new();
        loop {
            match r.read_event().expect("XML wohlgeformt") {
                Event::Start(s) => {
                    depth += 1;
                    let local = local_of(&s);
                    match inside {
                        Some(d) if depth == d + 1 => out.push(local),
                        None if local == parent => inside = Some(depth),
                        _ => {}
                    }
                }
                Event::Empty(s) if inside == Some(depth) => out.push(local_of(&s)),
                Event::End(_) if inside == Some(depth) => return out,
                Event::End(_) => depth -= 1,
                Event::Eof => return out,
                _ => {}
            }
        }
    }

    /// Reihenfolge und Pflichtelemente nach der XSD von XDOMEA 3.1.0
    /// (Abgabe.Abgabe.0401, NkAbgabeType, AkteType, VorgangType,
    /// DokumentType, VersionType, FormatType, PrimaerdokumentType).
    #[test]
    fn message_follows_schema_order() {
        let xml = message_xml(&sample());
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            children_of(&xml, "Abgabe.Abgabe.0401"),
            names(&["Kopf", "Schriftgutobjekt"])
        );
        assert_eq!(
            children_of(&xml, "Kopf"),
            names(&[
                "ProzessID",
                "Nachrichtentyp",
                "Erstellungszeitpunkt",
                "Absender",
                "Empfaenger",
                "SendendesSystem",
                "Importbestaetigung",
                "Empfangsbestaetigung",
            ])
        );
        assert_eq!(texts_of(&xml, "Importbestaetigung"), vec!["1"]);
        assert_eq!(children_of(&xml, "Absender"), names(&["Institution"]));
        assert_eq!(children_of(&xml, "Institution"), names(&["Name"]));
        assert_eq!(children_of(&xml, "Schriftgutobjekt"), names(&["Akte"]));
        assert_eq!(
            children_of(&xml, "Akte"),
            names(&[
                "Identifikation",
                "AllgemeineMetadaten",
                "ArchivspezifischeMetadaten",
                "Laufzeit",
                "Akteninhalt",
            ])
        );
        assert_eq!(children_of(&xml, "Identifikation"), names(&["ID"]));
        assert_eq!(
            children_of(&xml, "AllgemeineMetadaten"),
            names(&["Betreff", "Kennzeichen"])
        );
        assert_eq!(
            children_of(&xml, "ArchivspezifischeMetadaten"),
            names(&["Aufbewahrungsdauer"])
        );
        assert_eq!(
            children_of(&xml, "Aufbewahrungsdauer"),
            names(&["AnzahlJahre"])
        );
        assert_eq!(children_of(&xml, "Laufzeit"), names(&["Beginn", "Ende"]));
        assert_eq!(children_of(&xml, "Akteninhalt"), names(&["Vorgang"]));
        assert_eq!(
            children_of(&xml, "Vorgang"),
            names(&[
                "Identifikation",
                "AllgemeineMetadaten",
                "Dokument",
                "Dokument"
            ])
        );
        assert_eq!(
            children_of(&xml, "Dokument"),
            names(&[
                "Identifikation",
                "AllgemeineMetadaten",
                "Version",
                "Version"
            ])
        );
        // Erstes `Version` ist das des Dokuments, das zweite das des Formats.
        assert_eq!(children_of(&xml, "Version"), names(&["Nummer", "Format"]));
        assert_eq!(
            children_of(&xml, "Format"),
            names(&["Name", "SonstigerName", "Version", "Primaerdokument"])
        );
        assert_eq!(
            children_of(&xml, "Primaerdokument"),
            names(&["Dateiname", "DateinameOriginal", "DatumUhrzeit"])
        );
        // Codelisten: Attribute vorhanden, `code` ohne Namensraum.
        assert!(xml.contains(
            "<xdomea:Nachrichtentyp listURI=\"urn:xoev-de:xdomea:codeliste:nachrichtentyp\" \
             listVersionID=\"2.0\">"
        ));
        assert!(xml.contains("<code>0401</code>"));
        assert!(xml.contains(
            "<xdomea:Name listURI=\"urn:xoev-de:xdomea:codeliste:dateiformat\" \
             listVersionID=\"1.0\">"
        ));
        assert_eq!(texts_of(&xml, "code"), vec!["0401", "100", "100", "100"]);
        assert_eq!(
            texts_of(&xml, "SonstigerName"),
            vec![
                "pdf (application/pdf)",
                "pdf (application/pdf)",
                "txt (text/plain)"
            ]
        );
        // Dateinamen beginnen mit einer UUID (stringDateinameType).
        for name in texts_of(&xml, "Dateiname") {
            assert!(is_uuid(&name[..36]), "{name}");
        }
    }

    #[test]
    fn validation_errors_are_german() {
        let mut c = sample();
        c.process_id = "nicht-uuid".into();
        assert!(zip(&c).unwrap_err().contains("keine UUID"));
        let mut c = sample();
        c.closed = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
        assert!(zip(&c).unwrap_err().contains("eröffnet"));
        let mut c = sample();
        c.receiver = " ".into();
        assert!(zip(&c).unwrap_err().contains("Empfänger"));
        let mut c = sample();
        c.documents[0].versions[1].number = 1;
        assert!(zip(&c).unwrap_err().contains("Version 1"));
        let mut c = sample();
        c.retention_years = -1;
        assert!(zip(&c).is_err());
        let mut c = sample();
        c.retention_years = 70_000;
        assert!(zip(&c).unwrap_err().contains("zu groß"));
        let mut c = sample();
        c.file_id = "Akte-1".into();
        assert!(zip(&c).unwrap_err().contains("Akten-ID"));
    }

    #[test]
    fn empty_case_still_exports() {
        let mut c = sample();
        c.documents.clear();
        let bytes = zip(&c).unwrap();
        let a = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(a.len(), 1);
        assert!(texts_of(&message_xml(&c), "Dateiname").is_empty());
    }

    #[test]
    fn helpers() {
        assert!(is_uuid("2f6c1d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f"));
        assert!(!is_uuid("2f6c1d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5"));
        assert!(!is_uuid("2f6c1d3e8a4b4c2d9e1f0a1b2c3d4e5f"));
        assert_eq!(sanitize("a/b\\c.pdf"), "c.pdf");
        assert_eq!(sanitize(".."), "datei");
        assert_eq!(sanitize("Straße 1.pdf"), "Strasse_1.pdf");
        assert!(sanitize(&format!("{}.pdf", "x".repeat(300))).ends_with(".pdf"));
        assert_eq!(format_code("a.PDF", ""), "pdf");
        assert_eq!(format_code("ohne", "image/png"), "png");
        assert_eq!(format_code("ohne", "application/x-foo"), "bin");
    }
}
