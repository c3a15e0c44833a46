//! `GET /v1/collections/{name}/analytics` and `POST /v1/collections/{name}/events`:
//! what people search for, what finds nothing, what they click (see
//! [`crate::analytics`], which counts off the request path).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::analytics::Event;
use crate::db;
use crate::error::ApiError;
use crate::schema::{CollectionName, truncate};
use crate::search::normalize_query;
use crate::state::App;

/// The window reported when `from` is not given.
const DEFAULT_DAYS: i64 = 7;

const TOP_QUERIES: &str = "SELECT query, sum(searches)::bigint AS searches, sum(empty)::bigint AS no_results, sum(clicks)::bigint AS clicks
     FROM search_analytics WHERE collection_id = $1 AND bucket >= $2 AND bucket < $3
     GROUP BY query HAVING sum(searches) > 0 ORDER BY sum(searches) DESC, query LIMIT $4";
const NO_RESULT_QUERIES: &str = "SELECT query, sum(searches)::bigint AS searches, sum(empty)::bigint AS no_results, sum(clicks)::bigint AS clicks
     FROM search_analytics WHERE collection_id = $1 AND bucket >= $2 AND bucket < $3
     GROUP BY query HAVING sum(empty) > 0 ORDER BY sum(empty) DESC, query LIMIT $4";

/// Which hours to report on.
#[derive(Debug, Default, Deserialize, IntoParams, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// Start (RFC 3339, or a date for its first instant in UTC); default 7 days before `to`.
    #[param(example = "2026-11-01")]
    pub from: Option<String>,
    /// End, excluded (RFC 3339 or a date); default now.
    pub to: Option<String>,
    /// Queries listed per list, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 10)]
    #[validate(range(min = 1, max = 100, message = "`limit` must be from 1 to 100"))]
    pub limit: Option<usize>,
}

/// A query and its counts over the window.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct QueryCounts {
    /// As searched, lower-cased, runs of spaces made one.
    pub query: String,
    pub searches: i64,
    /// Searches that found nothing.
    pub no_results: i64,
    pub clicks: i64,
}

/// What was searched in a window of hours.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"from": "2026-11-24T00:00:00Z", "to": "2026-12-01T00:00:00Z", "recording": true,
    "searches": 1200, "noResultSearches": 85, "clicks": 430, "clickThroughRate": 0.358,
    "topQueries": [{"query": "wireless headphones", "searches": 310, "noResults": 0, "clicks": 140}],
    "noResultQueries": [{"query": "bluetoth", "searches": 12, "noResults": 12, "clicks": 0}]}))]
pub struct AnalyticsReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Whether this replica records (`SIFT_ANALYTICS_RETENTION` is not `off`).
    pub recording: bool,
    /// Searches with words (searches with none are page loads and facet clicks).
    pub searches: i64,
    pub no_result_searches: i64,
    pub clicks: i64,
    /// Clicks per search.
    pub click_through_rate: f64,
    /// The most searched queries.
    pub top_queries: Vec<QueryCounts>,
    /// The queries that most often found nothing.
    pub no_result_queries: Vec<QueryCounts>,
}

/// What a page reports.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// A hit of a search was opened.
    Click,
}

/// A click on a hit, reported by the page.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"type": "click", "query": "wireless headph", "documentId": "sku-0042"}))]
pub struct SearchEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The query whose hit was clicked, as sent to the search.
    #[schema(max_length = 512)]
    #[validate(length(min = 1, max = 512, message = "`query` is 1 to 512 characters"))]
    pub query: String,
    /// The hit clicked.
    #[schema(max_length = 511)]
    #[validate(length(min = 1, max = 511, message = "`documentId` is 1 to 511 characters"))]
    pub document_id: String,
}

/// Whether the event was recorded.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"recorded": true}))]
pub struct EventAccepted {
    /// `false` when analytics are off on this replica.
    pub recorded: bool,
}

/// A time bound: RFC 3339, or a date for its first instant in UTC.
fn instant(name: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    if let Ok(date) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        && raw.len() == 10
    {
        return date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| ApiError::InvalidQueryParameter(format!("`{name}`: not a date")));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::InvalidQueryParameter(format!(
                "`{name}` is an RFC 3339 time or a date (2026-11-01), not `{}`",
                truncate(raw, 40)
            ))
        })
}

impl App {
    /// The searches of collection `name` in a window of hours.
    #[tracing::instrument(name = "analytics", skip_all, fields(collection = %name))]
    pub async fn analytics_report(
        &self,
        name: &CollectionName,
        params: AnalyticsParams,
    ) -> Result<AnalyticsReport, ApiError> {
        params.validate().map_err(|errors| {
            ApiError::InvalidQueryParameter(
                crate::validation::first_error(&errors, &["limit"])
                    .map(|(_, message)| message)
                    .unwrap_or_else(|| "invalid parameters".into()),
            )
        })?;
        let to = match &params.to {
            Some(raw) => instant("to", raw)?,
            None => Utc::now(),
        };
        let from = match &params.from {
            Some(raw) => instant("from", raw)?,
            None => to - chrono::Duration::days(DEFAULT_DAYS),
        };
        if from >= to {
            return Err(ApiError::InvalidQueryParameter(
                "`from` must be before `to`".into(),
            ));
        }
        let limit = params.limit.unwrap_or(20) as i64;
        let collection = self.collection(name).await?;
        let (searches, empty, clicks): (i64, i64, i64) = db::retry(|| {
            sqlx::query_as(
                "SELECT coalesce(sum(searches), 0)::bigint, coalesce(sum(empty), 0)::bigint, coalesce(sum(clicks), 0)::bigint
                 FROM search_analytics WHERE collection_id = $1 AND bucket >= $2 AND bucket < $3",
            )
            .bind(collection.id)
            .bind(from)
            .bind(to)
            .fetch_one(&self.db)
        })
        .await?;
        let list = |sql: &'static str| {
            let db = self.db.clone();
            async move {
                db::retry(|| {
                    sqlx::query_as::<_, QueryCounts>(sql)
                        .bind(collection.id)
                        .bind(from)
                        .bind(to)
                        .bind(limit)
                        .fetch_all(&db)
                })
                .await
            }
        };
        let top_queries = list(TOP_QUERIES).await?;
        let no_result_queries = list(NO_RESULT_QUERIES).await?;
        Ok(AnalyticsReport {
            from,
            to,
            recording: self.analytics.is_some(),
            searches,
            no_result_searches: empty,
            clicks,
            click_through_rate: if searches > 0 {
                clicks as f64 / searches as f64
            } else {
                0.0
            },
            top_queries,
            no_result_queries,
        })
    }

    /// Counts a click on a hit of collection `name` (off the request path).
    #[tracing::instrument(name = "search_event", skip_all, fields(collection = %name))]
    pub async fn record_event(
        &self,
        name: &CollectionName,
        event: SearchEvent,
    ) -> Result<EventAccepted, ApiError> {
        event.validate().map_err(|errors| {
            ApiError::InvalidRequestBody(
                crate::validation::first_error(&errors, &["query", "document_id"])
                    .map(|(_, message)| message)
                    .unwrap_or_else(|| "invalid event".into()),
            )
        })?;
        let collection_id = match self.indexes.get(name.as_str()) {
            Some(index) => index.spec().collection_id,
            None => self.collection(name).await?.id,
        };
        let Some(analytics) = &self.analytics else {
            return Ok(EventAccepted { recorded: false });
        };
        match event.kind {
            EventType::Click => analytics.record(Event::Click {
                collection_id,
                query: normalize_query(&event.query),
            }),
        }
        Ok(EventAccepted { recorded: true })
    }
}
