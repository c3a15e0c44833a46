//! The domain types of collections and documents, parsed at the edge.
//!
//! A request's raw strings and JSON become a [`CollectionName`], a validated
//! [`CollectionSchema`] or a [`DocumentId`] here, before any query runs; the rest of
//! the service can then take them as given.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use validator::Validate;

/// Why a name, id, schema, settings change or document is refused. Domain errors,
/// free of HTTP: `crate::error` maps each to its code and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("{0}")]
    CollectionName(String),
    #[error("{0}")]
    DocumentId(String),
    #[error("{0}")]
    Schema(String),
    #[error("{0}")]
    Settings(String),
    #[error("{0}")]
    Document(String),
}

static COLLECTION_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9_-]{1,64}$").expect("valid regex"));
static DOCUMENT_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]{1,511}$").expect("valid regex"));
/// A field name, or a path of up to 4 names into nested objects (`author.name`).
static FIELD_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$")
        .expect("valid regex")
});

/// The value at a field's path in a document body (`author.name` is `name` in the
/// object `author`), or `None` when a step is missing or is not an object. A path goes
/// through objects only, as PostgreSQL's `#>` does with names; [`path_problem`] tells
/// when a document puts something else in the way.
pub fn value_at<'a>(body: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut names = path.split('.');
    let mut value = body.get(names.next()?)?;
    for name in names {
        value = value.as_object()?.get(name)?;
    }
    Some(value)
}

