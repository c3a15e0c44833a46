//! `POST /v1/multi-search`: several searches, across collections, in one round trip;
//! answered one result per search, or, with `federation`, merged into one ranked list.
//!
//! Each search is the collection search (engines, caches, the bounded search queue),
//! run concurrently. A federated merge orders hits by *weighted ranking score*: each
//! search's hits carry the ranking rules' verdict as one number in (0, 1] (see
//! `search::ranking`), on the same scale in every collection, times the search's
//! `weight`. BM25 alone could not be merged so: its values depend on each index's term
//! statistics and field lengths.

use std::collections::HashSet;
use std::time::Instant;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use crate::access::{Action, Reach, TenantFilter};
use crate::error::ApiError;
use crate::placement::Placement;
use crate::schema::CollectionName;
use crate::search::{Engine, SearchParams};
use crate::service::elapsed_ms;
use crate::state::App;

/// Most searches in one multi-search.
pub const MAX_QUERIES: usize = 10;
/// Largest `offset + limit` of a federated merge: each search contributes its best
/// `offset + limit` hits, and a search's page is at most 100.
pub const MAX_FEDERATED_WINDOW: usize = 100;

/// Several searches, and how to answer them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "queries": [
        {"collection": "products", "q": "wireless", "limit": 3},
        {"collection": "products", "q": "lamp", "filter": "price < 100", "limit": 3}
    ]
}))]
pub struct MultiSearchRequest {
    /// 1 to 10 searches, each the body of a collection search plus `collection`.
    pub queries: Vec<MultiSearchQuery>,
    /// Merge the hits of every search into one list ranked by weighted ranking score,
    /// instead of one result per search.
    pub federation: Option<Federation>,
}

/// One search of a multi-search: the collection search's parameters, plus which
/// collection, plus its weight in a federated merge.
// The `serde` attributes here shape the OpenAPI schema only (utoipa reads them):
// deserializing is by hand, below.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"collection": "products", "q": "wireless", "limit": 3}))]
pub struct MultiSearchQuery {
    /// The collection to search.
    #[schema(example = "products", pattern = r"^[a-z0-9_-]{1,64}$")]
    pub collection: String,
    /// With `federation`: how much this search's hits count.
    pub federation_options: Option<FederationOptions>,
    #[serde(flatten)]
    pub params: SearchParams,
}

// By hand: `SearchParams` refuses unknown fields, which serde's `flatten` cannot pass
// on; the two fields of the query itself are taken out first.
impl<'de> Deserialize<'de> for MultiSearchQuery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let collection = map
            .remove("collection")
            .ok_or_else(|| D::Error::missing_field("collection"))?;
        let collection = String::deserialize(collection).map_err(D::Error::custom)?;
        let federation_options = map
            .remove("federationOptions")
            .map(FederationOptions::deserialize)
            .transpose()
            .map_err(D::Error::custom)?;
        let params = SearchParams::deserialize(Value::Object(map)).map_err(D::Error::custom)?;
        Ok(MultiSearchQuery {
            collection,
            federation_options,
            params,
        })
    }
}

/// The page of a federated merge.
#[derive(Debug, Default, Deserialize, ToSchema, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Federation {
    /// Hits of the merged list, 1 to 100 (default 20).
    #[schema(minimum = 1, maximum = 100, example = 10)]
    #[validate(range(
        min = 1,
        max = 100,
        message = "`federation.limit` must be from 1 to 100"
    ))]
    pub limit: Option<usize>,
    /// Hits of the merged list to skip; `offset + limit` is at most 100.
    #[schema(minimum = 0, maximum = 99, example = 0)]
    pub offset: Option<usize>,
}

/// A search's part in a federated merge.
#[derive(Debug, Default, Deserialize, ToSchema, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederationOptions {
    /// Multiplies the search's ranking scores: more than 0, at most 100 (default 1).
    #[schema(exclusive_minimum = 0.0, maximum = 100.0, example = 1.0)]
    #[validate(range(
        exclusive_min = 0.0,
        max = 100.0,
        message = "`federationOptions.weight` must be more than 0 and at most 100"
    ))]
    pub weight: Option<f64>,
}

/// One result per search, in the order of the searches.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"results": [
    {"collection": "products", "hits": [], "total": 0, "offset": 0, "limit": 3, "engine": "index", "tookMs": 0.2, "cache": "miss"}
]}))]
pub struct MultiSearchResults {
    /// A collection search's answer, with `collection` added.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

/// Where a hit of a federated merge comes from.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HitOrigin {
    pub collection: String,
    /// The search it comes from (its index in `queries`).
    pub query: usize,
    /// Its ranking score times the search's weight: what the merge ordered by.
    pub weighted_ranking_score: f64,
}

