//! Recursive-descent parser for `$filter`, `$orderby`, `$select` and the
//! nested options of `$expand`.

use super::ast::{
    BinaryOp, Expr, Function, GeoKind, LambdaKind, LambdaPredicate, Literal, OrderBy, Path,
    Segment, SortDirection, UnaryOp,
};
use super::error::{ErrorKind, ParseError, quote};
use super::lexer::{Lexer, Tok, Token, parse_geometry};

/// Maximum nesting of parentheses, unary operators, function calls and
/// lambda operators; each level of `$expand` counts as two (so expands nest
/// at most 50 deep, whether written `A/B` or `A($expand=B)`). At this limit
/// the parser needs well under 1 MiB of stack even in unoptimised builds.
pub const MAX_NESTING: usize = 100;

/// Maximum depth of an expression tree. Long chains of binary operators
/// (`a or b or c ...`) nest to the left; this bounds them so that no
/// recursive walk over the tree can exhaust the stack.
pub const MAX_EXPRESSION_DEPTH: usize = 500;

const EXPECTED_OPERAND: &str = "a value, property path or function call";
const OPERATOR: &str = "an operator";

/// Errors are boxed inside the parser to keep its stack frames small.
pub(crate) type Res<T> = Result<T, Box<ParseError>>;

/// An expression with the depth of its tree.
pub(crate) struct Node {
    pub expr: Expr,
    pub depth: usize,
}

/// Where a list (of select paths, orderby keys, expand items, or an
/// expression) has to end.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// At the end of the option value.
    Eof,
    /// At `;` or `)` of nested expand options.
    Nested,
}

impl End {
    fn expected(self) -> &'static [&'static str] {
        match self {
            End::Eof => &["end of input"],
            End::Nested => &["';'", "')'"],
        }
    }
}

pub(crate) struct Parser<'a> {
    pub lx: Lexer<'a>,
    peeked: Option<Token>,
    nesting: usize,
    vars: Vec<String>,
}

impl<'a> Parser<'a> {
    pub fn new(option: &'a str, src: &'a str) -> Self {
        Parser {
            lx: Lexer::new(option, src),
            peeked: None,
            nesting: 0,
            vars: Vec::new(),
        }
    }

    // ----- token plumbing -------------------------------------------------