/// Puts `value` at `path` in `body` (`author.name` is `name` in the object `author`),
/// making the objects on the way, and says whether it could. A path with an empty part
/// (`a..b`, `.a`) is one name. It can't, and leaves what was there, when the way is
/// taken by a value that is not an object, or when the path's end holds an object.
pub fn insert_at(body: &mut Map<String, Value>, path: &str, value: Value) -> bool {
    if path.split('.').any(str::is_empty) {
        body.insert(path.to_owned(), value);
        return true;
    }
    let mut names = path.split('.').peekable();
    let mut object = body;
    while let Some(name) = names.next() {
        if names.peek().is_none() {
            if object.get(name).is_some_and(Value::is_object) {
                return false;
            }
            object.insert(name.to_owned(), value);
            return true;
        }
        let step = object
            .entry(name.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(inner) = step else {
            return false;
        };
        object = inner;
    }
    true
}

/// Where a document's body stands in the way of a field's path: a step that holds
/// something other than an object (or `null`) before the path ends.
fn path_problem(body: &Map<String, Value>, path: &str) -> Option<String> {
    let mut value = None::<&Value>;
    let mut walked = String::new();
    for name in path.split('.') {
        let object = match value {
            None => body,
            Some(Value::Object(object)) => object,
            Some(Value::Null) => return None,
            Some(other) => {
                return Some(format!(
                    "field `{path}`: `{walked}` must be an object (a field path goes through objects), got {}",
                    json_kind(other)
                ));
            }
        };
        value = Some(object.get(name)?);
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(name);
    }
    None
}

/// Most fields a collection may declare; a bound on the work validation does.
pub const MAX_FIELDS: usize = 256;
/// Largest boost a field may have; boosts are in (0, MAX_BOOST].
pub const MAX_BOOST: f64 = 100.0;

/// A collection name: `^[a-z0-9_-]{1,64}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CollectionName(String);

impl CollectionName {
    pub fn parse(raw: &str) -> Result<Self, SchemaError> {
        if COLLECTION_NAME.is_match(raw) {
            Ok(CollectionName(raw.to_owned()))
        } else {
            Err(SchemaError::CollectionName(format!(
                "collection name `{}` is invalid: use 1 to 64 characters from a-z, 0-9, `_` and `-`",
                truncate(raw, 80)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A document id: a string matching `^[A-Za-z0-9_-]{1,511}$`, safe in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentId(String);

impl DocumentId {
    pub fn parse(raw: &str) -> Result<Self, SchemaError> {
        if DOCUMENT_ID.is_match(raw) {
            Ok(DocumentId(raw.to_owned()))
        } else {
            Err(SchemaError::DocumentId(format!(
                "document id `{}` is invalid: use 1 to 511 characters from A-Z, a-z, 0-9, `_` and `-`",
                truncate(raw, 80)
            )))
        }
    }

    /// A new time-ordered id (UUID v7), for documents sent without one.
    pub fn generate() -> Self {
        DocumentId(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Analyzed, full-text searchable. A string or an array of strings.
    Text,
    /// Exact value, filterable and facetable. A string or an array of strings.
    Keyword,
    /// A whole number that fits in 64 bits.
    Integer,
    /// Any JSON number.
    Float,
    /// `true` or `false`.
    Bool,
    /// An RFC 3339 timestamp string, such as `2026-11-21T10:00:00Z`.
    Datetime,
    /// A point on Earth: `{"lat": 48.85, "lng": 2.35}` (degrees, WGS 84). At most one
    /// per collection: `_geoRadius`, `_geoBoundingBox` and `_geoPoint` refer to it.
    Geo,
}

impl FieldType {
    /// The type's name as the schema writes it.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Keyword => "keyword",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Datetime => "datetime",
            FieldType::Geo => "geo",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FieldType::Text => "a string or an array of strings (text)",
            FieldType::Keyword => "a string or an array of strings (keyword)",
            FieldType::Integer => "an integer",
            FieldType::Float => "a number (float)",
            FieldType::Bool => "a boolean",
            FieldType::Datetime => "an RFC 3339 datetime string",
            FieldType::Geo => "an object {\"lat\": -90 to 90, \"lng\": -180 to 180}",
        }
    }
}

fn default_boost() -> f64 {
    1.0
}

fn is_default_boost(boost: &f64) -> bool {
    *boost == 1.0
}

/// One field of a collection schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "title", "type": "text", "boost": 3.0}))]
pub struct FieldDefinition {
    /// `^[A-Za-z_][A-Za-z0-9_]{0,63}$`, unique in the collection, not `id`; or a path
    /// of up to 4 such names into nested objects (`author.name`), none of whose leading
    /// parts is declared itself.
    #[schema(pattern = "^[A-Za-z_][A-Za-z0-9_]{0,63}(\\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$")]
    #[validate(regex(path = *FIELD_NAME))]
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Weight of matches in this field; `text` fields and `searchable` keyword fields
    /// only; in (0, 100]. Default 1. Of fields with equal boosts, the one declared first
    /// counts as more important for the `attribute` and `exactness` rules.
    #[serde(default = "default_boost", skip_serializing_if = "is_default_boost")]
    #[schema(exclusive_minimum = 0.0, maximum = 100.0)]
    #[validate(range(exclusive_min = 0.0, max = MAX_BOOST))]
    pub boost: f64,
    /// Offer this field to the search parameter `facets`: a `keyword` field's values are
    /// counted, an `integer` or `float` field gets its min and max (`facetStats`).
    /// Implies `filterable`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub facet: bool,
    /// Sort search results and document lists by this field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sortable: bool,
    /// Filter search results by this field (`keyword` fields are always filterable).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filterable: bool,
    /// `text` fields and `searchable` keyword fields only. Default true: the word being
    /// typed (the query's last word) also matches the start of this field's words.
    /// `false`: this field matches whole words only (with typos), and indexing it costs
    /// far less. Type-ahead prefixes are
    /// most of what indexing text costs: turn it off for long text (descriptions,
    /// reviews) that people search by whole words, and keep it on names and titles.
    #[serde(
        default = "default_type_ahead",
        skip_serializing_if = "is_default_type_ahead"
    )]
    #[schema(default = true)]
    pub type_ahead: bool,
    /// `keyword` fields only. Default false. `true`: the query `q` also looks for its
    /// words in this field's values, as in a text field (typos, the word being typed,
    /// phrases, ranking by `boost`), while filters, facets and `distinct` keep the exact
    /// value. For tags, genres, brands, categories: `q=science fiction` finds documents
    /// whose genre is `science-fiction`. Text fields are always searched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub searchable: bool,
}

impl FieldDefinition {
    /// Whether `q` looks for words in this field: a text field, or a keyword field
    /// declared `searchable`.
    pub fn searched(&self) -> bool {
        self.field_type == FieldType::Text || self.searchable
    }
}

fn default_type_ahead() -> bool {
    true
}

fn is_default_type_ahead(type_ahead: &bool) -> bool {
    *type_ahead
}

/// Typo tolerance, by word length (Damerau–Levenshtein distance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TypoTolerance {
    pub enabled: bool,
    /// Words at least this long may have one typo (at least 1, at most
    /// `twoTyposMinLength`). Default 5. A word one character shorter (and at least 4)
    /// that no document holds as written gets one too.
    #[schema(minimum = 1, maximum = 255)]
    #[validate(range(min = 1))]
    pub one_typo_min_length: u8,
    /// Words at least this long may have two typos. Default 9.
    #[schema(minimum = 0, maximum = 255)]
    pub two_typos_min_length: u8,
}

impl Default for TypoTolerance {
    fn default() -> Self {
        TypoTolerance {
            enabled: true,
            one_typo_min_length: 5,
            two_typos_min_length: 9,
        }
    }
}

/// Which words may be dropped, and in which order, when all of them together cannot
/// fill the page. Documents matching more of the words rank first whatever the
/// strategy; among those matching as many, the ones lacking the words the strategy
/// drops first lead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MatchingStrategy {
    /// Drop words from the end of the query (Meilisearch's default).
    Last,
    /// Drop the most common word first: a generic word ("fast", "client") goes before
    /// a distinctive one. A word counts as written (or as its typo was corrected to),
    /// not with the other forms of its stem. A query typed as one identifier, its words
    /// joined by separators without a space (`scikit-lern`), drops from its end as
    /// `last` does: its last part is the least certain. The default: on the practice
    /// set it finds what was meant behind an extra word twice as often as `last`, and
    /// costs nothing elsewhere.
    #[default]
    Frequency,
    /// Every word must match.
    All,
}

/// The search settings of a collection; all optional, with defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CollectionSettings {
    pub typo_tolerance: TypoTolerance,
    /// Words that mean the same, applied at query time: `{"tv": ["television"]}`.
    pub synonyms: BTreeMap<String, Vec<String>>,
    /// Words ignored in queries. `null` uses the English list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_words: Option<Vec<String>>,
    /// Index character n-grams of the text fields so that `match=substring` (ILIKE
    /// semantics) is answered from the index. Makes indexing slower and the index larger.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub substring_index: bool,
    /// Ranking rules, in order (see the README's "How the index engine matches"); `null`
    /// is the default `["words", "typo", "exactness", "proximity", "attribute", "score"]`.
    /// Add a sortable numeric field as `"popularity:desc"` to rank by it. `score` (BM25)
    /// always goes last, so a rule listed after it orders what the text rules tie.
    /// Meilisearch's `sort` is accepted and changes nothing (`sort=` replaces the rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["words", "typo", "exactness", "proximity", "attribute", "score"]))]
    pub ranking_rules: Option<Vec<String>>,
    /// Which words a search may drop when all of them together cannot fill the page
    /// (`last`, `frequency` or `all`); a search's `matchingStrategy` overrides it.
    #[serde(skip_serializing_if = "is_default_strategy")]
    pub matching_strategy: MatchingStrategy,
    /// Keep a PostgreSQL GIN index on the text fields for `engine=fts`. Without it
    /// `engine=fts` still answers, by scanning the collection. Off by default: PostgreSQL
    /// then computes every written document's `tsvector`, which makes a bulk import
    /// several times slower, for an engine that exists to be compared with the index.
    /// Turning it on or off builds or drops the GIN index in the background
    /// (`CONCURRENTLY`: writes go on); the search index is not rebuilt.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fts_index: bool,
}

fn is_default_strategy(strategy: &MatchingStrategy) -> bool {
    *strategy == MatchingStrategy::default()
}

impl CollectionSettings {
    pub fn validate(&self) -> Result<(), SchemaError> {
        let typo = &self.typo_tolerance;
        if Validate::validate(typo).is_err() || typo.one_typo_min_length > typo.two_typos_min_length
        {
            return Err(SchemaError::Settings(format!(
                "typoTolerance: oneTypoMinLength ({}) must be at least 1 and at most twoTyposMinLength ({})",
                typo.one_typo_min_length, typo.two_typos_min_length
            )));
        }
        let invalid = |message: &str| Err(SchemaError::Settings(message.into()));
        if self.synonyms.len() > 10_000 {
            return invalid("synonyms: at most 10000 entries");
        }
        for (word, alternatives) in &self.synonyms {
            if word.trim().is_empty() || alternatives.iter().any(|a| a.trim().is_empty()) {
                return invalid("synonyms: words must not be empty");
            }
            if word.contains('\0') || alternatives.iter().any(|a| a.contains('\0')) {
                return invalid("synonyms: a word contains a NUL character (\\u0000)");
            }
        }
        if let Some(stop_words) = &self.stop_words {
            if stop_words.len() > 10_000 {
                return invalid("stopWords: at most 10000 words");
            }
            if stop_words.iter().any(|w| w.trim().is_empty()) {
                return invalid("stopWords: words must not be empty");
            }
            if stop_words.iter().any(|w| w.contains('\0')) {
                return invalid("stopWords: a word contains a NUL character (\\u0000)");
            }
        }
        Ok(())
    }
}

/// A collection's fields, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionSchema {
    fields: Vec<FieldDefinition>,
}

impl CollectionSchema {
    /// Checks the rules of a schema: known types (by deserialization), valid and unique
    /// field names, boosts on text fields in (0, 100], at least one text field.
    pub fn parse(fields: Vec<FieldDefinition>) -> Result<Self, SchemaError> {
        let invalid = |message: String| Err(SchemaError::Schema(message));
        if fields.len() > MAX_FIELDS {
            return invalid(format!("a collection has at most {MAX_FIELDS} fields"));
        }
        let mut seen = HashSet::new();
        for field in &fields {
            let shape = Validate::validate(field).err();
            let shape = shape
                .as_ref()
                .map(validator::ValidationErrors::field_errors);
            let wrong = |name: &str| shape.as_ref().is_some_and(|e| e.contains_key(name));
            if wrong("name") {
                return invalid(format!(
                    "field name `{}` is invalid: start with a letter or `_`, then up to 63 letters, digits or `_`; a path into nested objects joins up to 4 such names with `.`",
                    truncate(&field.name, 80)
                ));
            }
            if field.name == "id" || field.name.starts_with("id.") {
                return invalid(
                    "`id` is reserved for the document id and cannot be declared".into(),
                );
            }
            if !seen.insert(field.name.as_str()) {
                return invalid(format!("field `{}` is declared twice", field.name));
            }
            if wrong("boost") {
                return invalid(format!(
                    "field `{}`: boost must be greater than 0 and at most {MAX_BOOST}",
                    field.name
                ));
            }
            if field.searchable && field.field_type != FieldType::Keyword {
                return invalid(format!(
                    "field `{}`: only keyword fields take \"searchable\" (text fields are always searched)",
                    field.name
                ));
            }
            if !field.searched() && field.boost != 1.0 {
                return invalid(format!(
                    "field `{}`: only text fields and searchable keyword fields take a boost",
                    field.name
                ));
            }
            if !field.searched() && !field.type_ahead {
                return invalid(format!(
                    "field `{}`: only text fields and searchable keyword fields take \"typeAhead\"",
                    field.name
                ));
            }
            if field.facet
                && !matches!(
                    field.field_type,
                    FieldType::Keyword | FieldType::Integer | FieldType::Float
                )
            {
                return invalid(format!(
                    "field `{}`: facets are keyword fields (counts by value) or integer and float fields (min, max); use \"filterable\": true to filter a {} field",
                    field.name,
                    field.field_type.name()
                ));
            }
        }
        if fields
            .iter()
            .filter(|f| f.field_type == FieldType::Geo)
            .count()
            > 1
        {
            return invalid(
                "a collection has at most one `geo` field (`_geoRadius`, `_geoBoundingBox` and `_geoPoint` refer to it)".into(),
            );
        }
        if let Some(geo) = fields
            .iter()
            .find(|f| f.field_type == FieldType::Geo && (f.sortable || f.filterable))
        {
            return invalid(format!(
                "field `{}`: a geo field is filtered with `_geoRadius`/`_geoBoundingBox` and sorted with `_geoPoint` as it is; drop \"sortable\" and \"filterable\"",
                geo.name
            ));
        }
        // `author` and `author.name` can't both be fields: one would be an object.
        if let Some((inner, outer)) = fields.iter().find_map(|f| {
            f.name
                .match_indices('.')
                .map(|(at, _)| &f.name[..at])
                .find(|lead| seen.contains(lead))
                .map(|lead| (&f.name, lead))
        }) {
            return invalid(format!(
                "field `{inner}` is inside field `{outer}`: declare one or the other (`{outer}` would have to be an object)"
            ));
        }
        if !fields.iter().any(|f| f.field_type == FieldType::Text) {
            return invalid("a collection needs at least one field of type `text`".into());
        }
        Ok(CollectionSchema { fields })
    }

    /// A schema read back from the database, which was validated when it was written.
    pub fn from_stored(fields: Vec<FieldDefinition>) -> Self {
        CollectionSchema { fields }
    }

    pub fn fields(&self) -> &[FieldDefinition] {
        &self.fields
    }

    pub fn field(&self, name: &str) -> Option<&FieldDefinition> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields of `new` that documents stored under this schema were never checked
    /// against: fields added, and fields whose type changed. A change of flags
    /// (`filterable`, `sortable`, `facet`, `typeAhead`, `searchable`) or boost needs no document checked.
    pub fn unchecked_by(&self, new: &[FieldDefinition]) -> CollectionSchema {
        let fields = new
            .iter()
            .filter(|field| {
                self.field(&field.name)
                    .is_none_or(|old| old.field_type != field.field_type)
            })
            .cloned()
            .collect();
        CollectionSchema { fields }
    }

    /// Applies new boosts (field name → boost) to searched fields.
    pub fn with_boosts(&self, boosts: &BTreeMap<String, f64>) -> Result<Self, SchemaError> {
        let mut fields = self.fields.clone();
        for (name, boost) in boosts {
            let Some(field) = fields.iter_mut().find(|f| &f.name == name) else {
                return Err(SchemaError::Settings(format!(
                    "boosts: the collection has no field `{}`",
                    truncate(name, 80)
                )));
            };
            if !field.searched() {
                return Err(SchemaError::Settings(format!(
                    "boosts: `{name}` is not searched; only text fields and searchable keyword fields take a boost"
                )));
            }
            if !(*boost > 0.0 && *boost <= MAX_BOOST) {
                return Err(SchemaError::Settings(format!(
                    "boosts: `{name}` must be greater than 0 and at most {MAX_BOOST}"
                )));
            }
            field.boost = *boost;
        }
        Ok(CollectionSchema { fields })
    }

    /// Checks a document body against the schema. Fields the schema does not declare
    /// are kept but not checked; declared fields may be absent or `null`.
    pub fn validate_document(&self, body: &Map<String, Value>) -> Result<(), SchemaError> {
        for (key, value) in body {
            storable_field(key, value, 0).map_err(|e| SchemaError::Document(e.message()))?;
        }
        for field in &self.fields {
            if let Some(problem) = path_problem(body, &field.name) {
                return Err(SchemaError::Document(problem));
            }
            let Some(value) = value_at(body, &field.name) else {
                continue;
            };
            if value.is_null() || matches_type(field.field_type, value) {
                continue;
            }
            if let (FieldType::Datetime, Value::String(text)) = (field.field_type, value) {
                return Err(SchemaError::Document(datetime_problem(&field.name, text)));
            }
            return Err(SchemaError::Document(format!(
                "field `{}` must be {}, got {}",
                field.name,
                field.field_type.describe(),
                json_kind(value)
            )));
        }
        Ok(())
    }
}

/// Nesting deeper than this is refused (PostgreSQL and every reader of the body must
/// walk it; serde_json itself stops at 128).
pub const MAX_DOCUMENT_DEPTH: usize = 64;

/// Whether `value` is stored as given and read back the same: PostgreSQL's `jsonb`
/// cannot hold a NUL character (`\u0000`) in a string or a key, stores numbers as exact
/// decimals without an exponent (so `-0` comes back as `0`), and a float near the
/// largest one written out that way no longer parses as a JSON number. Such a value is
/// refused with its path (`notes.tags[2]`), before anything is written. The path is
/// only put together for a value refused: every document written goes through here.
fn storable(value: &Value, depth: usize) -> Result<(), Unstorable> {
    if depth > MAX_DOCUMENT_DEPTH {
        return Err(Unstorable::new(Problem::TooDeep));
    }
    match value {
        Value::String(text) if text.contains('\0') => Err(Unstorable::new(Problem::Nul)),
        Value::Number(number) => match number.as_f64() {
            Some(float) if number.is_f64() && !float_round_trips(float) => {
                Err(Unstorable::new(if float == 0.0 {
                    Problem::NegativeZero
                } else {
                    Problem::Number(number.to_string())
                }))
            }
            _ => Ok(()),
        },
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            storable(item, depth + 1).map_err(|e| e.within(format!("[{i}]")))
        }),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(key, item)| storable_field(key, item, depth + 1)),
        _ => Ok(()),
    }
}

