//! Import von Leistungsbeschreibungen aus XZuFi 2.x (FIM-Baustein
//! Leistungen, Namensraum `http://xoev.de/schemata/xzufi/2_x_y`, z. B.
//! `2_2_0`).
//!
//! # Unterstützte Teilmenge
//!
//! Das Wurzelelement muss in einem XZuFi-2.x-Namensraum liegen; sein Name
//! wird nicht geprüft (Transfernachricht mit `nachrichtenkopf`,
//! `schreibe`/`loesche`, oder direkt ein einzelnes `leistung`-Element).
//! Kindelemente werden über ihren lokalen Namen erkannt, Präfixe und
//! Namensräume der Kinder spielen keine Rolle (Codelisten-Elemente wie
//! `code` sind in XZuFi unqualifiziert).
//!
//! Jedes `leistung`-Element (beliebig tief, aber nicht in einer anderen
//! Leistung) ergibt eine [`ImportedService`]:
//!
//! | Feld              | Quelle                                                                 |
//! |-------------------|------------------------------------------------------------------------|
//! | `leika`           | `referenzLeiKa/code` (sonst Text von `referenzLeiKa`, `leistungsschluessel`); genau 14 Ziffern |
//! | `name`            | `modulText` mit `leikaTextmodul/code` = `02` (Leistungsbezeichnung), sonst `03` |
//! | `description`     | `modulText` `06` (Volltext), sonst `05` (Kurztext), sonst `24` (Teaser) |
//! | `documents`       | `modulText` `08` (Erforderliche Unterlagen), ein Eintrag je Listenpunkt/Zeile |
//! | `legal_basis`     | `modulText` `07` (Rechtsgrundlagen): Zeilen und Titel der `weiterfuehrenderLink` |
//! | `fee_text`        | `modulKosten/beschreibung`, sonst `kosten/beschreibung`, sonst `modulText` `10` |
//! | `fee_cents`       | fester Betrag aus `modulKosten//kosten//betrag` (Währung EUR oder ohne Angabe); ohne Struktur: genau ein Eurobetrag im Kostentext; „gebührenfrei“/„kostenlos“ ergibt 0 |
//! | `processing_time` | `modulBearbeitungsdauer/beschreibung`, sonst `dauer` + `einheit`, sonst `modulText` `12` |
//! | `online`          | ein Element `*onlinedienst*` in der Leistung oder ein Onlinedienst bzw. eine Zuständigkeit der Nachricht, die per `leistungID` auf die Leistung verweist und einen Onlinedienst nennt |
//! | `in_person`       | ausdrückliches Kennzeichen (`*persoenlich*`, `*vorOrt*` mit true/false); sonst wahr, wenn eine Stelle mit Anschrift zuständig ist oder kein Onlinedienst besteht |
//! | `org_unit`        | `organisationseinheit` in der Leistung; sonst die Organisationseinheit der Nachricht, deren `zustaendigkeit/leistungID` auf die Leistung zeigt; sonst ein `zustaendigkeitTransferObjekt` mit `leistungID` und `organisationseinheitID`/`uebergeordnetesObjektID`; enthält die Nachricht genau eine Organisationseinheit und keinerlei Zuständigkeiten, gilt diese |
//!
//! Organisationseinheit: `id` (Schlüssel), `name/name` (oder `name`),
//! erste `anschrift` (`strasse` `hausnummer`, `postleitzahl` `ort`),
//! Öffnungszeiten aus `*oeffnungszeit*`/`*sprechzeit*`, E-Mail und Telefon
//! aus `kommunikation` (`kanal`/`kennung`) bzw. `email`/`telefon`.
//!
//! Mehrsprachige Texte (`inhalt`, `beschreibung`, `name` mit
//! `languageCode`): bevorzugt Deutsch (`de…`), sonst der erste. HTML in
//! Textfeldern (maskiert, als CDATA oder als Kindelemente) wird entfernt;
//! Absätze und Listenpunkte werden zu Zeilen.
//!
//! # Fehler
//!
//! Der Import ist „alles oder nichts“: fehlerhaftes XML, falsches
//! Wurzelelement, fehlender oder ungültiger LeiKa-Schlüssel oder fehlende
//! Bezeichnung brechen den ganzen Import ab; die Meldung nennt die Leistung
//! (laufende Nummer, ID, Byte-Position) und das Feld. Dateien über 20 MiB
//! und Verschachtelungen tiefer als 64 Ebenen werden abgelehnt.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde::{Deserialize, Serialize};

/// Eine importierte Leistung.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedService {
    pub leika: String,
    pub name: String,
    pub description: String,
    pub documents: Vec<String>,
    pub fee_text: String,
    pub fee_cents: Option<i64>,
    pub legal_basis: Vec<String>,
    pub processing_time: String,
    pub online: bool,
    pub in_person: bool,
    pub org_unit: Option<ImportedOrgUnit>,
}

/// Die zuständige Stelle einer Leistung.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedOrgUnit {
    pub key: String,
    pub name: String,
    pub address: String,
    pub opening_hours: String,
    pub email: String,
    pub phone: String,
}

/// Fehler beim XZuFi-Import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("Die Datei ist zu groß ({size} Byte); erlaubt sind höchstens {MAX_SIZE} Byte.")]
    TooLarge { size: usize },
    #[error("Die Datei ist nicht UTF-8-kodiert (Byte-Position {pos}).")]
    Encoding { pos: usize },
    #[error("Die XML-Struktur ist fehlerhaft (Byte-Position {pos}): {message}")]
    Xml { pos: usize, message: String },
    #[error("Die Elemente sind tiefer als {MAX_DEPTH} Ebenen verschachtelt (Byte-Position {pos}).")]
    TooDeep { pos: usize },
    #[error(
        "Die Datei ist keine XZuFi-2.x-Nachricht: Wurzelelement <{found}> im Namensraum „{namespace}“ (erwartet: http://xoev.de/schemata/xzufi/2_…)."
    )]
    WrongRoot { found: String, namespace: String },
    #[error("Die Nachricht enthält keine Leistung (Element <leistung>).")]
    NoServices,
    #[error("Leistung Nr. {index} (ID „{id}“, Byte-Position {pos}), Feld „{field}“: {message}")]
    Service {
        /// Laufende Nummer in der Datei, ab 1.
        index: usize,
        id: String,
        pos: usize,
        field: &'static str,
        message: String,
    },
}

