//! German full-text search over the service catalog, without an external engine.
//!
//! A catalog has hundreds, at most a few thousand services, so the index is a small JSON
//! document stored with each service (`svc_services.search_terms`) and a query scores every
//! service in memory. The terms are Snowball-stemmed (German) and folded (umlauts, ß, the
//! spellings ae/oe/ue), so "Hundesteuern" finds "Hundesteuer" and "Sperrmuell" finds
//! "Sperrmüll". German compounds are matched by parts ("Parken" finds "Anwohnerparken", and the
//! compound query "Anwohnerparkausweis" finds a service that names "Anwohner" and "Parkausweis"),
//! and a typo within one or two edits (by word length) still matches ("Personalausweiss").
//!
//! A query term must match in every result (AND); when no service matches all terms the best
//! services matching some of them are returned, ranked by their score.

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Words too common to carry meaning in a query or a description.
const STOPWORDS: &[&str] = &[
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines",
    "und", "oder", "fuer", "für", "mit", "von", "vom", "zu", "zum", "zur", "im", "in", "ist",
    "sind", "wird", "werden", "auf", "an", "am", "bei", "als", "wie", "was", "ich", "sie", "es",
    "man", "nicht", "auch", "nach", "aus", "über", "ueber", "bis", "durch", "wenn", "kann", "muss",
    "sich", "ihr", "ihre", "ihren", "so", "the", "of", "and", "for", "to", "a",
];

/// The indexed terms of one service, by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    /// Terms of the name (weighted highest).
    #[serde(rename = "n")]
    pub name: Vec<String>,
    /// Terms of the keywords and the LeiKa key.
    #[serde(rename = "k")]
    pub keywords: Vec<String>,
    /// Terms of description, documents, fees and legal basis.
    #[serde(rename = "b")]
    pub body: Vec<String>,
}

fn fold(word: &str) -> String {
    let mut s = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => s.push('a'),
            'ö' => s.push('o'),
            'ü' => s.push('u'),
            'ß' => s.push_str("ss"),
            c => s.push(c),
        }
    }
    s.replace("ae", "a").replace("oe", "o").replace("ue", "u")
}

