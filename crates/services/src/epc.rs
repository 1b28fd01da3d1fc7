//! EPC-QR-Code („GiroCode“) für SEPA-Überweisungen.
//!
//! Erzeugt und liest die Nutzdaten nach der EPC-Richtlinie EPC069-12
//! („Quick Response Code: Guidelines to Enable Data Capture for the
//! Initiation of a SEPA Credit Transfer“), Version `002`, Zeichensatz `1`
//! (UTF-8), Kennung `SCT`. Die Felder stehen zeilenweise in fester
//! Reihenfolge:
//!
//! | Zeile | Inhalt                         | Regel                                   |
//! |-------|--------------------------------|-----------------------------------------|
//! | 1     | `BCD`                          | Service-Tag                             |
//! | 2     | `002`                          | Version                                 |
//! | 3     | `1`                            | Zeichensatz UTF-8                       |
//! | 4     | `SCT`                          | SEPA Credit Transfer                    |
//! | 5     | BIC                            | optional (in Version 002), 8 oder 11    |
//! | 6     | Name des Empfängers            | Pflicht, höchstens 70 Zeichen           |
//! | 7     | IBAN                           | Pflicht                                 |
//! | 8     | Betrag `EUR12.34`              | 0.01 bis 999999999.99                   |
//! | 9     | Zweck (Purpose-Code)           | optional, 4 Zeichen                     |
//! | 10    | strukturierte Referenz         | optional, höchstens 35 Zeichen          |
//! | 11    | Verwendungszweck (unstrukturiert) | optional, höchstens 140 Zeichen      |
//! | 12    | Hinweis an den Zahler          | optional, höchstens 70 Zeichen          |
//!
//! Referenz (Zeile 10) und Verwendungszweck (Zeile 11) schließen sich aus.
//! Nach dem letzten belegten Feld folgt kein Zeilenumbruch; die gesamten
//! Nutzdaten dürfen höchstens 331 Byte lang sein.
//!
//! Dazu Hilfsfunktionen für IBAN-Prüfung (ISO 13616, Modulo 97) und die
//! strukturierte Gläubigerreferenz nach ISO 11649 (`RF…`), sowie eine
//! barrierearme SVG-Darstellung des QR-Codes (Fehlerkorrektur M).

use qrcode::{Color, EcLevel, QrCode};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Eine SEPA-Überweisung, wie sie im GiroCode steht.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpcPayment {
    pub bic: Option<String>,
    pub name: String,
    pub iban: String,
    pub amount_cents: i64,
    pub purpose: Option<String>,
    /// Strukturierte Gläubigerreferenz (ISO 11649, `RF…`).
    pub remittance_reference: Option<String>,
    pub remittance_text: Option<String>,
    pub note: Option<String>,
}

/// Fehler beim Erzeugen oder Lesen eines GiroCodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpcError {
    #[error("Feld „{field}“: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error(
        "Die QR-Code-Daten sind {len} Byte lang; erlaubt sind höchstens {MAX_PAYLOAD_BYTES} Byte. Bitte Verwendungszweck oder Name kürzen."
    )]
    TooLong { len: usize },
    #[error("Die QR-Code-Daten sind kein gültiger GiroCode (Zeile {line}): {message}")]
    Format { line: usize, message: String },
}

fn field_err(field: &'static str, message: impl Into<String>) -> EpcError {
    EpcError::Field {
        field,
        message: message.into(),
    }
}

fn format_err(line: usize, message: impl Into<String>) -> EpcError {
    EpcError::Format {
        line,
        message: message.into(),
    }
}

/// Höchstlänge der gesamten Nutzdaten in Byte (EPC069-12).
pub const MAX_PAYLOAD_BYTES: usize = 331;
const MAX_NAME: usize = 70;
const MAX_REFERENCE: usize = 35;
const MAX_TEXT: usize = 140;
const MAX_NOTE: usize = 70;
const MIN_AMOUNT_CENTS: i64 = 1;
const MAX_AMOUNT_CENTS: i64 = 99_999_999_999;

