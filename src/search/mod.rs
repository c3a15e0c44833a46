//! Search: one request shape, answered by the index (tantivy) or, for comparison, by
//! PostgreSQL (`ilike`, `fts`), in one response shape.
//!
//! * [`distinct`]: the best hit per value of a field, and counts of those groups.
//! * [`facet_search`]: the values of a facet that begin with what was typed, counted.
//! * [`filter`]: the `filter` language, parsed and checked against the schema.
//! * [`query`]: the query string as a tantivy query (BM25, typos, prefix, synonyms).
//! * [`geo`]: geo areas as index queries.
//! * [`highlight`]: matched words marked in the returned fields.
//! * [`ranking`]: the matching strategy (word dropping) and the ranking rules.
//! * [`index_engine`]: running a search on a collection's index.
//! * [`sql_engine`]: the same search as `ILIKE` or Postgres full-text search.

pub mod distinct;
pub mod facet_search;
pub mod filter;
pub mod geo;
pub mod highlight;
pub mod index_engine;
pub mod query;
pub mod ranking;
pub mod score_details;
pub mod sql_engine;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::schema::{CollectionSchema, FieldType, MatchingStrategy, truncate};
use crate::search::filter::Filter;
use crate::search::highlight::HighlightOptions;

/// Largest `limit`.
pub const MAX_LIMIT: usize = 100;
/// Default `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// `offset + limit` may not pass this: deep pages cost offset + limit in every engine.
pub const MAX_WINDOW: usize = 1_000;
/// Longest query string, in characters (also in [`SearchParams`]' `validate` rule).
pub const MAX_QUERY_CHARS: usize = 512;

