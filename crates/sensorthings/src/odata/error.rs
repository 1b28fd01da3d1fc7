//! The error type of the query-option parser.

use std::fmt;

/// What went wrong, for programmatic handling. The human-readable details are
/// in [`ParseError::expected`], [`ParseError::found`] and
/// [`ParseError::note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An unexpected token (also unbalanced parentheses, missing operands).
    Syntax,
    /// A string (or `geography'...'`, `duration'...'`) literal without its
    /// closing quote.
    UnterminatedString,
    /// A call of a function that is not built in.
    UnknownFunction,
    /// A built-in function called with the wrong number of arguments.
    WrongArity,
    /// A malformed or out-of-range number, date, time or duration literal,
    /// or an invalid `st_relate` pattern.
    InvalidLiteral,
    /// A malformed WKT geometry.
    InvalidGeometry,
    /// Parentheses, function calls, lambdas or expands nested too deeply, or
    /// an expression too large to handle safely.
    TooDeep,
    /// A bad value of `$top`, `$skip`, `$count` or `$resultFormat`.
    InvalidValue,
    /// A `$`-option that SensorThings does not define.
    UnknownOption,
    /// A query option given twice (at the top level or inside one expand).
    DuplicateOption,
    /// The same navigation property expanded twice with the same option.
    ConflictingExpand,
    /// Percent-encoding that does not decode to UTF-8.
    InvalidEncoding,
}

/// A parse error in one query option.
///
/// Its `Display` is one English sentence meant for the body of an HTTP 400
/// response, e.g.
/// `$filter: at column 14: expected ')' or ',' but found 'eq'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The option whose value is wrong (`$filter`, `$expand`, ...). Errors
    /// inside nested expand options are reported under `$expand`, with the
    /// position inside the whole `$expand` value.
    pub option: String,
    /// 0-based byte offset in the percent-decoded option value.
    pub position: usize,
    /// 1-based column (in characters) of `position`, for humans.
    pub column: usize,
    /// Short descriptions of what would have been valid at `position`.
    pub expected: Vec<String>,
    /// A description of what was found instead (`'eq'`, `end of input`).
    pub found: String,
    /// Optional detail (e.g. the WKT reader's message).
    pub note: Option<String>,
    /// The category of the error.
    pub kind: ErrorKind,
}

impl ParseError {
    /// Builds an error at byte `position` of `source` (the option value).
    ///
    /// Errors are boxed inside the parser to keep its stack frames small.
    #[cold]
    #[inline(never)]
    pub(crate) fn new(
        kind: ErrorKind,
        option: &str,
        source: &str,
        position: usize,
        expected: Vec<String>,
        found: String,
    ) -> Box<Self> {
        let position = clamp_to_boundary(source, position);
        let column = source[..position].chars().count() + 1;
        Box::new(ParseError {
            option: option.to_owned(),
            position,
            column,
            expected,
            found,
            note: None,
            kind,
        })
    }

    /// Adds a detail note.
    pub(crate) fn with_note(mut self: Box<Self>, note: impl Into<String>) -> Box<Self> {
        self.note = Some(note.into());
        self
    }

    /// The `expected ...` part of the message, e.g. `')' or ','` or
    /// `one of: ')', ',', an operator`.
    pub fn expected_text(&self) -> String {
        match self.expected.as_slice() {
            [] => "something else".to_owned(),
            [one] => one.clone(),
            [a, b] => format!("{a} or {b}"),
            many => format!("one of: {}", many.join(", ")),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: at column {}: expected {} but found {}",
            self.option,
            self.column,
            self.expected_text(),
            self.found
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

fn clamp_to_boundary(s: &str, mut pos: usize) -> usize {
    if pos > s.len() {
        pos = s.len();
    }
    while !s.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// Quotes a piece of input for an error message, shortening long text.
pub(crate) fn quote(text: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::from("'");
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}
