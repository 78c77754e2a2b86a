//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2 and §3.5.2): the syntax tree and a
//! recursive-descent parser over the ABNF, with errors that give the character position.
//!
//! Hand-written because the one crate on crates.io (`scim-filter`) parses filters only, not PATCH
//! paths, has no positions in its errors and is no longer maintained; the grammar is small.
//!
//! Precedence, highest first: `not`, `and`, `or`; parentheses group. Keywords and operators are
//! case-insensitive. Attribute paths may carry a schema URN (`urn:…:enterprise:2.0:User:department`),
//! a value filter (`emails[type eq "work"]`) and a sub-attribute (`name.givenName`,
//! `emails[type eq "work"].value`).
//!
//! Bounded so that no input can exhaust the stack, whose overflow aborts the whole process: a text
//! longer than [`MAX_LENGTH`] bytes, or nesting parentheses, `not`s and value filters deeper than
//! [`MAX_DEPTH`], is a [`SyntaxError`] before anything is built. Chains of `and` / `or` are kept
//! as one n-ary node, so the tree is never deeper than that nesting, and evaluating or dropping
//! it (both recursive) stays within a few dozen frames.

use serde_json::{Number, Value};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare {
        path: Path,
        op: CompareOp,
        value: Value,
    },
    /// `path pr`.
    Present(Path),
    /// `attr[filter]` on its own: some value of the multi-valued attribute matches.
    Has(Path),
    /// Every operand matches; two or more, from one chain of `and`.
    And(Vec<Filter>),
    /// Some operand matches; two or more, from one chain of `or`.
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// An attribute path. `attribute` is empty when the path names a whole schema extension (PATCH
/// only, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The schema URN that qualified the attribute, if any, as written.
    pub schema: Option<String>,
    pub attribute: String,
    pub filter: Option<Box<Filter>>,
    pub sub_attribute: Option<String>,
}

impl Path {
    /// A plain attribute path, for code that builds paths.
    pub fn attribute(name: &str) -> Path {
        Path {
            schema: None,
            attribute: name.to_owned(),
            filter: None,
            sub_attribute: None,
        }
    }
}

/// Why a filter or a path does not parse: what was expected, and at which character (0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {position} of `{text}`")]
pub struct SyntaxError {
    pub message: String,
    pub position: usize,
    pub text: String,
}

/// The longest filter or path accepted, in bytes: far above what directories send (a filter of
/// fifty `id eq "…"` alternatives is about 2.5 KiB), and small enough that evaluating any filter
/// on a page of resources stays cheap.
pub const MAX_LENGTH: usize = 4096;
/// The deepest nesting of parentheses, `not (…)` and value filters accepted.
pub const MAX_DEPTH: usize = 32;

/// The schema URNs a path may start with; a path equal to one of them names the whole schema.
pub const KNOWN_SCHEMAS: &[&str] = &[
    crate::schema::USER_SCHEMA,
    crate::schema::GROUP_SCHEMA,
    crate::schema::ENTERPRISE_USER_SCHEMA,
];

/// Parses a filter (`filter=` of a listing, `filter` of a search request).
pub fn parse_filter(text: &str) -> Result<Filter, SyntaxError> {
    let mut parser = Parser::bounded(text)?;
    parser.skip_spaces();
    let filter = parser.or_expression()?;
    parser.skip_spaces();
    if !parser.at_end() {
        return Err(parser.error("expected `and`, `or` or the end of the filter"));
    }
    Ok(filter)
}

/// Parses a PATCH path: `attrPath`, `valuePath [subAttr]`, or a schema URN alone.
pub fn parse_path(text: &str) -> Result<Path, SyntaxError> {
    let mut parser = Parser::bounded(text)?;
    parser.skip_spaces();
    let path = parser.path(true)?;
    parser.skip_spaces();
    if !parser.at_end() {
        return Err(parser.error("unexpected text after the attribute path"));
    }
    Ok(path)
}

struct Parser<'a> {
    text: &'a str,
    position: usize,
    /// How many groups and value filters enclose the position.
    depth: usize,
}

impl<'a> Parser<'a> {
    /// A parser of `text`, which must not be longer than [`MAX_LENGTH`].
    fn bounded(text: &'a str) -> Result<Self, SyntaxError> {
        if text.len() > MAX_LENGTH {
            // The error quotes only the start: the detail goes back to the client and to logs.
            let mut end = 64;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            return Err(SyntaxError {
                message: format!("longer than {MAX_LENGTH} bytes ({})", text.len()),
                position: 0,
                text: format!("{}…", &text[..end]),
            });
        }
        Ok(Parser {
            text,
            position: 0,
            depth: 0,
        })
    }