/// The parameters of a search, as query parameters (`GET`) or a JSON body (`POST`).
// Shape rules (lengths, ranges) are declared here with `validator`; what needs the
// collection's schema (filter, facets, sort) is checked by `SearchParams::validate`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams, ToSchema, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query: words, the last one a prefix (Chinese, Japanese and Korean as pairs of
    /// characters, as their text is indexed). Empty matches every document.
    #[param(example = "wireless headph", max_length = 512)]
    #[schema(example = "wireless headph", max_length = 512)]
    #[validate(length(max = 512, message = "`q` is longer than 512 characters"))]
    pub q: Option<String>,
    /// Hits per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 10)]
    #[schema(minimum = 1, maximum = 100, example = 10)]
    #[validate(range(min = 1, max = 100, message = "`limit` must be from 1 to 100"))]
    pub limit: Option<usize>,
    /// Hits to skip; `offset + limit` is at most 1000. Pages of one query neither repeat
    /// nor skip a hit: the ranking of the first hits does not depend on the page asked for.
    #[param(minimum = 0, maximum = 999, example = 0)]
    #[schema(minimum = 0, maximum = 999, example = 0)]
    pub offset: Option<usize>,
    /// Filter expression, e.g. `category = audio AND price < 100`.
    #[param(example = "category = audio AND price < 100")]
    pub filter: Option<String>,
    /// Comma-separated fields declared `facet`: a keyword field's values are counted
    /// (`facets`), a number field's min and max given (`facetStats`).
    #[param(example = "category")]
    #[schema(example = "category")]
    pub facets: Option<String>,
    /// Values listed per keyword facet, most frequent first: 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 10)]
    #[schema(minimum = 1, maximum = 100, example = 10)]
    #[validate(range(
        min = 1,
        max = 100,
        message = "`maxValuesPerFacet` must be from 1 to 100"
    ))]
    pub max_values_per_facet: Option<usize>,
    /// Comma-separated keyword facets counted *disjunctively*: as if the filter's
    /// conditions on that facet alone (joined to the rest by AND) were not there, so a
    /// page can offer the other values as OR choices. Counted whether or not `facets`
    /// names them.
    #[param(example = "category")]
    #[schema(example = "category")]
    pub disjunctive_facets: Option<String>,
    /// Comma-separated fields each hit's `document` (and `highlights`) keeps, up to 64;
    /// `*` or nothing keeps them all. Fields a document lacks are left out.
    #[param(example = "title,price", max_length = 2048)]
    #[schema(example = "title,price", max_length = 2048)]
    pub attributes_to_retrieve: Option<String>,
    /// Up to 3 keys, comma-separated, each `field:asc` or `field:desc` on a sortable
    /// field, or `_score:desc` (relevance); ties go to the lower id. Default: by the
    /// ranking rules.
    #[param(example = "price:asc")]
    pub sort: Option<String>,
    /// `index` (default), `ilike` or `fts`.
    #[param(inline, example = "index")]
    pub engine: Option<Engine>,
    /// Typo tolerance (default true): misspelt words, and a word typed as two written
    /// together (`nodefetch` finds `node-fetch`).
    pub fuzzy: Option<bool>,
    /// Treat the last word as a prefix (default true).
    pub prefix: Option<bool>,
    /// Return highlights (default true).
    pub highlight: Option<bool>,
    /// Opening mark of highlights (default `<mark>`); at most 64 characters.
    #[param(max_length = 64)]
    #[schema(max_length = 64)]
    #[validate(length(max = 64, message = "highlight tags are at most 64 characters"))]
    pub highlight_pre_tag: Option<String>,
    /// Closing mark of highlights (default `</mark>`); at most 64 characters.
    #[param(max_length = 64)]
    #[schema(max_length = 64)]
    #[validate(length(max = 64, message = "highlight tags are at most 64 characters"))]
    pub highlight_post_tag: Option<String>,
    /// Comma-separated fields to highlight: text fields and `searchable` keyword fields
    /// (`*` or nothing: all of them).
    #[param(example = "title")]
    #[schema(example = "title")]
    pub attributes_to_highlight: Option<String>,
    /// Comma-separated fields the words are looked for in (`*` or nothing: every text
    /// field and `searchable` keyword field), as Meilisearch's `attributesToSearchOn`:
    /// `title` finds only what matches in titles. Each must be one of those;
    /// `engine=index` only.
    #[param(example = "title")]
    #[schema(example = "title")]
    pub attributes_to_search_on: Option<String>,
    /// Comma-separated highlighted fields to crop to `cropLength` words around the first
    /// match (`*` or nothing: all); the others are highlighted whole.
    #[param(example = "description")]
    #[schema(example = "description")]
    pub attributes_to_crop: Option<String>,
    /// Put where a cropped text was cut (default `…`); at most 64 characters.
    #[param(max_length = 64)]
    #[schema(max_length = 64)]
    #[validate(length(max = 64, message = "`cropMarker` is at most 64 characters"))]
    pub crop_marker: Option<String>,
    /// Give each hit `matchesPosition`: per text field, where the matched words are
    /// (`start` and `length` in bytes; `index` in an array). `index` engine.
    pub show_matches_position: Option<bool>,
    /// Words kept around the first match in long highlighted fields (default 30).
    #[param(minimum = 1, maximum = 1000)]
    #[schema(minimum = 1, maximum = 1000)]
    #[validate(range(min = 1, max = 1000, message = "`cropLength` must be from 1 to 1000"))]
    pub crop_length: Option<usize>,
    /// `words` (default): ranked word matching. `substring`: ILIKE semantics (every
    /// whitespace-separated part of `q` occurs, ignoring case, in some text field),
    /// answered from the collection's n-gram index (`substringIndex` setting).
    #[serde(rename = "match")]
    #[param(rename = "match", inline, example = "words")]
    pub match_mode: Option<MatchMode>,
    /// A consistency token from a write (`consistencyToken`): wait until the index has
    /// applied that write.
    // No example on purpose: a made-up token from the server's future would make Swagger
    // UI's "Try it out" wait, then answer 504.
    pub after: Option<String>,
    /// `false` answers from the index without reading or filling the caches (for
    /// measuring; default true).
    pub cache: Option<bool>,
    /// Which words are dropped first when the documents matching all of them cannot
    /// fill the page (documents matching more words still rank first, whichever words
    /// they are): `last` (from the end), `frequency` (the most common as written first;
    /// from the end for a query typed as one identifier, `scikit-lern`) or `all` (none);
    /// default: the collection's setting (`frequency` unless changed).
    #[param(inline)]
    pub matching_strategy: Option<MatchingStrategy>,
    /// A keyword field: keep only the best hit per value of it (one product per family).
    /// `total` and the keyword facets then count those groups; a document without a
    /// value is a group of its own. `index` engine.
    #[param(example = "category")]
    #[schema(example = "category")]
    pub distinct: Option<String>,
    /// Give each hit its `rankingScore`: the ranking rules' verdict as one number in
    /// (0, 1], comparable across queries and collections (default false). `index`
    /// engine, ranked by the rules; not with `sort`.
    pub show_ranking_score: Option<bool>,
    /// Give each hit its `rankingScoreDetails`: per ranking rule, what the rule saw
    /// (words matched, typos, match type, BM25, a field rule's value) and the hit's score
    /// on it alone (default false). Where `rankingScore` is given.
    pub show_ranking_score_details: Option<bool>,
}

