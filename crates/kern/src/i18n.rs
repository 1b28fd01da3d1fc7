//! Translations through keys (Project Fluent). German first, English second.
//!
//! Every user-visible text goes through a key. Translation files live in `crates/kern/locales`
//! (`de.ftl`, `en.ftl`) and are embedded at build time; a key missing in English falls back to
//! German, a key missing everywhere shows itself so a reviewer sees it.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::collections::HashMap;
use unic_langid::LanguageIdentifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::De, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Picks the best language from an `Accept-Language` header (q-values honoured), German when
    /// nothing fits.
    pub fn negotiate(accept_language: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in accept_language.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|v| v.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_code(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::De)
    }
}

/// The translation files per language: the core file, then one per module
/// (`locales/LANG/MODULE.ftl`), so modules add keys without touching each other's files.
/// A key may be defined once per language across all files of that language.
const DE: &[&str] = &[
    include_str!("../locales/de.ftl"),
    include_str!("../locales/de/cityops.ftl"),
    include_str!("../locales/de/services.ftl"),
    include_str!("../locales/de/lighting.ftl"),
    include_str!("../locales/de/energy.ftl"),
    include_str!("../locales/de/payments.ftl"),
    include_str!("../locales/de/appointments.ftl"),
    include_str!("../locales/de/cases.ftl"),
];
const EN: &[&str] = &[
    include_str!("../locales/en.ftl"),
    include_str!("../locales/en/cityops.ftl"),
    include_str!("../locales/en/services.ftl"),
    include_str!("../locales/en/lighting.ftl"),
    include_str!("../locales/en/energy.ftl"),
    include_str!("../locales/en/payments.ftl"),
    include_str!("../locales/en/appointments.ftl"),
    include_str!("../locales/en/cases.ftl"),
];

pub struct I18n {
    bundles: HashMap<Lang, FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("I18n")
    }
}

impl I18n {
    /// Loads the built-in translations. Panics only if a shipped `.ftl` file is malformed, which
    /// the unit tests rule out.
    pub fn new() -> I18n {
        let mut bundles = HashMap::new();
        for (lang, files) in [(Lang::De, DE), (Lang::En, EN)] {
            let id: LanguageIdentifier = lang.code().parse().expect("valid language id");
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            bundle.set_use_isolating(false);
            for src in files {
                let res = FluentResource::try_new(src.to_string()).unwrap_or_else(|(_, errs)| {
                    panic!("malformed {} translations: {errs:?}", lang.code())
                });
                bundle
                    .add_resource(res)
                    .unwrap_or_else(|errs| panic!("duplicate {} keys: {errs:?}", lang.code()));
            }
            bundles.insert(lang, bundle);
        }
        I18n { bundles }
    }

    /// Translates `key` with named arguments.
    pub fn t_args(&self, lang: Lang, key: &str, args: &[(&str, String)]) -> String {
        let mut fargs = FluentArgs::new();
        for (k, v) in args {
            fargs.set(*k, FluentValue::from(v.clone()));
        }
        for l in [lang, Lang::De] {
            let bundle = &self.bundles[&l];
            if let Some(msg) = bundle.get_message(key)
                && let Some(pattern) = msg.value()
            {
                let mut errors = vec![];
                let out = bundle.format_pattern(pattern, Some(&fargs), &mut errors);
                return out.into_owned();
            }
        }
        key.to_string()
    }

    pub fn t(&self, lang: Lang, key: &str) -> String {
        self.t_args(lang, key, &[])
    }

    /// Whether a key exists in the given language.
    pub fn has(&self, lang: Lang, key: &str) -> bool {
        self.bundles[&lang].has_message(key)
    }

    /// All message ids of a language, for completeness checks.
    pub fn keys(lang: Lang) -> Vec<String> {
        let files = match lang {
            Lang::De => DE,
            Lang::En => EN,
        };
        files
            .iter()
            .flat_map(|src| src.lines())
            .filter_map(|l| {
                let (k, _) = l.split_once('=')?;
                let k = k.trim();
                (!l.starts_with([' ', '#', '\t', '.']) && !k.is_empty()).then(|| k.to_string())
            })
            .collect()
    }
}

impl Default for I18n {
    fn default() -> Self {
        I18n::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_languages() {
        assert_eq!(Lang::negotiate("en-GB,en;q=0.9,de;q=0.8"), Lang::En);
        assert_eq!(Lang::negotiate("fr-FR,de;q=0.5,en;q=0.4"), Lang::De);
        assert_eq!(Lang::negotiate("fr"), Lang::De);
        assert_eq!(Lang::negotiate(""), Lang::De);
        assert_eq!(Lang::negotiate("de;q=0.2,en;q=0.9"), Lang::En);
    }

    #[test]
    fn every_key_exists_in_both_languages() {
        let i = I18n::new();
        let de = I18n::keys(Lang::De);
        let en = I18n::keys(Lang::En);
        assert!(de.len() > 10);
        for k in &de {
            assert!(i.has(Lang::En, k), "missing English translation for {k}");
        }
        for k in &en {
            assert!(i.has(Lang::De, k), "missing German translation for {k}");
        }
    }

    #[test]
    fn translates_with_arguments_and_falls_back_to_the_key() {
        let i = I18n::new();
        assert_eq!(i.t(Lang::De, "nav-login"), "Anmelden");
        assert_eq!(i.t(Lang::En, "nav-login"), "Sign in");
        assert_eq!(i.t(Lang::En, "no-such-key"), "no-such-key");
        let s = i.t_args(
            Lang::En,
            "footer-operator",
            &[("operator", "City of X".into())],
        );
        assert!(s.contains("City of X"));
    }
}