    /// Enters a group or a value filter; refused past [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), SyntaxError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error(&format!(
                "more than {MAX_DEPTH} nested parentheses, `not`s or value filters"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn error(&self, message: &str) -> SyntaxError {
        SyntaxError {
            message: message.to_owned(),
            position: self.text[..self.position].chars().count(),
            text: self.text.to_owned(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn at_end(&self) -> bool {
        self.position >= self.text.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_spaces(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
                self.position += c.len_utf8();
            } else {
                break;
            }
        }
    }

    /// Consumes `word` (case-insensitively) when it stands as a whole word here.
    fn keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let Some(candidate) = rest.get(..word.len()) else {
            return false;
        };
        if !candidate.eq_ignore_ascii_case(word) {
            return false;
        }
        let after = rest[word.len()..].chars().next();
        if after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return false;
        }
        self.position += word.len();
        true
    }

    fn or_expression(&mut self) -> Result<Filter, SyntaxError> {
        let first = self.and_expression()?;
        let operands = self.chain(first, "or", Self::and_expression)?;
        Ok(one_or(operands, Filter::Or))
    }

    fn and_expression(&mut self) -> Result<Filter, SyntaxError> {
        let first = self.unary()?;
        let operands = self.chain(first, "and", Self::unary)?;
        Ok(one_or(operands, Filter::And))
    }

    /// `first` and the operands that follow it, each after the keyword `joiner`.
    fn chain(
        &mut self,
        first: Filter,
        joiner: &str,
        operand: fn(&mut Self) -> Result<Filter, SyntaxError>,
    ) -> Result<Vec<Filter>, SyntaxError> {
        let mut operands = vec![first];
        loop {
            let save = self.position;
            self.skip_spaces();
            if !self.keyword(joiner) {
                self.position = save;
                return Ok(operands);
            }
            self.skip_spaces();
            operands.push(operand(self)?);
        }
    }

    fn unary(&mut self) -> Result<Filter, SyntaxError> {
        let save = self.position;
        if self.keyword("not") {
            self.skip_spaces();
            if self.peek() == Some('(') {
                let inner = self.group()?;
                return Ok(Filter::Not(Box::new(inner)));
            }
            // `not` may also be an attribute name; fall back to reading it as one.
            self.position = save;
        }
        if self.peek() == Some('(') {
            return self.group();
        }
        self.attribute_expression()
    }

    fn group(&mut self) -> Result<Filter, SyntaxError> {
        self.enter()?;
        self.position += 1; // '('
        self.skip_spaces();
        let inner = self.or_expression()?;
        self.skip_spaces();
        if self.peek() != Some(')') {
            return Err(self.error("expected `)`"));
        }
        self.position += 1;
        self.depth -= 1;
        Ok(inner)
    }

