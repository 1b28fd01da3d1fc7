//! Parser for the OData query options of the OGC SensorThings API 1.1
//! (OGC 18-088, section 9.3): `$filter`, `$expand`, `$select`, `$orderby`,
//! `$top`, `$skip`, `$count` and `$resultFormat`.
//!
//! The result is a typed syntax tree ([`QueryOptions`], [`Expr`], ...)
//! meant to be translated to SQL by the query planner. The parser does no
//! I/O and resolves nothing against the data model; paths stay lists of
//! segments (see [`Path::parts`] and [`classify_segment`]).
//!
//! ```
//! use sensorthings::odata::{parse_query, BinaryOp, Expr};
//!
//! let q = parse_query("$filter=result gt 3&$top=5&$orderby=phenomenonTime desc").unwrap();
//! assert_eq!(q.top, Some(5));
//! let Some(Expr::Binary { op, .. }) = &q.filter else { panic!() };
//! assert_eq!(*op, BinaryOp::Gt);
//! ```
//!
//! # Syntax accepted
//!
//! * Operators (OData precedence, tightest first): grouping `( )`; member
//!   access `/`, function calls and lambdas; unary `not` and `-`;
//!   `mul div mod`; `add sub`; `gt ge lt le`; `eq ne`; `and`; `or`. All
//!   binary operators are left-associative. Like the OData 4.01 ABNF,
//!   operator keywords, function names, `true`/`false`, `asc`/`desc` and
//!   option names are matched without regard to ASCII case; `null`, `INF`
//!   and `NaN` are case-sensitive. Note that, as in OData, `not` binds
//!   tighter than comparisons: `not a eq b` is `(not a) eq b`.
//! * Literals: `'strings'` (with `''` for a quote), integers (`i64`),
//!   decimals and doubles (`1.5`, `2e10`, `INF`, `-INF`, `NaN`), `true`,
//!   `false`, `null`, date-times with offset (`2016-06-01T00:00:00Z`,
//!   `2016-06-01T00:00:00.123+02:00`), dates (`2016-06-01`), times of day
//!   (`12:30:00`), durations (`duration'P1DT2H'`), and spatial literals
//!   `geography'POINT(7.46 51.51)'` / `geometry'...'` with an optional
//!   OData `SRID=nnnn;` prefix. A plain string given where a geospatial
//!   function expects a geometry (`st_within(location, 'POLYGON(...)')`, as
//!   FROST-Server accepts) is read as WKT too.
//! * Paths: `name`, `Datastream/Thing/name`, `properties/owner/name`,
//!   `properties/my-key/0`, `properties/list[0]`, `@iot.id`; lambdas
//!   `Datastreams/any(d: d/name eq 'x')`, `Things/all(t: ...)`,
//!   `Datastreams/any()`.
//! * The functions of [`Function`], with the argument count checked.
//!
//! # The query string
//!
//! [`parse_query`] splits the raw query at `&`, then each part at the first
//! `=`, and form-decodes name and value: `+` becomes a space (HTML forms and
//! many HTTP clients, e.g. Python's `requests`, encode spaces so), a literal
//! plus must be sent as `%2B`. A date-time offset whose `+` arrived as a space
//! (`...T10:00:00 02:00`) is still read as a positive offset. Inside expression
//! values a bare `+` outside quotes is skipped like white space (the parse
//! functions that take decoded values see it), as OData has no `+` operator. Parameters not starting with `$` are ignored; unknown
//! `$`-options and repeated options are errors.
//!
//! # `$expand`
//!
//! Items are normalised to one navigation property each: the path form
//! `Datastreams/Observations($top=5)` becomes `Datastreams` with a nested
//! `$expand=Observations($top=5)`, and items for the same navigation
//! property are merged (see [`ExpandItem`]).
//!
//! # Printing
//!
//! [`Expr`], [`Path`], [`OrderBy`], [`ExpandItem`] and [`QueryOptions`]
//! implement `Display` with canonical OData text that parses back to the
//! same tree (`{:#}` on an [`Expr`] adds every parenthesis);
//! [`QueryOptions::to_query_string`] percent-encodes it for links such as
//! `@iot.nextLink`.
//!
//! # Errors and limits
//!
//! Every function returns a [`ParseError`] naming the option, the position
//! in the decoded value, what was expected and what was found. The parser
//! never panics; nesting is limited to [`MAX_NESTING`] levels and
//! expression trees to [`MAX_EXPRESSION_DEPTH`] levels.

mod ast;
mod display;
mod error;
mod expand;
mod lexer;
mod parser;

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

pub use ast::{
    BinaryOp, DurationLiteral, ExpandItem, Expr, Function, GeoKind, GeometryLiteral, LambdaKind,
    LambdaPredicate, Literal, NavigationProperty, OrderBy, Path, PathParts, QueryOptions,
    ResultFormat, ReturnType, Segment, SegmentKind, SortDirection, UnaryOp, classify_segment,
};
pub use error::{ErrorKind, ParseError};
pub use parser::{MAX_EXPRESSION_DEPTH, MAX_NESTING};

use expand::OptionKind;
use parser::{End, Parser};

/// Parses a raw URL query string (the part after `?`; a leading `?` is
/// skipped) into all SensorThings query options.
///
/// Values are percent-decoded before parsing; positions in errors refer to
/// the decoded value of the option named in the error.
pub fn parse_query(raw_query: &str) -> Result<QueryOptions, ParseError> {
    parse_query_inner(raw_query).map_err(|e| *e)
}