// ---------------------------------------------------------------------------
// IBAN
// ---------------------------------------------------------------------------

/// Entfernt Leerzeichen und wandelt in Großbuchstaben um.
pub fn normalize_iban(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// IBAN-Längen bekannter Länder (SEPA-Raum und einige weitere).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "DE" => 22,
        "AT" => 20,
        "CH" => 21,
        "LI" => 21,
        "LU" => 20,
        "NL" => 18,
        "BE" => 16,
        "FR" => 27,
        "MC" => 27,
        "IT" => 27,
        "SM" => 27,
        "ES" => 24,
        "PT" => 25,
        "DK" => 18,
        "FI" => 18,
        "SE" => 24,
        "NO" => 15,
        "IS" => 26,
        "IE" => 22,
        "GB" => 22,
        "PL" => 28,
        "CZ" => 24,
        "SK" => 24,
        "HU" => 28,
        "SI" => 19,
        "HR" => 21,
        "RO" => 24,
        "BG" => 22,
        "GR" => 27,
        "CY" => 28,
        "MT" => 31,
        "EE" => 20,
        "LV" => 21,
        "LT" => 20,
        _ => return None,
    })
}

/// Rest modulo 97 einer alphanumerischen Zeichenkette, Buchstaben als
/// A=10 … Z=35 (ISO 7064 MOD 97-10, wie bei IBAN und ISO 11649).
/// `None`, wenn ein anderes Zeichen vorkommt.
fn mod97(s: &str) -> Option<u32> {
    let mut rem: u32 = 0;
    for c in s.chars() {
        let v = c.to_digit(36)?;
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    Some(rem)
}

/// Prüft eine IBAN: Länderkennung, Länge (für bekannte Länder exakt, sonst
/// 15–34 Zeichen) und Prüfziffer (Modulo 97). Leerzeichen sind erlaubt.
pub fn valid_iban(s: &str) -> bool {
    iban_problem(&normalize_iban(s)).is_none()
}

fn iban_problem(iban: &str) -> Option<String> {
    if iban.is_empty() {
        return Some("Die IBAN fehlt.".into());
    }
    if !iban.is_ascii() || iban.len() < 5 {
        return Some("Die IBAN ist zu kurz oder enthält unzulässige Zeichen.".into());
    }
    let (country, rest) = iban.split_at(2);
    if !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Some("Die IBAN muss mit einer Länderkennung (zwei Buchstaben) beginnen.".into());
    }
    if !rest[..2].chars().all(|c| c.is_ascii_digit()) {
        return Some("Auf die Länderkennung müssen zwei Prüfziffern folgen.".into());
    }
    if !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Some("Die IBAN darf nur Buchstaben und Ziffern enthalten.".into());
    }
    match iban_length(country) {
        Some(n) if iban.len() != n => {
            return Some(format!(
                "Eine IBAN aus {country} hat {n} Zeichen, angegeben sind {}.",
                iban.len()
            ));
        }
        None if !(15..=34).contains(&iban.len()) => {
            return Some(format!(
                "Eine IBAN hat 15 bis 34 Zeichen, angegeben sind {}.",
                iban.len()
            ));
        }
        _ => {}
    }
    let rearranged = format!("{}{}", &iban[4..], &iban[..4]);
    if mod97(&rearranged) != Some(1) {
        return Some("Die Prüfziffer der IBAN stimmt nicht – bitte auf Tippfehler prüfen.".into());
    }
    None
}

// ---------------------------------------------------------------------------
// ISO 11649 – strukturierte Gläubigerreferenz
// ---------------------------------------------------------------------------

fn normalize_reference(s: &str) -> String {
    normalize_iban(s)
}

