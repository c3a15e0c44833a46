//! Running a search on a collection's index. Blocking: called on the blocking pool.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Instant;

use serde_json::Value;
use tantivy::aggregation::AggregationCollector;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, DocAddress, Order, TantivyDocument, Term};

use crate::cache::CacheOrigin;
use crate::index::CollectionIndex;
use crate::index::fields::user_field;
use crate::schema::FieldType;
use crate::search::filter::{Filter, Op, Value as FilterValue};
use crate::search::highlight::highlight;
use crate::search::query::{self, Matching};
use crate::search::{Engine, FacetCount, Hit, SearchRequest, SearchResponse, SortOrder};

/// Values listed per facet.
const FACET_SIZE: u32 = 20;

fn term_of(field: Field, value: &FilterValue) -> Term {
    match value {
        FilterValue::Keyword(text) => Term::from_field_text(field, text),
        FilterValue::Integer(n) => Term::from_field_i64(field, *n),
        FilterValue::Float(f) => Term::from_field_f64(field, *f),
        FilterValue::Bool(b) => Term::from_field_bool(field, *b),
        FilterValue::Datetime(micros, _) => {
            Term::from_field_date(field, DateTime::from_timestamp_micros(*micros))
        }
    }
}

/// A value of an integer field compared with a float: `stock > 2.5` is `stock >= 3`.
fn coerce(field_type: FieldType, value: &FilterValue) -> FilterValue {
    match (field_type, value) {
        (FieldType::Float, FilterValue::Integer(n)) => FilterValue::Float(*n as f64),
        _ => value.clone(),
    }
}

/// The filter as a tantivy query.
pub fn filter_query(index: &CollectionIndex, filter: &Filter) -> Box<dyn Query> {
    match filter {
        Filter::And(parts) => Box::new(BooleanQuery::new(
            parts
                .iter()
                .map(|p| (Occur::Must, filter_query(index, p)))
                .collect(),
        )),
        Filter::Or(parts) => Box::new(BooleanQuery::new(
            parts
                .iter()
                .map(|p| (Occur::Should, filter_query(index, p)))
                .collect(),
        )),
        Filter::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery)),
            (Occur::MustNot, filter_query(index, inner)),
        ])),
        Filter::Compare {
            field,
            field_type,
            op,
            value,
        } => {
            let Some((_, handle)) = index.fields.declared.get(field) else {
                return Box::new(BooleanQuery::new(Vec::new()));
            };
            let term = term_of(*handle, &coerce(*field_type, value));
            let exact = || -> Box<dyn Query> {
                Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic))
            };
            match op {
                Op::Eq => exact(),
                Op::Ne => Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, exact()),
                ])),
                Op::Lt => Box::new(RangeQuery::new(Bound::Unbounded, Bound::Excluded(term))),
                Op::Le => Box::new(RangeQuery::new(Bound::Unbounded, Bound::Included(term))),
                Op::Gt => Box::new(RangeQuery::new(Bound::Excluded(term), Bound::Unbounded)),
                Op::Ge => Box::new(RangeQuery::new(Bound::Included(term), Bound::Unbounded)),
            }
        }
    }
}

fn facet_aggregations(facets: &[String]) -> Option<Aggregations> {
    if facets.is_empty() {
        return None;
    }
    let mut spec = serde_json::Map::new();
    for name in facets {
        spec.insert(
            name.clone(),
            serde_json::json!({"terms": {"field": user_field(name), "size": FACET_SIZE, "order": {"_count": "desc"}}}),
        );
    }
    serde_json::from_value(Value::Object(spec)).ok()
}