/// The hits of every search, merged into one ranked list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"hits": [{"id": "sku-0042", "score": 7.31, "document": {"id": "sku-0042", "title": "Acme wireless headphones"},
    "federation": {"collection": "products", "query": 0, "weightedRankingScore": 0.97}}], "total": 1, "offset": 0, "limit": 20, "tookMs": 0.8}))]
pub struct FederatedResults {
    /// Hits as a collection search gives them, each with its `federation` origin.
    #[schema(value_type = Vec<Object>)]
    pub hits: Vec<Value>,
    /// The searches' totals, added up (a document two searches of one collection both
    /// match counts twice there; it is listed once).
    pub total: u64,
    pub offset: usize,
    pub limit: usize,
    pub took_ms: f64,
}

/// A multi-search's answer: one result per search, or a merged list.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum MultiSearchAnswer {
    Results(MultiSearchResults),
    Federated(FederatedResults),
}

impl ApiError {
    /// This error, its message saying which search of a multi-search it is about.
    fn in_query(self, at: usize) -> ApiError {
        let within = |message: String| format!("`queries[{at}]`: {message}");
        match self {
            ApiError::InvalidQueryParameter(m) => ApiError::InvalidQueryParameter(within(m)),
            ApiError::InvalidCollectionName(m) => ApiError::InvalidCollectionName(within(m)),
            ApiError::InvalidSearchQuery(m) => ApiError::InvalidSearchQuery(within(m)),
            ApiError::InvalidFilter(m) => ApiError::InvalidFilter(within(m)),
            ApiError::InvalidSort(m) => ApiError::InvalidSort(within(m)),
            ApiError::InvalidFacets(m) => ApiError::InvalidFacets(within(m)),
            ApiError::InvalidRequestBody(m) => ApiError::InvalidRequestBody(within(m)),
            // Shown as "forbidden: `search` on `blog` in `queries[1]`".
            ApiError::Forbidden(m) => ApiError::Forbidden(format!("{m}` in `queries[{at}]")),
            other => other,
        }
    }
}

/// A search of a multi-search, checked: its collection, and the key may search it.
struct Checked {
    name: CollectionName,
    params: SearchParams,
    weight: f64,
    /// The search asked for `rankingScore` itself (a merge asks for it anyway).
    show_score: bool,
}

impl App {
    /// Runs every search of `request` concurrently (each through the search queue) and
    /// answers them together. `reach`: what the request's key may search, checked
    /// against each search's collection; `tenant`: a tenant token's filter, joined to
    /// every search.
    #[tracing::instrument(name = "multi_search", skip_all, fields(queries = request.queries.len(), federated = request.federation.is_some()))]
    pub async fn multi_search(
        &self,
        request: MultiSearchRequest,
        reach: &Reach,
        tenant: Option<&TenantFilter>,
    ) -> Result<MultiSearchAnswer, ApiError> {
        let started = Instant::now();
        if request.queries.is_empty() || request.queries.len() > MAX_QUERIES {
            return Err(ApiError::InvalidRequestBody(format!(
                "`queries` takes 1 to {MAX_QUERIES} searches"
            )));
        }
        let federation = request.federation;
        if let Some(federation) = &federation {
            federation
                .validate()
                .map_err(|e| ApiError::InvalidRequestBody(first_message(&e)))?;
        }
        let window = federation.as_ref().map(|f| {
            let limit = f.limit.unwrap_or(crate::search::DEFAULT_LIMIT);
            (f.offset.unwrap_or(0), limit)
        });
        if let Some((offset, limit)) = window
            && offset + limit > MAX_FEDERATED_WINDOW
        {
            return Err(ApiError::InvalidRequestBody(format!(
                "`federation.offset` + `federation.limit` must be at most {MAX_FEDERATED_WINDOW}"
            )));
        }
        let mut checked = Vec::with_capacity(request.queries.len());
        for (at, query) in request.queries.into_iter().enumerate() {
            checked.push(
                check(query, reach, &self.config.placement, window).map_err(|e| e.in_query(at))?,
            );
        }
        let answers =
            futures::future::join_all(checked.iter().map(|query| async {
                self.search(&query.name, query.params.clone(), tenant).await
            }))
            .await;
        let mut results = Vec::with_capacity(answers.len());
        for (at, (answer, query)) in answers.into_iter().zip(&checked).enumerate() {
            let answer = answer.map_err(|e| e.in_query(at))?;
            let Value::Object(mut result) =
                serde_json::from_slice::<Value>(&answer.json).map_err(ApiError::internal)?
            else {
                return Err(ApiError::internal("a search answer is not an object"));
            };
            // As a single search answers: this request's time and where it came from.
            if let Some(took_ms) = answer.took_ms {
                result.insert("tookMs".into(), Value::from(took_ms));
            }
            result.insert("cache".into(), Value::from(answer.origin.as_str()));
            result.insert("collection".into(), Value::String(query.name.to_string()));
            results.push(result);
        }
        Ok(match window {
            None => MultiSearchAnswer::Results(MultiSearchResults {
                results: results.into_iter().map(Value::Object).collect(),
            }),
            Some((offset, limit)) => MultiSearchAnswer::Federated(merge(
                results,
                &checked,
                offset,
                limit,
                elapsed_ms(started),
            )),
        })
    }
}