/// [`storable`] for the field `key` holding `value`.
fn storable_field(key: &str, value: &Value, depth: usize) -> Result<(), Unstorable> {
    if key.contains('\0') {
        return Err(Unstorable::new(Problem::NulInName).within(key.replace('\0', "\\u0000")));
    }
    storable(value, depth).map_err(|e| e.within(key.to_owned()))
}

/// A value [`storable`] refuses, and where it stands (innermost step first).
#[derive(Debug)]
struct Unstorable {
    problem: Problem,
    steps: Vec<String>,
}

#[derive(Debug)]
enum Problem {
    Nul,
    NulInName,
    NegativeZero,
    Number(String),
    TooDeep,
}

impl Unstorable {
    fn new(problem: Problem) -> Unstorable {
        Unstorable {
            problem,
            steps: Vec::new(),
        }
    }

    fn within(mut self, step: String) -> Unstorable {
        self.steps.push(step);
        self
    }

    fn message(&self) -> String {
        let mut path = String::new();
        for step in self.steps.iter().rev() {
            if !path.is_empty() && !step.starts_with('[') {
                path.push('.');
            }
            path.push_str(step);
        }
        let path = truncate(&path, 80);
        match &self.problem {
            Problem::Nul => format!(
                "field `{path}` contains a NUL character (\\u0000), which cannot be stored; remove it or replace it (e.g. with a space)"
            ),
            Problem::NulInName => format!(
                "the field name `{path}` contains a NUL character (\\u0000), which cannot be stored"
            ),
            Problem::NegativeZero => format!("field `{path}`: -0 would be stored as 0; send 0"),
            Problem::Number(number) => format!(
                "field `{path}`: the number {number} cannot be stored and read back exactly; keep numbers below 1e308 in magnitude"
            ),
            Problem::TooDeep => {
                format!("field `{path}` is nested deeper than {MAX_DOCUMENT_DEPTH} levels")
            }
        }
    }
}