fn parse_query_inner(raw_query: &str) -> Result<QueryOptions, Box<ParseError>> {
    let raw = raw_query.strip_prefix('?').unwrap_or(raw_query);
    let mut opts = QueryOptions::default();
    let mut seen = [false; OptionKind::ALL.len()];
    for part in raw.split('&') {
        if part.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = match part.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (part, None),
        };
        let name = decode(raw_name, raw_name)?;
        if !name.starts_with('$') {
            // Custom query options are not ours to judge.
            continue;
        }
        let Some(kind) = OptionKind::from_name(&name) else {
            return Err(ParseError::new(
                ErrorKind::UnknownOption,
                &name,
                "",
                0,
                vec![
                    "a SensorThings query option ($filter, $expand, $select, $orderby, $top, \
                     $skip, $count or $resultFormat)"
                        .to_owned(),
                ],
                format!("unknown option {}", error::quote(&name)),
            ));
        };
        let option = kind.name();
        if seen[kind.index()] {
            return Err(ParseError::new(
                ErrorKind::DuplicateOption,
                option,
                "",
                0,
                vec![format!("{option} at most once")],
                "it a second time".to_owned(),
            ));
        }
        seen[kind.index()] = true;
        let Some(raw_value) = raw_value else {
            return Err(ParseError::new(
                ErrorKind::Syntax,
                option,
                "",
                0,
                vec![format!("'=' and a value after {option}")],
                "end of input".to_owned(),
            ));
        };
        let value = decode(option, raw_value)?;
        let value = value.as_ref();
        match kind {
            OptionKind::Filter => {
                opts.filter = Some(parse_option(option, value, |p| {
                    p.parse_filter_value(End::Eof)
                })?)
            }
            OptionKind::Expand => {
                opts.expand = parse_option(option, value, |p| p.parse_expand_list(End::Eof))?
            }
            OptionKind::Select => {
                opts.select = Some(parse_option(option, value, |p| {
                    p.parse_select_list(End::Eof)
                })?)
            }
            OptionKind::Orderby => {
                opts.orderby = parse_option(option, value, |p| p.parse_orderby_list(End::Eof))?
            }
            OptionKind::Top => opts.top = Some(parse_unsigned_value(option, value)?),
            OptionKind::Skip => opts.skip = Some(parse_unsigned_value(option, value)?),
            OptionKind::Count => {
                opts.count = Some(parse_option(option, value, |p| {
                    let b = p.parse_bool()?;
                    p.expect_end(End::Eof, &[])?;
                    Ok(b)
                })?)
            }
            OptionKind::ResultFormat => {
                if value != ResultFormat::DataArray.as_str() {
                    return Err(ParseError::new(
                        ErrorKind::InvalidValue,
                        option,
                        value,
                        0,
                        vec!["'dataArray'".to_owned()],
                        error::quote(value),
                    ));
                }
                opts.result_format = Some(ResultFormat::DataArray);
            }
        }
    }
    Ok(opts)
}

/// Parses a (percent-decoded) `$filter` value.
pub fn parse_filter(s: &str) -> Result<Expr, ParseError> {
    parse_option("$filter", s, |p| p.parse_filter_value(End::Eof)).map_err(|e| *e)
}

/// Parses a (percent-decoded) `$expand` value, including nested options.
pub fn parse_expand(s: &str) -> Result<Vec<ExpandItem>, ParseError> {
    parse_option("$expand", s, |p| p.parse_expand_list(End::Eof)).map_err(|e| *e)
}

/// Parses a (percent-decoded) `$select` value.
pub fn parse_select(s: &str) -> Result<Vec<Path>, ParseError> {
    parse_option("$select", s, |p| p.parse_select_list(End::Eof)).map_err(|e| *e)
}

/// Parses a (percent-decoded) `$orderby` value.
pub fn parse_orderby(s: &str) -> Result<Vec<OrderBy>, ParseError> {
    parse_option("$orderby", s, |p| p.parse_orderby_list(End::Eof)).map_err(|e| *e)
}

fn parse_option<T>(
    option: &str,
    value: &str,
    f: impl FnOnce(&mut Parser<'_>) -> Result<T, Box<ParseError>>,
) -> Result<T, Box<ParseError>> {
    let mut p = Parser::new(option, value);
    f(&mut p)
}

/// `$top` / `$skip`: only ASCII digits.
fn parse_unsigned_value(option: &str, value: &str) -> Result<u64, Box<ParseError>> {
    parse_option(option, value, |p| {
        let n = p.parse_unsigned()?;
        p.expect_end(End::Eof, &[])?;
        Ok(n)
    })
}

fn decode<'a>(option: &str, raw: &'a str) -> Result<Cow<'a, str>, Box<ParseError>> {
    // Query strings are form-encoded by browsers and most HTTP clients (Python's `requests`,
    // which frost-sta-client uses): `+` stands for a space, a literal plus arrives as `%2B`.
    let raw: Cow<'a, str> = if raw.contains('+') {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    };
    let decoded = match raw {
        Cow::Borrowed(r) => percent_decode_str(r).decode_utf8(),
        Cow::Owned(r) => percent_decode_str(&r)
            .decode_utf8()
            .map(|c| Cow::Owned(c.into_owned())),
    };
    decoded.map_err(|e| {
        ParseError::new(
            ErrorKind::InvalidEncoding,
            option,
            "",
            0,
            vec!["percent-encoded UTF-8 text".to_owned()],
            "bytes that are not valid UTF-8".to_owned(),
        )
        .with_note(e.to_string())
    })
}