/// Größte akzeptierte Datei (20 MiB).
pub const MAX_SIZE: usize = 20 * 1024 * 1024;
/// Größte akzeptierte Verschachtelungstiefe.
pub const MAX_DEPTH: usize = 64;
const NS_PREFIXES: [&str; 2] = [
    "http://xoev.de/schemata/xzufi/2_",
    "https://xoev.de/schemata/xzufi/2_",
];

/// `true`, wenn `s` ein LeiKa-Schlüssel ist: genau 14 Ziffern.
pub fn validate_leika(s: &str) -> bool {
    s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------
// Kleiner XML-Baum
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    /// Direkter Text (ohne Kinder), zusammengefügt.
    text: String,
    /// Für jedes Kind: Länge von `text`, als das Kind begann (für die
    /// Reihenfolge beim Zusammensetzen gemischter Inhalte).
    marks: Vec<usize>,
    pos: usize,
}

const BLOCK_TAGS: [&str; 19] = [
    "p",
    "br",
    "li",
    "ul",
    "ol",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "dd",
    "dt",
    "blockquote",
    "section",
    "hr",
];

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn trimmed(&self) -> &str {
        self.text.trim()
    }
    /// Gesamter Text einschließlich aller Nachfahren, in Dokumentreihenfolge;
    /// Block-Elemente (HTML) werden durch Zeilenumbrüche getrennt.
    fn deep_text(&self) -> String {
        let mut out = String::new();
        self.deep_into(&mut out);
        out
    }
    fn deep_into(&self, out: &mut String) {
        let mut last = 0;
        for (child, &mark) in self.children.iter().zip(&self.marks) {
            out.push_str(&self.text[last..mark]);
            last = mark;
            let block = BLOCK_TAGS.contains(&child.name.to_ascii_lowercase().as_str());
            if block {
                out.push('\n');
            }
            child.deep_into(out);
            if block {
                out.push('\n');
            }
        }
        out.push_str(&self.text[last..]);
    }
    /// Alle Nachfahren (Tiefensuche, ohne sich selbst).
    fn descendants(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut stack: Vec<&Node> = self.children.iter().rev().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(n.children.iter().rev());
        }
        out
    }
    fn find_desc(&self, name: &str) -> Option<&Node> {
        self.descendants().into_iter().find(|n| n.name == name)
    }
}

fn xml_err(pos: u64, e: impl std::fmt::Display) -> ImportError {
    ImportError::Xml {
        pos: pos as usize,
        message: german_xml_error(&e.to_string()),
    }
}

fn german_xml_error(technical: &str) -> String {
    let t = technical.to_ascii_lowercase();
    let what = if t.contains("end tag") || t.contains("closing") || t.contains("unmatched") {
        "Ein Element wurde nicht korrekt geschlossen"
    } else if t.contains("attribute") {
        "Ein Attribut ist fehlerhaft"
    } else if t.contains("escape") || t.contains("entity") || t.contains("reference") {
        "Ein Sonderzeichen (&…;) ist fehlerhaft"
    } else if t.contains("namespace") || t.contains("prefix") {
        "Ein Namensraum-Präfix ist nicht deklariert"
    } else {
        "Syntaxfehler"
    };
    format!("{what} (technisch: {technical})")
}

fn xml_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

fn build_tree(xml: &[u8]) -> Result<(Node, String), ImportError> {
    if xml.len() > MAX_SIZE {
        return Err(ImportError::TooLarge { size: xml.len() });
    }
    let text = std::str::from_utf8(xml).map_err(|e| ImportError::Encoding {
        pos: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let offset = xml.len() - text.len();
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut root_ns = String::new();

    fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) {
        match stack.last_mut() {
            Some(p) => {
                p.marks.push(p.text.len());
                p.children.push(node);
            }
            None => *root = Some(node),
        }
    }

    loop {
        let pos = reader.buffer_position() as usize + offset;
        let (ns, ev) = reader
            .read_resolved_event()
            .map(|(r, e)| {
                let ns = match r {
                    ResolveResult::Bound(n) => Ok(n.as_ref().to_string()),
                    ResolveResult::Unbound => Ok(String::new()),
                    ResolveResult::Unknown(p) => Err(p),
                };
                (ns, e)
            })
            .map_err(|e| xml_err(reader.error_position() + offset as u64, e))?;
        let ns = ns.map_err(|prefix| ImportError::Xml {
            pos,
            message: format!("Das Namensraum-Präfix „{prefix}“ ist nicht deklariert."),
        })?;
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(ImportError::Xml {
                        pos,
                        message: "Nach dem Wurzelelement folgt ein weiteres Element.".into(),
                    });
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(ImportError::TooDeep { pos });
                }
                let mut attrs = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| xml_err(pos as u64, e))?;
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| xml_err(pos as u64, e))?
                        .into_owned();
                    attrs.push((a.key.local_name().as_ref().to_string(), v));
                }
                if stack.is_empty() {
                    root_ns = ns;
                }
                let node = Node {
                    name: s.local_name().as_ref().to_string(),
                    attrs,
                    pos,
                    ..Node::default()
                };
                if matches!(ev, Event::Empty(_)) {
                    attach(&mut stack, &mut root, node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| ImportError::Xml {
                    pos,
                    message: "Schließendes Element ohne öffnendes Element.".into(),
                })?;
                attach(&mut stack, &mut root, node);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&content);
                } else if !content.trim().is_empty() {
                    return Err(ImportError::Xml {
                        pos,
                        message: "Text außerhalb des Wurzelelements.".into(),
                    });
                }
            }
            Event::CData(c) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    xml_entity(&r)
                };
                let Some(ch) = ch else {
                    return Err(ImportError::Xml {
                        pos,
                        message: format!("Unbekanntes Sonderzeichen „&{};“.", &*r),
                    });
                };
                if let Some(n) = stack.last_mut() {
                    n.text.push(ch);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(ImportError::Xml {
            pos: open.pos,
            message: format!(
                "Das Element <{}> wird nicht geschlossen (Datei unvollständig?).",
                open.name
            ),
        });
    }
    let root = root.ok_or(ImportError::Xml {
        pos: 0,
        message: "Die Datei enthält kein XML-Element.".into(),
    })?;
    Ok((root, root_ns))
}

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