/// Whether a float comes back unchanged from `jsonb`, which prints it as an exact
/// decimal without an exponent (`1e308` as `1` and 308 zeros), parsed again by
/// serde_json.
fn float_round_trips(float: f64) -> bool {
    if float == 0.0 {
        return float.is_sign_positive();
    }
    // Written without an exponent, a float is its own plain decimal: it comes back.
    if (1e-5..1e15).contains(&float.abs()) {
        return true;
    }
    let written = serde_json::Number::from_f64(float).map(|n| n.to_string());
    let Some(written) = written else {
        return false;
    };
    let plain = plain_decimal(&written);
    serde_json::from_str::<f64>(&plain).is_ok_and(|back| back.to_bits() == float.to_bits())
}

/// `1.5e3` as `1500`, `2e-3` as `0.002`: a number as PostgreSQL's `numeric` prints it.
fn plain_decimal(text: &str) -> String {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => return text.to_owned(),
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    // Where the decimal point falls within `digits`.
    let point = whole.len() as i64 + exponent;
    let (int_part, frac_part) = if point <= 0 {
        (
            "0".to_owned(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_owned(),
            digits[point as usize..].to_owned(),
        )
    };
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    if frac_part.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac_part}")
    }
}

fn matches_type(field_type: FieldType, value: &Value) -> bool {
    match field_type {
        FieldType::Text | FieldType::Keyword => match value {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        },
        FieldType::Integer => {
            value.is_i64() || value.as_u64().is_some_and(|n| i64::try_from(n).is_ok())
        }
        FieldType::Float => value.is_number(),
        FieldType::Bool => value.is_boolean(),
        FieldType::Datetime => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        FieldType::Geo => geo_point(value).is_some(),
    }
}

