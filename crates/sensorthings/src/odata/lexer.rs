//! Tokens of OData query-option values.
//!
//! The lexer works on the percent-decoded value of one option and is driven
//! by the parser one token at a time; a few context-dependent pieces (path
//! segments after `/`, the digits of `$top`) are scanned by dedicated
//! methods.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use geo::CoordsIter;

use super::ast::{DurationLiteral, GeoKind, GeometryLiteral, Literal};
use super::error::{ErrorKind, ParseError, quote};

/// Maximum nesting of parentheses inside one WKT literal; deeper input would
/// only serve to exhaust the WKT reader's stack.
const MAX_WKT_NESTING: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name: `name`, `geo.distance`, `@iot.id`, `eq`, `true`, ...
    Ident,
    /// `$filter`, `$top`, ... (inside `$expand(...)`).
    Dollar,
    /// Any literal with its value (boxed to keep tokens small).
    Lit(Box<Literal>),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Slash,
    Colon,
    Semi,
    Equals,
    Minus,
    /// A character that starts no token.
    Other,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

pub(crate) struct Lexer<'a> {
    pub src: &'a str,
    pub option: &'a str,
    pub pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '@'
}

/// Characters of a path segment after `/`: also digits first and `-`, which
/// occur in keys of JSON objects such as `properties/my-key/2`.
fn is_segment_char(c: char) -> bool {
    is_ident_char(c) || c == '-'
}

impl<'a> Lexer<'a> {
    pub fn new(option: &'a str, src: &'a str) -> Self {
        Lexer {
            src,
            option,
            pos: 0,
        }
    }

    pub fn error(
        &self,
        kind: ErrorKind,
        pos: usize,
        expected: &[&str],
        found: impl Into<String>,
    ) -> Box<ParseError> {
        ParseError::new(
            kind,
            self.option,
            self.src,
            pos,
            expected.iter().map(|s| (*s).to_owned()).collect(),
            found.into(),
        )
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.src.get(i..).and_then(|s| s.chars().next())
    }

    fn byte_at(&self, i: usize) -> Option<u8> {
        self.src.as_bytes().get(i).copied()
    }

    fn digit_at(&self, i: usize) -> bool {
        self.byte_at(i).is_some_and(|b| b.is_ascii_digit())
    }