fn html_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "szlig" => 'ß',
        "euro" => '€',
        "sect" => '§',
        "ndash" => '–',
        "mdash" => '—',
        "bdquo" => '„',
        "ldquo" => '“',
        "rdquo" => '”',
        "lsquo" => '‘',
        "rsquo" => '’',
        "bull" => '•',
        "hellip" => '…',
        "shy" => '\u{ad}',
        _ => return None,
    })
}

/// Entfernt HTML-Auszeichnung und liefert die nicht-leeren Zeilen (Absätze,
/// Zeilenumbrüche und Listenpunkte trennen), mit zusammengefassten
/// Leerzeichen.
fn html_to_lines(s: &str) -> Vec<String> {
    let mut plain = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['<', '&']) {
        plain.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('<') {
            let Some(end) = after.find('>') else {
                plain.push('<');
                rest = after;
                continue;
            };
            let inner = &after[..end];
            let name: String = inner
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if name.is_empty() && !inner.starts_with('!') && !inner.starts_with('/') {
                // kein Tag, z. B. „a < b“
                plain.push('<');
                rest = &tail[1..];
                continue;
            }
            rest = &after[end + 1..];
            if (name == "script" || name == "style") && !inner.starts_with('/') {
                let close = format!("</{name}");
                match rest.to_ascii_lowercase().find(&close) {
                    Some(j) => {
                        rest = &rest[j..];
                        if let Some(k) = rest.find('>') {
                            rest = &rest[k + 1..];
                        }
                    }
                    None => rest = "",
                }
                continue;
            }
            if BLOCK_TAGS.contains(&name.as_str()) {
                plain.push('\n');
            } else {
                plain.push(' ');
            }
        } else {
            let end = tail[1..].find(';').filter(|&j| j <= 10).map(|j| j + 1);
            match end.and_then(|j| html_entity(&tail[1..j]).map(|c| (j, c))) {
                Some((j, c)) => {
                    plain.push(c);
                    rest = &tail[j + 1..];
                }
                None => {
                    plain.push('&');
                    rest = &tail[1..];
                }
            }
        }
    }
    plain.push_str(rest);
    plain
        .replace('\u{ad}', "")
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

fn html_to_text(s: &str) -> String {
    html_to_lines(s).join("\n")
}

fn strip_bullet(s: &str) -> String {
    s.trim_start_matches(['-', '•', '*', '–', '·'])
        .trim()
        .to_string()
}

/// Wählt aus gleichnamigen mehrsprachigen Kindern das deutsche (oder das
/// erste) und liefert dessen Text ohne HTML.
fn pick_lang<'a>(candidates: impl Iterator<Item = &'a Node>) -> Option<&'a Node> {
    let all: Vec<&Node> = candidates.collect();
    all.iter()
        .find(|n| {
            n.attr("languageCode")
                .is_some_and(|l| l.to_ascii_lowercase().starts_with("de"))
        })
        .or_else(|| all.first())
        .copied()
}

fn lang_text(parent: &Node, name: &str) -> String {
    pick_lang(parent.children_named(name))
        .map(|n| html_to_text(&n.deep_text()))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Beträge
// ---------------------------------------------------------------------------

/// Liest einen Betrag in Euro als Cent: `37`, `37.5`, `37,50`, `1.234,56`,
/// `1,234.56`, `37,-`.
fn parse_money(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches(",-").trim_end_matches(".-");
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    if !s.starts_with(|c: char| c.is_ascii_digit()) || !s.ends_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let last_sep = s.rfind(['.', ',']);
    let (int_part, frac) = match last_sep {
        Some(i) if s.len() - i - 1 <= 2 => (&s[..i], &s[i + 1..]),
        _ => (s, ""),
    };
    // Tausendertrennzeichen im ganzzahligen Teil: Gruppen zu je 3 Ziffern
    let groups: Vec<&str> = int_part.split(['.', ',']).collect();
    if groups.len() > 1
        && (groups[0].is_empty() || groups[0].len() > 3 || groups[1..].iter().any(|g| g.len() != 3))
    {
        return None;
    }
    let digits: String = groups.concat();
    if digits.len() > 12 {
        return None;
    }
    let euros: i64 = digits.parse().ok()?;
    let cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    Some(euros * 100 + cents)
}

/// Genau ein Eurobetrag im Freitext (ohne Spannen-Wörter) → Cent;
/// „gebührenfrei“ u. ä. ohne Betrag → 0.
fn amount_from_text(text: &str) -> Option<i64> {
    let lower = text.to_lowercase();
    let tokens: Vec<String> = text
        .split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| matches!(c, '(' | ')' | ':' | ';' | '!'))
                .to_string()
        })
        .collect();
    let is_cur = |t: &str| {
        matches!(
            t.trim_end_matches(['.', ',']),
            "€" | "EUR" | "Euro" | "euro" | "EURO"
        )
    };
    let mut found: Vec<i64> = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        let mut t = tok.as_str();
        let mut cur = false;
        for sym in ["€", "EUR"] {
            if let Some(x) = t.strip_prefix(sym) {
                t = x;
                cur = true;
            }
            if let Some(x) = t.strip_suffix(sym) {
                t = x;
                cur = true;
            }
        }
        let t = t.trim_end_matches(['.', ',']).trim_end_matches(",-");
        let t = if tok.ends_with(",-") || tok.ends_with(",-€") {
            tok.trim_end_matches('€').trim_end_matches(",-")
        } else {
            t
        };
        let Some(v) = parse_money(t) else { continue };
        let near = cur
            || tokens.get(i + 1).is_some_and(|n| is_cur(n))
            || (i > 0 && is_cur(&tokens[i - 1]));
        if near && !found.contains(&v) {
            found.push(v);
        }
    }
    const RANGE: [&str; 10] = [
        " bis ",
        "zwischen",
        " ab ",
        " je ",
        " pro ",
        "mindestens",
        "höchstens",
        "zzgl",
        "zuzüglich",
        "jeweils",
    ];
    let padded = format!(" {lower} ");
    match found.as_slice() {
        [v] if !RANGE.iter().any(|w| padded.contains(w)) => Some(*v),
        [] if [
            "gebührenfrei",
            "kostenfrei",
            "kostenlos",
            "keine gebühr",
            "keine kosten",
            "gebührenbefreit",
        ]
        .iter()
        .any(|w| lower.contains(w)) =>
        {
            Some(0)
        }
        _ => None,
    }
}