/// How the words of `q` match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Ranked word matching: typos, the last word a prefix.
    #[default]
    Words,
    /// `ILIKE` semantics from the collection's n-gram index.
    Substring,
}

/// Which engine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The tantivy index: BM25, typos, prefix.
    Index,
    /// Every word must be in some text field, `ILIKE '%word%'`, newest first: the naive scan.
    Ilike,
    /// PostgreSQL full-text search (`tsvector`, GIN index, `ts_rank_cd`).
    Fts,
}

impl Engine {
    /// The engine's name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Index => "index",
            Engine::Ilike => "ilike",
            Engine::Fts => "fts",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "index" => Ok(Engine::Index),
            "ilike" => Ok(Engine::Ilike),
            "fts" => Ok(Engine::Fts),
            other => Err(format!("`{other}` is not index, ilike or fts")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// Most keys a sort takes.
pub const MAX_SORT_KEYS: usize = 3;

/// What one sort key orders by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortBy {
    /// A sortable field.
    Field { name: String, field_type: FieldType },
    /// `_score`: the BM25 relevance of the words (engine `fts`: `ts_rank_cd`).
    Score,
    /// `_geoPoint(lat, lng)`: the distance of the geo field's point from this one.
    Geo { field: String, lat: f64, lng: f64 },
}

/// One key of a sort.
#[derive(Debug, Clone)]
pub struct Sort {
    pub by: SortBy,
    pub order: SortOrder,
}

/// A validated search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub q: String,
    pub limit: usize,
    pub offset: usize,
    pub filter: Option<Filter>,
    /// Keyword facets to count and number facets to give the range of.
    pub facets: Vec<String>,
    /// Values listed per keyword facet.
    pub max_values_per_facet: usize,
    /// Keyword facets counted under a filter of their own: the request's without its
    /// conditions on the facet ([`Filter::without`]).
    pub disjunctive: Vec<(String, Option<Filter>)>,
    /// The sort keys, in order; empty: by the ranking rules.
    pub sort: Vec<Sort>,
    /// The fields hits keep (`attributesToRetrieve`); `None`: all.
    pub attributes: Option<Vec<String>>,
    pub engine: Engine,
    pub typos: bool,
    pub prefix: bool,
    pub highlight: Option<HighlightOptions>,
    pub after: Option<u64>,
    /// ILIKE semantics from the n-gram index.
    pub substring: bool,
    /// The request's matching strategy; `None`: the collection's.
    pub matching_strategy: Option<MatchingStrategy>,
    /// Hits carry their ranking score.
    pub show_ranking_score: bool,
    pub show_ranking_score_details: bool,
    /// The text fields highlighted (`None`: all).
    pub highlight_fields: Option<Vec<String>>,
    /// The text fields the words are looked for in (`None`: all).
    pub search_on: Option<Vec<String>>,
    /// The highlighted fields cropped (`None`: all).
    pub crop_fields: Option<Vec<String>>,
    /// Hits carry where their matches are.
    pub show_matches_position: bool,
    /// The keyword field hits are grouped by: one hit per value.
    pub distinct: Option<String>,
}

impl SearchRequest {
    /// A plain index search for `q`: the first `limit` hits by relevance, typos and
    /// prefix on, no filter, facets or highlights.
    pub fn index(q: String, limit: usize) -> SearchRequest {
        SearchRequest {
            q,
            limit,
            offset: 0,
            filter: None,
            facets: Vec::new(),
            max_values_per_facet: DEFAULT_FACET_VALUES,
            disjunctive: Vec::new(),
            sort: Vec::new(),
            attributes: None,
            engine: Engine::Index,
            typos: true,
            prefix: true,
            highlight: None,
            after: None,
            substring: false,
            matching_strategy: None,
            show_ranking_score: false,
            show_ranking_score_details: false,
            distinct: None,
            highlight_fields: None,
            search_on: None,
            crop_fields: None,
            show_matches_position: false,
        }
    }
}

