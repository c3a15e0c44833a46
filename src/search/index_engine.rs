//! Running a search on a collection's index. Blocking: called on the blocking pool.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Instant;

use serde_json::Value;
use tantivy::aggregation::AggregationCollector;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::collector::sort_key::SortByErasedType;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, DocAddress, Order, TantivyDocument, Term};

use crate::index::CollectionIndex;
use crate::index::fields::user_field;
use crate::schema::FieldType;
use crate::search::filter::{Filter, Op, Value as FilterValue};
use crate::search::highlight::{Highlighter, render};
use crate::search::query::{self, Matching};
use crate::search::score_details::RankingScoreDetails;
use crate::search::{
    Engine, FacetCount, FacetStats, Hit, MatchPosition, SearchRequest, SearchResponse, SortBy,
    SortOrder,
};
use crate::search::{distinct, filter, ranking};

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
        Filter::Geo { area, .. } => match &index.fields.geo {
            Some(fields) => crate::search::geo::area_query(fields, *area),
            None => Box::new(BooleanQuery::new(Vec::new())),
        },
        Filter::Is { field, check } => Box::new(TermQuery::new(
            Term::from_field_text(index.fields.presence, &check.marker(field)),
            IndexRecordOption::Basic,
        )),
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

/// One aggregation per facet: a `terms` count of a keyword field's values, or the
/// `stats` of a number field.
fn facet_aggregations(
    index: &CollectionIndex,
    facets: &[&str],
    values: usize,
) -> Option<Aggregations> {
    if facets.is_empty() {
        return None;
    }
    let mut spec = serde_json::Map::new();
    for &name in facets {
        let field = user_field(name);
        let aggregation = match index.fields.declared.get(name) {
            Some((FieldType::Keyword, _)) => {
                serde_json::json!({"terms": {"field": field, "size": values, "order": {"_count": "desc"}}})
            }
            _ => serde_json::json!({"stats": {"field": field}}),
        };
        spec.insert(name.to_owned(), aggregation);
    }
    serde_json::from_value(Value::Object(spec)).ok()
}

/// Facet counts and number stats, from the results of [`facet_aggregations`].
#[derive(Default)]
struct Facets {
    counts: BTreeMap<String, Vec<FacetCount>>,
    stats: BTreeMap<String, FacetStats>,
}

impl Facets {
    fn add(&mut self, results: &Value) {
        let Some(map) = results.as_object() else {
            return;
        };
        for (name, result) in map {
            if let Some(buckets) = result["buckets"].as_array() {
                let mut counts: Vec<FacetCount> = buckets
                    .iter()
                    .filter_map(|b| {
                        Some(FacetCount {
                            value: b["key"].as_str()?.to_owned(),
                            count: b["doc_count"].as_u64()?,
                        })
                    })
                    .collect();
                // Equal counts in the order of their values, on every run.
                counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                self.counts.insert(name.clone(), counts);
            } else if let (Some(min), Some(max), Some(count)) = (
                result["min"].as_f64(),
                result["max"].as_f64(),
                result["count"].as_u64(),
            ) {
                self.stats
                    .insert(name.clone(), FacetStats { min, max, count });
            }
        }
    }