fn format_cents(c: i64) -> String {
    format!("{},{:02} EUR", c / 100, c % 100)
}

/// Fester Betrag aus der Kostenstruktur (`kosten//betrag` o. ä.).
fn structured_amount(modul: &Node) -> Option<i64> {
    let kosten: Vec<&Node> = {
        let k: Vec<&Node> = modul
            .descendants()
            .into_iter()
            .filter(|n| n.name == "kosten")
            .collect();
        if k.is_empty() { vec![modul] } else { k }
    };
    let mut found: Vec<i64> = Vec::new();
    for k in kosten {
        let variable = k.attr("type").is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("variabel") || t.contains("spanne") || t.contains("rahmen")
        });
        if variable {
            continue;
        }
        let mut stack: Vec<&Node> = k.children.iter().collect();
        while let Some(n) = stack.pop() {
            let lname = n.name.to_ascii_lowercase();
            if [
                "untergrenze",
                "obergrenze",
                "min",
                "max",
                "von",
                "bis",
                "variabel",
            ]
            .iter()
            .any(|w| lname.contains(w))
            {
                continue;
            }
            if matches!(
                lname.as_str(),
                "betrag" | "betragfix" | "betragfest" | "fixbetrag" | "festbetrag"
            ) {
                let cur = n
                    .attr("waehrung")
                    .or_else(|| n.attr("currencyID"))
                    .map(str::to_string)
                    .or_else(|| {
                        k.find_desc("waehrung").map(|w| {
                            w.child("code")
                                .map(|c| c.trimmed().to_string())
                                .unwrap_or_else(|| w.trimmed().to_string())
                        })
                    })
                    .unwrap_or_default();
                let eur = cur.is_empty() || cur.eq_ignore_ascii_case("EUR");
                let value = n.child("wert").map(Node::trimmed).unwrap_or(n.trimmed());
                if eur
                    && let Some(v) = parse_money(value)
                    && !found.contains(&v)
                {
                    found.push(v);
                }
                continue;
            }
            stack.extend(n.children.iter());
        }
    }
    match found.as_slice() {
        [v] => Some(*v),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Leistung
// ---------------------------------------------------------------------------

fn text_module_code(m: &Node) -> String {
    m.child("leikaTextmodul")
        .map(|t| {
            t.child("code")
                .map(|c| c.trimmed().to_string())
                .unwrap_or_else(|| t.trimmed().to_string())
        })
        .unwrap_or_default()
}

struct Modules<'a> {
    by_code: Vec<(String, &'a Node)>,
}

impl<'a> Modules<'a> {
    fn new(leistung: &'a Node) -> Self {
        Modules {
            by_code: leistung
                .children_named("modulText")
                .map(|m| (text_module_code(m), m))
                .collect(),
        }
    }
    fn get(&self, code: &str) -> Option<&'a Node> {
        self.by_code
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, m)| *m)
    }
    fn lines(&self, code: &str) -> Vec<String> {
        self.get(code)
            .and_then(|m| pick_lang(m.children_named("inhalt")))
            .map(|i| html_to_lines(&i.deep_text()))
            .unwrap_or_default()
    }
    fn text(&self, code: &str) -> String {
        self.lines(code).join("\n")
    }
}

fn first_nonempty(options: impl IntoIterator<Item = String>) -> String {
    options
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

fn leika_of(l: &Node) -> Option<(String, &Node)> {
    for name in ["referenzLeiKa", "leistungsschluessel", "leikaSchluessel"] {
        if let Some(n) = l.child(name) {
            let v = n
                .child("code")
                .map(|c| c.trimmed().to_string())
                .unwrap_or_else(|| n.trimmed().to_string());
            if !v.is_empty() {
                return Some((v, n));
            }
        }
    }
    None
}

fn truthy(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "ja" => Some(true),
        "false" | "0" | "nein" => Some(false),
        _ => None,
    }
}

fn id_text(n: &Node) -> String {
    n.child("id")
        .map(|i| i.trimmed().to_string())
        .unwrap_or_default()
}

/// Gesammelte Objekte der Nachricht außerhalb der Leistungen.
struct Context<'a> {
    orgs: Vec<&'a Node>,
    /// `zustaendigkeit*`- und `onlinedienst`-Objekte außerhalb von
    /// Leistungen und Organisationseinheiten.
    links: Vec<&'a Node>,
    any_zustaendigkeit: bool,
}

fn collect<'a>(
    n: &'a Node,
    leistungen: &mut Vec<&'a Node>,
    ctx: &mut Context<'a>,
    inside_org: bool,
) {
    for c in &n.children {
        match c.name.as_str() {
            "leistung" => {
                leistungen.push(c);
                continue;
            }
            "organisationseinheit" if !inside_org => {
                ctx.orgs.push(c);
                if c.find_desc("zustaendigkeit").is_some() {
                    ctx.any_zustaendigkeit = true;
                }
                collect(c, leistungen, ctx, true);
                continue;
            }
            name if !inside_org
                && (name.starts_with("zustaendigkeit") || name == "onlinedienst") =>
            {
                if name.starts_with("zustaendigkeit") {
                    ctx.any_zustaendigkeit = true;
                }
                ctx.links.push(c);
                continue;
            }
            _ => {}
        }
        collect(c, leistungen, ctx, inside_org);
    }
}