/// Why a search request is refused; each becomes a 400 with its own code (mapped in
/// `crate::error`, the one place that knows HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchRequestError {
    /// `q` itself: too long, unbalanced quotes.
    #[error("{0}")]
    Query(String),
    #[error("{0}")]
    Filter(String),
    #[error("{0}")]
    Sort(String),
    #[error("{0}")]
    Facets(String),
    /// Any other parameter.
    #[error("{0}")]
    Parameter(String),
}

/// The first shape error of the parameters, as the client should read it: `q` before
/// the other parameters.
fn shape_error(errors: &validator::ValidationErrors) -> SearchRequestError {
    let order = [
        "q",
        "limit",
        "crop_length",
        "crop_marker",
        "max_values_per_facet",
    ];
    match crate::validation::first_error(errors, &order) {
        Some((field, message)) if field == "q" => SearchRequestError::Query(message),
        Some((_, message)) => SearchRequestError::Parameter(message),
        None => SearchRequestError::Parameter("invalid search parameters".into()),
    }
}

impl SearchParams {
    /// Checks the parameters: their shape, then what the collection's schema decides.
    pub fn validate(self, schema: &CollectionSchema) -> Result<SearchRequest, SearchRequestError> {
        Validate::validate(&self).map_err(|errors| shape_error(&errors))?;
        // Words in double quotes are a phrase; a lone quote is only a character.
        let q = self.q.unwrap_or_default();
        if q.contains('\0') {
            return Err(SearchRequestError::Query(
                "`q` contains a NUL character (\\u0000); remove it".into(),
            ));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if offset.saturating_add(limit) > MAX_WINDOW {
            return Err(SearchRequestError::Parameter(format!(
                "`offset` + `limit` must be at most {MAX_WINDOW}; narrow the query or the filter instead of paging deeper"
            )));
        }
        let filter = parse_filter(self.filter.as_deref(), schema)?;
        let facets = parse_facets("facets", self.facets.as_deref(), schema)?;
        let disjunctive = parse_facets(
            "disjunctiveFacets",
            self.disjunctive_facets.as_deref(),
            schema,
        )?
        .into_iter()
        .map(|name| {
            if schema.field(&name).map(|f| f.field_type) != Some(FieldType::Keyword) {
                return Err(SearchRequestError::Facets(format!(
                    "`disjunctiveFacets`: `{name}` is a number facet; only keyword facets have values to choose from"
                )));
            }
            let own = filter.as_ref().and_then(|f| f.without(&name));
            Ok((name, own))
        })
        .collect::<Result<Vec<_>, _>>()?;
        let sort = parse_sort(self.sort.as_deref(), schema)?;
        let attributes = parse_attributes(
            "attributesToRetrieve",
            self.attributes_to_retrieve.as_deref(),
        )?;
        let highlight_fields = parse_attributes(
            "attributesToHighlight",
            self.attributes_to_highlight.as_deref(),
        )?;
        let crop_fields = parse_attributes("attributesToCrop", self.attributes_to_crop.as_deref())?;
        let search_on = parse_attributes(
            "attributesToSearchOn",
            self.attributes_to_search_on.as_deref(),
        )?;
        for name in search_on.iter().flatten() {
            field_that(
                schema,
                "attributesToSearchOn",
                name,
                "text field or a keyword field declared \"searchable\"",
                crate::schema::FieldDefinition::searched,
            )?;
        }
        let engine = self.engine.unwrap_or(Engine::Index);
        let highlight = self.highlight.unwrap_or(true).then(|| {
            let defaults = HighlightOptions::default();
            HighlightOptions {
                pre_tag: self.highlight_pre_tag.unwrap_or(defaults.pre_tag),
                post_tag: self.highlight_post_tag.unwrap_or(defaults.post_tag),
                crop_words: self.crop_length.unwrap_or(defaults.crop_words),
                typed_part_only: false,
                crop_marker: self.crop_marker.unwrap_or(defaults.crop_marker),
            }
        });
        let after = parse_after(self.after.as_deref())?;
        let substring = self.match_mode.unwrap_or_default() == MatchMode::Substring;
        if substring && engine != Engine::Index {
            return Err(SearchRequestError::Parameter(
                "`match=substring` is for `engine=index` (ilike already matches substrings)".into(),
            ));
        }
        if substring && !sort.is_empty() {
            return Err(SearchRequestError::Sort(
                "`sort` cannot be combined with `match=substring`".into(),
            ));
        }
        let distinct = match self.distinct.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(
                field_that(schema, "distinct", name, "keyword field", |f| {
                    f.field_type == FieldType::Keyword
                })?
                .name
                .clone(),
            ),
        };
        if search_on.is_some() && (engine != Engine::Index || substring) {
            return Err(SearchRequestError::Parameter(
                "`attributesToSearchOn` is for `engine=index` with `match=words`".into(),
            ));
        }
        if distinct.is_some() && (engine != Engine::Index || substring) {
            return Err(SearchRequestError::Parameter(
                "`distinct` is for `engine=index` with `match=words`".into(),
            ));
        }
        Ok(SearchRequest {
            highlight_fields,
            search_on,
            crop_fields,
            show_matches_position: self.show_matches_position.unwrap_or(false),
            distinct,
            substring,
            q,
            limit,
            offset,
            filter,
            facets,
            max_values_per_facet: self.max_values_per_facet.unwrap_or(DEFAULT_FACET_VALUES),
            disjunctive,
            sort,
            attributes,
            engine,
            typos: self.fuzzy.unwrap_or(true),
            prefix: self.prefix.unwrap_or(true),
            highlight,
            after,
            matching_strategy: self.matching_strategy,
            show_ranking_score: self.show_ranking_score.unwrap_or(false),
            show_ranking_score_details: self.show_ranking_score_details.unwrap_or(false),
        })
    }
}