/// Bildet eine Gläubigerreferenz `RF` + 2 Prüfziffern + Basis.
///
/// Leerzeichen in der Basis werden entfernt, Kleinbuchstaben groß
/// geschrieben. Die Basis muss aus 1 bis 21 Buchstaben/Ziffern bestehen.
pub fn try_creditor_reference(base: &str) -> Result<String, EpcError> {
    let base = normalize_reference(base);
    if base.is_empty() || base.len() > 21 || !base.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(field_err(
            "Referenz",
            "Die Basis einer RF-Referenz muss aus 1 bis 21 Buchstaben oder Ziffern bestehen.",
        ));
    }
    let rem = mod97(&format!("{base}RF00")).unwrap_or(0);
    Ok(format!("RF{:02}{base}", 98 - rem))
}

/// Wie [`try_creditor_reference`], liefert aber bei ungültiger Basis eine
/// leere Zeichenkette.
pub fn creditor_reference(base: &str) -> String {
    try_creditor_reference(base).unwrap_or_default()
}

/// Prüft eine Gläubigerreferenz nach ISO 11649 (Leerzeichen und
/// Kleinschreibung werden toleriert).
pub fn valid_creditor_reference(s: &str) -> bool {
    let r = normalize_reference(s);
    if r.len() < 5 || r.len() > 25 || !r.starts_with("RF") || !r.is_ascii() {
        return false;
    }
    if !r[2..4].chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    if !r[4..].chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    mod97(&format!("{}{}", &r[4..], &r[..4])) == Some(1)
}

// ---------------------------------------------------------------------------
// Nutzdaten
// ---------------------------------------------------------------------------

fn format_amount(cents: i64) -> String {
    format!("EUR{}.{:02}", cents / 100, cents % 100)
}

fn parse_amount(s: &str, line: usize) -> Result<i64, EpcError> {
    let Some(num) = s.strip_prefix("EUR") else {
        return Err(format_err(line, "Der Betrag muss mit „EUR“ beginnen."));
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    let ok = !int.is_empty()
        && int.len() <= 9
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.len() <= 2
        && frac.chars().all(|c| c.is_ascii_digit())
        && !(num.contains('.') && frac.is_empty());
    if !ok {
        return Err(format_err(
            line,
            format!("Der Betrag „{s}“ ist ungültig (Beispiel: EUR12.34)."),
        ));
    }
    let int: i64 = int
        .parse()
        .map_err(|_| format_err(line, "Betrag nicht lesbar."))?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().unwrap_or(0) * 10,
        _ => frac.parse::<i64>().unwrap_or(0),
    };
    let cents = int * 100 + frac;
    if !(MIN_AMOUNT_CENTS..=MAX_AMOUNT_CENTS).contains(&cents) {
        return Err(format_err(
            line,
            "Der Betrag muss zwischen 0,01 und 999.999.999,99 EUR liegen.",
        ));
    }
    Ok(cents)
}

