//! `$expand` with nested options, and the normalisation of expand items.

use std::collections::HashMap;

use super::ast::{ExpandItem, QueryOptions};
use super::error::{ErrorKind, quote};
use super::lexer::Tok;
use super::parser::{End, Parser, Res};

/// The query options SensorThings defines, with their canonical spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptionKind {
    Filter,
    Expand,
    Select,
    Orderby,
    Top,
    Skip,
    Count,
    ResultFormat,
}

impl OptionKind {
    pub const ALL: [OptionKind; 8] = [
        OptionKind::Filter,
        OptionKind::Expand,
        OptionKind::Select,
        OptionKind::Orderby,
        OptionKind::Top,
        OptionKind::Skip,
        OptionKind::Count,
        OptionKind::ResultFormat,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OptionKind::Filter => "$filter",
            OptionKind::Expand => "$expand",
            OptionKind::Select => "$select",
            OptionKind::Orderby => "$orderby",
            OptionKind::Top => "$top",
            OptionKind::Skip => "$skip",
            OptionKind::Count => "$count",
            OptionKind::ResultFormat => "$resultFormat",
        }
    }

    /// Looks an option up by name, ignoring ASCII case (OData 4.01).
    pub fn from_name(name: &str) -> Option<OptionKind> {
        OptionKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

const NESTED_OPTIONS: &str =
    "a nested query option ($select, $expand, $filter, $orderby, $top, $skip or $count)";

impl Parser<'_> {
    /// `item (, item)*`, ending at `end`; items are normalised and merged.
    pub(crate) fn parse_expand_list(&mut self, end: End) -> Res<Vec<ExpandItem>> {
        let mut items = Vec::new();
        loop {
            let start = self.peek()?.start;
            items.push((self.parse_expand_item()?, start));
            if self.peek()?.tok == Tok::Comma {
                self.bump()?;
                continue;
            }
            self.expect_end(end, &["','", "'/'", "'('"])?;
            break;
        }
        normalize(items).map_err(|(conflict, pos)| {
            self.lx.error(
                ErrorKind::ConflictingExpand,
                pos,
                &[&format!(
                    "at most one {} for the expanded '{}'",
                    conflict.option, conflict.navigation
                )],
                "a second one",
            )
        })
    }

    /// `Nav(/Nav)*[(options)]`, turned into nested single-navigation items.
    fn parse_expand_item(&mut self) -> Res<ExpandItem> {
        let mut names = Vec::new();
        loop {
            let t = self.bump()?;
            if t.tok != Tok::Ident {
                return Err(self.syntax_error(&t, &["a navigation property name"]));
            }
            // Every path step is one level of the expand tree and counts as
            // two levels of nesting, the same as the equivalent nested form
            // `A($expand=B)` does, whose parentheses add no further level.
            // (So `A/B` and `A($expand=B)` hit the limit at the same depth.)
            self.enter(t.start)?;
            self.enter(t.start)?;
            names.push(self.text(&t).to_owned());
            if self.peek()?.tok == Tok::Slash {
                self.bump()?;
            } else {
                break;
            }
        }
        let mut options = QueryOptions::default();
        let t = self.peek()?.clone();
        if t.tok == Tok::LParen {
            self.bump()?;
            if self.peek()?.tok == Tok::RParen {
                self.bump()?;
            } else {
                options = self.parse_nested_options()?;
                self.expect(Tok::RParen, &["';'", "')'"])?;
            }
        }
        for _ in &names {
            self.leave();
            self.leave();
        }
        let mut names = names.into_iter().rev();
        let mut item = ExpandItem {
            navigation: names.next().unwrap_or_default(),
            options,
        };
        for name in names {
            item = ExpandItem {
                navigation: name,
                options: QueryOptions {
                    expand: vec![item],
                    ..QueryOptions::default()
                },
            };
        }
        Ok(item)
    }

    /// `$opt=value (; $opt=value)*` inside the parentheses of an expand item.
    fn parse_nested_options(&mut self) -> Res<QueryOptions> {
        let mut opts = QueryOptions::default();
        let mut seen = [false; OptionKind::ALL.len()];
        loop {
            let t = self.bump()?;
            if t.tok != Tok::Dollar {
                return Err(self.syntax_error(&t, &[NESTED_OPTIONS]));
            }
            let name = self.text(&t);
            let kind = match OptionKind::from_name(name) {
                Some(k) if k != OptionKind::ResultFormat => k,
                _ => {
                    return Err(self.lx.error(
                        ErrorKind::UnknownOption,
                        t.start,
                        &[NESTED_OPTIONS],
                        format!("unknown option {}", quote(name)),
                    ));
                }
            };
            if seen[kind.index()] {
                return Err(self.lx.error(
                    ErrorKind::DuplicateOption,
                    t.start,
                    &[&format!("{} at most once per expand item", kind.name())],
                    "it a second time",
                ));
            }
            seen[kind.index()] = true;
            self.expect(Tok::Equals, &[&format!("'=' after {}", kind.name())])?;
            match kind {
                OptionKind::Filter => opts.filter = Some(self.parse_filter_value(End::Nested)?),
                OptionKind::Expand => opts.expand = self.parse_expand_list(End::Nested)?,
                OptionKind::Select => opts.select = Some(self.parse_select_list(End::Nested)?),
                OptionKind::Orderby => opts.orderby = self.parse_orderby_list(End::Nested)?,
                OptionKind::Top => {
                    opts.top = Some(self.parse_unsigned()?);
                    self.expect_end(End::Nested, &[])?;
                }
                OptionKind::Skip => {
                    opts.skip = Some(self.parse_unsigned()?);
                    self.expect_end(End::Nested, &[])?;
                }
                OptionKind::Count => {
                    opts.count = Some(self.parse_bool()?);
                    self.expect_end(End::Nested, &[])?;
                }
                OptionKind::ResultFormat => {}
            }
            if self.peek()?.tok == Tok::Semi {
                self.bump()?;
            } else {
                return Ok(opts);
            }
        }
    }
}