    /// Runs the aggregations of `facets` on the matches of `query`.
    fn count(
        &mut self,
        index: &CollectionIndex,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        facets: &[&str],
        values: usize,
    ) -> Result<(), SearchError> {
        if let Some(aggregations) = facet_aggregations(index, facets, values) {
            let collector = AggregationCollector::from_aggs(aggregations, Default::default());
            let results = searcher.search(query, &collector)?;
            self.add(&serde_json::to_value(results).unwrap_or(Value::Null));
        }
        Ok(())
    }
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
            .filter_map(|f| field_text(&document[f.as_str()]))
            .map(|t| t.chars().flat_map(char::to_lowercase).collect())
            .collect();
        if parts
            .iter()
            .all(|part| texts.iter().any(|t| t.contains(part.as_str())))
        {
            matching.push(Hit {
                id,
                score: None,
                ranking_score: None,
                ranking_score_details: None,
                geo_distance: None,
                document,
                highlights: BTreeMap::new(),
                matches_position: BTreeMap::new(),
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
        facet_stats: BTreeMap::new(),
        took_ms: (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        engine: Engine::Index,
        matched_words: None,
    })
}

/// Most hits a `distinct` search looks through for a page of groups.
pub const MAX_DISTINCT_WINDOW: usize = 10_000;

fn is_keyword(index: &CollectionIndex, field: &str) -> bool {
    matches!(
        index.fields.declared.get(field),
        Some((FieldType::Keyword, _))
    )
}

/// What restricts the matches besides the words: the filter and the phrases in quotes.
pub(crate) fn restriction(
    index: &CollectionIndex,
    plan: &query::QueryPlan,
    filter: Option<&Filter>,
) -> Option<Box<dyn Query>> {
    let filter = filter.map(|f| filter_query(index, f));
    match (filter, query::phrase_filter(index, plan)) {
        (Some(filter), Some(phrases)) => Some(Box::new(BooleanQuery::new(vec![
            (Occur::Must, filter),
            (Occur::Must, phrases),
        ]))),
        (filter, phrases) => filter.or(phrases),
    }
}

/// The documents matching every word of `plan` under `filter` (and the phrases).
pub(crate) fn all_words_under(
    index: &CollectionIndex,
    plan: &query::QueryPlan,
    filter: Option<&Filter>,
) -> Box<dyn Query> {
    match restriction(index, plan, filter) {
        Some(restricted) => query::with_filter(plan.query(), restricted),
        None => plan.query(),
    }
}

/// The query plan of a request's words, with its typo and prefix switches.
pub(crate) fn plan_of(
    index: &CollectionIndex,
    searcher: &tantivy::Searcher,
    request: &SearchRequest,
) -> query::QueryPlan {
    query::plan(
        index,
        searcher,
        &request.q,
        Matching {
            typos: request.typos,
            prefix: request.prefix,
        },
        request.search_on.as_deref(),
    )
}

/// A hit's ranking score and its details, where the ranking rules ranked it.
#[derive(Default)]
struct Ranking {
    score: Option<f64>,
    details: Option<RankingScoreDetails>,
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
    let plan = plan_of(index, &searcher, request);
    let filter = restriction(index, &plan, request.filter.as_ref());
    // The conjunction with the filter, for the paths that visit every match (no
    // words, a sort by field, facets); built only when one of them runs.
    let full_query = || match &filter {
        Some(filter) => query::with_filter(plan.query(), filter.box_clone()),
        None => plan.query(),
    };
    let built = started.elapsed();
    // The best `wanted` hits from the first, with the total and the words every hit
    // matches (when words were ranked).
    type Found = (
        Vec<(Option<f32>, Ranking, DocAddress)>,
        u64,
        Option<Vec<usize>>,
    );
    let fetch = |wanted: usize| -> Result<Found, SearchError> {
        let window = TopDocs::with_limit(wanted.max(1));
        Ok(match request.sort.as_slice() {
            [] if !plan.words.is_empty() => {
                let strategy = request
                    .matching_strategy
                    .unwrap_or(index.spec().settings.matching_strategy);
                let ranked = ranking::rank(
                    index,
                    &searcher,
                    &plan,
                    filter.as_deref(),
                    wanted,
                    strategy,
                    &ranking::rules_of(index),
                )?;
                let addresses = ranked
                    .hits
                    .iter()
                    .enumerate()
                    .map(|(i, &(s, a))| {
                        let ranking = Ranking {
                            score: request
                                .show_ranking_score
                                .then(|| ranked.ranking_score(i))
                                .flatten(),
                            details: request
                                .show_ranking_score_details
                                .then(|| ranked.details(i))
                                .flatten(),
                        };
                        (Some(s), ranking, a)
                    })
                    .collect();
                (addresses, ranked.total, Some(ranked.kept_words))
            }
            [] => {
                // No words: every document (or every filtered one) scores the same.
                let (top, count) =
                    searcher.search(&full_query(), &(window.order_by_score(), Count))?;
                // Every rule gives every document its best: the ranking score is 1.
                let addresses = top
                    .into_iter()
                    .map(|(s, a)| {
                        let ranking = Ranking {
                            score: Some(1.0),
                            details: Some(RankingScoreDetails::default()),
                        };
                        (Some(s), ranking, a)
                    })
                    .collect();
                (addresses, count as u64, None)
            }
            [
                crate::search::Sort {
                    by: SortBy::Geo { field, lat, lng },
                    order,
                },
            ] => {
                // By distance, computed from the coordinates' fast columns; the sort
                // key is larger-first, so nearest-first is the negated distance.
                // Documents without a point come last either way.
                let (lat_name, lng_name) = crate::index::fields::geo_fields(field);
                let (origin, ascending) = ((*lat, *lng), *order == SortOrder::Asc);
                let by_distance = window.tweak_score(move |reader: &tantivy::SegmentReader| {
                    let lat = reader.fast_fields().f64(&lat_name).ok();
                    let lng = reader.fast_fields().f64(&lng_name).ok();
                    move |doc: tantivy::DocId, _score: tantivy::Score| {
                        let point = lat
                            .as_ref()
                            .and_then(|c| c.first(doc))
                            .zip(lng.as_ref().and_then(|c| c.first(doc)));
                        match point {
                            Some(point) => {
                                let meters = filter::distance_meters(origin, point);
                                if ascending { -meters } else { meters }
                            }
                            None => f64::NEG_INFINITY,
                        }
                    }
                });
                let (top, count) = searcher.search(&full_query(), &(by_distance, Count))?;
                (
                    top.into_iter()
                        .map(|(_, a)| (None, Ranking::default(), a))
                        .collect(),
                    count as u64,
                    None,
                )
            }
            keys => {
                // Each key by its fast field (or the BM25 score), then the id: ties go
                // to the lower id. Keys are known at run time, hence the type-erased
                // values; the nested pairs are how tantivy chains sort keys.
                let key = |sort: &crate::search::Sort| {
                    let order = match sort.order {
                        SortOrder::Asc => Order::Asc,
                        SortOrder::Desc => Order::Desc,
                    };
                    let by = match &sort.by {
                        SortBy::Field { name, .. } => SortByErasedType::for_field(user_field(name)),
                        // `_geoPoint` is a sort's only key (checked), answered above.
                        SortBy::Score | SortBy::Geo { .. } => SortByErasedType::for_score(),
                    };
                    (by, order)
                };
                let id = (SortByErasedType::for_field("_id"), Order::Asc);
                // `_score` is the `score` rule's BM25: each word by its best term.
                let sorted_query = || {
                    if keys.iter().any(|k| matches!(k.by, SortBy::Score)) {
                        let scored = plan.best_terms_query();
                        match &filter {
                            Some(filter) => query::with_filter(scored, filter.box_clone()),
                            None => scored,
                        }
                    } else {
                        full_query()
                    }
                };
                macro_rules! by {
                    ($keys:expr) => {{
                        let (top, count) =
                            searcher.search(&sorted_query(), &(window.order_by($keys), Count))?;
                        (
                            top.into_iter()
                                .map(|(_, a)| (None, Ranking::default(), a))
                                .collect::<Vec<_>>(),
                            count as u64,
                            None,
                        )
                    }};
                }
                match keys {
                    [a] => by!((key(a), id)),
                    [a, b] => by!((key(a), (key(b), id))),
                    [a, b, c, ..] => by!((key(a), (key(b), (key(c), id)))),
                    [] => unreachable!("an empty sort is relevance, above"),
                }
            }
        })
    };
    // Facets under the request's filter in one pass; a disjunctive facet whose filter
    // differs (the request's filter has conditions on it) in a pass of its own.
    let mut facets = Facets::default();
    let mut together: Vec<&str> = request.facets.iter().map(String::as_str).collect();
    let mut apart = Vec::new();
    for (name, own) in &request.disjunctive {
        together.retain(|f| f != name);
        if *own == request.filter {
            together.push(name);
        } else {
            apart.push((name.as_str(), own));
        }
    }
    // With `distinct`, the total and the keyword facets count groups: over the matches
    // of the words every hit matches (the same documents `total` counts without it).
    let count_groups = |field: &str, kept: Option<&Vec<usize>>| {
        let matches = match kept {
            Some(kept) => plan.query_of(kept),
            None => plan.query(),
        };
        let matches = match &filter {
            Some(filter) => query::with_filter(matches, filter.box_clone()),
            None => matches,
        };
        let keyword_facets = together
            .iter()
            .filter(|f| is_keyword(index, f))
            .map(|f| f.to_string())
            .collect();
        searcher.search(
            &*matches,
            &distinct::GroupCount {
                field: field.to_owned(),
                facets: keyword_facets,
            },
        )
    };
    let need = request.offset + request.limit;
    let (mut addresses, mut total, kept_words, groups) = match request.distinct.as_deref() {
        None => {
            let (found, total, kept) = fetch(need)?;
            (found, total, kept, None)
        }
        Some(field) => {
            // More hits than the page, until the page has that many groups, or every
            // group, or nothing more matches; bounded, so it can't run unbounded.
            let mut wanted = need * 4;
            let mut groups: Option<(Option<Vec<usize>>, distinct::Groups)> = None;
            loop {
                let (found, total, kept) = fetch(wanted)?;
                let exhausted = found.len() < wanted;
                let firsts = distinct::first_of_each(&searcher, field, found, |h| h.2);
                if groups.as_ref().is_none_or(|(words, _)| *words != kept) {
                    groups = Some((kept.clone(), count_groups(field, kept.as_ref())?));
                }
                let every = groups.as_ref().map_or(u64::MAX, |(_, g)| g.total);
                if firsts.len() >= need
                    || firsts.len() as u64 >= every
                    || exhausted
                    || wanted >= MAX_DISTINCT_WINDOW
                {
                    break (firsts, total, kept, groups.map(|(_, g)| g));
                }
                wanted = (wanted * 4).min(MAX_DISTINCT_WINDOW);
            }
        }
    };
    if let Some(groups) = &groups {
        total = groups.total;
    }
    addresses.drain(..request.offset.min(addresses.len()));
    addresses.truncate(request.limit);
    let matched_words: Option<Vec<String>> = kept_words.as_ref().map(|kept| {
        kept.iter()
            .filter_map(|&w| plan.texts.get(w).cloned())
            .collect()
    });
    let values = request.max_values_per_facet;
    match (request.distinct.as_deref(), groups) {
        (Some(field), Some(groups)) => {
            // Keyword facets by group; number facets as ever (their range is the same).
            for (name, counts) in groups.facets {
                facets
                    .counts
                    .insert(name, counts.into_iter().take(values).collect());
            }
            let numbers: Vec<&str> = together
                .iter()
                .copied()
                .filter(|f| !is_keyword(index, f))
                .collect();
            facets.count(index, &searcher, &*full_query(), &numbers, values)?;
            for (name, own) in apart {
                let query = all_words_under(index, &plan, own.as_ref());
                let mut counted = searcher.search(
                    &*query,
                    &distinct::GroupCount {
                        field: field.to_owned(),
                        facets: vec![name.to_owned()],
                    },
                )?;
                if let Some(counts) = counted.facets.remove(name) {
                    facets
                        .counts
                        .insert(name.to_owned(), counts.into_iter().take(values).collect());
                }
            }
        }
        _ => {
            facets.count(index, &searcher, &*full_query(), &together, values)?;
            for (name, own) in apart {
                let query = all_words_under(index, &plan, own.as_ref());
                facets.count(index, &searcher, &*query, &[name], values)?;
            }
        }
    }

    let searched = started.elapsed();
    let mut highlighter = Highlighter::new(index.normalizer(), index.analyzer());
    let text_fields = index.text_field_names();
    let mut hits = Vec::with_capacity(addresses.len());
    for (score, ranking, address) in addresses {
        let doc: TantivyDocument = searcher.doc(address)?;
        let (id, document) = index.stored(&doc);
        let mut highlights = BTreeMap::new();
        let mut positions: BTreeMap<String, Vec<MatchPosition>> = BTreeMap::new();
        if (request.highlight.is_some() || request.show_matches_position)
            && !request.q.trim().is_empty()
        {
            let options = request.highlight.clone().unwrap_or_default();
            let listed = |fields: &Option<Vec<String>>, field: &str| {
                fields.as_ref().is_none_or(|f| f.iter().any(|n| n == field))
            };
            for field in &text_fields {
                let value = document
                    .as_object()
                    .and_then(|d| crate::schema::value_at(d, field));
                let (texts, array): (Vec<&str>, bool) = match value {
                    Some(Value::String(s)) => (vec![s.as_str()], false),
                    Some(Value::Array(items)) => {
                        (items.iter().filter_map(Value::as_str).collect(), true)
                    }
                    _ => (Vec::new(), false),
                };
                let highlight_here =
                    request.highlight.is_some() && listed(&request.highlight_fields, field);
                let crop_here = listed(&request.crop_fields, field);
                let mut highlighted = false;
                for (n, text) in texts.into_iter().enumerate() {
                    if (highlighted || !highlight_here) && !request.show_matches_position {
                        break;
                    }
                    let marked =
                        highlighter.mark(text, field, &plan.matched, options.typed_part_only);
                    if request.show_matches_position {
                        for (start, length) in marked.positions() {
                            positions
                                .entry((*field).to_owned())
                                .or_default()
                                .push(MatchPosition {
                                    start,
                                    length,
                                    index: array.then_some(n),
                                });
                        }
                    }
                    if highlight_here
                        && !highlighted
                        && let Some(marked) = render(text, &marked, &options, crop_here)
                    {
                        highlights.insert((*field).to_owned(), marked);
                        highlighted = true;
                    }
                }
            }
        }
        hits.push(Hit {
            id,
            score,
            ranking_score: ranking.score.filter(|_| request.show_ranking_score),
            ranking_score_details: ranking
                .details
                .filter(|_| request.show_ranking_score_details),
            geo_distance: None,
            document,
            highlights,
            matches_position: positions,
        });
    }
    crate::search::add_geo_distances(&mut hits, request);
    crate::search::retain_attributes(&mut hits, request.attributes.as_deref());
    tracing::debug!(
        build_us = built.as_micros() as u64,
        search_us = (searched - built).as_micros() as u64,
        fetch_us = (started.elapsed() - searched).as_micros() as u64,
        total,
        "index search"
    );
    Ok(SearchResponse {
        hits,
        total,
        offset: request.offset,
        limit: request.limit,
        facets: facets.counts,
        facet_stats: facets.stats,
        took_ms: (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        engine: Engine::Index,
        matched_words,
    })
}

#[cfg(test)]
mod tests {
    //! The ranking (match bitsets, buckets, rules, and block-max WAND cuts) must agree
    //! with a brute-force ranker that reads every term's postings through tantivy, on
    //! totals and at every rank, on an index with several segments and deletes.

    use std::sync::Arc;

    use super::*;
    use crate::index::bitsets::TermBitsets;
    use crate::index::{IndexSpec, IndexedRow, Watermark};
    use crate::schema::{CollectionSchema, CollectionSettings, FieldDefinition};
    use sift_datagen::{Corpus, Generator, queries};

    fn reviews_index(dir: &std::path::Path) -> CollectionIndex {
        let schema = Corpus::Reviews.schema("t");
        let fields: Vec<FieldDefinition> =
            serde_json::from_value(schema["fields"].clone()).expect("fields");
        let spec = IndexSpec {
            collection_id: 1,
            name: "t".into(),
            settings_generation: 1,
            index_generation: 1,
            schema: CollectionSchema::parse(fields).expect("schema"),
            settings: CollectionSettings::default(),
        };
        // Small segments are cached too, so the cached path is the one checked.
        let bitsets = Arc::new(TermBitsets::new(8 << 20).caching_every_segment());
        let index = CollectionIndex::create(dir, spec, bitsets).expect("index");
        let mut generator = Generator::new(Corpus::Reviews, 7);
        let mut line = Vec::new();
        // Three commits: three segments.
        for part in 0..3u64 {
            let rows: Vec<IndexedRow> = (part * 1500..(part + 1) * 1500)
                .map(|n| {
                    line.clear();
                    generator.write_document(n, &mut line);
                    let source = String::from_utf8_lossy(&line).trim().to_owned();
                    IndexedRow::from_source(format!("r{n}"), 1, source)
                })
                .collect();
            index.apply(&[], &rows).expect("apply");
            index
                .commit(
                    Watermark {
                        txid: part + 1,
                        seq: 1,
                    },
                    part + 2,
                )
                .expect("commit");
        }
        // Every seventh document deleted: the segments have alive bitsets.
        let deleted: Vec<String> = (0..4500).step_by(7).map(|n| format!("r{n}")).collect();
        index.apply(&deleted, &[]).expect("delete");
        index
            .commit(Watermark { txid: 9, seq: 1 }, 10)
            .expect("commit");
        index
    }

    /// What a brute-force ranker knows of one document.
    #[derive(Debug, Clone, PartialEq)]
    struct Brute {
        bucket: usize,
        /// The missing words' weights by the matching strategy's order.
        missing: u32,
        typos: u32,
        /// Words found only through a stem, neither as written nor otherwise.
        other_forms: u32,
        attribute: u32,
        /// A text field that is the query as typed (4), begins with it (3), is a
        /// correction of it (2) or begins with one (1), by importance.
        start: (u8, u8),
        /// Of the fields at that level, the place of the likeliest correction of the
        /// query one is, 0 as typed; for `score`, before BM25.
        correction: usize,
        exact: u32,
        typed_exact: bool,
        /// The `score` rule's BM25: per word its best term's, summed.
        score: f32,
        /// Every matched term's BM25 summed: what a large bucket is cut by first.
        window_score: f32,
        rating: Option<i64>,
        /// Ties go to the lower address, as in the engine.
        address: DocAddress,
    }

    /// What a document holds of one word: the fewest typos of a term present, the best
    /// attribute, and the fewest typos with which it is there exactly as written.
    #[derive(Debug, Clone, Copy, Default)]
    struct Held {
        typos: Option<u8>,
        attribute: u8,
        written: Option<u8>,
        /// The fewest typos of a term present other than a stem (a prefix, a synonym,
        /// words written together or apart).
        not_stemmed: Option<u8>,
        /// The BM25 of its best term.
        best: f32,
        /// Held as typed, as a correction, as the start of a word, or as two words
        /// written apart: what the `frequency` strategy counts.
        as_written: bool,
    }

    /// Ranks every document by reading each term's full posting list through tantivy,
    /// independently of the bitsets, scorers and cuts of `ranking::rank`.
    /// How a document's text fields compare with the whole query, from its stored
    /// source: (4 is the query as typed, 3 begins with it, 2 is a correction of it, 1
    /// begins with one, 0 none of these; the field's importance),
    /// and the place of the likeliest correction of the query a field at that level is
    /// (0 as typed, at most 31).
    fn brute_start(
        index: &CollectionIndex,
        searcher: &tantivy::Searcher,
        plan: &query::QueryPlan,
        address: DocAddress,
    ) -> ((u8, u8), usize) {
        let Some(head) = plan.head.as_ref().filter(|h| !h.text.is_empty()) else {
            return ((0, 0), 0);
        };
        let doc: TantivyDocument = searcher.doc(address).expect("stored document");
        let (_, source) = index.stored(&doc);
        let mut normalizer = index.normalizer();
        let mut best = ((0, 0), 0);
        for (name, rank) in query::text_field_ranks(index) {
            let Some(value) = source[&name].as_str() else {
                continue;
            };
            let words = crate::index::analysis::words(&mut normalizer, value);
            let kept = crate::index::fields::head(words.iter().map(|w| w.text.as_str()));
            for query::HeadText {
                text,
                equal_counts,
                correction,
            } in head.texts()
            {
                // The query as typed above its corrections: is it (4), begins with it
                // (3); is a correction (2), begins with one (1).
                let above = if correction == 0 { 2 } else { 0 };
                let level = if kept == *text && equal_counts {
                    2 + above
                } else if (head.last_is_prefix && kept.starts_with(text.as_str()))
                    || kept.starts_with(&format!("{text} "))
                {
                    1 + above
                } else {
                    0
                };
                if level > 0 {
                    let this = ((level, u8::MAX - rank), correction.min(31));
                    if this.0 > best.0 || this.0 == best.0 && this.1 < best.1 {
                        best = this;
                    }
                }
            }
        }
        best
    }

    /// How many hits the brute-force ranker gives, and how many the ranker it is
    /// compared with was asked for (which decides how the `frequency` strategy counts).
    #[derive(Clone, Copy)]
    struct Wanted {
        hits: usize,
        page: usize,
    }

    fn brute_force(
        index: &CollectionIndex,
        searcher: &tantivy::Searcher,
        plan: &query::QueryPlan,
        filter: Option<&dyn Query>,
        Wanted { hits: wanted, page }: Wanted,
        strategy: ranking::MatchingStrategy,
        by_rating: bool,
    ) -> (Vec<Brute>, u64) {
        use std::collections::{HashMap, HashSet};
        let strategy = ranking::strategy_for(strategy, plan);
        let everything = 10_000;
        let allowed: Option<HashSet<DocAddress>> = filter.map(|f| {
            searcher
                .search(f, &DocSetCollector)
                .expect("filter")
                .into_iter()
                .collect()
        });
        // Per document: per word what it holds, whether the word being typed is there
        // complete, and the score.
        let mut seen: HashMap<DocAddress, (Vec<Held>, bool, f32)> = HashMap::new();
        // Scored with the plan's statistics, where a word's typos share its frequency.
        let statistics = plan.statistics(searcher);
        for term in plan.words.iter().flatten() {
            let found = searcher
                .search_with_statistics_provider(
                    &query::term_query(term),
                    &TopDocs::with_limit(everything).order_by_score(),
                    &statistics,
                )
                .expect("term");
            for (score, address) in found {
                if allowed.as_ref().is_some_and(|a| !a.contains(&address)) {
                    continue;
                }
                let entry = seen
                    .entry(address)
                    .or_insert_with(|| (vec![Held::default(); plan.words.len()], false, 0.0));
                let held = &mut entry.0[term.word];
                if term.form || term.prefix || term.next.is_some() {
                    held.as_written = true;
                }
                if term.form && term.prefix {
                    entry.1 = true;
                } else if term.form {
                    held.written = Some(held.written.map_or(term.typos, |t| t.min(term.typos)));
                } else {
                    entry.2 += score;
                    held.best = held.best.max(score);
                    held.attribute = match held.typos {
                        None => term.attribute,
                        Some(_) => held.attribute.min(term.attribute),
                    };
                    held.typos = Some(held.typos.map_or(term.typos, |t| t.min(term.typos)));
                    if !term.stemmed {
                        let slot = &mut held.not_stemmed;
                        *slot = Some(slot.map_or(term.typos, |t| t.min(term.typos)));
                    }
                }
            }
        }
        let n = plan.words.len();
        let mut frequencies: Vec<u64> = (0..n)
            .map(|w| {
                seen.values()
                    .filter(|(words, _, _)| words[w].typos.is_some())
                    .count() as u64
            })
            .collect();
        // Under `frequency`, when the documents with every word cannot fill the page,
        // a word counts as written, unless written nowhere.
        let complete = seen
            .values()
            .filter(|(words, _, _)| words.iter().all(|h| h.typos.is_some()))
            .count();
        if strategy == ranking::MatchingStrategy::Frequency && n > 1 && complete < page {
            for (w, frequency) in frequencies.iter_mut().enumerate() {
                let written = seen
                    .values()
                    .filter(|(words, _, _)| words[w].typos.is_some() && words[w].as_written)
                    .count() as u64;
                if written > 0 {
                    *frequency = written;
                }
            }
        }
        // Words matching nothing go first, then the strategy's order; a missing word
        // weighs 2^(its place in that order).
        let order: Vec<usize> = match strategy {
            ranking::MatchingStrategy::All => Vec::new(),
            ranking::MatchingStrategy::Last | ranking::MatchingStrategy::Frequency => {
                let mut order: Vec<usize> = (0..n).rev().collect();
                if strategy == ranking::MatchingStrategy::Frequency {
                    order.sort_by(|&a, &b| frequencies[b].cmp(&frequencies[a]).then(b.cmp(&a)));
                }
                order.sort_by_key(|&w| frequencies[w] > 0);
                order
            }
        };
        let mut weight = vec![0u32; n];
        for (at, &w) in order.iter().enumerate() {
            weight[w] = 1 << at;
        }
        let last_step = if order.is_empty() { 0 } else { n - 1 };
        let mut ranked: Vec<Brute> = Vec::new();
        let mut total = 0;
        let count = |words: &Vec<Held>| words.iter().filter(|h| h.typos.is_some()).count();
        // The word being typed found whole counts as exact when it is one of several
        // and long enough.
        let typed_counts_whole = n > 1
            && plan.words.iter().flatten().any(|t| {
                t.form
                    && t.prefix
                    && t.term
                        .value()
                        .as_str()
                        .is_some_and(|w| w.chars().count() >= ranking::MIN_TYPED_WHOLE_CHARS)
            });
        for step in 0..=last_step {
            // Documents matching exactly `n - step` words; the total counts those
            // matching at least that many.
            total = seen
                .values()
                .filter(|(words, _, _)| count(words) >= n - step)
                .count() as u64;
            let mut bucket: Vec<Brute> = seen
                .iter()
                .filter(|(_, (words, _, _))| count(words) == n - step)
                .map(|(address, (words, typed_exact, score))| {
                    let missing: u32 = (0..n)
                        .filter(|&w| words[w].typos.is_none())
                        .map(|w| weight[w])
                        .sum();
                    let matched = words.iter().filter(|h| h.typos.is_some());
                    let rating = searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .i64("u_rating")
                        .ok()
                        .and_then(|c| c.first(address.doc_id));
                    let (start, correction) = brute_start(index, searcher, plan, *address);
                    Brute {
                        bucket: step,
                        missing,
                        typos: matched
                            .clone()
                            .map(|h| u32::from(h.typos.unwrap_or(0)))
                            .sum(),
                        other_forms: matched
                            .clone()
                            .filter(|h| {
                                h.written != h.typos
                                    && h.not_stemmed.is_none_or(|o| h.typos.is_some_and(|t| o > t))
                            })
                            .count() as u32,
                        attribute: matched.clone().map(|h| u32::from(h.attribute)).sum(),
                        start,
                        correction,
                        exact: matched
                            .map(|h| u32::from(h.written == h.typos))
                            .sum::<u32>()
                            + u32::from(*typed_exact && typed_counts_whole),
                        typed_exact: *typed_exact,
                        score: words.iter().map(|h| h.best).sum(),
                        window_score: *score,
                        rating: if by_rating { rating } else { None },
                        address: *address,
                    }
                })
                .collect();
            bucket.sort_by(|a, b| {
                a.missing
                    .cmp(&b.missing)
                    .then(a.typos.cmp(&b.typos))
                    .then(a.other_forms.cmp(&b.other_forms))
                    .then(b.start.cmp(&a.start))
                    .then(b.exact.cmp(&a.exact))
                    .then(b.rating.cmp(&a.rating))
                    .then(b.typed_exact.cmp(&a.typed_exact))
                    .then(a.correction.cmp(&b.correction))
                    .then(b.score.total_cmp(&a.score))
                    .then(a.address.cmp(&b.address))
            });
            bucket.truncate(wanted - ranked.len());
            ranked.extend(bucket);
            if ranked.len() >= wanted {
                break;
            }
        }
        (ranked, total)
    }

    #[test]
    fn ranking_agrees_with_a_brute_force_ranker() {
        let dir = std::env::temp_dir().join(format!("sift-rank-{}", uuid::Uuid::new_v4()));
        let index = reviews_index(&dir);
        let searcher = index.reader.searcher();
        assert!(searcher.segment_readers().len() > 1);
        let filter =
            crate::search::filter::parse("rating >= 3", &index.spec().schema).expect("filter");
        let strategies = [
            ranking::MatchingStrategy::Last,
            ranking::MatchingStrategy::Frequency,
            ranking::MatchingStrategy::All,
        ];
        let rules_of = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            ranking::parse_rules(&names, &index.spec().schema).expect("rules")
        };
        let (mut checked, mut dropped, mut split) = (0, 0, 0);
        let mut texts: Vec<String> = queries::workload(11, 120)
            .into_iter()
            .map(|q| q.text)
            .collect();
        // Words typed together (`nodefetch`), which the plan splits back into a phrase:
        // every fourth query again with its first two words joined.
        let joined: Vec<String> = texts
            .iter()
            .step_by(4)
            .filter_map(|text| {
                let mut words = text.split_whitespace();
                let (first, second) = (words.next()?, words.next()?);
                let rest: Vec<&str> = words.collect();
                Some(
                    format!("{first}{second} {}", rest.join(" "))
                        .trim()
                        .to_owned(),
                )
            })
            .collect();
        texts.extend(joined);
        for (n, q) in texts.iter().enumerate() {
            let plan = query::plan(
                &index,
                &searcher,
                q,
                Matching {
                    typos: true,
                    prefix: true,
                },
                None,
            );
            if plan.words.is_empty() {
                continue;
            }
            if plan.words.iter().flatten().any(|t| t.next.is_some()) {
                split += 1;
            }
            let filter = (n % 3 == 0).then(|| filter_query(&index, &filter));
            let strategy = strategies[n % 3];
            let by_rating = n % 2 == 0;
            let (want, want_total) = brute_force(
                &index,
                &searcher,
                &plan,
                filter.as_deref(),
                Wanted { hits: 10, page: 10 },
                strategy,
                by_rating,
            );
            // The rules that need no word positions (proximity and the position part
            // of attribute have tests of their own), every bucket ranked whole; with a
            // field rule on even queries, listed after `score` (which goes last).
            let mut names = vec!["words", "typo", "exactness", "score"];
            if by_rating {
                names.push("rating:desc");
            }
            let got = ranking::rank_with(
                &index,
                &searcher,
                &plan,
                filter.as_deref(),
                10,
                strategy,
                &rules_of(&names),
                ranking::Limits {
                    lower_exact: ranking::EXACT_RANK_LIMIT,
                    ..ranking::Limits::default()
                },
            )
            .expect("rank");
            assert_eq!(got.total, want_total, "{q:?} {strategy:?}");
            assert_eq!(got.hits.len(), want.len(), "{q:?} {strategy:?}");
            for (rank, ((score, _), w)) in got.hits.iter().zip(&want).enumerate() {
                assert!(
                    (score - w.score).abs() <= 1e-3 * w.score.abs().max(1.0),
                    "{q:?} {strategy:?} rank {rank}: {:?} against {want:?}",
                    got.hits
                );
            }
            if want.iter().any(|w| w.bucket > 0) {
                dropped += 1;
            }
            // Buckets cut by score first (block-max WAND), ranked by score alone: the
            // same scores as the brute force's, rank by rank, within each bucket.
            let cut = ranking::rank_with(
                &index,
                &searcher,
                &plan,
                filter.as_deref(),
                10,
                strategy,
                &rules_of(&["words", "score"]),
                ranking::Limits {
                    exact: 0,
                    lower_exact: 0,
                    window: 10,
                },
            )
            .expect("rank");
            let (mut plain, _) = brute_force(
                &index,
                &searcher,
                &plan,
                filter.as_deref(),
                Wanted {
                    hits: usize::MAX / 2,
                    page: 10,
                },
                strategy,
                false,
            );
            // Each part of a bucket (its documents lacking the same words, the
            // strategy's favourite first) cut to its 10 best by every term's BM25
            // summed, then ordered by the `score` rule (the word being typed found
            // complete first, then each word's best term).
            plain.sort_by(|a, b| {
                (a.bucket, a.missing)
                    .cmp(&(b.bucket, b.missing))
                    .then(b.window_score.total_cmp(&a.window_score))
                    .then(a.address.cmp(&b.address))
            });
            let mut cut_want: Vec<Brute> = Vec::new();
            let mut parts: Vec<(usize, u32)> =
                plain.iter().map(|b| (b.bucket, b.missing)).collect();
            parts.dedup();
            for part in parts {
                if cut_want.len() >= 10 {
                    break;
                }
                let mut best: Vec<Brute> = plain
                    .iter()
                    .filter(|b| (b.bucket, b.missing) == part)
                    .take(10)
                    .cloned()
                    .collect();
                best.sort_by(|a, b| {
                    b.typed_exact
                        .cmp(&a.typed_exact)
                        .then(b.score.total_cmp(&a.score))
                });
                best.truncate(10 - cut_want.len());
                cut_want.extend(best);
            }
            let plain = cut_want;
            assert_eq!(cut.hits.len(), plain.len(), "{q:?}");
            for (rank, ((score, _), w)) in cut.hits.iter().zip(&plain).enumerate() {
                assert!(
                    (score - w.score).abs() <= 1e-3 * w.score.abs().max(1.0),
                    "{q:?} {strategy:?} cut rank {rank}: {:?} against {plain:?}",
                    cut.hits
                );
            }
            checked += 1;
        }
        assert!(checked >= 100, "only {checked} queries had words");
        assert!(dropped >= 5, "only {dropped} queries dropped words");
        assert!(split >= 5, "only {split} queries had a word split in two");
        let (entries, bytes) = index.bitsets.size();
        assert!(
            entries > 0 && bytes > 0,
            "common terms' doc sets are cached"
        );
        drop(searcher);
        drop(index);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Fuzzing the query analyzer end to end: any query text, any filter-shaped text
    /// and any matching strategy, searched on a real index, answer or refuse cleanly.
    #[test]
    fn any_query_and_filter_search_without_panicking() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        let dir = std::env::temp_dir().join(format!("sift-fuzz-{}", uuid::Uuid::new_v4()));
        let index = reviews_index(&dir);
        let words = prop_oneof![
            Just("kettle".to_owned()),
            Just("ketle".to_owned()),
            Just("compact".to_owned()),
            Just("acme".to_owned()),
            Just("\"".to_owned()),
            Just("-".to_owned()),
            Just("py3-foo.bar_baz".to_owned()),
            "\\PC{0,8}",
            "[a-z]{1,12}",
        ];
        let query = prop::collection::vec(words, 0..12).prop_map(|w| w.join(" "));
        let filter = prop_oneof![
            Just(None),
            Just(Some("rating >= 4".to_owned())),
            Just(Some("category = \"kitchen\" OR NOT rating < 2".to_owned())),
            "\\PC{0,30}".prop_map(Some),
        ];
        let strategy = prop_oneof![
            Just(None),
            Just(Some(ranking::MatchingStrategy::Last)),
            Just(Some(ranking::MatchingStrategy::All)),
            Just(Some(ranking::MatchingStrategy::Frequency)),
        ];
        let mut runner = TestRunner::new(Config::default());
        let outcome = runner.run(
            &(query, filter, strategy, 0usize..30, any::<bool>()),
            |(q, filter, strategy, offset, highlight)| {
                let mut request = SearchRequest::index(q, 10);
                request.offset = offset;
                request.matching_strategy = strategy;
                if highlight {
                    request.highlight = Some(crate::search::highlight::HighlightOptions::default());
                }
                if let Some(text) = filter {
                    match crate::search::filter::parse(&text, &index.spec().schema) {
                        Ok(parsed) => request.filter = Some(parsed),
                        Err(_) => return Ok(()),
                    }
                }
                // An error is an answer too (a 4xx); a panic is the failure.
                let _ = search(&index, &request);
                Ok(())
            },
        );
        let _ = std::fs::remove_dir_all(&dir);
        outcome.expect("no query or filter makes the search panic");
    }
}