    /// Skips white space. A bare `+` counts as white space too: HTML forms
    /// and many HTTP client libraries encode spaces as `+`, and OData has no
    /// `+` operator (a leading `+` on a number does not change its value;
    /// `+` inside quoted literals and date-time offsets is kept).
    pub fn skip_ws(&mut self) {
        while let Some(c) = self.peek_char() {
            if matches!(c, ' ' | '\t' | '\r' | '\n' | '+') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The text of a token.
    pub fn text(&self, t: &Token) -> &'a str {
        &self.src[t.start..t.end]
    }

    /// A description of a token for "found ..." in error messages.
    pub fn describe(&self, t: &Token) -> String {
        match t.tok {
            Tok::Eof => "end of input".to_owned(),
            // String literals are shown as written, quotes included.
            Tok::Lit(ref lit) if matches!(**lit, Literal::String(_)) => {
                let text = self.text(t);
                match text.char_indices().nth(40) {
                    Some((cut, _)) => format!("{}…'", &text[..cut]),
                    None => text.to_owned(),
                }
            }
            _ => quote(self.text(t)),
        }
    }

    fn tok(&mut self, tok: Tok, start: usize, end: usize) -> Result<Token, Box<ParseError>> {
        self.pos = end;
        Ok(Token { tok, start, end })
    }

    pub fn next_token(&mut self) -> Result<Token, Box<ParseError>> {
        self.skip_ws();
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let one = start + c.len_utf8();
        match c {
            '(' => self.tok(Tok::LParen, start, one),
            ')' => self.tok(Tok::RParen, start, one),
            '[' => self.tok(Tok::LBracket, start, one),
            ']' => self.tok(Tok::RBracket, start, one),
            ',' => self.tok(Tok::Comma, start, one),
            '/' => self.tok(Tok::Slash, start, one),
            ':' => self.tok(Tok::Colon, start, one),
            ';' => self.tok(Tok::Semi, start, one),
            '=' => self.tok(Tok::Equals, start, one),
            '\'' => self.lex_string(start),
            '-' => {
                if self.digit_at(one) {
                    self.lex_number(start)
                } else if self.src[one..].starts_with("INF")
                    && !self.char_at(one + 3).is_some_and(is_ident_char)
                {
                    self.tok(
                        Tok::Lit(Box::new(Literal::Double(f64::NEG_INFINITY))),
                        start,
                        one + 3,
                    )
                } else {
                    self.tok(Tok::Minus, start, one)
                }
            }
            '0'..='9' => self.lex_number(start),
            '$' => {
                let end = self.scan_while(one, is_ident_char);
                if end == one {
                    self.tok(Tok::Other, start, one)
                } else {
                    self.tok(Tok::Dollar, start, end)
                }
            }
            c if is_ident_start(c) => {
                let end = self.scan_while(one, is_ident_char);
                if self.byte_at(end) == Some(b'\'') {
                    let word = &self.src[start..end];
                    for (prefix, is_geo) in [
                        ("geography", Some(GeoKind::Geography)),
                        ("geometry", Some(GeoKind::Geometry)),
                        ("duration", None),
                    ] {
                        if word.eq_ignore_ascii_case(prefix) {
                            return self.lex_prefixed(start, end, is_geo);
                        }
                    }
                }
                self.tok(Tok::Ident, start, end)
            }
            _ => self.tok(Tok::Other, start, one),
        }
    }

    fn scan_while(&self, from: usize, pred: fn(char) -> bool) -> usize {
        let mut end = from;
        for c in self.src[from..].chars() {
            if !pred(c) {
                break;
            }
            end += c.len_utf8();
        }
        end
    }

    /// Scans a path segment after `/` (white space before it is skipped).
    /// Returns its span, or `None` if no segment character follows.
    pub fn scan_segment(&mut self) -> Option<(usize, usize)> {
        self.skip_ws();
        let start = self.pos;
        let end = self.scan_while(start, is_segment_char);
        if end == start {
            None
        } else {
            self.pos = end;
            Some((start, end))
        }
    }

    /// Scans a run of ASCII digits (white space before it is skipped).
    pub fn scan_digits(&mut self) -> Option<(usize, usize)> {
        self.skip_ws();
        let start = self.pos;
        let mut end = start;
        while self.digit_at(end) {
            end += 1;
        }
        if end == start {
            None
        } else {
            self.pos = end;
            Some((start, end))
        }
    }

    fn lex_string(&mut self, start: usize) -> Result<Token, Box<ParseError>> {
        let mut value = String::new();
        let mut i = start + 1;
        while let Some(q) = self.src.get(i..).and_then(|rest| rest.find('\'')) {
            value.push_str(&self.src[i..i + q]);
            let after = i + q + 1;
            if self.byte_at(after) == Some(b'\'') {
                value.push('\'');
                i = after + 1;
            } else {
                return self.tok(Tok::Lit(Box::new(Literal::String(value))), start, after);
            }
        }
        Err(self.error(
            ErrorKind::UnterminatedString,
            start,
            &["a closing quote (') for the string that starts here"],
            "end of input",
        ))
    }

    /// `geography'...'`, `geometry'...'`, `duration'...'`.
    fn lex_prefixed(
        &mut self,
        start: usize,
        quote_pos: usize,
        geo: Option<GeoKind>,
    ) -> Result<Token, Box<ParseError>> {
        let body_start = quote_pos + 1;
        let Some(len) = self.src[body_start..].find('\'') else {
            return Err(self.error(
                ErrorKind::UnterminatedString,
                start,
                &["a closing quote (') for the literal that starts here"],
                "end of input",
            ));
        };
        let body = &self.src[body_start..body_start + len];
        let end = body_start + len + 1;
        let lit = match geo {
            Some(kind) => Literal::Geometry(
                parse_geometry(kind, body).map_err(|e| self.geometry_error(start, body, e))?,
            ),
            None => Literal::Duration(parse_duration(body).ok_or_else(|| {
                self.error(
                    ErrorKind::InvalidLiteral,
                    start,
                    &["an ISO 8601 duration such as 'P1DT2H30M'"],
                    quote(body),
                )
            })?),
        };
        self.tok(Tok::Lit(Box::new(lit)), start, end)
    }

    pub fn geometry_error(&self, pos: usize, body: &str, msg: String) -> Box<ParseError> {
        self.error(
            ErrorKind::InvalidGeometry,
            pos,
            &["a WKT geometry such as 'POINT(7.46 51.51)'"],
            quote(body),
        )
        .with_note(msg)
    }

    fn lex_number(&mut self, start: usize) -> Result<Token, Box<ParseError>> {
        let negative = self.byte_at(start) == Some(b'-');
        let digits_start = if negative { start + 1 } else { start };
        let mut i = digits_start;
        while self.digit_at(i) {
            i += 1;
        }
        let int_len = i - digits_start;
        if !negative {
            if int_len == 4 && self.looks_like_date_rest(i) {
                return self.lex_date(start);
            }
            if int_len == 2 && self.byte_at(i) == Some(b':') && self.two_digits(i + 1) {
                let (time, end) = self.scan_time(start)?;
                return self.tok(Tok::Lit(Box::new(Literal::TimeOfDay(time))), start, end);
            }
        }
        let mut is_double = false;
        if self.byte_at(i) == Some(b'.') {
            if !self.digit_at(i + 1) {
                return Err(self.error(
                    ErrorKind::InvalidLiteral,
                    i + 1,
                    &["a digit after the decimal point"],
                    self.found_at(i + 1),
                ));
            }
            i += 1;
            while self.digit_at(i) {
                i += 1;
            }
            is_double = true;
        }
        if matches!(self.byte_at(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(self.byte_at(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if !self.digit_at(j) {
                return Err(self.error(
                    ErrorKind::InvalidLiteral,
                    j,
                    &["the digits of the exponent"],
                    self.found_at(j),
                ));
            }
            while self.digit_at(j) {
                j += 1;
            }
            i = j;
            is_double = true;
        }
        let text = &self.src[start..i];
        let lit = if is_double {
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Literal::Double(v),
                _ => {
                    return Err(self.error(
                        ErrorKind::InvalidLiteral,
                        start,
                        &["a number within the range of a 64-bit floating-point value"],
                        quote(text),
                    ));
                }
            }
        } else {
            match text.parse::<i64>() {
                Ok(v) => Literal::Int(v),
                Err(_) => {
                    return Err(self.error(
                        ErrorKind::InvalidLiteral,
                        start,
                        &["an integer between -9223372036854775808 and 9223372036854775807"],
                        quote(text),
                    ));
                }
            }
        };
        self.tok(Tok::Lit(Box::new(lit)), start, i)
    }

    /// "found ..." for a single position inside a literal.
    fn found_at(&self, i: usize) -> String {
        match self.char_at(i) {
            None => "end of input".to_owned(),
            Some(c) => quote(&c.to_string()),
        }
    }

    fn two_digits(&self, i: usize) -> bool {
        self.digit_at(i) && self.digit_at(i + 1)
    }

    /// After `YYYY`: `-MM-DD`.
    fn looks_like_date_rest(&self, i: usize) -> bool {
        self.byte_at(i) == Some(b'-')
            && self.two_digits(i + 1)
            && self.byte_at(i + 3) == Some(b'-')
            && self.two_digits(i + 4)
    }

    fn num(&self, from: usize, to: usize) -> u32 {
        // Only called on short runs of ASCII digits.
        self.src[from..to].parse().unwrap_or(u32::MAX)
    }

    fn lex_date(&mut self, start: usize) -> Result<Token, Box<ParseError>> {
        let date_end = start + 10;
        let year = i32::try_from(self.num(start, start + 4)).unwrap_or(i32::MAX);
        let month = self.num(start + 5, start + 7);
        let day = self.num(start + 8, start + 10);
        let Some(date) = NaiveDate::from_ymd_opt(year, month, day) else {
            return Err(self.error(
                ErrorKind::InvalidLiteral,
                start,
                &["a valid calendar date (YYYY-MM-DD)"],
                quote(&self.src[start..date_end]),
            ));
        };
        if !matches!(self.byte_at(date_end), Some(b'T' | b't')) {
            return self.tok(Tok::Lit(Box::new(Literal::Date(date))), start, date_end);
        }
        let time_start = date_end + 1;
        if !(self.two_digits(time_start) && self.byte_at(time_start + 2) == Some(b':')) {
            return Err(self.error(
                ErrorKind::InvalidLiteral,
                time_start,
                &["a time of day (hh:mm:ss) after 'T'"],
                self.found_at(time_start),
            ));
        }
        let (time, time_end) = self.scan_time(time_start)?;
        let (offset, end) = match self.byte_at(time_end) {
            Some(b'Z' | b'z') => (FixedOffset::east_opt(0), time_end + 1),
            // A space stands for '+' when a client did not percent-encode the offset's plus.
            Some(sign @ (b'+' | b'-' | b' '))
                if self.two_digits(time_end + 1)
                    && self.byte_at(time_end + 3) == Some(b':')
                    && self.two_digits(time_end + 4) =>
            {
                let h = self.num(time_end + 1, time_end + 3);
                let m = self.num(time_end + 4, time_end + 6);
                let secs = i32::try_from(h * 3600 + m * 60).unwrap_or(i32::MAX);
                let offset = if h > 23 || m > 59 {
                    None
                } else if sign == b'-' {
                    FixedOffset::west_opt(secs)
                } else {
                    FixedOffset::east_opt(secs)
                };
                (offset, time_end + 6)
            }
            _ => {
                return Err(self.error(
                    ErrorKind::InvalidLiteral,
                    time_end,
                    &["a time zone ('Z' or an offset such as '+02:00')"],
                    self.found_at(time_end),
                ));
            }
        };
        let Some(offset) = offset else {
            return Err(self.error(
                ErrorKind::InvalidLiteral,
                time_end,
                &["a valid time zone offset (-23:59 to +23:59)"],
                quote(&self.src[time_end..end]),
            ));
        };
        let naive = NaiveDateTime::new(date, time);
        let Some(dt) = offset.from_local_datetime(&naive).single() else {
            return Err(self.error(
                ErrorKind::InvalidLiteral,
                start,
                &["a date-time within the supported range"],
                quote(&self.src[start..end]),
            ));
        };
        self.tok(Tok::Lit(Box::new(Literal::DateTime(dt))), start, end)
    }

    /// `hh:mm[:ss[.fffffffff]]` starting at `start` (caller checked
    /// `hh:` and two more digits).
    fn scan_time(&self, start: usize) -> Result<(NaiveTime, usize), Box<ParseError>> {
        let hour = self.num(start, start + 2);
        if !self.two_digits(start + 3) {
            return Err(self.error(
                ErrorKind::InvalidLiteral,
                start + 3,
                &["two digits of minutes"],
                self.found_at(start + 3),
            ));
        }
        let minute = self.num(start + 3, start + 5);
        let mut end = start + 5;
        let mut second = 0;
        let mut nanos = 0;
        if self.byte_at(end) == Some(b':') && self.two_digits(end + 1) {
            second = self.num(end + 1, end + 3);
            end += 3;
            if self.byte_at(end) == Some(b'.') && self.digit_at(end + 1) {
                end += 1;
                let mut scale = 100_000_000u32;
                while self.digit_at(end) {
                    let d = u32::from(self.byte_at(end).unwrap_or(b'0') - b'0');
                    nanos += d * scale;
                    scale /= 10;
                    end += 1;
                }
            }
        }
        match NaiveTime::from_hms_nano_opt(hour, minute, second, nanos) {
            Some(t) if second < 60 => Ok((t, end)),
            _ => Err(self.error(
                ErrorKind::InvalidLiteral,
                start,
                &["a valid time of day (00:00:00 to 23:59:59)"],
                quote(&self.src[start..end]),
            )),
        }
    }
}

/// Parses the body of a spatial literal: `[SRID=nnnn;]WKT`.
pub(crate) fn parse_geometry(kind: GeoKind, body: &str) -> Result<GeometryLiteral, String> {
    let trimmed = body.trim();
    let (srid, wkt_text) = match trimmed.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("SRID=") => {
            let rest = &trimmed[5..];
            let (num, wkt_text) = rest
                .split_once(';')
                .ok_or_else(|| "the SRID must be followed by ';'".to_owned())?;
            let srid = num
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("invalid SRID '{}'", num.trim()))?;
            (Some(srid), wkt_text.trim())
        }
        _ => (None, trimmed),
    };
    let mut depth = 0usize;
    for c in wkt_text.chars() {
        match c {
            '(' => {
                depth += 1;
                if depth > MAX_WKT_NESTING {
                    return Err("the geometry is nested too deeply".to_owned());
                }
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    check_wkt_extent(wkt_text)?;
    let wkt: wkt::Wkt<f64> = wkt_text.parse().map_err(|e: &str| e.to_owned())?;
    let geometry = geo::Geometry::<f64>::try_from(wkt).map_err(|e| e.to_string())?;
    if geometry
        .coords_iter()
        .any(|c| !c.x.is_finite() || !c.y.is_finite())
    {
        return Err("coordinates must be finite numbers".to_owned());
    }
    Ok(GeometryLiteral {
        kind,
        srid,
        geometry,
    })
}

/// Rejects text after the end of the geometry, which the WKT reader would
/// silently ignore: the geometry ends at the parenthesis closing its first
/// `(`, or, for `... EMPTY`, at that word.
fn check_wkt_extent(wkt_text: &str) -> Result<(), String> {
    let rest = match wkt_text.find('(') {
        Some(open) => {
            let mut depth = 0usize;
            let mut end = None;
            for (i, c) in wkt_text[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(open + i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            match end {
                Some(end) => &wkt_text[end..],
                // Unbalanced: the WKT reader reports it.
                None => "",
            }
        }
        None => {
            let upper = wkt_text.to_ascii_uppercase();
            match upper.find("EMPTY") {
                Some(i) => &wkt_text[i + 5..],
                None => "",
            }
        }
    };
    if rest.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unexpected text after the geometry: '{}'",
            rest.trim()
        ))
    }
}

/// Parses an ISO 8601 duration `[-]PnYnMnWnDTnHnMn[.n]S`.
pub(crate) fn parse_duration(body: &str) -> Option<DurationLiteral> {
    let mut d = DurationLiteral::default();
    let mut rest = body;
    if let Some(r) = rest.strip_prefix('-') {
        d.negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    rest = rest.strip_prefix(['P', 'p'])?;
    let (date_part, time_part) = match rest.find(['T', 't']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut any = false;
    // Date part: units Y M W D in this order.
    let mut order = 0;
    let mut s = date_part;
    while !s.is_empty() {
        let n_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if n_end == 0 {
            return None;
        }
        let n: u32 = s[..n_end].parse().ok()?;
        let unit = s[n_end..].chars().next()?;
        let rank = match unit.to_ascii_uppercase() {
            'Y' => 1,
            'M' => 2,
            'W' => 3,
            'D' => 4,
            _ => return None,
        };
        if rank <= order {
            return None;
        }
        order = rank;
        match rank {
            1 => d.years = n,
            2 => d.months = n,
            3 => d.days = d.days.checked_add(n.checked_mul(7)?)?,
            _ => d.days = d.days.checked_add(n)?,
        }
        any = true;
        s = &s[n_end + 1..];
    }
    if let Some(t) = time_part {
        if t.is_empty() {
            return None;
        }
        let mut order = 0;
        let mut s = t;
        while !s.is_empty() {
            let n_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            if n_end == 0 {
                return None;
            }
            let n: u32 = s[..n_end].parse().ok()?;
            let mut after = &s[n_end..];
            let mut nanos = 0u32;
            let mut has_fraction = false;
            if let Some(frac) = after.strip_prefix('.') {
                let f_end = frac
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(frac.len());
                if f_end == 0 {
                    return None;
                }
                let mut scale = 100_000_000u32;
                for b in frac[..f_end].bytes() {
                    nanos += u32::from(b - b'0') * scale;
                    scale /= 10;
                }
                has_fraction = true;
                after = &frac[f_end..];
            }
            let unit = after.chars().next()?;
            let rank = match unit.to_ascii_uppercase() {
                'H' => 1,
                'M' => 2,
                'S' => 3,
                _ => return None,
            };
            if rank <= order || (has_fraction && rank != 3) {
                return None;
            }
            order = rank;
            match rank {
                1 => d.hours = n,
                2 => d.minutes = n,
                _ => {
                    d.seconds = n;
                    d.nanos = nanos;
                }
            }
            any = true;
            s = &after[1..];
        }
    }
    any.then_some(d)
}
