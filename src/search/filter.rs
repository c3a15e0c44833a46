//! The `filter` parameter: a small boolean language over a collection's fields,
//! parsed and checked against the schema before any search runs.
//!
//! ```text
//! category = "audio" AND price >= 10 AND (inStock = true OR rating > 4.5)
//! NOT brand = Acme
//! releasedAt >= "2025-01-01T00:00:00Z"
//! ```
//!
//! Operators: `=`, `!=` on keyword and bool fields; those and `<`, `<=`, `>`, `>=` on
//! integer, float and datetime fields; `AND`, `OR`, `NOT` and parentheses. Values are
//! quoted strings, numbers, `true`/`false`, or bare words (keyword values).
//! A keyword field is always filterable; other fields need `filterable` (or `facet`,
//! `sortable`) in the schema.

use std::fmt;

use crate::schema::{CollectionSchema, FieldType, truncate};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4_096;
/// Most comparisons in one filter.
pub const MAX_CONDITIONS: usize = 100;
/// Deepest nesting of parentheses and NOT.
pub const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// A value, already of its field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Keyword(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch, with the RFC 3339 text it came from.
    Datetime(i64, String),
}

/// A checked filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        field: String,
        field_type: FieldType,
        op: Op,
        value: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a quoted value is not closed".into()),
                        Some('\\') if chars.get(i + 1).is_some() => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            '=' => {
                tokens.push(Token::Op(Op::Eq));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Op(Op::Ne));
                i += 2;
            }
            '<' | '>' => {
                let or_equal = chars.get(i + 1) == Some(&'=');
                tokens.push(Token::Op(match (c, or_equal) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
                i += if or_equal { 2 } else { 1 };
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"()=!<>\"'".contains(chars[i])
                {
                    i += 1;
                }
                if start == i {
                    return Err(format!("unexpected `{c}`"));
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    schema: &'a CollectionSchema,
    conditions: usize,
}

impl Parser<'_> {
    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self, depth: usize) -> Result<Filter, String> {
        let mut parts = vec![self.and(depth)?];
        while self.peek_keyword("OR") {
            self.at += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Filter, String> {
        let mut parts = vec![self.unary(depth)?];
        while self.peek_keyword("AND") {
            self.at += 1;
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        if self.peek_keyword("NOT") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.tokens.get(self.at) == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or(depth + 1)?;
            if self.tokens.get(self.at) != Some(&Token::Close) {
                return Err("a parenthesis is not closed".into());
            }
            self.at += 1;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, String> {
        let field = match self.tokens.get(self.at) {
            Some(Token::Word(w)) => w.clone(),
            Some(other) => return Err(format!("expected a field name, found {}", describe(other))),
            None => return Err("expected a field name, found the end of the filter".into()),
        };
        self.at += 1;
        let op = match self.tokens.get(self.at) {
            Some(Token::Op(op)) => *op,
            _ => {
                return Err(format!(
                    "expected an operator (=, !=, <, <=, >, >=) after `{}`",
                    truncate(&field, 40)
                ));
            }
        };
        self.at += 1;
        let raw = match self.tokens.get(self.at) {
            Some(Token::Word(w)) => (w.clone(), false),
            Some(Token::Quoted(q)) => (q.clone(), true),
            _ => {
                return Err(format!(
                    "expected a value after `{} {op}`",
                    truncate(&field, 40)
                ));
            }
        };
        self.at += 1;
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(format!("more than {MAX_CONDITIONS} conditions"));
        }
        let Some(definition) = self.schema.field(&field) else {
            return Err(format!("unknown field `{}`", truncate(&field, 40)));
        };
        let field_type = definition.field_type;
        let filterable = field_type == FieldType::Keyword
            || definition.filterable
            || definition.facet
            || definition.sortable;
        if field_type == FieldType::Text {
            return Err(format!(
                "`{field}` is a text field; filter on keyword, number, bool or datetime fields"
            ));
        }
        if !filterable {
            return Err(format!(
                "`{field}` is not filterable; declare it with \"filterable\": true"
            ));
        }
        let value = typed_value(&field, field_type, &raw.0, raw.1)?;
        if matches!(field_type, FieldType::Keyword | FieldType::Bool)
            && !matches!(op, Op::Eq | Op::Ne)
        {
            return Err(format!("`{field}` takes only = and !="));
        }
        Ok(Filter::Compare {
            field,
            field_type,
            op,
            value,
        })
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{}`", truncate(w, 40)),
        Token::Quoted(q) => format!("\"{}\"", truncate(q, 40)),
        Token::Op(op) => format!("`{op}`"),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
    }
}

fn typed_value(
    field: &str,
    field_type: FieldType,
    raw: &str,
    quoted: bool,
) -> Result<Value, String> {
    let wrong = |expected: &str| format!("`{field}` takes {expected}, got `{}`", truncate(raw, 40));
    match field_type {
        FieldType::Keyword | FieldType::Text => Ok(Value::Keyword(raw.to_owned())),
        FieldType::Integer if !quoted => raw
            .parse()
            .map(Value::Integer)
            .map_err(|_| wrong("a whole number")),
        FieldType::Float if !quoted => raw
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float)
            .ok_or_else(|| wrong("a number")),
        FieldType::Bool if !quoted => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(wrong("true or false")),
        },
        FieldType::Datetime => chrono::DateTime::parse_from_rfc3339(raw)
            .map(|d| Value::Datetime(d.timestamp_micros(), raw.to_owned()))
            .map_err(|_| wrong("an RFC 3339 datetime such as \"2026-01-31T00:00:00Z\"")),
        FieldType::Integer => Err(wrong("a whole number (unquoted)")),
        FieldType::Float => Err(wrong("a number (unquoted)")),
        FieldType::Bool => Err(wrong("true or false (unquoted)")),
    }
}

/// Parses and checks a filter against the schema. The error names what is wrong.
pub fn parse(input: &str, schema: &CollectionSchema) -> Result<Filter, String> {
    if input.len() > MAX_FILTER_BYTES {
        return Err(format!("longer than {MAX_FILTER_BYTES} bytes"));
    }
    if input.contains('\0') {
        return Err("contains a NUL character (\\u0000); remove it".into());
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err("empty".into());
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        schema,
        conditions: 0,
    };
    let filter = parser.or(0)?;
    if let Some(extra) = parser.tokens.get(parser.at) {
        return Err(format!(
            "unexpected {} (join conditions with AND or OR)",
            describe(extra)
        ));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldDefinition;
    use serde_json::json;

    fn schema() -> CollectionSchema {
        let fields: Vec<FieldDefinition> = serde_json::from_value(json!([
            {"name": "title", "type": "text"},
            {"name": "category", "type": "keyword"},
            {"name": "price", "type": "float", "filterable": true},
            {"name": "stock", "type": "integer", "filterable": true},
            {"name": "inStock", "type": "bool", "filterable": true},
            {"name": "released", "type": "datetime", "sortable": true},
            {"name": "secret", "type": "integer"}
        ]))
        .expect("fields");
        CollectionSchema::parse(fields).expect("schema")
    }

    #[test]
    fn parses_precedence_and_types() {
        let filter = parse(
            r#"category = "audio" AND price >= 10 OR NOT (inStock = true AND stock < 3)"#,
            &schema(),
        )
        .expect("valid");
        let Filter::Or(parts) = filter else {
            panic!("OR at the top: {filter:?}")
        };
        assert!(matches!(&parts[0], Filter::And(a) if a.len() == 2));
        assert!(matches!(&parts[1], Filter::Not(_)));
        let filter = parse(
            "released > '2025-01-01T00:00:00Z' and category != audio",
            &schema(),
        )
        .expect("valid");
        assert!(matches!(filter, Filter::And(_)));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (input, says) in [
            ("", "empty"),
            ("category =", "expected a value"),
            ("category audio", "expected an operator"),
            ("(category = a", "not closed"),
            ("category = \"a", "not closed"),
            ("colour = red", "unknown field `colour`"),
            ("title = x", "text field"),
            ("secret = 1", "not filterable"),
            ("price = cheap", "takes a number"),
            ("stock = 1.5", "whole number"),
            ("category > a", "only = and !="),
            ("released > yesterday", "RFC 3339"),
            ("category = a category = b", "AND or OR"),
        ] {
            let error = parse(input, &schema()).expect_err(input);
            assert!(error.contains(says), "{input}: {error}");
        }
        let deep = "(".repeat(40) + "stock = 1" + &")".repeat(40);
        assert!(
            parse(&deep, &schema())
                .expect_err("deep")
                .contains("nested")
        );
        let many = vec!["stock = 1"; 101].join(" OR ");
        assert!(
            parse(&many, &schema())
                .expect_err("many")
                .contains("conditions")
        );
    }

    /// Fuzzing the filter language (stable Rust: proptest instead of cargo fuzz). Cases
    /// per run: `PROPTEST_CASES` (256 by default; the README's long run sets more).
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Filter-shaped text: fields (known, unknown, unfilterable), operators, values
        /// of every type and none, parentheses, keywords and stray quotes.
        fn filterish() -> impl Strategy<Value = String> {
            let token = prop_oneof![
                Just("title".to_owned()),
                Just("category".to_owned()),
                Just("price".to_owned()),
                Just("stock".to_owned()),
                Just("inStock".to_owned()),
                Just("released".to_owned()),
                Just("secret".to_owned()),
                Just("=".to_owned()),
                Just("!=".to_owned()),
                Just(">=".to_owned()),
                Just("<".to_owned()),
                Just(">".to_owned()),
                Just("AND".to_owned()),
                Just("OR".to_owned()),
                Just("NOT".to_owned()),
                Just("(".to_owned()),
                Just(")".to_owned()),
                Just("\"".to_owned()),
                Just("true".to_owned()),
                Just("1e308".to_owned()),
                Just("-0".to_owned()),
                Just("2024-02-30T25:61:00Z".to_owned()),
                Just("18446744073709551616".to_owned()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|n| n.to_string()),
                "\\PC{0,12}".prop_map(|s| format!("\"{s}\"")),
                "\\PC{0,6}",
            ];
            prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.join(" "))
        }

        proptest! {
            #[test]
            fn any_text_parses_or_is_refused_with_a_message(input in "\\PC{0,200}") {
                if let Err(message) = parse(&input, &schema()) {
                    prop_assert!(!message.is_empty());
                }
            }

            #[test]
            fn filter_shaped_text_parses_or_is_refused_with_a_message(input in filterish()) {
                if let Err(message) = parse(&input, &schema()) {
                    prop_assert!(!message.is_empty());
                }
            }

            #[test]
            fn deep_nesting_is_refused_not_a_stack_overflow(depth in 1usize..5000) {
                let input = format!("{}price > 1{}", "(".repeat(depth), ")".repeat(depth));
                let _ = parse(&input, &schema());
                let input = format!("{}price > 1", "NOT ".repeat(depth));
                let _ = parse(&input, &schema());
            }
        }
    }
}