/// Most fields `attributesToRetrieve` may name.
pub const MAX_ATTRIBUTES: usize = 64;

/// The field `name` of `schema`, for `parameter`, which takes only the fields `fits`
/// accepts (`kind` names them in the error).
fn field_that<'s>(
    schema: &'s CollectionSchema,
    parameter: &str,
    name: &str,
    kind: &str,
    fits: impl Fn(&crate::schema::FieldDefinition) -> bool,
) -> Result<&'s crate::schema::FieldDefinition, SearchRequestError> {
    match schema.field(name) {
        Some(f) if fits(f) => Ok(f),
        Some(_) => Err(SearchRequestError::Parameter(format!(
            "`{parameter}`: `{name}` is not a {kind}"
        ))),
        None => Err(SearchRequestError::Parameter(format!(
            "`{parameter}`: unknown field `{}`",
            truncate(name, 40)
        ))),
    }
}

/// A list of field names (`attributesToRetrieve` and the like, named by `parameter`),
/// or `None` for all (`*`, or nothing given).
fn parse_attributes(
    parameter: &str,
    raw: Option<&str>,
) -> Result<Option<Vec<String>>, SearchRequestError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    if names.contains(&"*") {
        return Ok(None);
    }
    if names.len() > MAX_ATTRIBUTES || names.iter().any(|n| n.is_empty() || n.len() > 256) {
        return Err(SearchRequestError::Parameter(format!(
            "`{parameter}` takes 1 to {MAX_ATTRIBUTES} field names, comma-separated, such as `title,price`"
        )));
    }
    let mut names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    names.sort();
    names.dedup();
    Ok(Some(names))
}

/// The point hits' distances are measured from: the `_geoPoint` of the sort, else the
/// center of the filter's first `_geoRadius`; with the geo field's name.
fn geo_origin(request: &SearchRequest) -> Option<(&str, f64, f64)> {
    fn radius(filter: &Filter) -> Option<(&str, f64, f64)> {
        match filter {
            Filter::Geo {
                field,
                area: filter::GeoArea::Radius { lat, lng, .. },
            } => Some((field.as_str(), *lat, *lng)),
            Filter::And(parts) | Filter::Or(parts) => parts.iter().find_map(radius),
            _ => None,
        }
    }
    request
        .sort
        .iter()
        .find_map(|s| match &s.by {
            SortBy::Geo { field, lat, lng } => Some((field.as_str(), *lat, *lng)),
            _ => None,
        })
        .or_else(|| request.filter.as_ref().and_then(radius))
}