    fn attribute_expression(&mut self) -> Result<Filter, SyntaxError> {
        if self.at_end() {
            return Err(self.error("expected an attribute path"));
        }
        let path = self.path(false)?;
        let save = self.position;
        self.skip_spaces();
        if self.keyword("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = self.operator() else {
            if path.filter.is_some() && path.sub_attribute.is_none() {
                self.position = save;
                return Ok(Filter::Has(path));
            }
            return Err(self.error(
                "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after the attribute path",
            ));
        };
        self.skip_spaces();
        let value = self.value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn operator(&mut self) -> Option<CompareOp> {
        const OPERATORS: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        OPERATORS
            .iter()
            .find(|(word, _)| self.keyword(word))
            .map(|(_, op)| *op)
    }

    /// `compValue`: a JSON string, number, `true`, `false` or `null`.
    fn value(&mut self) -> Result<Value, SyntaxError> {
        if self.keyword("true") {
            return Ok(Value::Bool(true));
        }
        if self.keyword("false") {
            return Ok(Value::Bool(false));
        }
        if self.keyword("null") {
            return Ok(Value::Null);
        }
        match self.peek() {
            Some('"') => self.string(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            _ => {
                Err(self
                    .error("expected a value (a \"quoted string\", a number, true, false or null)"))
            }
        }
    }

    fn string(&mut self) -> Result<Value, SyntaxError> {
        let rest = self.rest();
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices().skip(1) {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(i + 1);
                break;
            }
        }
        let Some(end) = end else {
            return Err(self.error("unterminated string"));
        };
        let literal = &rest[..end];
        let value = serde_json::from_str::<String>(literal)
            .map_err(|e| self.error(&format!("invalid string ({e})")))?;
        self.position += end;
        Ok(Value::String(value))
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        let number = serde_json::from_str::<Number>(&rest[..end])
            .map_err(|_| self.error("invalid number"))?;
        self.position += end;
        Ok(Value::Number(number))
    }

    /// `[URI ":"] ATTRNAME [subAttr]`, then optionally `"[" valFilter "]" [subAttr]`. With
    /// `schema_alone`, a known schema URN by itself is a path too.
    fn path(&mut self, schema_alone: bool) -> Result<Path, SyntaxError> {
        let start = self.position;
        let mut schema = None;
        if self
            .rest()
            .get(..4)
            .is_some_and(|start| start.eq_ignore_ascii_case("urn:"))
        {
            let rest = self.rest();
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '[' | '(' | ')' | ']'))
                .unwrap_or(rest.len());
            let token = &rest[..end];
            if let Some(known) = KNOWN_SCHEMAS
                .iter()
                .find(|urn| urn.eq_ignore_ascii_case(token))
            {
                if !schema_alone {
                    return Err(self.error("a schema URN needs an attribute name after it"));
                }
                self.position += end;
                return Ok(Path {
                    schema: Some((*known).to_owned()),
                    attribute: String::new(),
                    filter: None,
                    sub_attribute: None,
                });
            }
            // The attribute is what follows the URN's last colon (URNs contain dots, `2.0`).
            let prefix = KNOWN_SCHEMAS
                .iter()
                .find(|urn| {
                    token.len() > urn.len()
                        && token
                            .get(..urn.len())
                            .is_some_and(|start| start.eq_ignore_ascii_case(urn))
                        && token[urn.len()..].starts_with(':')
                })
                .map(|urn| urn.len())
                .or_else(|| token.rfind(':'))
                .unwrap_or(0);
            schema = Some(token[..prefix].to_owned());
            self.position += prefix + 1;
        }
        let attribute = self.name().ok_or_else(|| {
            let at = Parser {
                text: self.text,
                position: if schema.is_some() {
                    self.position
                } else {
                    start
                },
                depth: self.depth,
            };
            at.error("expected an attribute name")
        })?;
        let mut sub_attribute = None;
        if self.peek() == Some('.') {
            self.position += 1;
            sub_attribute = Some(
                self.name()
                    .ok_or_else(|| self.error("expected a sub-attribute name after `.`"))?,
            );
        }
        let mut filter = None;
        if self.peek() == Some('[') {
            if sub_attribute.is_some() {
                return Err(
                    self.error("a value filter must follow the attribute, not a sub-attribute")
                );
            }
            self.enter()?;
            self.position += 1;
            self.skip_spaces();
            let inner = self.or_expression()?;
            self.skip_spaces();
            if self.peek() != Some(']') {
                return Err(self.error("expected `]`"));
            }
            self.position += 1;
            self.depth -= 1;
            filter = Some(Box::new(inner));
            if self.peek() == Some('.') {
                self.position += 1;
                sub_attribute = Some(
                    self.name()
                        .ok_or_else(|| self.error("expected a sub-attribute name after `.`"))?,
                );
            }
        }
        Ok(Path {
            schema,
            attribute,
            filter,
            sub_attribute,
        })
    }

    /// `ATTRNAME = ALPHA *(nameChar)`, plus `$ref`, which RFC 7643 uses as a sub-attribute name.
    fn name(&mut self) -> Option<String> {
        let rest = self.rest();
        if rest.starts_with("$ref") {
            self.position += 4;
            return Some("$ref".to_owned());
        }
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if c.is_ascii_alphabetic() => {}
            _ => return None,
        }
        let end = chars
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        self.position += end;
        Some(rest[..end].to_owned())
    }
}

/// The one operand of a chain, or the n-ary node `joined` of them all.
fn one_or(mut operands: Vec<Filter>, joined: fn(Vec<Filter>) -> Filter) -> Filter {
    if operands.len() == 1
        && let Some(only) = operands.pop()
    {
        return only;
    }
    joined(operands)
}

#[cfg(test)]
mod tests;
