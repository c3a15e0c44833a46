//! Search: one request shape, answered by the index (tantivy) or, for comparison, by
//! PostgreSQL (`ilike`, `fts`), in one response shape.
//!
//! * [`filter`]: the `filter` language, parsed and checked against the schema.
//! * [`query`]: the query string as a tantivy query (BM25, typos, prefix, synonyms).
//! * [`highlight`]: matched words marked in the returned fields.
//! * [`matches`]: the exact set of matching documents as bitsets (the total).
//! * [`index_engine`]: running a search on a collection's index.
//! * [`sql_engine`]: the same search as `ILIKE` or Postgres full-text search.

pub mod filter;
pub mod highlight;
pub mod index_engine;
pub mod matches;
pub mod query;
pub mod sql_engine;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::cache::CacheOrigin;
use crate::schema::{CollectionSchema, FieldType, truncate};
use crate::search::filter::Filter;
use crate::search::highlight::HighlightOptions;

/// Largest `limit`.
pub const MAX_LIMIT: usize = 100;
/// Default `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// `offset + limit` may not pass this: deep pages cost offset + limit in every engine.
pub const MAX_WINDOW: usize = 1_000;
/// Longest query string, in characters.
pub const MAX_QUERY_CHARS: usize = 512;

/// The parameters of a search, as query parameters (`GET`) or a JSON body (`POST`).
#[derive(Debug, Default, Clone, Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query: words, the last one a prefix. Empty matches every document.
    #[param(example = "wireless headph")]
    #[schema(example = "wireless headph")]
    pub q: Option<String>,
    /// Hits per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 10)]
    pub limit: Option<usize>,
    /// Hits to skip; `offset + limit` is at most 1000.
    #[param(minimum = 0, example = 0)]
    pub offset: Option<usize>,
    /// Filter expression, e.g. `category = audio AND price < 100`.
    #[param(example = "category = audio AND price < 100")]
    pub filter: Option<String>,
    /// Comma-separated keyword fields declared `facet` to count values of.
    #[param(example = "category,brand")]
    pub facets: Option<String>,
    /// `field:asc` or `field:desc` on a sortable field; default: by relevance.
    #[param(example = "price:asc")]
    pub sort: Option<String>,
    /// `index` (default), `ilike` or `fts`.
    #[param(example = "index")]
    pub engine: Option<String>,
    /// Typo tolerance (default true).
    pub fuzzy: Option<bool>,
    /// Treat the last word as a prefix (default true).
    pub prefix: Option<bool>,
    /// Return highlights (default true).
    pub highlight: Option<bool>,
    /// Opening mark of highlights (default `<mark>`).
    pub highlight_pre_tag: Option<String>,
    /// Closing mark of highlights (default `</mark>`).
    pub highlight_post_tag: Option<String>,
    /// Words kept around the first match in long highlighted fields (default 30).
    pub crop_length: Option<usize>,
    /// `words` (default): ranked word matching. `substring`: ILIKE semantics (every
    /// whitespace-separated part of `q` occurs, ignoring case, in some text field),
    /// answered from the collection's n-gram index (`substringIndex` setting).
    #[serde(rename = "match")]
    #[param(rename = "match", example = "words")]
    pub match_mode: Option<String>,
    /// A consistency token from a write (`consistencyToken`): wait until the index has
    /// applied that write.
    // No example on purpose: a made-up token from the server's future would make Swagger
    // UI's "Try it out" wait, then answer 504.
    pub after: Option<String>,
    /// `false` answers from the index without reading or filling the caches (for
    /// measuring; default true).
    pub cache: Option<bool>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A sort on a field.
#[derive(Debug, Clone)]
pub struct Sort {
    pub field: String,
    pub field_type: FieldType,
    pub order: SortOrder,
}

/// A validated search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub q: String,
    pub limit: usize,
    pub offset: usize,
    pub filter: Option<Filter>,
    pub facets: Vec<String>,
    pub sort: Option<Sort>,
    pub engine: Engine,
    pub typos: bool,
    pub prefix: bool,
    pub highlight: Option<HighlightOptions>,
    pub after: Option<u64>,
    /// ILIKE semantics from the n-gram index.
    pub substring: bool,
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
            sort: None,
            engine: Engine::Index,
            typos: true,
            prefix: true,
            highlight: None,
            after: None,
            substring: false,
        }
    }
}

/// Why a search request is refused; each becomes a 400 with its own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestProblem {
    Query(String),
    Filter(String),
    Sort(String),
    Facets(String),
    Parameter(String),
}