/// Gives each hit its distance from the request's geo point, when it has one (before
/// `attributesToRetrieve` may drop the geo field from the document).
pub fn add_geo_distances(hits: &mut [Hit], request: &SearchRequest) {
    let Some((field, lat, lng)) = geo_origin(request) else {
        return;
    };
    for hit in hits {
        let point = hit
            .document
            .as_object()
            .and_then(|d| crate::schema::value_at(d, field));
        hit.geo_distance = point
            .and_then(crate::schema::geo_point)
            .map(|point| filter::distance_meters((lat, lng), point).round());
    }
}

/// Keeps, in each hit's document and highlights, only the `attributes` asked for.
pub fn retain_attributes(hits: &mut [Hit], attributes: Option<&[String]>) {
    let Some(attributes) = attributes else {
        return;
    };
    for hit in hits {
        if let Value::Object(document) = &mut hit.document {
            *document = project(document, attributes);
        }
        hit.highlights
            .retain(|key, _| attributes.iter().any(|a| a == key));
    }
}

/// The parts of `document` that `attributes` name: a top-level field whole, a path
/// (`author.name`) within its objects (`{"author": {"name": ...}}`).
fn project(
    document: &serde_json::Map<String, Value>,
    attributes: &[String],
) -> serde_json::Map<String, Value> {
    // Shorter paths first: a field kept whole already holds the paths inside it, so
    // those only put back the values they read from it.
    let mut paths: Vec<&String> = attributes.iter().collect();
    paths.sort_by_key(|path| path.matches('.').count());
    let mut kept = serde_json::Map::new();
    for path in paths {
        if let Some(value) = crate::schema::value_at(document, path) {
            // Refused only for a path named twice; its value is in already.
            crate::schema::insert_at(&mut kept, path, value.clone());
        }
    }
    kept
}

/// `filter`: parsed and checked against the schema; empty means none.
fn parse_filter(
    raw: Option<&str>,
    schema: &CollectionSchema,
) -> Result<Option<Filter>, SearchRequestError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => filter::parse(text, schema)
            .map(Some)
            .map_err(|m| SearchRequestError::Filter(format!("`filter`: {m}"))),
    }
}

/// Most facet fields one search may count.
pub const MAX_FACETS: usize = 20;
/// Values listed per keyword facet unless `maxValuesPerFacet` says otherwise.
pub const DEFAULT_FACET_VALUES: usize = 20;

/// `facets` (or `disjunctiveFacets`, named by `parameter`): comma-separated fields
/// declared `facet`, each once.
fn parse_facets(
    parameter: &str,
    raw: Option<&str>,
    schema: &CollectionSchema,
) -> Result<Vec<String>, SearchRequestError> {
    let mut facets = Vec::new();
    for name in raw
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match schema.field(name) {
            Some(f) if f.facet => {
                if !facets.contains(&f.name) {
                    facets.push(f.name.clone())
                }
            }
            Some(_) => {
                return Err(SearchRequestError::Facets(format!(
                    "`{parameter}`: `{name}` is not declared with \"facet\": true"
                )));
            }
            None => {
                return Err(SearchRequestError::Facets(format!(
                    "`{parameter}`: unknown field `{}`",
                    truncate(name, 40)
                )));
            }
        }
        if facets.len() > MAX_FACETS {
            return Err(SearchRequestError::Facets(format!(
                "`{parameter}`: at most {MAX_FACETS} fields"
            )));
        }
    }
    Ok(facets)
}

