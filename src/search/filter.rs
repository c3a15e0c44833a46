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
//!
//! Shorthands, as in Meilisearch, parsed into the comparisons above:
//!
//! ```text
//! category IN [audio, "home office"]     category NOT IN [audio]
//! price 10 TO 20                          (price >= 10 AND price <= 20)
//! released >= 2025-01-01                  (midnight UTC)
//! ```
//!
//! And checks of presence, on any declared field (text fields included):
//! `f EXISTS` (the key is there, even `null`), `f IS NULL`, `f IS EMPTY` (`""`, `[]` or
//! `{}`), each with `NOT` (`f NOT EXISTS`, `f IS NOT NULL`, `f IS NOT EMPTY`).

use std::fmt;

pub use crate::schema::Presence;
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
    /// `field EXISTS`, `field IS NULL`, `field IS EMPTY`.
    Is {
        field: String,
        check: Presence,
    },
    /// `_geoRadius(...)` or `_geoBoundingBox(...)` on the collection's geo field.
    Geo {
        field: String,
        area: GeoArea,
    },
}

/// Where a geo filter's points must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GeoArea {
    /// Within `meters` of a point (great-circle distance).
    Radius { lat: f64, lng: f64, meters: f64 },
    /// Inside a box; `west > east` crosses the antimeridian.
    Box {
        north: f64,
        east: f64,
        south: f64,
        west: f64,
    },
}

/// Mean Earth radius, meters (the haversine formula's sphere).
pub const EARTH_RADIUS_METERS: f64 = 6_371_008.8;

/// Great-circle distance in meters (haversine). Written out: five lines of
/// trigonometry, where a geometry crate would bring a dependency tree for one formula.
pub fn distance_meters(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let (dlat, dlng) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_METERS * h.sqrt().min(1.0).asin()
}

impl GeoArea {
    /// Whether a point is in the area.
    pub fn contains(&self, lat: f64, lng: f64) -> bool {
        match *self {
            GeoArea::Radius {
                lat: at,
                lng: along,
                meters,
            } => distance_meters((at, along), (lat, lng)) <= meters,
            GeoArea::Box {
                north,
                east,
                south,
                west,
            } => {
                (south..=north).contains(&lat)
                    && if west <= east {
                        (west..=east).contains(&lng)
                    } else {
                        lng >= west || lng <= east
                    }
            }
        }
    }

    /// The box around the area, as (south, north, west, east), for a first cut by index
    /// ranges; `west > east` crosses the antimeridian.
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        match *self {
            GeoArea::Box {
                north,
                east,
                south,
                west,
            } => (south, north, west, east),
            GeoArea::Radius { lat, lng, meters } => {
                let dlat = (meters / EARTH_RADIUS_METERS).to_degrees();
                let (south, north) = ((lat - dlat).max(-90.0), (lat + dlat).min(90.0));
                // Near a pole, or a radius reaching around: every longitude.
                if north >= 90.0 || south <= -90.0 {
                    return (south, north, -180.0, 180.0);
                }
                // The circle's widest longitude span: asin(sin r / cos lat) (Matuschek);
                // past 1, the circle reaches every longitude.
                let spread =
                    (meters / EARTH_RADIUS_METERS).sin() / lat.to_radians().cos().max(1e-12);
                if spread >= 1.0 {
                    return (south, north, -180.0, 180.0);
                }
                let dlng = spread.asin().to_degrees();
                let wrap = |x: f64| {
                    if x > 180.0 {
                        x - 360.0
                    } else if x < -180.0 {
                        x + 360.0
                    } else {
                        x
                    }
                };
                (south, north, wrap(lng - dlng), wrap(lng + dlng))
            }
        }
    }
}

impl Filter {
    /// Whether every condition of this filter is on `field` alone.
    fn only_on(&self, field: &str) -> bool {
        match self {
            Filter::And(parts) | Filter::Or(parts) => parts.iter().all(|p| p.only_on(field)),
            Filter::Not(inner) => inner.only_on(field),
            Filter::Compare { field: f, .. }
            | Filter::Is { field: f, .. }
            | Filter::Geo { field: f, .. } => f == field,
        }
    }