impl SearchParams {
    /// Checks the parameters against the collection's schema.
    pub fn validate(self, schema: &CollectionSchema) -> Result<SearchRequest, RequestProblem> {
        let q = self.q.unwrap_or_default();
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(RequestProblem::Query(format!(
                "`q` is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        if q.chars().filter(|&c| c == '"').count() % 2 == 1 {
            return Err(RequestProblem::Query(
                "`q` has an unbalanced double quote".into(),
            ));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(RequestProblem::Parameter(format!(
                "`limit` must be from 1 to {MAX_LIMIT}, got {limit}"
            )));
        }
        let offset = self.offset.unwrap_or(0);
        if offset.saturating_add(limit) > MAX_WINDOW {
            return Err(RequestProblem::Parameter(format!(
                "`offset` + `limit` must be at most {MAX_WINDOW}; narrow the query or the filter instead of paging deeper"
            )));
        }
        let filter = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                filter::parse(text, schema)
                    .map_err(|m| RequestProblem::Filter(format!("`filter`: {m}")))?,
            ),
        };
        let mut facets = Vec::new();
        for name in self
            .facets
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match schema.field(name) {
                Some(f) if f.facet && f.field_type == FieldType::Keyword => {
                    facets.push(f.name.clone())
                }
                Some(_) => {
                    return Err(RequestProblem::Facets(format!(
                        "`facets`: `{name}` is not a keyword field declared with \"facet\": true"
                    )));
                }
                None => {
                    return Err(RequestProblem::Facets(format!(
                        "`facets`: unknown field `{}`",
                        truncate(name, 40)
                    )));
                }
            }
            if facets.len() > 20 {
                return Err(RequestProblem::Facets("`facets`: at most 20 fields".into()));
            }
        }
        let sort = match self.sort.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let (name, order) = match text.rsplit_once(':') {
                    Some((name, "asc")) => (name, SortOrder::Asc),
                    Some((name, "desc")) => (name, SortOrder::Desc),
                    Some(_) => {
                        return Err(RequestProblem::Sort(
                            "`sort` must be `field:asc` or `field:desc`".into(),
                        ));
                    }
                    None => (text, SortOrder::Asc),
                };
                match schema.field(name) {
                    Some(f) if f.sortable && f.field_type != FieldType::Text => Some(Sort {
                        field: f.name.clone(),
                        field_type: f.field_type,
                        order,
                    }),
                    Some(_) => {
                        return Err(RequestProblem::Sort(format!(
                            "`sort`: `{name}` is not declared with \"sortable\": true"
                        )));
                    }
                    None => {
                        return Err(RequestProblem::Sort(format!(
                            "`sort`: unknown field `{}`",
                            truncate(name, 40)
                        )));
                    }
                }
            }
        };
        let engine = match self.engine.as_deref().unwrap_or("index") {
            "index" => Engine::Index,
            "ilike" => Engine::Ilike,
            "fts" => Engine::Fts,
            other => {
                return Err(RequestProblem::Parameter(format!(
                    "`engine` must be index, ilike or fts, got `{}`",
                    truncate(other, 20)
                )));
            }
        };
        let highlight = if self.highlight.unwrap_or(true) {
            let defaults = HighlightOptions::default();
            let crop_words = self.crop_length.unwrap_or(defaults.crop_words);
            if !(1..=1000).contains(&crop_words) {
                return Err(RequestProblem::Parameter(
                    "`cropLength` must be from 1 to 1000".into(),
                ));
            }
            let pre_tag = self.highlight_pre_tag.unwrap_or(defaults.pre_tag);
            let post_tag = self.highlight_post_tag.unwrap_or(defaults.post_tag);
            if pre_tag.len() > 64 || post_tag.len() > 64 {
                return Err(RequestProblem::Parameter(
                    "highlight tags are at most 64 bytes".into(),
                ));
            }
            Some(HighlightOptions {
                pre_tag,
                post_tag,
                crop_words,
                typed_part_only: false,
            })
        } else {
            None
        };
        let after = match self.after.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(token) => Some(token.parse::<u64>().map_err(|_| {
                RequestProblem::Parameter(format!(
                    "`after` is not a consistency token: `{}`",
                    truncate(token, 40)
                ))
            })?),
        };
        let substring = match self.match_mode.as_deref().unwrap_or("words") {
            "words" => false,
            "substring" => true,
            other => {
                return Err(RequestProblem::Parameter(format!(
                    "`match` must be words or substring, got `{}`",
                    truncate(other, 20)
                )));
            }
        };
        if substring && engine != Engine::Index {
            return Err(RequestProblem::Parameter(
                "`match=substring` is for `engine=index` (ilike already matches substrings)".into(),
            ));
        }
        if substring && sort.is_some() {
            return Err(RequestProblem::Sort(
                "`sort` cannot be combined with `match=substring`".into(),
            ));
        }
        Ok(SearchRequest {
            substring,
            q,
            limit,
            offset,
            filter,
            facets,
            sort,
            engine,
            typos: self.fuzzy.unwrap_or(true),
            prefix: self.prefix.unwrap_or(true),
            highlight,
            after,
        })
    }
}

/// One result.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub id: String,
    /// Relevance (higher is better); `null` when sorted by a field or by date.
    pub score: Option<f32>,
    #[schema(value_type = Object)]
    pub document: Value,
    /// Text fields with the matched words marked, by field name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub highlights: BTreeMap<String, String>,
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
    "engine": "index", "tookMs": 0.42, "cache": "miss"
}))]
pub struct SearchResponse {
    pub hits: Vec<Hit>,
    /// Every matching document, on all pages (exact).
    pub total: u64,
    pub offset: usize,
    pub limit: usize,
    /// Counts per value of each requested facet (the 20 most frequent); `index` engine only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facets: BTreeMap<String, Vec<FacetCount>>,
    pub engine: Engine,
    /// Time spent answering, in milliseconds, server side.
    pub took_ms: f64,
    /// Where the answer came from: `l1` (this process's memory), `l2` (Redis) or
    /// `miss` (computed now; `ilike` and `fts` are never cached).
    #[serde(default)]
    pub cache: CacheOrigin,
}