/// `sort`: up to [`MAX_SORT_KEYS`] keys, each `field:asc|desc` on a sortable, non-text
/// field or `_score:asc|desc`. `_score:desc` alone is the default order, so it is none.
fn parse_sort(
    raw: Option<&str>,
    schema: &CollectionSchema,
) -> Result<Vec<Sort>, SearchRequestError> {
    let text = match raw.map(str::trim) {
        None | Some("") => return Ok(Vec::new()),
        Some(text) => text,
    };
    // Commas split keys, except inside `_geoPoint(lat, lng)`.
    let mut parts: Vec<&str> = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[from..at].trim());
                from = at + 1;
            }
            _ => {}
        }
    }
    parts.push(text[from..].trim());
    if parts.len() > MAX_SORT_KEYS {
        return Err(SearchRequestError::Sort(format!(
            "`sort` takes at most {MAX_SORT_KEYS} keys, such as `rating:desc,price:asc`"
        )));
    }
    let mut keys: Vec<Sort> = Vec::with_capacity(parts.len());
    for part in parts {
        let key = parse_sort_key(part, schema)?;
        if keys.iter().any(|k| k.by == key.by) {
            return Err(SearchRequestError::Sort(format!(
                "`sort`: `{}` is given twice",
                truncate(part, 40)
            )));
        }
        keys.push(key);
    }
    if keys.len() > 1 && keys.iter().any(|k| matches!(k.by, SortBy::Geo { .. })) {
        return Err(SearchRequestError::Sort(
            "`sort`: `_geoPoint(lat, lng)` is a sort's only key".into(),
        ));
    }
    if let [
        Sort {
            by: SortBy::Score,
            order: SortOrder::Desc,
        },
    ] = keys.as_slice()
    {
        return Ok(Vec::new());
    }
    Ok(keys)
}

/// One key of `sort`: `name:asc` or `name:desc`.
fn parse_sort_key(text: &str, schema: &CollectionSchema) -> Result<Sort, SearchRequestError> {
    if text.is_empty() {
        return Err(SearchRequestError::Sort(
            "`sort` has an empty key: write keys like `rating:desc,price:asc`".into(),
        ));
    }
    let (name, order) = match text.rsplit_once(':') {
        Some((name, "asc")) => (name, SortOrder::Asc),
        Some((name, "desc")) => (name, SortOrder::Desc),
        Some((name, other)) => {
            return Err(SearchRequestError::Sort(format!(
                "`sort`: the direction `{}` is not `asc` or `desc`; write `{}:asc` or `{}:desc`",
                truncate(other, 20),
                truncate(name, 40),
                truncate(name, 40)
            )));
        }
        None => {
            return Err(SearchRequestError::Sort(format!(
                "`sort` needs a direction: `{0}:asc` or `{0}:desc`",
                truncate(text, 40)
            )));
        }
    };
    if name == "_score" {
        return Ok(Sort {
            by: SortBy::Score,
            order,
        });
    }
    if let Some(arguments) = name
        .strip_prefix("_geoPoint(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let shape = "`sort`: write `_geoPoint(lat, lng):asc` with a latitude from -90 to 90 and a longitude from -180 to 180";
        let point: Vec<f64> = arguments
            .split(',')
            .filter_map(|n| n.trim().parse::<f64>().ok())
            .collect();
        let [lat, lng] = point.as_slice() else {
            return Err(SearchRequestError::Sort(shape.into()));
        };
        if !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lng) {
            return Err(SearchRequestError::Sort(shape.into()));
        }
        let Some(field) = schema
            .fields()
            .iter()
            .find(|f| f.field_type == FieldType::Geo)
        else {
            return Err(SearchRequestError::Sort(
                "`sort`: `_geoPoint` needs a field of type `geo` in the collection".into(),
            ));
        };
        return Ok(Sort {
            by: SortBy::Geo {
                field: field.name.clone(),
                lat: *lat,
                lng: *lng,
            },
            order,
        });
    }
    match schema.field(name) {
        Some(f) if f.sortable && f.field_type != FieldType::Text => Ok(Sort {
            by: SortBy::Field {
                name: f.name.clone(),
                field_type: f.field_type,
            },
            order,
        }),
        Some(_) => Err(SearchRequestError::Sort(format!(
            "`sort`: `{name}` is not declared with \"sortable\": true"
        ))),
        None => Err(SearchRequestError::Sort(format!(
            "`sort`: unknown field `{}`",
            truncate(name, 40)
        ))),
    }
}

/// `after`: a consistency token (a transaction id); empty means none.
fn parse_after(raw: Option<&str>) -> Result<Option<u64>, SearchRequestError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(token) => token.parse::<u64>().map(Some).map_err(|_| {
            SearchRequestError::Parameter(format!(
                "`after` is not a consistency token: `{}`",
                truncate(token, 40)
            ))
        }),
    }
}