/// A geo field's value: `{"lat", "lng"}` in range, nothing else.
pub fn geo_point(value: &Value) -> Option<(f64, f64)> {
    let object = value.as_object()?;
    if object.len() != 2 {
        return None;
    }
    let lat = object.get("lat")?.as_f64()?;
    let lng = object.get("lng")?.as_f64()?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)).then_some((lat, lng))
}

/// What is wrong with a string given for a datetime field, with the value as it should
/// be written: a date alone (`2024-05-01`) is the common case.
fn datetime_problem(field: &str, text: &str) -> String {
    let shown = truncate(text, 40);
    if chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_ok() {
        format!(
            "field `{field}` must be an RFC 3339 datetime with a time and an offset: write `{}T00:00:00Z`, not `{shown}`",
            text.trim()
        )
    } else {
        format!(
            "field `{field}` must be an RFC 3339 datetime such as `2024-05-01T12:30:00Z`, got `{shown}`"
        )
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The id a document body carries, or a new one when it has none.
///
/// `expected` is the id from the URL path, when there is one: a body id must then
/// agree with it. The returned body always has its `id` set.
pub fn document_identity(
    mut body: Value,
    expected: Option<&DocumentId>,
) -> Result<(DocumentId, Map<String, Value>, bool), SchemaError> {
    let Value::Object(ref mut map) = body else {
        return Err(SchemaError::Document(format!(
            "a document must be a JSON object, got {}",
            json_kind(&body)
        )));
    };
    let mut generated = false;
    let id = match (map.get("id"), expected) {
        (None | Some(Value::Null), Some(expected)) => expected.clone(),
        (None | Some(Value::Null), None) => {
            generated = true;
            DocumentId::generate()
        }
        (Some(Value::String(raw)), expected) => {
            let id = DocumentId::parse(raw)?;
            if let Some(expected) = expected
                && expected != &id
            {
                return Err(SchemaError::DocumentId(format!(
                    "the body's id `{id}` differs from the path's id `{expected}`"
                )));
            }
            id
        }
        (Some(other), _) => {
            return Err(SchemaError::DocumentId(format!(
                "`id` must be a string, got {}",
                json_kind(other)
            )));
        }
    };
    map.insert("id".into(), Value::String(id.as_str().to_owned()));
    let Value::Object(map) = body else {
        unreachable!("checked above")
    };
    Ok((id, map, generated))
}

/// Cuts user input that is echoed in a message to a readable length.
pub fn truncate(raw: &str, max_chars: usize) -> String {
    if raw.chars().count() <= max_chars {
        raw.to_owned()
    } else {
        let cut: String = raw.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

/// What a presence check asks of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The document has the key, whatever its value (`null` included).
    Exists,
    /// The value is `null`.
    Null,
    /// The value is `""`, `[]` or `{}`.
    Empty,
}

impl Presence {
    /// The marker an index document carries for this check on `field` (see
    /// `index::fields::IndexFields::presence`); the filter language's `EXISTS`, `IS NULL`
    /// and `IS EMPTY` look them up.
    pub fn marker(self, field: &str) -> String {
        let tag = match self {
            Presence::Exists => 'e',
            Presence::Null => 'n',
            Presence::Empty => 'm',
        };
        format!("{tag}:{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Vec<FieldDefinition> {
        serde_json::from_value(value).expect("valid field list")
    }

    fn products() -> CollectionSchema {
        CollectionSchema::parse(fields(json!([
            {"name": "title", "type": "text", "boost": 3.0},
            {"name": "category", "type": "keyword", "facet": true},
            {"name": "price", "type": "float", "sortable": true},
            {"name": "stock", "type": "integer"},
            {"name": "active", "type": "bool"},
            {"name": "released", "type": "datetime"}
        ])))
        .expect("valid schema")
    }

    #[test]
    fn collection_names() {
        assert!(CollectionName::parse("products_2024-x").is_ok());
        for bad in ["", "Products", "a b", "é", &"a".repeat(65), "../x"] {
            assert!(CollectionName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn document_ids() {
        assert!(DocumentId::parse("abc-DEF_123").is_ok());
        for bad in ["", "a/b", "a b", "ü", &"a".repeat(512)] {
            assert!(DocumentId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(DocumentId::generate().as_str().len(), 36);
    }

    #[test]
    fn schema_rules() {
        assert!(products().field("price").is_some());
        let cases = [
            (
                json!([{"name": "n", "type": "keyword"}]),
                "at least one field of type `text`",
            ),
            (
                json!([{"name": "t", "type": "text"}, {"name": "t", "type": "text"}]),
                "declared twice",
            ),
            (
                json!([{"name": "t", "type": "text", "boost": 0.0}]),
                "boost",
            ),
            (
                json!([{"name": "t", "type": "text", "boost": 101.0}]),
                "boost",
            ),
            (
                json!([{"name": "t", "type": "text"}, {"name": "k", "type": "keyword", "boost": 2.0}]),
                "only text fields and searchable keyword fields take a boost",
            ),
            (
                json!([{"name": "t", "type": "text"}, {"name": "k", "type": "keyword", "typeAhead": false}]),
                "take \"typeAhead\"",
            ),
            (
                json!([{"name": "t", "type": "text", "searchable": true}]),
                "only keyword fields take \"searchable\"",
            ),
            (
                json!([{"name": "t", "type": "text"}, {"name": "n", "type": "integer", "searchable": true}]),
                "only keyword fields take \"searchable\"",
            ),
            (json!([{"name": "id", "type": "text"}]), "reserved"),
            (json!([{"name": "1x", "type": "text"}]), "invalid"),
        ];
        for (value, expected) in cases {
            let error = CollectionSchema::parse(fields(value.clone())).expect_err("invalid schema");
            assert!(error.to_string().contains(expected), "{value}: {error}");
        }
        assert!(
            serde_json::from_value::<Vec<FieldDefinition>>(json!([{"name": "t", "type": "strng"}]))
                .is_err()
        );
    }

    #[test]
    fn document_validation_names_the_field() {
        let schema = products();
        let ok = json!({"title": "A lamp", "category": ["home", "light"], "price": 10, "stock": 3,
                        "active": true, "released": "2026-01-02T03:04:05Z", "extra": {"kept": true}});
        assert!(
            schema
                .validate_document(ok.as_object().expect("object"))
                .is_ok()
        );
        let cases = [
            (json!({"title": 3}), "`title`"),
            (json!({"price": "10"}), "`price`"),
            (json!({"stock": 1.5}), "`stock`"),
            (json!({"active": "yes"}), "`active`"),
            (json!({"released": "yesterday"}), "`released`"),
            (json!({"category": [1]}), "`category`"),
        ];
        for (value, expected) in cases {
            let error = schema
                .validate_document(value.as_object().expect("object"))
                .expect_err("invalid document");
            assert!(error.to_string().contains(expected), "{value}: {error}");
        }
        assert!(
            schema
                .validate_document(json!({"title": null}).as_object().expect("object"))
                .is_ok()
        );
    }

    #[test]
    fn field_paths_reach_into_objects_only() {
        let body = json!({"a": {"b": {"c": 1}, "n": null}, "s": "x", "l": [{"b": 2}]});
        let body = body.as_object().expect("object");
        assert_eq!(value_at(body, "a.b.c"), Some(&json!(1)));
        assert_eq!(value_at(body, "a.n"), Some(&Value::Null));
        assert_eq!(value_at(body, "a.n.x"), None);
        assert_eq!(value_at(body, "s.b"), None);
        assert_eq!(value_at(body, "l.b"), None);
        assert_eq!(value_at(body, "a.missing"), None);
        assert_eq!(path_problem(body, "a.b.c"), None);
        assert_eq!(path_problem(body, "a.n.x"), None, "null holds nothing");
        assert_eq!(path_problem(body, "a.missing.x"), None);
        for (path, way) in [("s.b", "`s`"), ("l.b", "`l`"), ("a.b.c.d", "`a.b.c`")] {
            let problem = path_problem(body, path).expect("in the way");
            assert!(problem.contains(way), "{path}: {problem}");
        }
    }

    #[test]
    fn nested_field_declarations() {
        let schema = CollectionSchema::parse(fields(json!([
            {"name": "title", "type": "text"},
            {"name": "author.name", "type": "text"},
            {"name": "a.b.c.d", "type": "integer"}
        ])))
        .expect("valid schema");
        assert!(schema.field("author.name").is_some());
        let ok = json!({"title": "t", "author": {"name": "x", "extra": 1}, "a": null});
        assert!(
            schema
                .validate_document(ok.as_object().expect("object"))
                .is_ok()
        );
        let bad = json!({"title": "t", "author": {"name": 3}});
        let error = schema
            .validate_document(bad.as_object().expect("object"))
            .expect_err("wrong type");
        assert!(error.to_string().contains("`author.name`"), "{error}");
        for (value, expected) in [
            (
                json!([{"name": "t", "type": "text"}, {"name": "t.x", "type": "text"}]),
                "inside field `t`",
            ),
            (
                json!([{"name": "a.b.c", "type": "text"}, {"name": "a.b", "type": "keyword"}]),
                "inside field `a.b`",
            ),
            (json!([{"name": "id.x", "type": "text"}]), "reserved"),
            (json!([{"name": "a.b.c.d.e", "type": "text"}]), "invalid"),
            (json!([{"name": "a..b", "type": "text"}]), "invalid"),
        ] {
            let error = CollectionSchema::parse(fields(value.clone())).expect_err("invalid schema");
            assert!(error.to_string().contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn identity_is_taken_generated_or_checked() {
        let (id, body, generated) =
            document_identity(json!({"id": "a1", "x": 1}), None).expect("ok");
        assert_eq!((id.as_str(), generated), ("a1", false));
        assert_eq!(body["id"], "a1");
        let (id, body, generated) = document_identity(json!({"x": 1}), None).expect("ok");
        assert!(generated);
        assert_eq!(body["id"], id.as_str());
        let path = DocumentId::parse("p").expect("valid");
        assert!(document_identity(json!({"id": "q"}), Some(&path)).is_err());
        assert!(document_identity(json!({"id": 7}), None).is_err());
        assert!(document_identity(json!([1]), None).is_err());
        let (_, body, _) = document_identity(json!({}), Some(&path)).expect("ok");
        assert_eq!(body["id"], "p");
    }

    #[test]
    fn fields_added_or_retyped_are_the_ones_to_check_documents_against() {
        let old = products();
        let mut new = old.fields().to_vec();
        // A flag and a boost need no check; a new type and a new field do.
        new[0].boost = 9.0;
        if let Some(price) = new.iter_mut().find(|f| f.name == "price") {
            price.sortable = !price.sortable;
        }
        if let Some(category) = new.iter_mut().find(|f| f.name == "category") {
            category.field_type = FieldType::Text;
        }
        new.extend(fields(json!([{"name": "brand.name", "type": "keyword"}])));
        let unchecked = old.unchecked_by(&new);
        let names: Vec<&str> = unchecked.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["category", "brand.name"]);
        assert!(old.unchecked_by(old.fields()).fields().is_empty());
    }

    #[test]
    fn boosts_change_only_searched_fields() {
        let schema = products();
        let changed = schema
            .with_boosts(&BTreeMap::from([("title".to_owned(), 5.0)]))
            .expect("valid");
        assert_eq!(changed.field("title").map(|f| f.boost), Some(5.0));
        assert!(
            schema
                .with_boosts(&BTreeMap::from([("category".to_owned(), 2.0)]))
                .is_err(),
            "a keyword field not searched"
        );
        let searchable = CollectionSchema::parse(fields(json!([
            {"name": "title", "type": "text"},
            {"name": "genre", "type": "keyword", "searchable": true, "boost": 2.0}
        ])))
        .expect("a searchable keyword field takes a boost");
        assert!(
            searchable
                .field("genre")
                .is_some_and(FieldDefinition::searched)
        );
        let changed = searchable
            .with_boosts(&BTreeMap::from([("genre".to_owned(), 4.0)]))
            .expect("valid");
        assert_eq!(changed.field("genre").map(|f| f.boost), Some(4.0));
        assert!(
            schema
                .with_boosts(&BTreeMap::from([("price".to_owned(), 2.0)]))
                .is_err()
        );
        assert!(
            schema
                .with_boosts(&BTreeMap::from([("nope".to_owned(), 2.0)]))
                .is_err()
        );
    }

    #[test]
    fn plain_decimals_are_what_numeric_prints() {
        assert_eq!(plain_decimal("1.5e3"), "1500");
        assert_eq!(plain_decimal("2e-3"), "0.002");
        assert_eq!(plain_decimal("-1.25e-1"), "-0.125");
        assert_eq!(plain_decimal("1.7976931348623157e308").len(), 309);
        assert_eq!(plain_decimal("12.5"), "12.5");
    }

    #[test]
    fn values_that_do_not_come_back_from_jsonb_are_refused_with_their_path() {
        let fields: Vec<FieldDefinition> =
            serde_json::from_value(json!([{"name": "title", "type": "text"}])).expect("fields");
        let schema = CollectionSchema::parse(fields).expect("schema");
        let refused = |body: Value| {
            schema
                .validate_document(body.as_object().expect("object"))
                .expect_err("refused")
                .to_string()
        };
        assert!(refused(json!({"a": {"b": ["x", "y\u{0}z"]}})).contains("`a.b[1]`"));
        assert!(refused(json!({"k\u{0}": 1})).contains("NUL"));
        assert!(refused(json!({"p": f64::MAX})).contains("`p`"));
        assert!(refused(json!({"p": -0.0})).contains("send 0"));
        let mut deep = json!(1);
        for _ in 0..=MAX_DOCUMENT_DEPTH {
            deep = json!([deep]);
        }
        assert!(refused(json!({ "d": deep })).contains("nested deeper"));
        for fine in [
            1e308,
            -1e308,
            1e-320,
            5e-324,
            0.1,
            123.456,
            1.0e20,
            f64::MIN_POSITIVE,
        ] {
            assert!(float_round_trips(fine), "{fine}");
        }
        schema
            .validate_document(
                json!({"n": 18446744073709551615u64, "i": -5, "f": 2.5, "s": "ok"})
                    .as_object()
                    .expect("object"),
            )
            .expect("storable");
    }
}