/// Which option was given twice for which navigation property.
pub(crate) struct Conflict {
    pub navigation: String,
    pub option: &'static str,
}

/// Merges items naming the same navigation property, recursively, keeping
/// the order of first appearance. Each item comes with the position of the
/// text it was parsed from, which a conflict reports. Runs in time linear in
/// the number of items per level (items are grouped through a hash map).
pub(crate) fn normalize(
    items: Vec<(ExpandItem, usize)>,
) -> Result<Vec<ExpandItem>, (Conflict, usize)> {
    let mut groups: Vec<(ExpandItem, Vec<(ExpandItem, usize)>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (mut item, pos) in items {
        let nested = std::mem::take(&mut item.options.expand);
        let nested = nested.into_iter().map(|n| (n, pos));
        match index.get(&item.navigation) {
            Some(&i) => {
                let (existing, collected) = &mut groups[i];
                merge_fields(existing, item.options).map_err(|c| (c, pos))?;
                collected.extend(nested);
            }
            None => {
                index.insert(item.navigation.clone(), groups.len());
                groups.push((item, nested.collect()));
            }
        }
    }
    groups
        .into_iter()
        .map(|(mut item, nested)| {
            item.options.expand = normalize(nested)?;
            Ok(item)
        })
        .collect()
}

/// Moves the options other than `$expand` from `from` into `into`.
fn merge_fields(into: &mut ExpandItem, from: QueryOptions) -> Result<(), Conflict> {
    fn take<T>(
        into: &mut Option<T>,
        from: Option<T>,
        name: &'static str,
    ) -> Result<(), &'static str> {
        match (into.is_some(), from) {
            (true, Some(_)) => Err(name),
            (false, Some(v)) => {
                *into = Some(v);
                Ok(())
            }
            (_, None) => Ok(()),
        }
    }
    let nav = &into.navigation;
    let opts = &mut into.options;
    let conflict = |option| Conflict {
        navigation: nav.clone(),
        option,
    };
    take(&mut opts.filter, from.filter, "$filter").map_err(conflict)?;
    take(&mut opts.select, from.select, "$select").map_err(conflict)?;
    take(&mut opts.top, from.top, "$top").map_err(conflict)?;
    take(&mut opts.skip, from.skip, "$skip").map_err(conflict)?;
    take(&mut opts.count, from.count, "$count").map_err(conflict)?;
    take(&mut opts.result_format, from.result_format, "$resultFormat").map_err(conflict)?;
    if !from.orderby.is_empty() {
        if !opts.orderby.is_empty() {
            return Err(conflict("$orderby"));
        }
        opts.orderby = from.orderby;
    }
    Ok(())
}