/// The query as the analyzer sees it: case and runs of whitespace don't matter.
pub fn normalize_query(q: &str) -> String {
    q.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl SearchRequest {
    /// Every parameter that changes the answer, defaults filled in (the request is
    /// validated), in a fixed order: what a cache key is made from. `after` is left
    /// out: it says when to answer, not what.
    pub fn fingerprint(&self) -> String {
        format!(
            "q={}\u{1f}limit={}\u{1f}offset={}\u{1f}filter={:?}\u{1f}facets={:?}\u{1f}facet_values={}\u{1f}disjunctive={:?}\u{1f}sort={:?}\u{1f}typos={}\u{1f}prefix={}\u{1f}highlight={:?}\u{1f}substring={}\u{1f}strategy={:?}\u{1f}attributes={:?}\u{1f}ranking_score={}\u{1f}score_details={}\u{1f}distinct={:?}\u{1f}highlighted={:?}\u{1f}cropped={:?}\u{1f}positions={}\u{1f}search_on={:?}",
            normalize_query(&self.q),
            self.limit,
            self.offset,
            self.filter,
            self.facets,
            self.max_values_per_facet,
            self.disjunctive,
            self.sort,
            self.typos,
            self.prefix,
            self.highlight,
            self.substring,
            self.matching_strategy,
            self.attributes,
            self.show_ranking_score,
            self.show_ranking_score_details,
            self.distinct,
            self.highlight_fields,
            self.crop_fields,
            self.show_matches_position,
            self.search_on,
        )
    }
}

/// One result.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub id: String,
    /// Relevance (higher is better); `null` when sorted by a field or by date.
    pub score: Option<f32>,
    /// With `showRankingScore`: the ranking rules' verdict in (0, 1], 1 the best any
    /// rule gives; the same scale in every query and collection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_score: Option<f64>,
    /// With `showRankingScoreDetails`: per ranking rule, what it saw of the hit and the
    /// hit's score on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_score_details: Option<score_details::RankingScoreDetails>,
    #[schema(value_type = Object)]
    pub document: Value,
    /// Text fields with the matched words marked, by field name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub highlights: BTreeMap<String, String>,
    /// With a `_geoPoint` sort or a `_geoRadius` filter: the meters from that point to
    /// the hit's geo field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo_distance: Option<f64>,
    /// With `showMatchesPosition`: where the matched words are in each text field.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub matches_position: BTreeMap<String, Vec<MatchPosition>>,
}

/// A matched word in a field's text.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchPosition {
    /// Offset of the match in the field's text, in bytes of its UTF-8.
    pub start: usize,
    /// Length of the match, in bytes (the typed part of a word matched by prefix is the
    /// whole word).
    pub length: usize,
    /// For an array of texts: which one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// The range of a number facet over the matching documents.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FacetStats {
    pub min: f64,
    pub max: f64,
    /// Matching documents with a value.
    pub count: u64,
}

/// A value of a facet and how many matching documents have it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// The answer to a search.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "hits": [{"id": "sku-0042", "score": 7.31, "document": {"id": "sku-0042", "title": "Acme wireless headphones", "category": "audio"},
              "highlights": {"title": "Acme <mark>wireless</mark> <mark>headph</mark>ones"}}],
    "total": 1, "offset": 0, "limit": 20,
    "facets": {"category": [{"value": "audio", "count": 1}]},
    "facetStats": {"price": {"min": 59.0, "max": 59.0, "count": 1}},
    "engine": "index", "tookMs": 0.42, "cache": "miss"
}))]
pub struct SearchResponse {
    pub hits: Vec<Hit>,
    /// Every matching document, on all pages (exact); with `distinct`, every group.
    pub total: u64,
    pub offset: usize,
    pub limit: usize,
    /// Counts per value of each requested keyword facet (the most frequent first, up to
    /// `maxValuesPerFacet`); `index` engine only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facets: BTreeMap<String, Vec<FacetCount>>,
    /// Min, max and count of each requested number facet over the matching documents
    /// (none when no match has a value); `index` engine only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facet_stats: BTreeMap<String, FacetStats>,
    pub engine: Engine,
    /// The query words every hit matches (normalized): all of them, unless the
    /// matching strategy had to drop some to fill the page. `index` engine only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["wireless", "headph"]))]
    pub matched_words: Option<Vec<String>>,
    /// Time spent answering, in milliseconds, server side. The last field: a cached
    /// answer gets this request's time (and its `cache` origin) spliced in here.
    pub took_ms: f64,
}