fn facet_counts(results: &Value) -> BTreeMap<String, Vec<FacetCount>> {
    let mut out = BTreeMap::new();
    if let Some(map) = results.as_object() {
        for (name, result) in map {
            let counts = result["buckets"]
                .as_array()
                .map(|buckets| {
                    buckets
                        .iter()
                        .filter_map(|b| {
                            Some(FacetCount {
                                value: b["key"].as_str()?.to_owned(),
                                count: b["doc_count"].as_u64()?,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.insert(name.clone(), counts);
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search failed: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// `match=substring` on a collection without `substringIndex`.
    #[error("`match=substring` needs the collection setting \"substringIndex\": true")]
    SubstringNotEnabled,
    /// `match=substring` with words so short they match too many documents to check.
    #[error("`q` matches more than {0} documents as substrings; use longer words or a filter")]
    TooBroad(usize),
}

/// Most documents a substring search verifies; past it the query is refused as too
/// broad, so no request can make a search run unbounded.
pub const MAX_SUBSTRING_CANDIDATES: usize = 200_000;

/// The text a field has as `body ->> 'field'` would give it: strings as they are,
/// anything else as JSON text.
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `match=substring`: every whitespace-separated part of `q` must occur, ignoring case,
/// in some text field, as `ILIKE '%part%'` does. Candidates come from the n-gram index
/// (all of a part's trigrams present); each is then checked against its stored text,
/// so the answer is exact.
fn substring_search(
    index: &CollectionIndex,
    request: &SearchRequest,
    started: Instant,
) -> Result<SearchResponse, SearchError> {
    let grams_field = index.fields.grams.ok_or(SearchError::SubstringNotEnabled)?;
    let searcher = index.reader.searcher();
    let parts: Vec<String> = request
        .q
        .split_whitespace()
        .take(query::MAX_QUERY_WORDS)
        .map(|p| p.chars().flat_map(char::to_lowercase).collect())
        .collect();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for part in &parts {
        for gram in crate::index::fields::query_grams(part) {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(grams_field, &gram),
                    IndexRecordOption::Basic,
                )),
            ));
        }
    }
    let mut query: Box<dyn Query> = if clauses.is_empty() {
        Box::new(AllQuery)
    } else {
        Box::new(BooleanQuery::new(clauses))
    };
    if let Some(filter) = &request.filter {
        query = query::with_filter(query, filter_query(index, filter));
    }
    let count = searcher.search(&query, &Count)?;
    if count > MAX_SUBSTRING_CANDIDATES {
        return Err(SearchError::TooBroad(MAX_SUBSTRING_CANDIDATES));
    }
    let mut candidates: Vec<DocAddress> = searcher
        .search(&query, &DocSetCollector)?
        .into_iter()
        .collect();
    candidates.sort();
    let text_fields = index.text_field_names();
    let mut matching = Vec::new();
    for address in candidates {
        let doc: TantivyDocument = searcher.doc(address)?;
        let (id, document) = index.stored(&doc);
        let texts: Vec<String> = text_fields
            .iter()
            .filter_map(|f| field_text(&document[*f]))
            .map(|t| t.chars().flat_map(char::to_lowercase).collect())
            .collect();
        if parts
            .iter()
            .all(|part| texts.iter().any(|t| t.contains(part.as_str())))
        {
            matching.push(Hit {
                id,
                score: None,
                document,
                highlights: BTreeMap::new(),
            });
        }
    }
    let total = matching.len() as u64;
    let hits = matching
        .into_iter()
        .skip(request.offset)
        .take(request.limit)
        .collect();
    Ok(SearchResponse {
        hits,
        total,
        offset: request.offset,
        limit: request.limit,
        facets: BTreeMap::new(),
        took_ms: (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        cache: CacheOrigin::Miss,
        engine: Engine::Index,
    })
}

/// Runs `request` on `index`.
pub fn search(
    index: &CollectionIndex,
    request: &SearchRequest,
) -> Result<SearchResponse, SearchError> {
    let started = Instant::now();
    if request.substring {
        return substring_search(index, request, started);
    }
    let searcher = index.reader.searcher();
    let (text_query, matched) = query::build(
        index,
        &searcher,
        &request.q,
        Matching {
            typos: request.typos,
            prefix: request.prefix,
        },
    );
    let full_query = match &request.filter {
        Some(filter) => query::with_filter(text_query, filter_query(index, filter)),
        None => text_query,
    };
    let built = started.elapsed();
    let window = TopDocs::with_limit(request.limit).and_offset(request.offset);

    let (addresses, total) = match &request.sort {
        None => {
            // One pass: the exact total means visiting every match anyway (two passes,
            // top hits with block-max WAND and a score-free count, measured slower).
            let (top, count) = searcher.search(&full_query, &(window.order_by_score(), Count))?;
            let addresses: Vec<(Option<f32>, DocAddress)> =
                top.into_iter().map(|(s, a)| (Some(s), a)).collect();
            (addresses, count)
        }
        Some(sort) => {
            let order = match sort.order {
                SortOrder::Asc => Order::Asc,
                SortOrder::Desc => Order::Desc,
            };
            let name = user_field(&sort.field);
            // The fast-field sort is typed; one arm per type.
            macro_rules! by {
                ($collector:expr) => {{
                    let (top, count) = searcher.search(&full_query, &($collector, Count))?;
                    (
                        top.into_iter().map(|(_, a)| (None, a)).collect::<Vec<_>>(),
                        count,
                    )
                }};
            }
            match sort.field_type {
                FieldType::Integer => by!(window.order_by_fast_field::<i64>(name, order)),
                FieldType::Float => by!(window.order_by_fast_field::<f64>(name, order)),
                FieldType::Datetime => by!(window.order_by_fast_field::<DateTime>(name, order)),
                FieldType::Bool => by!(window.order_by_fast_field::<bool>(name, order)),
                FieldType::Keyword | FieldType::Text => {
                    by!(window.order_by_string_fast_field(name, order))
                }
            }
        }
    };
    let facets = match facet_aggregations(&request.facets) {
        Some(aggregations) => {
            let collector = AggregationCollector::from_aggs(aggregations, Default::default());
            let results = searcher.search(&full_query, &collector)?;
            facet_counts(&serde_json::to_value(results).unwrap_or(Value::Null))
        }
        None => BTreeMap::new(),
    };

    let searched = started.elapsed();
    let mut normalizer = index.normalizer();
    let mut analyzer = index.analyzer();
    let text_fields = index.text_field_names();
    let mut hits = Vec::with_capacity(addresses.len());
    for (score, address) in addresses {
        let doc: TantivyDocument = searcher.doc(address)?;
        let (id, document) = index.stored(&doc);
        let mut highlights = BTreeMap::new();
        if let Some(options) = &request.highlight
            && !request.q.trim().is_empty()
        {
            for field in &text_fields {
                let texts: Vec<&str> = match &document[*field] {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                for text in texts {
                    if let Some(marked) = highlight(
                        text,
                        field,
                        &matched,
                        &mut normalizer,
                        &mut analyzer,
                        options,
                    ) {
                        highlights.insert((*field).to_owned(), marked);
                        break;
                    }
                }
            }
        }
        hits.push(Hit {
            id,
            score,
            document,
            highlights,
        });
    }
    tracing::debug!(
        build_us = built.as_micros() as u64,
        search_us = (searched - built).as_micros() as u64,
        fetch_us = (started.elapsed() - searched).as_micros() as u64,
        total,
        "index search"
    );
    Ok(SearchResponse {
        hits,
        total: total as u64,
        offset: request.offset,
        limit: request.limit,
        facets,
        took_ms: (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        cache: CacheOrigin::Miss,
        engine: Engine::Index,
    })
}