fn valid_bic(b: &str) -> bool {
    let b = b.as_bytes();
    (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), EpcError> {
    if value.contains(['\n', '\r']) {
        return Err(field_err(field, "Zeilenumbrüche sind nicht erlaubt."));
    }
    if value.chars().any(char::is_control) {
        return Err(field_err(field, "Steuerzeichen sind nicht erlaubt."));
    }
    let n = value.chars().count();
    if n > max {
        return Err(field_err(
            field,
            format!("höchstens {max} Zeichen erlaubt, angegeben sind {n}."),
        ));
    }
    Ok(())
}

/// Leere optionale Felder (`Some("")`) werden wie `None` behandelt.
fn opt(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Erzeugt die GiroCode-Nutzdaten (Zeilen durch `\n` getrennt).
///
/// IBAN und BIC werden normalisiert (ohne Leerzeichen, groß geschrieben).
pub fn payload(p: &EpcPayment) -> Result<String, EpcError> {
    let bic = opt(&p.bic).map(normalize_iban);
    if let Some(b) = &bic
        && !valid_bic(b)
    {
        return Err(field_err(
            "BIC",
            format!("„{b}“ ist keine gültige BIC (8 oder 11 Zeichen)."),
        ));
    }
    let name = p.name.trim();
    if name.is_empty() {
        return Err(field_err("Name", "Der Name des Zahlungsempfängers fehlt."));
    }
    check_text("Name", name, MAX_NAME)?;
    let iban = normalize_iban(&p.iban);
    if let Some(problem) = iban_problem(&iban) {
        return Err(field_err("IBAN", problem));
    }
    if !(MIN_AMOUNT_CENTS..=MAX_AMOUNT_CENTS).contains(&p.amount_cents) {
        return Err(field_err(
            "Betrag",
            "Der Betrag muss zwischen 0,01 und 999.999.999,99 EUR liegen.",
        ));
    }
    let purpose = opt(&p.purpose);
    if let Some(pc) = purpose
        && !(pc.len() == 4 && pc.chars().all(|c| c.is_ascii_uppercase()))
    {
        return Err(field_err(
            "Zweck",
            "Der Purpose-Code besteht aus vier Großbuchstaben (z. B. GOVT).",
        ));
    }
    let reference = opt(&p.remittance_reference).map(normalize_reference);
    let text = opt(&p.remittance_text);
    if reference.is_some() && text.is_some() {
        return Err(field_err(
            "Verwendungszweck",
            "Strukturierte Referenz und freier Verwendungszweck dürfen nicht gleichzeitig angegeben werden.",
        ));
    }
    if let Some(r) = &reference {
        check_text("Referenz", r, MAX_REFERENCE)?;
        if !r.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(field_err(
                "Referenz",
                "Die Referenz darf nur Buchstaben und Ziffern enthalten.",
            ));
        }
        if r.starts_with("RF") && !valid_creditor_reference(r) {
            return Err(field_err(
                "Referenz",
                format!("„{r}“ ist keine gültige RF-Gläubigerreferenz (Prüfziffer falsch)."),
            ));
        }
    }
    if let Some(t) = text {
        check_text("Verwendungszweck", t, MAX_TEXT)?;
    }
    let note = opt(&p.note);
    if let Some(n) = note {
        check_text("Hinweis", n, MAX_NOTE)?;
    }

    let mut lines: Vec<String> = vec![
        "BCD".into(),
        "002".into(),
        "1".into(),
        "SCT".into(),
        bic.unwrap_or_default(),
        name.to_string(),
        iban,
        format_amount(p.amount_cents),
        purpose.unwrap_or_default().to_string(),
        reference.unwrap_or_default(),
        text.unwrap_or_default().to_string(),
        note.unwrap_or_default().to_string(),
    ];
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    let out = lines.join("\n");
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err(EpcError::TooLong { len: out.len() });
    }
    Ok(out)
}

/// Liest GiroCode-Nutzdaten (Umkehrung von [`payload`]). Akzeptiert `\n`
/// und `\r\n` als Trenner sowie die Versionen `001` und `002`.
pub fn parse(s: &str) -> Result<EpcPayment, EpcError> {
    if s.len() > MAX_PAYLOAD_BYTES {
        return Err(EpcError::TooLong { len: s.len() });
    }
    let lines: Vec<&str> = s
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if lines.len() > 12 {
        return Err(format_err(13, "Zu viele Zeilen (höchstens 12)."));
    }
    let get = |i: usize| lines.get(i).copied().unwrap_or("");
    if get(0) != "BCD" {
        return Err(format_err(1, "Kennung „BCD“ fehlt."));
    }
    let version = get(1);
    if version != "001" && version != "002" {
        return Err(format_err(
            2,
            format!("Version „{version}“ wird nicht unterstützt."),
        ));
    }
    if get(2) != "1" {
        return Err(format_err(3, "Nur Zeichensatz 1 (UTF-8) wird unterstützt."));
    }
    if get(3) != "SCT" {
        return Err(format_err(4, "Kennung „SCT“ fehlt."));
    }
    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let bic = some(get(4));
    if version == "001" && bic.is_none() {
        return Err(format_err(5, "In Version 001 ist die BIC Pflicht."));
    }
    if lines.len() < 8 || get(7).is_empty() {
        return Err(format_err(8, "Der Betrag fehlt."));
    }
    let amount_cents = parse_amount(get(7), 8)?;
    let p = EpcPayment {
        bic,
        name: get(5).to_string(),
        iban: get(6).to_string(),
        amount_cents,
        purpose: some(get(8)),
        remittance_reference: some(get(9)),
        remittance_text: some(get(10)),
        note: some(get(11)),
    };
    // Inhaltlich dieselben Regeln wie beim Erzeugen.
    payload(&p).map_err(|e| match e {
        EpcError::Field { field, message } => {
            let line = match field {
                "BIC" => 5,
                "Name" => 6,
                "IBAN" => 7,
                "Betrag" => 8,
                "Zweck" => 9,
                "Referenz" => 10,
                "Verwendungszweck" => 11,
                _ => 12,
            };
            format_err(line, format!("{field}: {message}"))
        }
        other => other,
    })?;
    Ok(p)
}