    pub fn peek(&mut self) -> Res<&Token> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lx.next_token()?,
        };
        Ok(self.peeked.insert(t))
    }

    pub fn bump(&mut self) -> Res<Token> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lx.next_token(),
        }
    }

    /// Forgets a peeked token so that the lexer can scan in another mode
    /// from the same place.
    pub fn unpeek(&mut self) {
        if let Some(t) = self.peeked.take() {
            self.lx.pos = t.start;
        }
    }

    pub fn text(&self, t: &Token) -> &'a str {
        self.lx.text(t)
    }

    pub fn syntax_error(&self, t: &Token, expected: &[&str]) -> Box<ParseError> {
        self.lx
            .error(ErrorKind::Syntax, t.start, expected, self.lx.describe(t))
    }

    /// An error at the next token.
    pub fn error_here(&mut self, kind: ErrorKind, expected: &[&str]) -> Box<ParseError> {
        match self.peek() {
            Ok(t) => {
                let t = t.clone();
                self.lx.error(kind, t.start, expected, self.lx.describe(&t))
            }
            Err(e) => e,
        }
    }

    fn is_ident(&mut self, word: &str) -> Res<bool> {
        let t = self.peek()?.clone();
        Ok(t.tok == Tok::Ident && self.text(&t).eq_ignore_ascii_case(word))
    }

    pub fn expect(&mut self, tok: Tok, expected: &[&str]) -> Res<Token> {
        let t = self.bump()?;
        if t.tok == tok {
            Ok(t)
        } else {
            Err(self.syntax_error(&t, expected))
        }
    }

    /// Checks (without consuming) that the value ends here, listing `extra`
    /// as further alternatives in the error.
    pub fn expect_end(&mut self, end: End, extra: &[&str]) -> Res<()> {
        let t = self.peek()?.clone();
        let ok = match end {
            End::Eof => t.tok == Tok::Eof,
            End::Nested => matches!(t.tok, Tok::Semi | Tok::RParen),
        };
        if ok {
            return Ok(());
        }
        let mut expected: Vec<&str> = extra.to_vec();
        expected.extend_from_slice(end.expected());
        Err(self.syntax_error(&t, &expected))
    }

    pub fn enter(&mut self, pos: usize) -> Res<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self
                .lx
                .error(
                    ErrorKind::TooDeep,
                    pos,
                    &[&format!("at most {MAX_NESTING} levels of nesting")],
                    "deeper nesting",
                )
                .with_note("simplify the query"));
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn check_depth(&self, depth: usize, pos: usize) -> Res<()> {
        if depth > MAX_EXPRESSION_DEPTH {
            return Err(self
                .lx
                .error(
                    ErrorKind::TooDeep,
                    pos,
                    &[&format!(
                        "an expression at most {MAX_EXPRESSION_DEPTH} operators deep"
                    )],
                    "a larger expression",
                )
                .with_note("split the filter into fewer terms"));
        }
        Ok(())
    }

    // ----- expressions ----------------------------------------------------

    /// Parses one expression.
    pub fn parse_expr(&mut self) -> Res<Node> {
        self.parse_binary(1)
    }

    fn peek_binary_op(&mut self) -> Res<Option<BinaryOp>> {
        let t = self.peek()?.clone();
        if t.tok != Tok::Ident {
            return Ok(None);
        }
        Ok(BinaryOp::from_keyword(self.text(&t)))
    }

    /// Precedence climbing: parses operators binding at least as tightly as
    /// `min_prec`, left-associatively.
    fn parse_binary(&mut self, min_prec: u8) -> Res<Node> {
        let mut left = self.parse_unary()?;
        while let Some(op) = self.peek_binary_op()? {
            if op.precedence() < min_prec {
                break;
            }
            let op_tok = self.bump()?;
            let right = self.parse_binary(op.precedence() + 1)?;
            let depth = 1 + left.depth.max(right.depth);
            self.check_depth(depth, op_tok.start)?;
            left = Node {
                expr: Expr::binary(op, left.expr, right.expr),
                depth,
            };
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Res<Node> {
        let t = self.peek()?.clone();
        let op = match t.tok {
            Tok::Minus => Some(UnaryOp::Neg),
            Tok::Ident if self.text(&t).eq_ignore_ascii_case("not") => Some(UnaryOp::Not),
            _ => None,
        };
        let Some(op) = op else {
            return self.parse_primary();
        };
        self.bump()?;
        self.enter(t.start)?;
        let operand = self.parse_unary()?;
        self.leave();
        let depth = operand.depth + 1;
        self.check_depth(depth, t.start)?;
        Ok(Node {
            expr: Expr::unary(op, operand.expr),
            depth,
        })
    }

    fn parse_primary(&mut self) -> Res<Node> {
        let t = self.bump()?;
        match t.tok {
            Tok::LParen => {
                self.enter(t.start)?;
                let inner = self.parse_expr()?;
                self.expect(Tok::RParen, &["')'", OPERATOR])?;
                self.leave();
                Ok(inner)
            }
            Tok::Lit(lit) => Ok(Node {
                expr: Expr::Literal(*lit),
                depth: 1,
            }),
            Tok::Ident => self.parse_ident_primary(t),
            _ => Err(self.syntax_error(&t, &[EXPECTED_OPERAND])),
        }
    }

    fn parse_ident_primary(&mut self, t: Token) -> Res<Node> {
        let name = self.text(&t);
        let lit = if name.eq_ignore_ascii_case("true") {
            Some(Literal::Bool(true))
        } else if name.eq_ignore_ascii_case("false") {
            Some(Literal::Bool(false))
        } else if name == "null" {
            Some(Literal::Null)
        } else if name == "INF" {
            Some(Literal::Double(f64::INFINITY))
        } else if name == "NaN" {
            Some(Literal::Double(f64::NAN))
        } else {
            None
        };
        if let Some(lit) = lit {
            return Ok(Node {
                expr: Expr::Literal(lit),
                depth: 1,
            });
        }
        if BinaryOp::from_keyword(name).is_some() {
            return Err(self.syntax_error(&t, &[EXPECTED_OPERAND]));
        }
        if self.peek()?.tok == Tok::LParen {
            if name.eq_ignore_ascii_case("any") || name.eq_ignore_ascii_case("all") {
                return Err(self
                    .syntax_error(&t, &["a collection path before the lambda operator"])
                    .with_note(format!(
                        "write it as e.g. Datastreams/{}(d: d/name eq 'x')",
                        name.to_ascii_lowercase()
                    )));
            }
            let Some(func) = Function::from_name(name) else {
                return Err(self.lx.error(
                    ErrorKind::UnknownFunction,
                    t.start,
                    &["a built-in function such as 'startswith', 'year' or 'geo.distance'"],
                    format!("unknown function {}", quote(name)),
                ));
            };
            return self.parse_call(func, t);
        }
        self.parse_path_rest(t, true)
    }

    fn parse_call(&mut self, func: Function, name_tok: Token) -> Res<Node> {
        self.bump()?; // '('
        self.enter(name_tok.start)?;
        let mut args = Vec::new();
        let mut starts = Vec::new();
        let mut depth = 0;
        if self.peek()?.tok == Tok::RParen {
            self.bump()?;
        } else {
            loop {
                starts.push(self.peek()?.start);
                let arg = self.parse_expr()?;
                depth = depth.max(arg.depth);
                args.push(arg.expr);
                let t = self.bump()?;
                match t.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    _ => return Err(self.syntax_error(&t, &["','", "')'", OPERATOR])),
                }
            }
        }
        self.leave();
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            let want = if min == max {
                plural(min, "argument")
            } else {
                format!("{min} to {max} arguments")
            };
            return Err(self.lx.error(
                ErrorKind::WrongArity,
                name_tok.start,
                &[&format!("{want} for '{}'", func.name())],
                plural(args.len(), "argument"),
            ));
        }
        for (arg, &start) in args.iter_mut().zip(&starts).take(func.geometry_args()) {
            if let Expr::Literal(Literal::String(s)) = arg {
                let geo = parse_geometry(GeoKind::Geography, s)
                    .map_err(|e| self.lx.geometry_error(start, s, e))?;
                *arg = Expr::Literal(Literal::Geometry(geo));
            }
        }
        if func == Function::StRelate {
            let ok = matches!(&args[2], Expr::Literal(Literal::String(p)) if is_de9im_pattern(p));
            if !ok {
                let found = match &args[2] {
                    Expr::Literal(Literal::String(p)) => quote(p),
                    _ => "a non-string argument".to_owned(),
                };
                return Err(self.lx.error(
                    ErrorKind::InvalidLiteral,
                    starts[2],
                    &["a DE-9IM pattern string of 9 characters from T, F, *, 0, 1, 2 (such as 'T*T***T**')"],
                    found,
                ));
            }
        }
        let depth = depth + 1;
        self.check_depth(depth, name_tok.start)?;
        Ok(Node {
            expr: Expr::Call { func, args },
            depth,
        })
    }

    /// Parses the rest of a path whose first name is `first`; with
    /// `allow_lambda`, `/any(...)` and `/all(...)` end the path.
    fn parse_path_rest(&mut self, first: Token, allow_lambda: bool) -> Res<Node> {
        let name = self.text(&first);
        let mut path = if allow_lambda && self.vars.iter().any(|v| v == name) {
            Path {
                variable: Some(name.to_owned()),
                segments: Vec::new(),
            }
        } else {
            Path {
                variable: None,
                segments: vec![Segment::Name(name.to_owned())],
            }
        };
        if let Some(lambda) = self.continue_path(&mut path, allow_lambda)? {
            return Ok(lambda);
        }
        Ok(Node {
            expr: Expr::Path(path),
            depth: 1,
        })
    }

    /// Parses `[n]` indices and `/segment`s after the first segment of
    /// `path`. With `allow_lambda`, a final `/any(...)` or `/all(...)` is
    /// parsed too and returned as the lambda expression over `path`.
    fn continue_path(&mut self, path: &mut Path, allow_lambda: bool) -> Res<Option<Node>> {
        loop {
            self.parse_indices(path)?;
            if self.peek()?.tok != Tok::Slash {
                break;
            }
            self.bump()?;
            self.unpeek();
            let Some((s, e)) = self.lx.scan_segment() else {
                return Err(self.error_here(ErrorKind::Syntax, &["a property name after '/'"]));
            };
            let seg = &self.lx.src[s..e];
            if allow_lambda && self.peek()?.tok == Tok::LParen {
                let kind = if seg.eq_ignore_ascii_case("any") {
                    Some(LambdaKind::Any)
                } else if seg.eq_ignore_ascii_case("all") {
                    Some(LambdaKind::All)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    let path = std::mem::take(path);
                    return self.parse_lambda(path, kind, s).map(Some);
                }
            }
            path.segments.push(Segment::Name(seg.to_owned()));
        }
        Ok(None)
    }

    /// `[n]` array indices after a segment.
    fn parse_indices(&mut self, path: &mut Path) -> Res<()> {
        while self.peek()?.tok == Tok::LBracket {
            self.bump()?;
            let t = self.bump()?;
            let index = match t.tok {
                Tok::Lit(ref lit) => match **lit {
                    Literal::Int(n) => u64::try_from(n).ok(),
                    _ => None,
                },
                _ => None,
            };
            let Some(index) = index else {
                return Err(self.syntax_error(&t, &["a non-negative array index"]));
            };
            self.expect(Tok::RBracket, &["']'"])?;
            path.segments.push(Segment::Index(index));
        }
        Ok(())
    }

    fn parse_lambda(&mut self, path: Path, kind: LambdaKind, pos: usize) -> Res<Node> {
        self.bump()?; // '('
        self.enter(pos)?;
        if kind == LambdaKind::Any && self.peek()?.tok == Tok::RParen {
            self.bump()?;
            self.leave();
            return Ok(Node {
                expr: Expr::Lambda {
                    path,
                    kind,
                    predicate: None,
                },
                depth: 1,
            });
        }
        let v = self.bump()?;
        let var = self.text(&v);
        if v.tok != Tok::Ident
            || var.contains(['.', '@'])
            || BinaryOp::from_keyword(var).is_some()
            || var.eq_ignore_ascii_case("not")
        {
            return Err(self.syntax_error(
                &v,
                &["a lambda variable name (such as 'd' in any(d: d/name eq 'x'))"],
            ));
        }
        self.expect(Tok::Colon, &["':' after the lambda variable"])?;
        self.vars.push(var.to_owned());
        let body = self.parse_expr()?;
        self.vars.pop();
        self.expect(Tok::RParen, &["')'", OPERATOR])?;
        self.leave();
        let depth = body.depth + 1;
        self.check_depth(depth, pos)?;
        Ok(Node {
            expr: Expr::Lambda {
                path,
                kind,
                predicate: Some(LambdaPredicate {
                    var: var.to_owned(),
                    body: Box::new(body.expr),
                }),
            },
            depth,
        })
    }

    // ----- lists ------------------------------------------------------------

    /// A whole filter expression that must end at `end`.
    pub fn parse_filter_value(&mut self, end: End) -> Res<Expr> {
        let node = self.parse_expr()?;
        self.expect_end(end, &[OPERATOR])?;
        Ok(node.expr)
    }

    /// `expr [asc|desc] (, expr [asc|desc])*`, ending at `end`.
    pub fn parse_orderby_list(&mut self, end: End) -> Res<Vec<OrderBy>> {
        let mut keys = Vec::new();
        loop {
            let expr = self.parse_expr()?.expr;
            let direction = if self.is_ident("asc")? {
                self.bump()?;
                Some(SortDirection::Asc)
            } else if self.is_ident("desc")? {
                self.bump()?;
                Some(SortDirection::Desc)
            } else {
                None
            };
            keys.push(OrderBy {
                expr,
                direction: direction.unwrap_or_default(),
            });
            if self.peek()?.tok == Tok::Comma {
                self.bump()?;
                continue;
            }
            if direction.is_some() {
                self.expect_end(end, &["','"])?;
            } else {
                self.expect_end(end, &[OPERATOR, "'asc'", "'desc'", "','"])?;
            }
            return Ok(keys);
        }
    }

    /// `path (, path)*`, ending at `end`.
    pub fn parse_select_list(&mut self, end: End) -> Res<Vec<Path>> {
        let mut paths = Vec::new();
        loop {
            let t = self.bump()?;
            if t.tok != Tok::Ident {
                return Err(self.syntax_error(&t, &["a property name"]));
            }
            let mut path = Path {
                variable: None,
                segments: vec![Segment::Name(self.text(&t).to_owned())],
            };
            // Without lambdas, `continue_path` never returns an expression.
            let _ = self.continue_path(&mut path, false)?;
            paths.push(path);
            if self.peek()?.tok == Tok::Comma {
                self.bump()?;
                continue;
            }
            self.expect_end(end, &["','", "'/'"])?;
            return Ok(paths);
        }
    }

    /// A non-negative integer (for `$top` and `$skip`).
    pub fn parse_unsigned(&mut self) -> Res<u64> {
        self.unpeek();
        let Some((s, e)) = self.lx.scan_digits() else {
            return Err(self.error_here(ErrorKind::InvalidValue, &["a non-negative integer"]));
        };
        let text = &self.lx.src[s..e];
        text.parse::<u64>().map_err(|_| {
            self.lx.error(
                ErrorKind::InvalidValue,
                s,
                &["a non-negative integer no larger than 18446744073709551615"],
                quote(text),
            )
        })
    }

    /// `true` or `false` (for `$count`).
    pub fn parse_bool(&mut self) -> Res<bool> {
        let t = self.peek()?.clone();
        if t.tok == Tok::Ident {
            let word = self.text(&t);
            for (w, v) in [("true", true), ("false", false)] {
                if word.eq_ignore_ascii_case(w) {
                    self.bump()?;
                    return Ok(v);
                }
            }
        }
        Err(self.lx.error(
            ErrorKind::InvalidValue,
            t.start,
            &["'true'", "'false'"],
            self.lx.describe(&t),
        ))
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A DE-9IM intersection-matrix pattern: 9 characters of `T F * 0 1 2`.
fn is_de9im_pattern(p: &str) -> bool {
    p.len() == 9
        && p.chars()
            .all(|c| matches!(c.to_ascii_uppercase(), 'T' | 'F' | '*' | '0' | '1' | '2'))
}