fn refers_to(n: &Node, leistung_id: &str) -> bool {
    !leistung_id.is_empty()
        && n.descendants().into_iter().any(|d| {
            (d.name == "leistungID" || d.name == "leistungsID") && d.trimmed() == leistung_id
        })
}

fn mentions_online(n: &Node) -> bool {
    n.name.to_ascii_lowercase().contains("onlinedienst")
        || n.descendants().into_iter().any(|d| {
            d.name.to_ascii_lowercase().contains("onlinedienst") && !d.deep_text().trim().is_empty()
        })
}

fn org_unit(o: &Node) -> ImportedOrgUnit {
    let name = match o.child("name") {
        Some(n) if n.child("name").is_some() => lang_text(n, "name"),
        Some(n) => html_to_text(&n.deep_text()),
        None => String::new(),
    };
    let address = o
        .child("anschrift")
        .map(|a| {
            let get = |k: &str| {
                a.child(k)
                    .map(|n| n.trimmed().to_string())
                    .unwrap_or_default()
            };
            let street = [get("strasse"), get("hausnummer")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let city = [get("postleitzahl"), get("ort")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let joined = [street, city]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            if joined.is_empty() {
                html_to_lines(&a.deep_text()).join(", ")
            } else {
                joined
            }
        })
        .unwrap_or_default();
    let hours_node = o.descendants().into_iter().find(|d| {
        let l = d.name.to_ascii_lowercase();
        l.contains("oeffnungszeit") || l.contains("sprechzeit") || l.contains("geschaeftszeit")
    });
    let opening_hours = hours_node
        .map(|h| html_to_text(&h.deep_text()))
        .unwrap_or_default();

    let mut email = String::new();
    let mut phone = String::new();
    for d in o.descendants() {
        match d.name.as_str() {
            "kommunikation" => {
                let kennung = d
                    .child("kennung")
                    .map(|k| k.trimmed().to_string())
                    .unwrap_or_default();
                let kanal = d
                    .child("kanal")
                    .map(|k| {
                        k.child("code")
                            .map(|c| c.trimmed().to_string())
                            .unwrap_or_else(|| k.trimmed().to_string())
                    })
                    .unwrap_or_default();
                if kennung.is_empty() {
                    continue;
                }
                let looks_phone = kennung
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-/()".contains(c))
                    && kennung.chars().filter(char::is_ascii_digit).count() >= 5;
                if kennung.contains('@') && email.is_empty() {
                    email = kennung.trim_start_matches("mailto:").to_string();
                } else if looks_phone && phone.is_empty() && kanal != "04" {
                    phone = kennung;
                }
            }
            "email" | "eMail" | "mail" if email.is_empty() => email = d.trimmed().to_string(),
            "telefon" | "telefonnummer" if phone.is_empty() => phone = d.trimmed().to_string(),
            _ => {}
        }
    }
    ImportedOrgUnit {
        key: id_text(o),
        name,
        address,
        opening_hours,
        email,
        phone,
    }
}

fn find_org<'a>(l: &'a Node, lid: &str, ctx: &Context<'a>) -> Option<&'a Node> {
    if let Some(o) = l.find_desc("organisationseinheit") {
        return Some(o);
    }
    if let Some(o) = ctx.orgs.iter().find(|o| {
        o.descendants()
            .into_iter()
            .filter(|d| d.name == "zustaendigkeit")
            .any(|z| refers_to(z, lid))
    }) {
        return Some(o);
    }
    for link in ctx
        .links
        .iter()
        .filter(|z| z.name.starts_with("zustaendigkeit"))
    {
        if !refers_to(link, lid) {
            continue;
        }
        let org_id = link
            .descendants()
            .into_iter()
            .find(|d| d.name == "organisationseinheitID" || d.name == "uebergeordnetesObjektID")
            .map(|d| d.trimmed().to_string());
        if let Some(oid) = org_id
            && let Some(o) = ctx.orgs.iter().find(|o| id_text(o) == oid)
        {
            return Some(o);
        }
    }
    if ctx.orgs.len() == 1 && !ctx.any_zustaendigkeit {
        return Some(ctx.orgs[0]);
    }
    None
}

fn parse_service(
    index: usize,
    l: &Node,
    ctx: &Context<'_>,
) -> Result<ImportedService, ImportError> {
    let lid = id_text(l);
    let err = |field: &'static str, pos: usize, message: String| ImportError::Service {
        index,
        id: lid.clone(),
        pos,
        field,
        message,
    };
    let (leika, leika_node) = leika_of(l)
        .ok_or_else(|| err("referenzLeiKa", l.pos, "Der LeiKa-Schlüssel fehlt.".into()))?;
    if !validate_leika(&leika) {
        return Err(err(
            "referenzLeiKa",
            leika_node.pos,
            format!("„{leika}“ ist kein gültiger LeiKa-Schlüssel (genau 14 Ziffern erforderlich)."),
        ));
    }
    let m = Modules::new(l);
    let name = first_nonempty([m.text("02"), m.text("03")]).replace('\n', " ");
    if name.is_empty() {
        return Err(err(
            "Leistungsbezeichnung",
            l.pos,
            "Die Bezeichnung der Leistung fehlt (Textmodul 02).".into(),
        ));
    }
    let description = first_nonempty([m.text("06"), m.text("05"), m.text("24")]);
    let documents: Vec<String> = m
        .lines("08")
        .iter()
        .map(|s| strip_bullet(s))
        .filter(|s| !s.is_empty())
        .collect();

    let mut legal_basis: Vec<String> = m
        .lines("07")
        .iter()
        .map(|s| strip_bullet(s))
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(module) = m.get("07") {
        for link in module.children_named("weiterfuehrenderLink") {
            let title = link
                .child("titel")
                .map(|t| html_to_text(&t.deep_text()).replace('\n', " "))
                .unwrap_or_default();
            if !title.is_empty() && !legal_basis.contains(&title) {
                legal_basis.push(title);
            }
        }
    }

    let kosten = l.child("modulKosten");
    let structured = kosten.and_then(structured_amount);
    let fee_text = first_nonempty([
        kosten
            .map(|k| lang_text(k, "beschreibung"))
            .unwrap_or_default(),
        kosten
            .map(|k| {
                k.descendants()
                    .into_iter()
                    .filter(|n| n.name == "kosten")
                    .map(|n| lang_text(n, "beschreibung"))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        m.text("10"),
        structured.map(format_cents).unwrap_or_default(),
    ]);
    let fee_cents = structured.or_else(|| amount_from_text(&fee_text));

    let dauer = l.child("modulBearbeitungsdauer");
    let processing_time = first_nonempty([
        dauer
            .map(|d| lang_text(d, "beschreibung"))
            .unwrap_or_default(),
        dauer
            .map(|d| {
                let value = d
                    .find_desc("dauer")
                    .map(|n| n.trimmed().to_string())
                    .unwrap_or_default();
                let unit = d
                    .find_desc("einheit")
                    .map(|e| {
                        e.child("name")
                            .map(|n| n.trimmed().to_string())
                            .or_else(|| e.child("code").map(|c| c.trimmed().to_string()))
                            .unwrap_or_else(|| e.trimmed().to_string())
                    })
                    .unwrap_or_default();
                if value.is_empty() {
                    String::new()
                } else {
                    format!("{value} {unit}").trim().to_string()
                }
            })
            .unwrap_or_default(),
        m.text("12"),
    ]);

    let online = l.descendants().into_iter().any(|d| {
        d.name.to_ascii_lowercase().contains("onlinedienst") && !d.deep_text().trim().is_empty()
    }) || ctx
        .links
        .iter()
        .any(|n| refers_to(n, &lid) && mentions_online(n));

    let org = find_org(l, &lid, ctx).map(org_unit);
    let explicit_in_person = l.descendants().into_iter().find_map(|d| {
        let n = d.name.to_ascii_lowercase();
        if n.contains("persoenlich") || n.contains("vorort") {
            truthy(d.trimmed())
        } else {
            None
        }
    });
    let in_person = explicit_in_person
        .unwrap_or_else(|| org.as_ref().is_some_and(|o| !o.address.is_empty()) || !online);

    Ok(ImportedService {
        leika,
        name,
        description,
        documents,
        fee_text,
        fee_cents,
        legal_basis,
        processing_time,
        online,
        in_person,
        org_unit: org,
    })
}

/// Liest eine XZuFi-2.x-Nachricht. Liefert alle Leistungen oder einen
/// Fehler (nie eine Teilmenge).
pub fn parse(xml: &[u8]) -> Result<Vec<ImportedService>, ImportError> {
    let (root, ns) = build_tree(xml)?;
    if !NS_PREFIXES.iter().any(|p| ns.starts_with(p)) {
        return Err(ImportError::WrongRoot {
            found: root.name.clone(),
            namespace: ns,
        });
    }
    let mut leistungen = Vec::new();
    let mut ctx = Context {
        orgs: Vec::new(),
        links: Vec::new(),
        any_zustaendigkeit: false,
    };
    if root.name == "leistung" {
        leistungen.push(&root);
    } else {
        collect(&root, &mut leistungen, &mut ctx, false);
    }
    if leistungen.is_empty() {
        return Err(ImportError::NoServices);
    }
    leistungen
        .iter()
        .enumerate()
        .map(|(i, l)| parse_service(i + 1, l, &ctx))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/xzufi-sample.xml");

    fn leistung(leika: &str, name: &str, extra: &str) -> String {
        format!(
            r#"<xzufi:leistung><xzufi:id schemeAgencyID="S1">L-1</xzufi:id><xzufi:referenzLeiKa><code>{leika}</code></xzufi:referenzLeiKa><xzufi:modulText><xzufi:inhalt languageCode="de">{name}</xzufi:inhalt><xzufi:leikaTextmodul><code>02</code></xzufi:leikaTextmodul></xzufi:modulText>{extra}</xzufi:leistung>"#
        )
    }

    fn msg(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><xzufi:transfer.operation.040 xmlns:xzufi="http://xoev.de/schemata/xzufi/2_2_0" xzufiVersion="2.2.0"><xzufi:schreibe>{body}</xzufi:schreibe></xzufi:transfer.operation.040>"#
        )
    }

    #[test]
    fn leika_validation() {
        assert!(validate_leika("99050012104000"));
        assert!(!validate_leika("9905001210400"));
        assert!(!validate_leika("990500121040000"));
        assert!(!validate_leika("9905001210400a"));
        assert!(!validate_leika(" 99050012104000"));
        assert!(!validate_leika("٩٩٠٥٠٠١٢١٠٤٠٠٠"));
        assert!(!validate_leika(""));
    }

    #[test]
    fn fixture_personalausweis() {
        let s = parse(FIXTURE).unwrap();
        assert_eq!(s.len(), 3);
        let pa = &s[0];
        assert_eq!(pa.leika, "99050012104000");
        assert_eq!(pa.name, "Personalausweis beantragen");
        assert!(
            pa.description
                .starts_with("Den Personalausweis beantragen Sie")
        );
        assert!(pa.description.contains("\n"));
        assert!(!pa.description.contains('<'));
        assert_eq!(
            pa.documents,
            vec![
                "bisheriger Personalausweis oder Reisepass",
                "ein aktuelles biometrisches Passfoto",
                "bei Namensänderung: Heirats- oder Geburtsurkunde",
            ]
        );
        assert_eq!(pa.fee_cents, Some(3700));
        assert!(pa.fee_text.contains("37,00 Euro"));
        assert_eq!(
            pa.legal_basis,
            vec![
                "§ 9 Personalausweisgesetz (PAuswG)",
                "Personalausweisgebührenverordnung (PAuswGebV)",
            ]
        );
        assert_eq!(pa.processing_time, "etwa 3 bis 4 Wochen");
        assert!(pa.online);
        assert!(pa.in_person);
        let org = pa.org_unit.as_ref().unwrap();
        assert_eq!(org.key, "OE-BB-01");
        assert_eq!(org.name, "Bürgerbüro Musterstadt");
        assert_eq!(org.address, "Marktplatz 1, 12345 Musterstadt");
        assert_eq!(org.email, "buergerbuero@musterstadt.example");
        assert_eq!(org.phone, "+49 1234 567-0");
        assert!(org.opening_hours.contains("Mo–Fr 8:00–12:00"));
        assert!(org.opening_hours.contains("Do 14:00–18:00"));
    }

    #[test]
    fn fixture_hundesteuer_and_third() {
        let s = parse(FIXTURE).unwrap();
        let h = &s[1];
        assert_eq!(h.leika, "99102013001000");
        assert_eq!(h.name, "Hundesteuer anmelden");
        assert_eq!(h.fee_cents, Some(0));
        assert!(h.fee_text.contains("gebührenfrei"));
        assert_eq!(h.processing_time, "2 Wochen");
        assert!(!h.online);
        assert!(h.in_person);
        assert_eq!(
            h.documents,
            vec!["Nachweis über die Haftpflichtversicherung"]
        );
        assert_eq!(
            h.legal_basis,
            vec!["Hundesteuersatzung der Stadt Musterstadt"]
        );
        let org = h.org_unit.as_ref().unwrap();
        assert_eq!(org.key, "OE-ST-02");
        assert_eq!(org.name, "Steueramt");
        assert_eq!(org.phone, "0123 4567-89");
        assert_eq!(org.email, "");

        let w = &s[2];
        assert_eq!(w.name, "Wohnsitz anmelden");
        assert_eq!(w.fee_cents, Some(1250));
        assert!(w.online);
        assert!(!w.in_person);
        assert_eq!(w.org_unit, None);
        assert_eq!(w.description, "Kurztext zur Anmeldung.");
    }

    #[test]
    fn single_leistung_root_and_other_versions() {
        for ver in ["2_0_0", "2_1_0", "2_2_0", "2_3_1"] {
            let x = leistung("99050012104000", "A", "").replacen(
                "<xzufi:leistung>",
                &format!("<xzufi:leistung xmlns:xzufi=\"http://xoev.de/schemata/xzufi/{ver}\">"),
                1,
            );
            let s = parse(x.as_bytes()).unwrap();
            assert_eq!(s.len(), 1, "{ver}");
            assert_eq!(s[0].name, "A");
            assert_eq!(s[0].org_unit, None);
            assert_eq!(s[0].fee_cents, None);
            assert!(s[0].in_person && !s[0].online);
        }
    }

    #[test]
    fn wrong_root() {
        let x = r#"<x:leistung xmlns:x="http://xoev.de/schemata/xzufi/1_0_0"/>"#;
        assert!(matches!(
            parse(x.as_bytes()),
            Err(ImportError::WrongRoot { .. })
        ));
        let x = r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>"#;
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("keine XZuFi"), "{e}");
        assert!(matches!(
            parse(b"<leistung/>"),
            Err(ImportError::WrongRoot { .. })
        ));
    }

    #[test]
    fn empty_message() {
        assert_eq!(parse(msg("").as_bytes()), Err(ImportError::NoServices));
    }

    #[test]
    fn missing_key_names_the_service() {
        let body = format!(
            "{}{}",
            leistung("99050012104000", "A", ""),
            leistung("99050012104000", "B", "").replace(
                "<xzufi:referenzLeiKa><code>99050012104000</code></xzufi:referenzLeiKa>",
                ""
            )
        );
        let x = msg(&body);
        let e = parse(x.as_bytes()).unwrap_err();
        match &e {
            ImportError::Service {
                index, field, pos, ..
            } => {
                assert_eq!(*index, 2);
                assert_eq!(*field, "referenzLeiKa");
                assert!(x[*pos..].starts_with("<xzufi:leistung>"));
            }
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("Leistung Nr. 2") && text.contains("L-1"),
            "{text}"
        );
    }

    #[test]
    fn invalid_key_and_empty_name() {
        let x = msg(&leistung("9905001210400", "A", ""));
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("14 Ziffern"), "{e}");
        let x = msg(&leistung("99050012104000", "  <p></p> ", ""));
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("Bezeichnung"), "{e}");
    }

    #[test]
    fn malformed_xml_is_error_with_position() {
        let x = msg(&leistung("99050012104000", "A", "")).replace("</xzufi:schreibe>", "");
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(matches!(e, ImportError::Xml { .. }), "{e}");
        let trunc = &FIXTURE[..FIXTURE.len() - 40];
        assert!(matches!(parse(trunc), Err(ImportError::Xml { .. })));
        let e =
            parse(b"<a:b xmlns:a='http://xoev.de/schemata/xzufi/2_2_0'><c:d/></a:b>").unwrap_err();
        assert!(matches!(e, ImportError::Xml { .. }), "{e}");
        assert!(matches!(
            parse(b"\xc3\x28"),
            Err(ImportError::Encoding { pos: 0 })
        ));
        assert!(parse(b"").is_err());
    }

    #[test]
    fn guards() {
        let big = vec![b' '; MAX_SIZE + 1];
        assert!(matches!(parse(&big), Err(ImportError::TooLarge { .. })));
        let deep = format!(
            "<x:a xmlns:x=\"http://xoev.de/schemata/xzufi/2_2_0\">{}{}</x:a>",
            "<b>".repeat(70),
            "</b>".repeat(70)
        );
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(ImportError::TooDeep { .. })
        ));
        let ok = format!(
            "<x:a xmlns:x=\"http://xoev.de/schemata/xzufi/2_2_0\">{}{}{}</x:a>",
            "<b>".repeat(55),
            leistung("99050012104000", "Tief", "").replace("xzufi:", "x:"),
            "</b>".repeat(55)
        );
        assert_eq!(parse(ok.as_bytes()).unwrap()[0].name, "Tief");
    }

    #[test]
    fn html_stripping() {
        assert_eq!(
            html_to_lines(
                "<p>Erster&nbsp;Absatz</p><ul><li>Eins</li><li>Zwei &amp; Drei</li></ul>Ende<br/>neu"
            ),
            vec!["Erster Absatz", "Eins", "Zwei & Drei", "Ende", "neu"]
        );
        assert_eq!(
            html_to_text("a < b &unknown; &#228;&#xFC;"),
            "a < b &unknown; äü"
        );
        assert_eq!(html_to_text("<script>alert(1)</script>Text"), "Text");
        assert_eq!(
            html_to_text("<b>fett</b>und<i>kursiv</i>"),
            "fett und kursiv"
        );
        assert_eq!(html_to_text("offen <p"), "offen <p");
    }

    #[test]
    fn html_as_child_elements_and_cdata() {
        let extra = r#"<xzufi:modulText><xzufi:inhalt languageCode="en">English</xzufi:inhalt><xzufi:inhalt languageCode="de"><p>Absatz <b>eins</b></p><p>zwei</p></xzufi:inhalt><xzufi:leikaTextmodul><code>06</code></xzufi:leikaTextmodul></xzufi:modulText><xzufi:modulText><xzufi:inhalt><![CDATA[<ul><li>Foto</li><li>- Ausweis</li></ul>]]></xzufi:inhalt><xzufi:leikaTextmodul><code>08</code></xzufi:leikaTextmodul></xzufi:modulText>"#;
        let s = parse(msg(&leistung("99050012104000", "A", extra)).as_bytes()).unwrap();
        assert_eq!(s[0].description, "Absatz eins\nzwei");
        assert_eq!(s[0].documents, vec!["Foto", "Ausweis"]);
    }

    #[test]
    fn money_parsing() {
        assert_eq!(parse_money("37"), Some(3700));
        assert_eq!(parse_money("37,5"), Some(3750));
        assert_eq!(parse_money("37.50"), Some(3750));
        assert_eq!(parse_money("1.234,56"), Some(123_456));
        assert_eq!(parse_money("1,234.56"), Some(123_456));
        assert_eq!(parse_money("1.234"), Some(123_400));
        assert_eq!(parse_money("37,-"), Some(3700));
        assert_eq!(parse_money("12.34.5"), None);
        assert_eq!(parse_money("abc"), None);
        assert_eq!(parse_money(""), None);
        assert_eq!(parse_money("99999999999999"), None);
    }

    #[test]
    fn amount_from_free_text() {
        assert_eq!(
            amount_from_text("Die Gebühr beträgt 37,00 Euro."),
            Some(3700)
        );
        assert_eq!(amount_from_text("Gebühr: 22,80€"), Some(2280));
        assert_eq!(amount_from_text("EUR 10"), Some(1000));
        assert_eq!(amount_from_text("10 bis 20 Euro"), None);
        assert_eq!(
            amount_from_text("22,80 € für unter 24-Jährige, 37,00 € sonst"),
            None
        );
        assert_eq!(amount_from_text("Die Anmeldung ist gebührenfrei."), Some(0));
        assert_eq!(amount_from_text("Kosten nach Aufwand"), None);
        assert_eq!(amount_from_text("Antrag Nr. 12345"), None);
    }

    #[test]
    fn structured_fee_variants() {
        let fix = r#"<xzufi:modulKosten><xzufi:kosten><xzufi:betrag>28.80</xzufi:betrag><xzufi:waehrung><code>EUR</code></xzufi:waehrung></xzufi:kosten></xzufi:modulKosten>"#;
        let s = parse(msg(&leistung("99050012104000", "A", fix)).as_bytes()).unwrap();
        assert_eq!(s[0].fee_cents, Some(2880));
        assert_eq!(s[0].fee_text, "28,80 EUR");
        let usd = fix.replace("<code>EUR</code>", "<code>USD</code>");
        let s = parse(msg(&leistung("99050012104000", "A", &usd)).as_bytes()).unwrap();
        assert_eq!(s[0].fee_cents, None);
        let range = r#"<xzufi:modulKosten><xzufi:beschreibung languageCode="de">nach Aufwand</xzufi:beschreibung><xzufi:kosten><xzufi:betragUntergrenze>10</xzufi:betragUntergrenze><xzufi:betragObergrenze>50</xzufi:betragObergrenze></xzufi:kosten></xzufi:modulKosten>"#;
        let s = parse(msg(&leistung("99050012104000", "A", range)).as_bytes()).unwrap();
        assert_eq!(s[0].fee_cents, None);
        assert_eq!(s[0].fee_text, "nach Aufwand");
    }

    #[test]
    fn explicit_in_person_flag() {
        let extra = "<xzufi:kennzeichenPersoenlichesErscheinen>false</xzufi:kennzeichenPersoenlichesErscheinen>";
        let s = parse(msg(&leistung("99050012104000", "A", extra)).as_bytes()).unwrap();
        assert!(!s[0].in_person);
    }

    #[test]
    fn zustaendigkeit_transfer_object() {
        let body = format!(
            "{}<xzufi:organisationseinheit><xzufi:id>OE-9</xzufi:id><xzufi:name><xzufi:name languageCode=\"de\">Ordnungsamt</xzufi:name></xzufi:name></xzufi:organisationseinheit><xzufi:organisationseinheit><xzufi:id>OE-10</xzufi:id><xzufi:name>Andere</xzufi:name></xzufi:organisationseinheit><xzufi:zustaendigkeitTransferObjekt><xzufi:uebergeordnetesObjektID>OE-9</xzufi:uebergeordnetesObjektID><xzufi:zustaendigkeit><xzufi:leistungID>L-1</xzufi:leistungID></xzufi:zustaendigkeit></xzufi:zustaendigkeitTransferObjekt>",
            leistung("99050012104000", "A", "")
        );
        let s = parse(msg(&body).as_bytes()).unwrap();
        let org = s[0].org_unit.as_ref().unwrap();
        assert_eq!(org.key, "OE-9");
        assert_eq!(org.name, "Ordnungsamt");
    }

    #[test]
    fn serde_roundtrip() {
        let s = parse(FIXTURE).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let back: Vec<ImportedService> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