// ---------------------------------------------------------------------------
// SVG
// ---------------------------------------------------------------------------

const QUIET_ZONE: usize = 4;
const SVG_TITLE: &str = "GiroCode (EPC-QR-Code) für eine SEPA-Überweisung";

/// Zeichnet den QR-Code (Fehlerkorrekturstufe M) als SVG: schwarze Module
/// auf weißem Grund, 4 Module Ruhezone, `role="img"` mit `<title>`.
/// Ein Modul entspricht einer Einheit der `viewBox`; die Größe bestimmt das
/// einbettende CSS.
pub fn qr_svg(payload: &str) -> String {
    let code = match QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M) {
        Ok(c) => c,
        Err(_) => {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"epc-qr-title\" viewBox=\"0 0 100 20\"><title id=\"epc-qr-title\">QR-Code konnte nicht erzeugt werden: Daten zu lang</title></svg>".to_string();
        }
    };
    let w = code.width();
    let colors = code.to_colors();
    let size = w + 2 * QUIET_ZONE;
    let mut s = String::with_capacity(64 * w);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"epc-qr-title\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">"
    );
    let _ = write!(s, "<title id=\"epc-qr-title\">{SVG_TITLE}</title>");
    let _ = write!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>"
    );
    s.push_str("<g fill=\"#000\">");
    for y in 0..w {
        let mut x = 0;
        while x < w {
            if colors[y * w + x] == Color::Dark {
                let start = x;
                while x < w && colors[y * w + x] == Color::Dark {
                    x += 1;
                }
                let _ = write!(
                    s,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"1\"/>",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    s.push_str("</g></svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EpcPayment {
        EpcPayment {
            bic: Some("COBADEFFXXX".into()),
            name: "Stadtkasse Musterstadt".into(),
            iban: "DE89370400440532013000".into(),
            amount_cents: 3700,
            purpose: Some("GOVT".into()),
            remittance_reference: None,
            remittance_text: Some("Personalausweis Az. 2024-0815".into()),
            note: Some("Danke!".into()),
        }
    }

    #[test]
    fn known_valid_german_iban() {
        assert!(valid_iban("DE89370400440532013000"));
        assert!(valid_iban("de89 3704 0044 0532 0130 00"));
    }

    #[test]
    fn iban_wrong_check_digit_and_length() {
        assert!(!valid_iban("DE88370400440532013000"));
        assert!(!valid_iban("DE8937040044053201300"));
        assert!(!valid_iban("DE893704004405320130000"));
        assert!(!valid_iban(""));
        assert!(!valid_iban("XX"));
        assert!(!valid_iban("DE89-3704-0044-0532-0130-00"));
    }

    #[test]
    fn iban_other_countries() {
        assert!(valid_iban("AT611904300234573201"));
        assert!(valid_iban("GB29NWBK60161331926819"));
        assert!(valid_iban("NL91ABNA0417164300"));
        // unbekanntes Land: nur generische Länge 15–34 + Prüfziffer
        assert!(!valid_iban("ZZ12345"));
    }

    #[test]
    fn iso_11649_example() {
        assert_eq!(creditor_reference("539007547034"), "RF18539007547034");
        assert!(valid_creditor_reference("RF18539007547034"));
        assert!(valid_creditor_reference("rf18 5390 0754 7034"));
        assert!(!valid_creditor_reference("RF19539007547034"));
        assert!(!valid_creditor_reference("RF18"));
        assert!(!valid_creditor_reference("XX18539007547034"));
    }

    #[test]
    fn creditor_reference_roundtrip_and_limits() {
        let r = creditor_reference("HUND 2024 4711");
        assert!(r.starts_with("RF"));
        assert!(r.ends_with("HUND20244711"));
        assert!(valid_creditor_reference(&r));
        assert_eq!(creditor_reference(""), "");
        assert_eq!(creditor_reference("A".repeat(22).as_str()), "");
        assert!(try_creditor_reference("ÄÖÜ").is_err());
        assert_eq!(creditor_reference(&"9".repeat(21)).len(), 25);
    }

    #[test]
    fn payload_exact_format() {
        let p = payload(&sample()).unwrap();
        assert_eq!(
            p,
            "BCD\n002\n1\nSCT\nCOBADEFFXXX\nStadtkasse Musterstadt\nDE89370400440532013000\nEUR37.00\nGOVT\n\nPersonalausweis Az. 2024-0815\nDanke!"
        );
    }

    #[test]
    fn payload_trims_trailing_empty_fields() {
        let p = EpcPayment {
            bic: None,
            purpose: None,
            remittance_text: None,
            note: None,
            remittance_reference: Some("RF18539007547034".into()),
            ..sample()
        };
        let s = payload(&p).unwrap();
        assert_eq!(
            s,
            "BCD\n002\n1\nSCT\n\nStadtkasse Musterstadt\nDE89370400440532013000\nEUR37.00\n\nRF18539007547034"
        );
        assert!(!s.ends_with('\n'));
        let q = EpcPayment {
            remittance_reference: None,
            ..p
        };
        assert!(payload(&q).unwrap().ends_with("EUR37.00"));
    }

    #[test]
    fn roundtrip_decodes_exact_fields() {
        let p = sample();
        assert_eq!(parse(&payload(&p).unwrap()).unwrap(), p);
        let q = EpcPayment {
            bic: None,
            purpose: None,
            remittance_text: None,
            note: None,
            remittance_reference: Some("RF18539007547034".into()),
            amount_cents: 1,
            ..sample()
        };
        assert_eq!(parse(&payload(&q).unwrap()).unwrap(), q);
    }

    #[test]
    fn parse_accepts_crlf_and_short_amounts() {
        let s = "BCD\r\n002\r\n1\r\nSCT\r\n\r\nStadt\r\nDE89370400440532013000\r\nEUR12.5";
        let p = parse(s).unwrap();
        assert_eq!(p.amount_cents, 1250);
        assert_eq!(p.name, "Stadt");
        assert_eq!(
            parse(&s.replace("EUR12.5", "EUR7")).unwrap().amount_cents,
            700
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("BCD\n003\n1\nSCT").is_err());
        assert!(parse("BCD\n002\n2\nSCT\n\nA\nDE89370400440532013000\nEUR1").is_err());
        assert!(parse("BCD\n002\n1\nSCT\n\nA\nDE89370400440532013000\nEUR1.234").is_err());
        assert!(parse("BCD\n002\n1\nSCT\n\nA\nDE89370400440532013000\nUSD1").is_err());
        assert!(parse("BCD\n002\n1\nSCT\n\nA\nDE89370400440532013000").is_err());
        assert!(parse("BCD\n001\n1\nSCT\n\nA\nDE89370400440532013000\nEUR1").is_err());
        let e = parse("BCD\n002\n1\nSCT\n\nA\nDE88370400440532013000\nEUR1").unwrap_err();
        assert!(matches!(e, EpcError::Format { line: 7, .. }), "{e}");
    }

    #[test]
    fn amount_limits() {
        let mut p = sample();
        p.amount_cents = 0;
        assert!(payload(&p).is_err());
        p.amount_cents = -5;
        assert!(payload(&p).is_err());
        p.amount_cents = 99_999_999_999;
        assert!(payload(&p).unwrap().contains("\nEUR999999999.99\n"));
        p.amount_cents = 100_000_000_000;
        assert!(payload(&p).is_err());
        p.amount_cents = 5;
        assert!(payload(&p).unwrap().contains("\nEUR0.05\n"));
    }

    #[test]
    fn length_limits() {
        let mut p = sample();
        p.name = "N".repeat(70);
        assert!(payload(&p).is_ok());
        p.name = "N".repeat(71);
        let e = payload(&p).unwrap_err();
        assert!(e.to_string().contains("Name"), "{e}");
        p = sample();
        p.remittance_text = Some("x".repeat(141));
        assert!(payload(&p).is_err());
        p.remittance_text = Some("ä".repeat(140));
        p.name = "ü".repeat(70);
        p.note = Some("ö".repeat(10));
        // 140 + 70 Zeichen à 2 Byte überschreiten 331 Byte
        assert!(matches!(payload(&p), Err(EpcError::TooLong { .. })));
        p = sample();
        p.remittance_text = None;
        p.remittance_reference = Some(format!("A{}", "1".repeat(35)));
        assert!(payload(&p).is_err());
    }

    #[test]
    fn reference_and_text_are_exclusive() {
        let mut p = sample();
        p.remittance_reference = Some("RF18539007547034".into());
        let e = payload(&p).unwrap_err();
        assert!(e.to_string().contains("nicht gleichzeitig"));
    }

    #[test]
    fn invalid_rf_reference_rejected_and_reference_normalized() {
        let mut p = sample();
        p.remittance_text = None;
        p.remittance_reference = Some("RF19539007547034".into());
        assert!(payload(&p).is_err());
        p.remittance_reference = Some("rf18 5390 0754 7034".into());
        assert!(
            payload(&p)
                .unwrap()
                .ends_with("\nRF18539007547034\n\nDanke!")
        );
    }

    #[test]
    fn field_validation() {
        let mut p = sample();
        p.bic = Some("COBA".into());
        assert!(payload(&p).is_err());
        p = sample();
        p.name = "  ".into();
        assert!(payload(&p).is_err());
        p = sample();
        p.name = "Zeile\nZwei".into();
        assert!(payload(&p).is_err());
        p = sample();
        p.purpose = Some("govt".into());
        assert!(payload(&p).is_err());
        p = sample();
        p.iban = "DE89 3704 0044 0532 0130 00".into();
        assert!(payload(&p).unwrap().contains("\nDE89370400440532013000\n"));
        p.iban = "DE00370400440532013000".into();
        let e = payload(&p).unwrap_err();
        assert!(e.to_string().contains("Prüfziffer"), "{e}");
        p = sample();
        p.bic = Some(String::new());
        assert!(payload(&p).unwrap().contains("SCT\n\nStadtkasse"));
    }

    #[test]
    fn svg_is_accessible_and_square() {
        let payload = payload(&sample()).unwrap();
        let svg = qr_svg(&payload);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"epc-qr-title\">"));
        assert!(svg.contains("shape-rendering=\"crispEdges\""));
        assert!(svg.contains("fill=\"#fff\""));
        assert!(svg.ends_with("</svg>"));
        let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).unwrap();
        let size = code.width() + 8;
        assert!(svg.contains(&format!("viewBox=\"0 0 {size} {size}\"")));
        // Das Ruhezonen-Quadrat oben links bleibt frei: erstes Modul bei (4,4)
        assert!(svg.contains("<rect x=\"4\" y=\"4\" width=\"7\" height=\"1\"/>"));
        // Anzahl schwarzer Module == Summe der Rechteckbreiten
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == Color::Dark)
            .count();
        let sum: usize = svg
            .split("<rect ")
            .skip(2)
            .map(|r| {
                let w = r.split("width=\"").nth(1).unwrap();
                w[..w.find('"').unwrap()].parse::<usize>().unwrap()
            })
            .sum();
        assert_eq!(dark, sum);
    }

    #[test]
    fn svg_for_too_long_data_is_still_svg() {
        let svg = qr_svg(&"x".repeat(5000));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title"));
    }
}
