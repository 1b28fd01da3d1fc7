//! Import von Kontoauszügen im Format CAMT.053 (ISO 20022
//! „BankToCustomerStatement“, Versionen `camt.053.001.02` bis `.08`).
//!
//! Gelesen werden `Document/BkToCstmrStmt/Stmt` mit Auszugs-ID
//! (`Stmt/Id`), Konto-IBAN (`Stmt/Acct/Id/IBAN`) und allen Buchungen
//! (`Ntry`): Betrag und Währung (`Amt@Ccy`), Soll/Haben (`CdtDbtInd`),
//! Status (`Sts` als Text oder `Sts/Cd`), Buchungs- und Valutadatum
//! (`BookgDt`/`ValDt` mit `Dt` oder `DtTm`) und Bankreferenz
//! (`AcctSvcrRef`). Jede `NtryDtls/TxDtls` ergibt einen eigenen Eintrag
//! (Sammelbuchungen werden aufgelöst): Ende-zu-Ende-Referenz, Bankreferenz,
//! Name und IBAN des Zahlers (`RltdPties/Dbtr` – auch `Dbtr/Pty` ab .08 –
//! und `RltdPties/DbtrAcct`), Verwendungszweck (`RmtInf/Ustrd`, mehrere
//! Zeilen werden mit Leerzeichen verbunden) und strukturierte Referenz
//! (`RmtInf/Strd/CdtrRefInf/Ref`).
//!
//! Beträge werden exakt als Dezimalzeichenkette in Cent umgerechnet (keine
//! Gleitkommazahlen, höchstens zwei Nachkommastellen). Der Import ist
//! „alles oder nichts“: jeder Fehler bricht ab und nennt Element und
//! Byte-Position.

use chrono::NaiveDate;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde::{Deserialize, Serialize};

/// Ein Kontoauszug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub id: String,
    pub iban: String,
    pub entries: Vec<Entry>,
}

/// Ein Umsatz (bei Sammelbuchungen: eine Einzeltransaktion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub amount_cents: i64,
    pub currency: String,
    /// `true` = Gutschrift (CRDT), `false` = Lastschrift (DBIT).
    pub credit: bool,
    /// `true`, wenn der Status `BOOK` (gebucht) ist.
    pub booked: bool,
    pub booking_date: Option<NaiveDate>,
    pub value_date: Option<NaiveDate>,
    /// Referenz der Bank (TxDtls/Refs/AcctSvcrRef, sonst Ntry/AcctSvcrRef).
    pub bank_ref: String,
    pub end_to_end_id: String,
    pub debtor_name: String,
    pub debtor_iban: String,
    /// Strukturierte Referenz (`CdtrRefInf/Ref`), falls vorhanden.
    pub reference: String,
    /// Unstrukturierter Verwendungszweck, Zeilen mit Leerzeichen verbunden.
    pub remittance: String,
}

/// Fehler beim Einlesen eines Kontoauszugs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CamtError {
    #[error("Die Datei ist zu groß ({size} Byte); erlaubt sind höchstens {MAX_SIZE} Byte.")]
    TooLarge { size: usize },
    #[error("Die Datei ist nicht UTF-8-kodiert (Byte-Position {pos}).")]
    Encoding { pos: usize },
    #[error("Die XML-Struktur ist fehlerhaft (Byte-Position {pos}): {message}")]
    Xml { pos: usize, message: String },
    #[error("Die Elemente sind tiefer als {MAX_DEPTH} Ebenen verschachtelt (Byte-Position {pos}).")]
    TooDeep { pos: usize },
    #[error(
        "Die Datei ist kein CAMT.053-Kontoauszug: gefunden wurde <{found}> im Namensraum „{namespace}“ (Byte-Position {pos})."
    )]
    WrongRoot {
        found: String,
        namespace: String,
        pos: usize,
    },
    #[error("Kontoauszug Nr. {statement}, Element <{element}> (Byte-Position {pos}): {message}")]
    Field {
        statement: usize,
        element: String,
        pos: usize,
        message: String,
    },
}

/// Größte akzeptierte Datei (20 MiB).
pub const MAX_SIZE: usize = 20 * 1024 * 1024;
/// Größte akzeptierte Verschachtelungstiefe.
pub const MAX_DEPTH: usize = 64;
const NS_PREFIX: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.";
const VERSIONS: [&str; 7] = ["02", "03", "04", "05", "06", "07", "08"];