/// The search terms of a text: words split at anything but letters and digits, stop words
/// dropped, folded and stemmed.
pub fn terms(text: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::German);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| !STOPWORDS.contains(&w.to_lowercase().as_str()))
        .map(|w| {
            let f = fold(w);
            stemmer.stem(&f).into_owned()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn unique(v: Vec<String>) -> Vec<String> {
    let set: BTreeSet<String> = v.into_iter().collect();
    set.into_iter().collect()
}

/// Builds the index document of a service.
pub fn index(name: &str, keywords: &str, body: &[&str]) -> Terms {
    Terms {
        name: unique(terms(name)),
        keywords: unique(terms(keywords)),
        body: unique(body.iter().flat_map(|t| terms(t)).collect()),
    }
}

fn max_edits(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// How well a query term matches an indexed term, 0 (not at all) to 1 (the same stem).
pub fn term_match(q: &str, t: &str) -> f64 {
    if q == t {
        return 1.0;
    }
    let (ql, tl) = (q.chars().count(), t.chars().count());
    if ql >= 4 && (t.starts_with(q) || t.ends_with(q)) {
        return 0.8;
    }
    if ql >= 5 && t.contains(q) {
        return 0.7;
    }
    if tl >= 4 && (q.starts_with(t) || q.ends_with(t)) {
        return 0.5;
    }
    let k = max_edits(ql.min(tl));
    if k > 0 && ql.abs_diff(tl) <= k {
        let d = strsim::damerau_levenshtein(q, t);
        if d <= k {
            return 0.65 - 0.1 * d as f64;
        }
    }
    0.0
}

fn best(q: &str, terms: &Terms) -> f64 {
    let f = |v: &[String], w: f64| v.iter().map(|t| term_match(q, t)).fold(0.0_f64, f64::max) * w;
    // The best field counts, each further field that also has the word adds a quarter.
    let scores = [
        f(&terms.name, 3.0),
        f(&terms.keywords, 2.0),
        f(&terms.body, 1.0),
    ];
    let top = scores.iter().copied().fold(0.0_f64, f64::max);
    top + 0.25 * (scores.iter().sum::<f64>() - top)
}

/// Scores documents for a query; returns `(position in docs, score)`, best first. Documents
/// that match no term are left out; if some match every term, only those are returned.
pub fn rank(query: &str, docs: &[&Terms]) -> Vec<(usize, f64)> {
    let q = unique(terms(query));
    if q.is_empty() {
        return Vec::new();
    }
    let mut all = Vec::new();
    let mut some = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let scores: Vec<f64> = q.iter().map(|t| best(t, d)).collect();
        let total: f64 = scores.iter().sum();
        if scores.iter().all(|s| *s > 0.0) {
            all.push((i, total));
        } else if total > 0.0 {
            some.push((i, total));
        }
    }
    let mut out = if all.is_empty() { some } else { all };
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, keywords: &str, body: &str) -> Terms {
        index(name, keywords, &[body])
    }

    fn catalog() -> Vec<Terms> {
        vec![
            doc(
                "Personalausweis beantragen",
                "Ausweis Perso Identitätskarte",
                "Der Personalausweis ist das amtliche Ausweisdokument.",
            ),
            doc(
                "Bewohnerparkausweis beantragen",
                "Anwohnerparken Anwohnerparkausweis Parkausweis",
                "Anwohner in Zonen mit Bewohnerparken erhalten einen Parkausweis.",
            ),
            doc(
                "Hundesteuer an- und abmelden",
                "Hund Hundemarke",
                "Wer einen Hund hält, zahlt Hundesteuer.",
            ),
            doc(
                "Sperrmüllabholung anmelden",
                "Sperrmüll Möbel Entsorgung",
                "Sperrige Abfälle werden auf Bestellung abgeholt.",
            ),
            doc(
                "Wohnsitz anmelden",
                "Ummeldung Umzug",
                "Nach einem Umzug melden Sie Ihren Wohnsitz innerhalb von zwei Wochen an.",
            ),
        ]
    }

    fn top(q: &str) -> Option<usize> {
        let c = catalog();
        let refs: Vec<&Terms> = c.iter().collect();
        rank(q, &refs).first().map(|r| r.0)
    }

    #[test]
    fn finds_the_four_searches_of_the_brief() {
        assert_eq!(top("Personalausweis"), Some(0));
        assert_eq!(top("Anwohnerparken"), Some(1));
        assert_eq!(top("Hundesteuer"), Some(2));
        assert_eq!(top("Sperrmüll"), Some(3));
    }

    #[test]
    fn stems_folds_and_splits_compounds() {
        assert_eq!(top("hundesteuern"), Some(2));
        assert_eq!(top("Sperrmuell"), Some(3));
        assert_eq!(top("SPERRMUELL abholen"), Some(3));
        assert_eq!(top("parken"), Some(1));
        assert_eq!(top("umziehen wohnsitz"), Some(4));
    }

    #[test]
    fn tolerates_typos() {
        assert_eq!(top("Personalausweiss"), Some(0));
        assert_eq!(top("Persnalausweis"), Some(0));
        assert_eq!(top("Hundesteur"), Some(2));
        assert_eq!(top("Sprermüll"), Some(3));
        assert_eq!(top("Anwohnerparkn"), Some(1));
    }

    #[test]
    fn unrelated_and_empty_queries_find_nothing() {
        let c = catalog();
        let refs: Vec<&Terms> = c.iter().collect();
        assert!(rank("Baugenehmigung", &refs).is_empty());
        assert!(rank("", &refs).is_empty());
        assert!(rank("der die das", &refs).is_empty());
    }

    #[test]
    fn and_before_or() {
        let c = catalog();
        let refs: Vec<&Terms> = c.iter().collect();
        // Both words only in the dog tax; "anmelden" alone is in three services.
        let r = rank("Hund anmelden", &refs);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, 2);
        // No service has both words: those with either come back.
        let r = rank("Hund Möbel", &refs);
        assert_eq!(r.len(), 2);
    }
}
