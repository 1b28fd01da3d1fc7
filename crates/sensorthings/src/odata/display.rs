//! Canonical OData text for the syntax tree.
//!
//! Parsing the printed text yields the same tree again
//! (`parse_filter(&e.to_string()) == Ok(e)` for every parsed `e`).

use std::fmt::{self, Display, Formatter, Write as _};

use chrono::SecondsFormat;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use wkt::ToWkt;

use super::ast::{
    BinaryOp, DurationLiteral, ExpandItem, Expr, Function, GeoKind, GeometryLiteral, LambdaKind,
    Literal, OrderBy, Path, QueryOptions, Segment, SortDirection, UnaryOp,
};

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for Function {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Display for LambdaKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for SortDirection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SortDirection::Asc => "asc",
            SortDirection::Desc => "desc",
        })
    }
}

impl Display for Path {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if let Some(v) = &self.variable {
            f.write_str(v)?;
            first = false;
        }
        for seg in &self.segments {
            match seg {
                Segment::Name(n) => {
                    if !first {
                        f.write_char('/')?;
                    }
                    f.write_str(n)?;
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// Binding strength of an expression when printed: binary operators by
/// their precedence, everything else binds tighter than any of them.
fn strength(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => op.precedence(),
        Expr::Unary { .. } => 7,
        _ => 8,
    }
}

/// Writes `e`, in parentheses if `parens`.
fn write_operand(f: &mut Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
    if parens {
        f.write_char('(')?;
        e.fmt(f)?;
        f.write_char(')')
    } else {
        e.fmt(f)
    }
}

impl Display for Expr {
    /// Prints canonical OData text with only the parentheses the precedence
    /// rules need (`a or b and c`, `(a or b) and c`). The alternate form
    /// `{:#}` puts every unary and binary expression in parentheses, which
    /// shows the tree structure (but may exceed the parser's nesting limit
    /// for very long operator chains).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let full = f.alternate();
        match self {
            Expr::Literal(l) => l.fmt(f),
            Expr::Path(p) => p.fmt(f),
            Expr::Unary { op, expr } => {
                if full {
                    f.write_char('(')?;
                }
                match op {
                    UnaryOp::Not => f.write_str("not ")?,
                    // A space keeps `- 5` and `- INF` from being read back
                    // as the negative literals -5 and -INF.
                    UnaryOp::Neg if matches!(**expr, Expr::Literal(_)) => f.write_str("- ")?,
                    UnaryOp::Neg => f.write_char('-')?,
                }
                write_operand(f, expr, !full && strength(expr) < 7)?;
                if full {
                    f.write_char(')')?;
                }
                Ok(())
            }
            Expr::Binary { op, left, right } => {
                if full {
                    f.write_char('(')?;
                }
                let prec = op.precedence();
                // Left-associative: an equal-precedence operator on the left
                // needs no parentheses, on the right it does.
                write_operand(f, left, !full && strength(left) < prec)?;
                write!(f, " {op} ")?;
                write_operand(f, right, !full && strength(right) <= prec)?;
                if full {
                    f.write_char(')')?;
                }
                Ok(())
            }
            Expr::Call { func, args } => {
                write!(f, "{func}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    a.fmt(f)?;
                }
                f.write_char(')')
            }
            Expr::Lambda {
                path,
                kind,
                predicate,
            } => match predicate {
                None => write!(f, "{path}/{kind}()"),
                Some(p) => {
                    write!(f, "{path}/{kind}({}: ", p.var)?;
                    p.body.fmt(f)?;
                    f.write_char(')')
                }
            },
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Double(d) => {
                if d.is_nan() {
                    f.write_str("NaN")
                } else if d.is_infinite() {
                    f.write_str(if *d > 0.0 { "INF" } else { "-INF" })
                } else {
                    // `{:?}` always prints a '.' or an exponent, so the text
                    // is read back as a double, not an integer.
                    write!(f, "{d:?}")
                }
            }
            Literal::String(s) => {
                f.write_char('\'')?;
                f.write_str(&s.replace('\'', "''"))?;
                f.write_char('\'')
            }
            Literal::DateTime(dt) => f.write_str(&dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Literal::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Literal::TimeOfDay(t) => write!(f, "{t}"),
            Literal::Duration(d) => write!(f, "duration'{d}'"),
            Literal::Geometry(g) => g.fmt(f),
        }
    }
}

impl Display for DurationLiteral {
    /// ISO 8601 form, e.g. `P1DT2H30M` or `-PT0.5S`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_char('-')?;
        }
        f.write_char('P')?;
        if self.years > 0 {
            write!(f, "{}Y", self.years)?;
        }
        if self.months > 0 {
            write!(f, "{}M", self.months)?;
        }
        if self.days > 0 {
            write!(f, "{}D", self.days)?;
        }
        let has_time = self.hours > 0 || self.minutes > 0 || self.seconds > 0 || self.nanos > 0;
        let empty = !has_time && self.years == 0 && self.months == 0 && self.days == 0;
        if has_time || empty {
            f.write_char('T')?;
        }
        if self.hours > 0 {
            write!(f, "{}H", self.hours)?;
        }
        if self.minutes > 0 {
            write!(f, "{}M", self.minutes)?;
        }
        if self.seconds > 0 || self.nanos > 0 || empty {
            write!(f, "{}", self.seconds)?;
            if self.nanos > 0 {
                let frac = format!("{:09}", self.nanos);
                write!(f, ".{}", frac.trim_end_matches('0'))?;
            }
            f.write_char('S')?;
        }
        Ok(())
    }
}

impl Display for GeometryLiteral {
    /// `geography'SRID=4326;POINT(7.46 51.51)'` (the SRID only if given).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            GeoKind::Geography => "geography",
            GeoKind::Geometry => "geometry",
        };
        write!(f, "{prefix}'")?;
        if let Some(srid) = self.srid {
            write!(f, "SRID={srid};")?;
        }
        write!(f, "{}'", self.geometry.wkt_string())
    }
}