// ---------------------------------------------------------------------------
// Kleiner XML-Baum (nur lokale Namen; der Namensraum wird am Wurzelelement
// geprüft)
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
    pos: usize,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, p| n.child(p))
    }
    fn text_at(&self, path: &[&str]) -> String {
        self.path(path)
            .map(|n| n.text.trim().to_string())
            .unwrap_or_default()
    }
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn xml_err(pos: u64, e: impl std::fmt::Display) -> CamtError {
    CamtError::Xml {
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

fn resolve_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Liest `xml` in einen Baum und liefert Wurzel und deren Namensraum.
fn build_tree(xml: &[u8]) -> Result<(Node, String), CamtError> {
    if xml.len() > MAX_SIZE {
        return Err(CamtError::TooLarge { size: xml.len() });
    }
    let text = std::str::from_utf8(xml).map_err(|e| CamtError::Encoding {
        pos: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let offset = xml.len() - text.len();
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<(Node, String)> = None;
    let mut root_ns = String::new();
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
        let ns = ns.map_err(|prefix| CamtError::Xml {
            pos,
            message: format!("Das Namensraum-Präfix „{prefix}“ ist nicht deklariert."),
        })?;
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(CamtError::Xml {
                        pos,
                        message: "Nach dem Wurzelelement folgt ein weiteres Element.".into(),
                    });
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(CamtError::TooDeep { pos });
                }
                let name = s.local_name().as_ref().to_string();
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
                    name,
                    attrs,
                    pos,
                    ..Node::default()
                };
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(p) => p.children.push(node),
                        None => root = Some((node, std::mem::take(&mut root_ns))),
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| CamtError::Xml {
                    pos,
                    message: "Schließendes Element ohne öffnendes Element.".into(),
                })?;
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None => root = Some((node, std::mem::take(&mut root_ns))),
                }
            }
            Event::Text(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err(CamtError::Xml {
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
                    resolve_entity(&r)
                };
                let Some(ch) = ch else {
                    return Err(CamtError::Xml {
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
        return Err(CamtError::Xml {
            pos: open.pos,
            message: format!(
                "Das Element <{}> wird nicht geschlossen (Datei unvollständig?).",
                open.name
            ),
        });
    }
    root.ok_or(CamtError::Xml {
        pos: 0,
        message: "Die Datei enthält kein XML-Element.".into(),
    })
}

// ---------------------------------------------------------------------------
// Werte
// ---------------------------------------------------------------------------

/// Wandelt einen Dezimalbetrag wie `1234.5` exakt in Cent um.
pub fn parse_amount_cents(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() || !int.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("„{s}“ ist kein gültiger Betrag."));
    }
    if s.contains('.') && frac.is_empty() || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("„{s}“ ist kein gültiger Betrag."));
    }
    if frac.len() > 2 {
        return Err(format!(
            "Der Betrag „{s}“ hat mehr als zwei Nachkommastellen."
        ));
    }
    if int.trim_start_matches('0').len() > 15 {
        return Err(format!("Der Betrag „{s}“ ist zu groß."));
    }
    let int: i64 = int.parse().map_err(|_| format!("„{s}“ ist zu groß."))?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().unwrap_or(0) * 10,
        _ => frac.parse::<i64>().unwrap_or(0),
    };
    Ok(int * 100 + frac)
}

struct Ctx {
    statement: usize,
}

impl Ctx {
    fn err(&self, node: &Node, message: impl Into<String>) -> CamtError {
        CamtError::Field {
            statement: self.statement,
            element: node.name.clone(),
            pos: node.pos,
            message: message.into(),
        }
    }
}

fn parse_date(ctx: &Ctx, node: Option<&Node>) -> Result<Option<NaiveDate>, CamtError> {
    let Some(node) = node else { return Ok(None) };
    let (src, raw) = if let Some(d) = node.child("Dt") {
        (d, d.text.trim())
    } else if let Some(d) = node.child("DtTm") {
        (d, d.text.trim())
    } else {
        return Ok(None);
    };
    let day = raw.get(..10).unwrap_or(raw);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            ctx.err(
                src,
                format!("„{raw}“ ist kein gültiges Datum (JJJJ-MM-TT)."),
            )
        })
}