fn first_message(errors: &validator::ValidationErrors) -> String {
    crate::validation::first_error(errors, &["limit", "weight"])
        .map(|(_, message)| message)
        .unwrap_or_else(|| "invalid federation".into())
}

/// One search's name, parameters and weight, checked; in a federated merge each
/// contributes its best `offset + limit` hits with their ranking scores.
fn check(
    query: MultiSearchQuery,
    reach: &Reach,
    placement: &Placement,
    window: Option<(usize, usize)>,
) -> Result<Checked, ApiError> {
    let name = CollectionName::parse(&query.collection)?;
    // Not here: the client (or a proxy) sends such searches to the replicas that serve
    // their collection.
    if !placement.serves(name.as_str()) {
        return Err(ApiError::CollectionElsewhere(name.to_string()));
    }
    if !reach.allows(Action::Search, name.as_str(), chrono::Utc::now()) {
        return Err(ApiError::Forbidden(format!("search` on `{name}")));
    }
    let options = query.federation_options.unwrap_or_default();
    options
        .validate()
        .map_err(|e| ApiError::InvalidRequestBody(first_message(&e)))?;
    let mut params = query.params;
    let show_score = params.show_ranking_score == Some(true);
    if let Some((offset, limit)) = window {
        let refuse = |what: &str| {
            Err(ApiError::InvalidRequestBody(format!(
                "{what} in a federated multi-search: {}",
                match what {
                    "`limit` and `offset`" =>
                        "page with `federation.limit` and `federation.offset`",
                    "`sort`" => "the merge orders by ranking score",
                    "`facets`" => "search the collection for its facets",
                    _ => "the merge needs the index engine's ranking scores",
                }
            )))
        };
        if params.limit.is_some() || params.offset.is_some() {
            return refuse("`limit` and `offset`");
        }
        if params.sort.is_some() {
            return refuse("`sort`");
        }
        if params.facets.is_some() || params.disjunctive_facets.is_some() {
            return refuse("`facets`");
        }
        if params.engine.is_some_and(|e| e != Engine::Index) {
            return refuse("`engine` other than `index`");
        }
        params.limit = Some(offset + limit);
        params.show_ranking_score = Some(true);
    } else if options.weight.is_some() {
        return Err(ApiError::InvalidRequestBody(
            "`federationOptions` needs `federation`".into(),
        ));
    }
    Ok(Checked {
        name,
        params,
        weight: options.weight.unwrap_or(1.0),
        show_score,
    })
}

/// Merges the searches' hits by weighted ranking score (ties: the earlier search, then
/// its own order); a document found by two searches of one collection is listed once,
/// where it scores best.
fn merge(
    results: Vec<Map<String, Value>>,
    queries: &[Checked],
    offset: usize,
    limit: usize,
    took_ms: f64,
) -> FederatedResults {
    let mut total = 0;
    let mut all: Vec<(f64, usize, usize, Value)> = Vec::new();
    for (at, (mut result, query)) in results.into_iter().zip(queries).enumerate() {
        total += result.get("total").and_then(Value::as_u64).unwrap_or(0);
        let Some(Value::Array(hits)) = result.remove("hits") else {
            continue;
        };
        for (position, mut hit) in hits.into_iter().enumerate() {
            let score = hit
                .get("rankingScore")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let weighted = score * query.weight;
            if let Value::Object(fields) = &mut hit {
                if !query.show_score {
                    fields.remove("rankingScore");
                }
                fields.insert(
                    "federation".into(),
                    serde_json::to_value(HitOrigin {
                        collection: query.name.to_string(),
                        query: at,
                        weighted_ranking_score: weighted,
                    })
                    .unwrap_or(Value::Null),
                );
            }
            all.push((weighted, at, position, hit));
        }
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut seen: HashSet<(usize, String)> = HashSet::new();
    let hits = all
        .into_iter()
        .filter(|(_, at, _, hit)| {
            let id = hit.get("id").and_then(Value::as_str).unwrap_or_default();
            // Searches of one collection share the collection's first search's slot.
            let collection = queries
                .iter()
                .position(|q| q.name == queries[*at].name)
                .unwrap_or(*at);
            seen.insert((collection, id.to_owned()))
        })
        .skip(offset)
        .take(limit)
        .map(|(_, _, _, hit)| hit)
        .collect();
    FederatedResults {
        hits,
        total,
        offset,
        limit,
        took_ms,
    }
}