impl Display for OrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.expr, self.direction)
    }
}

impl Display for ExpandItem {
    /// `Datastreams($top=5;$expand=Observations)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.navigation)?;
        if !self.options.is_empty() {
            f.write_char('(')?;
            write_options(f, &self.options, ";", &|s| s.to_owned())?;
            f.write_char(')')?;
        }
        Ok(())
    }
}

impl Display for QueryOptions {
    /// The options as `$filter=...&$top=...` without percent-encoding; see
    /// [`QueryOptions::to_query_string`] for URL-ready text.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_options(f, self, "&", &|s| s.to_owned())
    }
}

/// Characters to percent-encode in a query option value.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl QueryOptions {
    /// The options as a percent-encoded query string (without `?`), e.g. for
    /// `@iot.nextLink`. `parse_query(&q.to_query_string()) == Ok(q)`.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        let _ = write_options(&mut out, self, "&", &|s| {
            utf8_percent_encode(s, VALUE_ENCODE).to_string()
        });
        out
    }
}

fn join<T: Display>(items: &[T]) -> String {
    let mut s = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{item}");
    }
    s
}

fn write_options(
    f: &mut dyn fmt::Write,
    o: &QueryOptions,
    sep: &str,
    encode: &dyn Fn(&str) -> String,
) -> fmt::Result {
    let mut parts: Vec<(&str, String)> = Vec::new();
    if let Some(filter) = &o.filter {
        parts.push(("$filter", filter.to_string()));
    }
    if !o.expand.is_empty() {
        parts.push(("$expand", join(&o.expand)));
    }
    if let Some(select) = &o.select {
        parts.push(("$select", join(select)));
    }
    if !o.orderby.is_empty() {
        parts.push(("$orderby", join(&o.orderby)));
    }
    if let Some(top) = o.top {
        parts.push(("$top", top.to_string()));
    }
    if let Some(skip) = o.skip {
        parts.push(("$skip", skip.to_string()));
    }
    if let Some(count) = o.count {
        parts.push(("$count", count.to_string()));
    }
    if let Some(rf) = o.result_format {
        parts.push(("$resultFormat", rf.as_str().to_owned()));
    }
    for (i, (name, value)) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        f.write_str(name)?;
        f.write_char('=')?;
        f.write_str(&encode(value))?;
    }
    Ok(())
}