fn parse_amt(ctx: &Ctx, amt: &Node) -> Result<(i64, String), CamtError> {
    let cents = parse_amount_cents(&amt.text).map_err(|m| ctx.err(amt, m))?;
    let ccy = amt.attr("Ccy").unwrap_or("").trim().to_string();
    if ccy.len() != 3 || !ccy.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ctx.err(
            amt,
            "Die Währung (Attribut Ccy, z. B. EUR) fehlt oder ist ungültig.",
        ));
    }
    Ok((cents, ccy))
}

fn parse_credit(ctx: &Ctx, node: &Node) -> Result<bool, CamtError> {
    match node.text.trim() {
        "CRDT" => Ok(true),
        "DBIT" => Ok(false),
        other => Err(ctx.err(
            node,
            format!("„{other}“ ist weder CRDT (Gutschrift) noch DBIT (Lastschrift)."),
        )),
    }
}

fn party_name(party: Option<&Node>) -> String {
    party
        .map(|p| {
            let n = p.text_at(&["Nm"]);
            if n.is_empty() {
                p.text_at(&["Pty", "Nm"])
            } else {
                n
            }
        })
        .unwrap_or_default()
}

fn parse_entry(ctx: &Ctx, ntry: &Node, out: &mut Vec<Entry>) -> Result<(), CamtError> {
    let amt = ntry
        .child("Amt")
        .ok_or_else(|| ctx.err(ntry, "Der Betrag (Amt) fehlt."))?;
    let (amount, currency) = parse_amt(ctx, amt)?;
    let ind = ntry
        .child("CdtDbtInd")
        .ok_or_else(|| ctx.err(ntry, "Soll/Haben-Kennzeichen (CdtDbtInd) fehlt."))?;
    let credit = parse_credit(ctx, ind)?;
    let status = ntry
        .child("Sts")
        .map(|s| {
            let cd = s.text_at(&["Cd"]);
            if cd.is_empty() {
                s.text.trim().to_string()
            } else {
                cd
            }
        })
        .unwrap_or_default();
    let booked = status == "BOOK";
    let booking_date = parse_date(ctx, ntry.child("BookgDt"))?;
    let value_date = parse_date(ctx, ntry.child("ValDt"))?;
    let entry_ref = ntry.text_at(&["AcctSvcrRef"]);

    let txs: Vec<&Node> = ntry
        .children_named("NtryDtls")
        .flat_map(|d| d.children_named("TxDtls"))
        .collect();
    let base = Entry {
        amount_cents: amount,
        currency: currency.clone(),
        credit,
        booked,
        booking_date,
        value_date,
        bank_ref: entry_ref.clone(),
        end_to_end_id: String::new(),
        debtor_name: String::new(),
        debtor_iban: String::new(),
        reference: String::new(),
        remittance: String::new(),
    };
    if txs.is_empty() {
        out.push(base);
        return Ok(());
    }
    let single = txs.len() == 1;
    let mut sum: i64 = 0;
    for tx in &txs {
        let tx_amt = tx
            .child("Amt")
            .or_else(|| tx.path(&["AmtDtls", "TxAmt", "Amt"]));
        let (amount_cents, currency) = match tx_amt {
            Some(a) => parse_amt(ctx, a)?,
            None if single => (amount, currency.clone()),
            None => {
                return Err(ctx.err(
                    tx,
                    "Sammelbuchung: Einzelbetrag der Transaktion (Amt oder AmtDtls/TxAmt/Amt) fehlt.",
                ));
            }
        };
        let credit = match tx.child("CdtDbtInd") {
            Some(i) => parse_credit(ctx, i)?,
            None => credit,
        };
        if currency == base.currency {
            sum = sum.saturating_add(amount_cents);
        }
        let tx_ref = tx.text_at(&["Refs", "AcctSvcrRef"]);
        let end_to_end = tx.text_at(&["Refs", "EndToEndId"]);
        let end_to_end_id = if end_to_end == "NOTPROVIDED" {
            String::new()
        } else {
            end_to_end
        };
        let parties = tx.child("RltdPties");
        let debtor_name = party_name(parties.and_then(|p| p.child("Dbtr")));
        let debtor_iban = parties
            .map(|p| p.text_at(&["DbtrAcct", "Id", "IBAN"]))
            .unwrap_or_default();
        let rmt = tx.child("RmtInf");
        let remittance = rmt
            .map(|r| {
                r.children_named("Ustrd")
                    .map(|u| u.text.trim())
                    .filter(|u| !u.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let reference = rmt
            .and_then(|r| {
                r.children_named("Strd")
                    .map(|s| s.text_at(&["CdtrRefInf", "Ref"]))
                    .find(|s| !s.is_empty())
            })
            .unwrap_or_default();
        out.push(Entry {
            amount_cents,
            currency,
            credit,
            bank_ref: if tx_ref.is_empty() {
                entry_ref.clone()
            } else {
                tx_ref
            },
            end_to_end_id,
            debtor_name,
            debtor_iban,
            reference,
            remittance,
            ..base.clone()
        });
    }
    let _ = sum; // Summenabweichungen sind bei Gebührenverrechnung möglich; kein Fehler.
    Ok(())
}

/// Liest eine CAMT.053-Datei. Liefert alle Kontoauszüge oder einen Fehler
/// (nie eine Teilmenge).
pub fn parse(xml: &[u8]) -> Result<Vec<Statement>, CamtError> {
    let (root, ns) = build_tree(xml)?;
    let version_ok = ns
        .strip_prefix(NS_PREFIX)
        .is_some_and(|v| VERSIONS.contains(&v));
    if root.name != "Document" || !version_ok {
        return Err(CamtError::WrongRoot {
            found: root.name.clone(),
            namespace: ns,
            pos: root.pos,
        });
    }
    let ctx0 = Ctx { statement: 0 };
    let bk = root
        .child("BkToCstmrStmt")
        .ok_or_else(|| ctx0.err(&root, "Das Element BkToCstmrStmt fehlt."))?;
    let mut statements = Vec::new();
    for (i, stmt) in bk.children_named("Stmt").enumerate() {
        let ctx = Ctx { statement: i + 1 };
        let id = stmt.text_at(&["Id"]);
        if id.is_empty() {
            return Err(ctx.err(stmt, "Die Auszugs-ID (Id) fehlt."));
        }
        let iban = stmt.text_at(&["Acct", "Id", "IBAN"]);
        if iban.is_empty() {
            return Err(ctx.err(stmt, "Die IBAN des Kontos (Acct/Id/IBAN) fehlt."));
        }
        let mut entries = Vec::new();
        for ntry in stmt.children_named("Ntry") {
            parse_entry(&ctx, ntry, &mut entries)?;
        }
        statements.push(Statement { id, iban, entries });
    }
    if statements.is_empty() {
        return Err(ctx0.err(bk, "Die Datei enthält keinen Kontoauszug (Stmt)."));
    }
    Ok(statements)
}

// ---------------------------------------------------------------------------
// Referenzsuche
// ---------------------------------------------------------------------------

fn compact_upper(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Kandidaten für eine RF-Referenz in freiem Text, längste zuerst je
/// Fundstelle. Erkannt werden die kompakte Form (`RF18539007547034`) und die
/// gedruckte Vierergruppen-Form (`RF18 5390 0754 7034`), auch klein
/// geschrieben. Gruppen aus gemischter Groß-/Kleinschreibung (normale Wörter
/// wie „Hund“) beenden eine Referenz.
fn rf_candidates(text: &str) -> Vec<String> {
    let tokens: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        let up = tok.to_ascii_uppercase();
        if up.len() < 4 || !up.starts_with("RF") || !up[2..4].chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let mut group: Vec<String> = vec![up.clone()];
        if up.len() == 4 {
            for next in &tokens[i + 1..] {
                let mixed = next.chars().any(|c| c.is_ascii_lowercase())
                    && next.chars().any(|c| c.is_ascii_uppercase());
                let joined: usize = group.iter().map(String::len).sum::<usize>() + next.len();
                if next.len() > 4 || mixed || joined > 25 {
                    break;
                }
                group.push(next.to_ascii_uppercase());
            }
        }
        for n in (1..=group.len()).rev() {
            let cand: String = group[..n].concat();
            if cand.len() >= 5 && cand.len() <= 25 {
                out.push(cand);
            }
        }
    }
    out
}

/// Sucht eine RF-Gläubigerreferenz (ISO 11649) in einem Umsatz: zuerst die
/// strukturierte Referenz, dann den Verwendungszweck. `pattern` prüft einen
/// Kandidaten (normalisiert: ohne Leerzeichen, groß geschrieben), z. B.
/// [`crate::epc::valid_creditor_reference`]. Liefert die normalisierte
/// Referenz.
pub fn find_reference(entry: &Entry, pattern: impl Fn(&str) -> bool) -> Option<String> {
    let structured = compact_upper(&entry.reference);
    if !structured.is_empty() && pattern(&structured) {
        return Some(structured);
    }
    rf_candidates(&entry.reference)
        .into_iter()
        .chain(rf_candidates(&entry.remittance))
        .find(|c| pattern(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epc::valid_creditor_reference;

    const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/camt053-sample.xml");

    fn doc(version: &str, body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId></GrpHdr>{body}</BkToCstmrStmt></Document>"#
        )
    }

    fn stmt(entries: &str) -> String {
        format!(
            "<Stmt><Id>S1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>{entries}</Stmt>"
        )
    }

    const SIMPLE: &str = r#"<Ntry><Amt Ccy="EUR">37.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-03-01</Dt></BookgDt><ValDt><Dt>2024-03-02</Dt></ValDt><AcctSvcrRef>B1</AcctSvcrRef></Ntry>"#;

    #[test]
    fn fixture_parses() {
        let st = parse(FIXTURE).unwrap();
        assert_eq!(st.len(), 1);
        let s = &st[0];
        assert_eq!(s.id, "2024-03-STMT-0042");
        assert_eq!(s.iban, "DE89370400440532013000");
        // 1 Einzelgutschrift + 3 aus Sammelbuchung + 1 Lastschrift + 1 Duplikat + 1 vorgemerkt
        assert_eq!(s.entries.len(), 7);

        let e = &s.entries[0];
        assert_eq!(e.amount_cents, 3700);
        assert_eq!(e.currency, "EUR");
        assert!(e.credit && e.booked);
        assert_eq!(e.booking_date, NaiveDate::from_ymd_opt(2024, 3, 4));
        assert_eq!(e.value_date, NaiveDate::from_ymd_opt(2024, 3, 4));
        assert_eq!(e.end_to_end_id, "E2E-PA-0815");
        assert_eq!(e.debtor_name, "Erika Mustermann");
        assert_eq!(e.debtor_iban, "DE02120300000000202051");
        assert_eq!(e.reference, "RF18539007547034");
        assert_eq!(e.bank_ref, "BANKREF-TX-0001");

        // Sammelbuchung: je TxDtls ein Eintrag, Beträge aus TxDtls
        let batch: Vec<i64> = s.entries[1..4].iter().map(|e| e.amount_cents).collect();
        assert_eq!(batch, vec![12000, 4850, 1]);
        assert_eq!(
            s.entries[1].remittance,
            "Hundesteuer 2024 Kassenzeichen RF17 HUND 2024 4711"
        );
        assert_eq!(s.entries[2].debtor_name, "Hans Meier");
        assert_eq!(s.entries[3].bank_ref, "BANKREF-BATCH-7");

        let debit = &s.entries[4];
        assert!(!debit.credit);
        assert_eq!(debit.amount_cents, 129_999);

        // Duplikat: gleiche Bankreferenz wie Eintrag 0
        assert_eq!(s.entries[5].bank_ref, s.entries[0].bank_ref);
        assert_eq!(s.entries[5].amount_cents, s.entries[0].amount_cents);

        let pending = &s.entries[6];
        assert!(!pending.booked);
        assert_eq!(pending.booking_date, None);
    }

    #[test]
    fn fixture_references() {
        let st = parse(FIXTURE).unwrap();
        let e = &st[0].entries;
        assert_eq!(
            find_reference(&e[0], valid_creditor_reference).as_deref(),
            Some("RF18539007547034")
        );
        let expect = crate::epc::creditor_reference("HUND20244711");
        assert_eq!(expect, "RF17HUND20244711");
        assert_eq!(
            find_reference(&e[1], valid_creditor_reference).as_deref(),
            Some("RF17HUND20244711")
        );
        assert_eq!(
            find_reference(&e[2], valid_creditor_reference).as_deref(),
            Some("RF18539007547034")
        );
        assert_eq!(find_reference(&e[4], valid_creditor_reference), None);
    }

    #[test]
    fn all_namespace_versions() {
        for v in VERSIONS {
            let s = parse(doc(v, &stmt(SIMPLE)).as_bytes()).unwrap();
            assert_eq!(s[0].entries[0].amount_cents, 3700, "Version {v}");
        }
        assert!(matches!(
            parse(doc("01", &stmt(SIMPLE)).as_bytes()),
            Err(CamtError::WrongRoot { .. })
        ));
        assert!(matches!(
            parse(doc("09", &stmt(SIMPLE)).as_bytes()),
            Err(CamtError::WrongRoot { .. })
        ));
    }

    #[test]
    fn wrong_root_and_namespace() {
        let x = r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"><BkToCstmrAcctRpt/></Document>"#;
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("kein CAMT.053"), "{e}");
        let x = r#"<Foo xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>"#;
        assert!(matches!(
            parse(x.as_bytes()),
            Err(CamtError::WrongRoot { .. })
        ));
        // Präfix-Schreibweise ist erlaubt
        let x = doc("02", &stmt(SIMPLE))
            .replace("<Document xmlns=", "<c:Document xmlns:c=")
            .replace("</Document>", "</c:Document>");
        assert!(parse(x.as_bytes()).is_ok());
    }

    #[test]
    fn status_variants() {
        let new_sts = SIMPLE.replace("<Sts>BOOK</Sts>", "<Sts><Cd>BOOK</Cd></Sts>");
        assert!(parse(doc("08", &stmt(&new_sts)).as_bytes()).unwrap()[0].entries[0].booked);
        let pdng = SIMPLE.replace("<Sts>BOOK</Sts>", "<Sts>PDNG</Sts>");
        assert!(!parse(doc("02", &stmt(&pdng)).as_bytes()).unwrap()[0].entries[0].booked);
    }

    #[test]
    fn amount_parsing() {
        assert_eq!(parse_amount_cents("0.01"), Ok(1));
        assert_eq!(parse_amount_cents("12"), Ok(1200));
        assert_eq!(parse_amount_cents("12.5"), Ok(1250));
        assert_eq!(parse_amount_cents(" 1234567.89 "), Ok(123_456_789));
        assert_eq!(parse_amount_cents("0.10"), Ok(10));
        assert!(parse_amount_cents("1.234").is_err());
        assert!(parse_amount_cents("-1.00").is_err());
        assert!(parse_amount_cents("1,00").is_err());
        assert!(parse_amount_cents("1.").is_err());
        assert!(parse_amount_cents(".5").is_err());
        assert!(parse_amount_cents("1e3").is_err());
        assert!(parse_amount_cents("").is_err());
        assert!(parse_amount_cents("9999999999999999").is_err());
        assert_eq!(
            parse_amount_cents("999999999999999.99"),
            Ok(99_999_999_999_999_999)
        );
    }

    #[test]
    fn too_many_decimals_is_error_with_position() {
        let bad = SIMPLE.replace("37.00", "37.001");
        let x = doc("02", &stmt(&bad));
        let e = parse(x.as_bytes()).unwrap_err();
        match &e {
            CamtError::Field {
                element,
                pos,
                statement,
                ..
            } => {
                assert_eq!(element, "Amt");
                assert_eq!(*statement, 1);
                assert_eq!(&x[*pos..*pos + 4], "<Amt");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("Nachkommastellen"));
    }

    #[test]
    fn missing_currency_and_bad_indicator_and_date() {
        let x = doc("02", &stmt(&SIMPLE.replace(" Ccy=\"EUR\"", "")));
        assert!(
            parse(x.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("Währung")
        );
        let x = doc("02", &stmt(&SIMPLE.replace("CRDT", "XXXX")));
        assert!(
            parse(x.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("CRDT")
        );
        let x = doc("02", &stmt(&SIMPLE.replace("2024-03-01", "2024-02-30")));
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("<Dt>"), "{e}");
        let dttm = SIMPLE.replace(
            "<Dt>2024-03-01</Dt>",
            "<DtTm>2024-03-01T10:00:00+01:00</DtTm>",
        );
        let s = parse(doc("02", &stmt(&dttm)).as_bytes()).unwrap();
        assert_eq!(
            s[0].entries[0].booking_date,
            NaiveDate::from_ymd_opt(2024, 3, 1)
        );
    }

    #[test]
    fn all_or_nothing() {
        // zweiter Auszug fehlerhaft → gar kein Ergebnis
        let second = stmt(&SIMPLE.replace("37.00", "abc")).replace("S1", "S2");
        let x = doc("02", &format!("{}{}", stmt(SIMPLE), second));
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(matches!(e, CamtError::Field { statement: 2, .. }), "{e}");
    }

    #[test]
    fn batch_without_single_amounts_is_error() {
        let batch = r#"<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><NtryDtls><TxDtls><Refs><EndToEndId>A</EndToEndId></Refs></TxDtls><TxDtls><Refs><EndToEndId>B</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>"#;
        let e = parse(doc("02", &stmt(batch)).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("Sammelbuchung"), "{e}");
        // eine einzige TxDtls ohne Betrag übernimmt den Buchungsbetrag
        let single = r#"<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><RmtInf><Ustrd>Zeile 1</Ustrd><Ustrd>Zeile 2</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"#;
        let s = parse(doc("02", &stmt(single)).as_bytes()).unwrap();
        let e = &s[0].entries[0];
        assert_eq!(e.amount_cents, 1000);
        assert_eq!(e.end_to_end_id, "");
        assert_eq!(e.remittance, "Zeile 1 Zeile 2");
    }

    #[test]
    fn v08_party_structure() {
        let x = r#"<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><NtryDtls><TxDtls><Amt Ccy="EUR">5.00</Amt><RltdPties><Dbtr><Pty><Nm>Firma &amp; Co. KG</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct></RltdPties></TxDtls></NtryDtls></Ntry>"#;
        let s = parse(doc("08", &stmt(x)).as_bytes()).unwrap();
        assert_eq!(s[0].entries[0].debtor_name, "Firma & Co. KG");
        assert_eq!(s[0].entries[0].debtor_iban, "DE02120300000000202051");
    }

    #[test]
    fn malformed_xml_reports_position() {
        let x = doc("02", &stmt(SIMPLE)).replace("</Ntry>", "</Ntr>");
        let e = parse(x.as_bytes()).unwrap_err();
        assert!(matches!(e, CamtError::Xml { pos, .. } if pos > 0), "{e}");
        let trunc = &FIXTURE[..FIXTURE.len() / 2];
        assert!(matches!(parse(trunc), Err(CamtError::Xml { .. })));
        assert!(matches!(
            parse(b"\xff\xfe<a/>"),
            Err(CamtError::Encoding { pos: 0 })
        ));
        assert!(parse(b"").is_err());
        assert!(parse(b"<Document").is_err());
        let x = doc("02", &stmt(SIMPLE)).replace("B1", "&foo;");
        assert!(
            parse(x.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("&foo;")
        );
    }

    #[test]
    fn size_and_depth_guards() {
        let big = vec![b' '; MAX_SIZE + 1];
        assert!(matches!(parse(&big), Err(CamtError::TooLarge { .. })));
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(CamtError::TooDeep { .. })
        ));
    }

    #[test]
    fn missing_statement_fields() {
        let x = doc(
            "02",
            "<Stmt><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct></Stmt>",
        );
        assert!(
            parse(x.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("Auszugs-ID")
        );
        let x = doc("02", "<Stmt><Id>X</Id></Stmt>");
        assert!(
            parse(x.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("IBAN")
        );
        let x = doc("02", "");
        assert!(
            parse(x.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("keinen Kontoauszug")
        );
    }

    #[test]
    fn reference_search_tolerance() {
        let mut e = parse(doc("02", &stmt(SIMPLE)).as_bytes()).unwrap()[0].entries[0].clone();
        e.remittance = "Zahlung rf18 5390 0754 7034 Hund".into();
        assert_eq!(
            find_reference(&e, valid_creditor_reference).as_deref(),
            Some("RF18539007547034")
        );
        e.remittance = "Kassenzeichen:RF18539007547034.".into();
        assert_eq!(
            find_reference(&e, valid_creditor_reference).as_deref(),
            Some("RF18539007547034")
        );
        e.remittance = "RF19539007547034".into();
        assert_eq!(find_reference(&e, valid_creditor_reference), None);
        e.reference = "rf18 5390 0754 7034".into();
        assert_eq!(
            find_reference(&e, valid_creditor_reference).as_deref(),
            Some("RF18539007547034")
        );
        e.reference.clear();
        e.remittance = "Referenz RFXX und sonst nichts".into();
        assert_eq!(find_reference(&e, valid_creditor_reference), None);
        // eigener Prüfer
        e.remittance = "RF18539007547034".into();
        assert_eq!(find_reference(&e, |_| false), None);
    }
}