    /// The filter a disjunctive facet on `field` is counted under: this one without
    /// its top-level conditions (the parts joined by AND) that are on `field` alone, so
    /// the facet's values are counted as if none of them were chosen. `None`: nothing
    /// is left.
    pub fn without(&self, field: &str) -> Option<Filter> {
        let mut kept: Vec<Filter> = Vec::new();
        let mut stack = vec![self];
        while let Some(part) = stack.pop() {
            match part {
                Filter::And(parts) => stack.extend(parts.iter().rev()),
                other if other.only_on(field) => {}
                other => kept.push(other.clone()),
            }
        }
        match kept.len() {
            0 => None,
            1 => kept.pop(),
            _ => Some(Filter::And(kept)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
    /// `[`, `]` and `,` of an `IN [...]` list.
    ListOpen,
    ListClose,
    Comma,
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
            '[' => {
                tokens.push(Token::ListOpen);
                i += 1;
            }
            ']' => {
                tokens.push(Token::ListClose);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
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
                    && !"()[],=!<>\"'".contains(chars[i])
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

    fn keyword_at(&self, offset: usize, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at + offset), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    /// Counts conditions against [`MAX_CONDITIONS`].
    fn count(&mut self, conditions: usize) -> Result<(), String> {
        self.conditions += conditions;
        if self.conditions > MAX_CONDITIONS {
            return Err(format!("more than {MAX_CONDITIONS} conditions"));
        }
        Ok(())
    }

    /// The value token at the cursor: its text and whether it was quoted.
    fn value(&mut self, after: &str) -> Result<(String, bool), String> {
        let raw = match self.tokens.get(self.at) {
            Some(Token::Word(w)) => (w.clone(), false),
            Some(Token::Quoted(q)) => (q.clone(), true),
            _ => return Err(format!("expected a value after `{after}`")),
        };
        self.at += 1;
        Ok(raw)
    }

    /// The type of a field values may be compared with, or why it can't be.
    fn comparable(&self, field: &str) -> Result<FieldType, String> {
        let Some(definition) = self.schema.field(field) else {
            return Err(format!("unknown field `{}`", truncate(field, 40)));
        };
        let field_type = definition.field_type;
        if field_type == FieldType::Text {
            return Err(format!(
                "`{field}` is a text field; filter on keyword, number, bool or datetime fields"
            ));
        }
        if field_type == FieldType::Geo {
            return Err(format!(
                "`{field}` is a geo field: filter it with _geoRadius(lat, lng, meters) or _geoBoundingBox([lat, lng], [lat, lng])"
            ));
        }
        let filterable = field_type == FieldType::Keyword
            || definition.filterable
            || definition.facet
            || definition.sortable;
        if !filterable {
            return Err(format!(
                "`{field}` is not filterable; declare it with \"filterable\": true"
            ));
        }
        Ok(field_type)
    }

    fn compare(&self, field: &str, op: Op, raw: (String, bool)) -> Result<Filter, String> {
        let field_type = self.comparable(field)?;
        let value = typed_value(field, field_type, &raw.0, raw.1)?;
        if matches!(field_type, FieldType::Keyword | FieldType::Bool)
            && !matches!(op, Op::Eq | Op::Ne)
        {
            return Err(format!("`{field}` takes only =, != and IN"));
        }
        Ok(Filter::Compare {
            field: field.to_owned(),
            field_type,
            op,
            value,
        })
    }

    fn comparison(&mut self) -> Result<Filter, String> {
        let field = match self.tokens.get(self.at) {
            Some(Token::Word(w)) => w.clone(),
            Some(other) => return Err(format!("expected a field name, found {}", describe(other))),
            None => return Err("expected a field name, found the end of the filter".into()),
        };
        self.at += 1;
        if (field == "_geoRadius" || field == "_geoBoundingBox")
            && self.tokens.get(self.at) == Some(&Token::Open)
        {
            return self.geo(&field);
        }
        let shown = truncate(&field, 40).to_owned();
        if self.keyword_at(0, "EXISTS") {
            self.at += 1;
            return self.presence(field, Presence::Exists, false);
        }
        if self.keyword_at(0, "NOT") && self.keyword_at(1, "EXISTS") {
            self.at += 2;
            return self.presence(field, Presence::Exists, true);
        }
        if self.keyword_at(0, "IS") {
            self.at += 1;
            let negated = self.keyword_at(0, "NOT");
            if negated {
                self.at += 1;
            }
            let check = if self.keyword_at(0, "NULL") {
                Presence::Null
            } else if self.keyword_at(0, "EMPTY") {
                Presence::Empty
            } else {
                return Err(format!("expected NULL or EMPTY after `{shown} IS`"));
            };
            self.at += 1;
            return self.presence(field, check, negated);
        }
        if self.keyword_at(0, "IN") {
            self.at += 1;
            return self.in_list(&field);
        }
        if self.keyword_at(0, "NOT") && self.keyword_at(1, "IN") {
            self.at += 2;
            return Ok(Filter::Not(Box::new(self.in_list(&field)?)));
        }
        let is_value = matches!(
            self.tokens.get(self.at),
            Some(Token::Word(_) | Token::Quoted(_))
        );
        if is_value && self.keyword_at(1, "TO") {
            let low = self.value(&shown)?;
            self.at += 1;
            let high = self.value(&format!("{shown} {} TO", truncate(&low.0, 40)))?;
            self.count(2)?;
            let field_type = self.comparable(&field)?;
            if matches!(field_type, FieldType::Keyword | FieldType::Bool) {
                return Err(format!(
                    "`{field}` has no order: TO takes number and datetime fields"
                ));
            }
            return Ok(Filter::And(vec![
                self.compare(&field, Op::Ge, low)?,
                self.compare(&field, Op::Le, high)?,
            ]));
        }
        let op = match self.tokens.get(self.at) {
            Some(Token::Op(op)) => *op,
            _ => {
                return Err(format!(
                    "expected an operator (=, !=, <, <=, >, >=, IN, TO, EXISTS, IS) after `{shown}`"
                ));
            }
        };
        self.at += 1;
        let raw = self.value(&format!("{shown} {op}"))?;
        self.count(1)?;
        self.compare(&field, op, raw)
    }

    /// A number of a geo filter's arguments.
    fn number(&mut self, what: &str, shape: &str) -> Result<f64, String> {
        let value = match self.tokens.get(self.at) {
            Some(Token::Word(w)) => w.parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        };
        let Some(value) = value else {
            return Err(format!("{shape}: expected a number for {what}"));
        };
        self.at += 1;
        Ok(value)
    }

    fn expect(&mut self, token: Token, shape: &str) -> Result<(), String> {
        if self.tokens.get(self.at) != Some(&token) {
            return Err(format!("{shape}: expected {}", describe(&token)));
        }
        self.at += 1;
        Ok(())
    }

    /// `[lat, lng]` of `_geoBoundingBox`.
    fn corner(&mut self, which: &str, shape: &str) -> Result<(f64, f64), String> {
        self.expect(Token::ListOpen, shape)?;
        let lat = self.number(&format!("the {which} latitude"), shape)?;
        self.expect(Token::Comma, shape)?;
        let lng = self.number(&format!("the {which} longitude"), shape)?;
        self.expect(Token::ListClose, shape)?;
        Ok((lat, lng))
    }

    /// `_geoRadius(lat, lng, meters)` or `_geoBoundingBox([lat, lng], [lat, lng])` (the
    /// north-east corner, then the south-west one), on the collection's geo field.
    fn geo(&mut self, function: &str) -> Result<Filter, String> {
        let Some(field) = self
            .schema
            .fields()
            .iter()
            .find(|f| f.field_type == FieldType::Geo)
        else {
            return Err(format!(
                "`{function}` needs a field of type `geo` in the collection"
            ));
        };
        let field = field.name.clone();
        self.count(1)?;
        self.at += 1; // the opening parenthesis
        let area = if function == "_geoRadius" {
            let shape = "_geoRadius(lat, lng, meters)";
            let lat = self.number("the latitude", shape)?;
            self.expect(Token::Comma, shape)?;
            let lng = self.number("the longitude", shape)?;
            self.expect(Token::Comma, shape)?;
            let meters = self.number("the distance in meters", shape)?;
            self.expect(Token::Close, shape)?;
            if meters < 0.0 {
                return Err(format!("{shape}: the distance is negative"));
            }
            check_point(lat, lng, shape)?;
            GeoArea::Radius { lat, lng, meters }
        } else {
            let shape = "_geoBoundingBox([north, east], [south, west])";
            let (north, east) = self.corner("north-east", shape)?;
            self.expect(Token::Comma, shape)?;
            let (south, west) = self.corner("south-west", shape)?;
            self.expect(Token::Close, shape)?;
            check_point(north, east, shape)?;
            check_point(south, west, shape)?;
            if south > north {
                return Err(format!(
                    "{shape}: the first corner is the north-east one, north of the second"
                ));
            }
            GeoArea::Box {
                north,
                east,
                south,
                west,
            }
        };
        Ok(Filter::Geo { field, area })
    }

    /// `[v1, v2, ...]` after `field IN`: any of the values.
    fn in_list(&mut self, field: &str) -> Result<Filter, String> {
        let shown = truncate(field, 40).to_owned();
        if self.tokens.get(self.at) != Some(&Token::ListOpen) {
            return Err(format!("expected `[` after `{shown} IN`"));
        }
        self.at += 1;
        let mut any = Vec::new();
        loop {
            if any.is_empty() && self.tokens.get(self.at) == Some(&Token::ListClose) {
                return Err(format!("`{shown} IN []` lists no values"));
            }
            let raw = self.value(&format!("{shown} IN ["))?;
            self.count(1)?;
            any.push(self.compare(field, Op::Eq, raw)?);
            match self.tokens.get(self.at) {
                Some(Token::Comma) => self.at += 1,
                Some(Token::ListClose) => {
                    self.at += 1;
                    break;
                }
                _ => return Err(format!("expected `,` or `]` in `{shown} IN [...]`")),
            }
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Filter::Or(any)
        })
    }

    /// A presence check: allowed on every declared field.
    fn presence(
        &mut self,
        field: String,
        check: Presence,
        negated: bool,
    ) -> Result<Filter, String> {
        if self.schema.field(&field).is_none() {
            return Err(format!("unknown field `{}`", truncate(&field, 40)));
        }
        self.count(1)?;
        let filter = Filter::Is { field, check };
        Ok(if negated {
            Filter::Not(Box::new(filter))
        } else {
            filter
        })
    }
}

fn check_point(lat: f64, lng: f64, shape: &str) -> Result<(), String> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
        return Err(format!(
            "{shape}: latitudes are -90 to 90 and longitudes -180 to 180"
        ));
    }
    Ok(())
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{}`", truncate(w, 40)),
        Token::Quoted(q) => format!("\"{}\"", truncate(q, 40)),
        Token::Op(op) => format!("`{op}`"),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::ListOpen => "`[`".into(),
        Token::ListClose => "`]`".into(),
        Token::Comma => "`,`".into(),
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
        FieldType::Datetime => {
            // A date alone is its first instant, in UTC.
            let full = match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                Ok(date) if raw.len() == 10 => format!("{date}T00:00:00Z"),
                _ => raw.to_owned(),
            };
            chrono::DateTime::parse_from_rfc3339(&full)
                .map(|d| Value::Datetime(d.timestamp_micros(), full.clone()))
                .map_err(|_| {
                    wrong("an RFC 3339 datetime such as \"2026-01-31T00:00:00Z\", or a date (2026-01-31)")
                })
        }
        FieldType::Integer => Err(wrong("a whole number (unquoted)")),
        FieldType::Float => Err(wrong("a number (unquoted)")),
        FieldType::Bool => Err(wrong("true or false (unquoted)")),
        FieldType::Geo => Err(wrong("no value: use _geoRadius or _geoBoundingBox")),
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
    fn shorthands_parse_into_comparisons() {
        let compare = |field: &str, field_type, op, value| Filter::Compare {
            field: field.into(),
            field_type,
            op,
            value,
        };
        let keyword = |v: &str| {
            compare(
                "category",
                FieldType::Keyword,
                Op::Eq,
                Value::Keyword(v.into()),
            )
        };
        assert_eq!(
            parse(r#"category IN [audio, "home office"]"#, &schema()),
            Ok(Filter::Or(vec![keyword("audio"), keyword("home office")]))
        );
        assert_eq!(
            parse("category not in [audio]", &schema()),
            Ok(Filter::Not(Box::new(keyword("audio"))))
        );
        assert_eq!(
            parse("price 10 TO 20.5", &schema()),
            Ok(Filter::And(vec![
                compare("price", FieldType::Float, Op::Ge, Value::Float(10.0)),
                compare("price", FieldType::Float, Op::Le, Value::Float(20.5)),
            ]))
        );
        let Ok(Filter::Compare { value, .. }) = parse("released >= 2025-03-01", &schema()) else {
            panic!("a date alone parses")
        };
        assert_eq!(
            value,
            Value::Datetime(1_740_787_200_000_000, "2025-03-01T00:00:00Z".into())
        );
        assert!(parse("released >= 2025-02-30", &schema()).is_err());
        let is = |field: &str, check| Filter::Is {
            field: field.into(),
            check,
        };
        assert_eq!(
            parse("title EXISTS", &schema()),
            Ok(is("title", Presence::Exists))
        );
        assert_eq!(
            parse(
                "secret NOT EXISTS AND price IS NOT NULL OR category IS EMPTY",
                &schema()
            ),
            Ok(Filter::Or(vec![
                Filter::And(vec![
                    Filter::Not(Box::new(is("secret", Presence::Exists))),
                    Filter::Not(Box::new(is("price", Presence::Null))),
                ]),
                is("category", Presence::Empty),
            ]))
        );
        let many = format!("stock IN [{}]", vec!["1"; 101].join(", "));
        assert!(
            parse(&many, &schema())
                .expect_err("many")
                .contains("conditions")
        );
    }

    #[test]
    fn without_a_field_drops_its_conditions_joined_by_and() {
        let filter = parse(
            "category IN [a, b] AND (price < 10 OR stock > 1) AND NOT category = c AND (inStock = true AND category = d)",
            &schema(),
        )
        .expect("valid");
        assert_eq!(
            filter.without("category"),
            Some(Filter::And(vec![
                parse("price < 10 OR stock > 1", &schema()).expect("valid"),
                parse("inStock = true", &schema()).expect("valid"),
            ]))
        );
        // A condition mixing fields stays: dropping it would widen the others too.
        let mixed = parse("category = a OR price < 1", &schema()).expect("valid");
        assert_eq!(mixed.without("category"), Some(mixed.clone()));
        assert_eq!(
            parse("category = a", &schema())
                .expect("valid")
                .without("category"),
            None
        );
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
            ("category > a", "only =, != and IN"),
            ("category IN audio", "expected `[`"),
            ("category IN []", "lists no values"),
            ("category IN [a b]", "expected `,` or `]`"),
            ("category IN [a,", "expected a value"),
            ("category 1 TO 2", "TO takes number"),
            ("price 1 TO", "expected a value"),
            ("price IS", "NULL or EMPTY"),
            ("colour EXISTS", "unknown field"),
            ("price IN [1, x]", "takes a number"),
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

    #[test]
    fn distances_and_the_boxes_around_radii() {
        // Paris to London, about 344 km.
        let d = distance_meters((48.8566, 2.3522), (51.5074, -0.1278));
        assert!((340_000.0..348_000.0).contains(&d), "{d}");
        assert_eq!(distance_meters((10.0, 20.0), (10.0, 20.0)), 0.0);
        // A radius across the antimeridian wraps its box.
        let area = GeoArea::Radius {
            lat: 0.0,
            lng: 179.9,
            meters: 50_000.0,
        };
        let (_, _, west, east) = area.bounds();
        assert!(west > east, "{west} {east}");
        assert!(area.contains(0.0, -179.9));
        // Near a pole a wide circle spans more longitude than its radius in degrees over
        // cos(lat): a case the proptest below found.
        let area = GeoArea::Radius {
            lat: -82.71,
            lng: 0.0,
            meters: 564_216.0,
        };
        let (_, _, west, east) = area.bounds();
        assert!(east > 41.95 && west < -41.95, "{west} {east}");
    }

    proptest::proptest! {
        /// Every point within a radius is inside the box that cuts its candidates.
        #[test]
        fn a_radius_box_holds_its_circle(
            lat in -89.0f64..89.0, lng in -180.0f64..180.0, meters in 0.0f64..2_000_000.0,
            bearing in 0.0f64..360.0, share in 0.0f64..1.0,
        ) {
            let area = GeoArea::Radius { lat, lng, meters };
            // A point `share` of the radius away along `bearing` (spherical destination).
            let (phi, lambda, delta, theta) = (lat.to_radians(), lng.to_radians(), meters * share / EARTH_RADIUS_METERS, bearing.to_radians());
            let phi2 = (phi.sin() * delta.cos() + phi.cos() * delta.sin() * theta.cos()).asin();
            let lambda2 = lambda + (theta.sin() * delta.sin() * phi.cos()).atan2(delta.cos() - phi.sin() * phi2.sin());
            let (plat, mut plng) = (phi2.to_degrees(), lambda2.to_degrees());
            if plng > 180.0 { plng -= 360.0 } else if plng < -180.0 { plng += 360.0 }
            let (south, north, west, east) = area.bounds();
            let boxed = GeoArea::Box { north: north + 1e-9, east: east + 1e-9, south: south - 1e-9, west: west - 1e-9 };
            proptest::prop_assert!(boxed.contains(plat, plng) || (west == -180.0 && east == 180.0),
                "{plat},{plng} outside {south}..{north}, {west}..{east}");
        }
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
                Just("IN".to_owned()),
                Just("[".to_owned()),
                Just("]".to_owned()),
                Just(",".to_owned()),
                Just("TO".to_owned()),
                Just("EXISTS".to_owned()),
                Just("IS".to_owned()),
                Just("NULL".to_owned()),
                Just("EMPTY".to_owned()),
                Just("2025-01-01".to_owned()),
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
