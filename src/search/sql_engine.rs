//! The same search answered by PostgreSQL, for comparison with the index:
//!
//! * `ilike`: every query word must occur in some text field, `ILIKE '%word%'`, newest
//!   first. The query people write before they have a search engine: a sequential
//!   scan and a pattern match per row.
//! * `fts`: PostgreSQL full-text search over the same fields, weighted A–D by boost,
//!   ranked by `ts_rank_cd`, backed by a GIN expression index that sift keeps per
//!   collection (`documents_fts_<collection id>`) when its `ftsIndex` setting is on;
//!   without it, a scan.
//!
//! Filters and sorts apply as in the index engine; facets are the index's alone.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::schema::{CollectionSchema, FieldType};
use crate::search::filter::{
    EARTH_RADIUS_METERS, Filter, GeoArea, Op, Presence, Value as FilterValue,
};
use crate::search::{Engine, Hit, SearchRequest, SearchResponse, SortBy, SortOrder};
use crate::store::json_field::PushField;

/// The `tsvector` of a collection's documents. Field names are inlined (they match
/// `^[A-Za-z_][A-Za-z0-9_]{0,63}$`, or such names joined by `.`, checked when the schema
/// was accepted) because the
/// GIN index is on this exact expression and a query must repeat it to use it.
pub fn tsvector_expression(schema: &CollectionSchema) -> String {
    let mut text_fields: Vec<(&str, f64)> = schema
        .fields()
        .iter()
        .filter(|f| f.searched())
        .map(|f| (f.name.as_str(), f.boost))
        .collect();
    text_fields.sort_by(|a, b| b.1.total_cmp(&a.1));
    let parts: Vec<String> = text_fields
        .iter()
        .enumerate()
        .map(|(rank, (name, _))| {
            let weight = ["A", "B", "C", "D"][rank.min(3)];
            let text = if name.contains('.') {
                format!("body#>>'{{{}}}'", name.replace('.', ","))
            } else {
                format!("body->>'{name}'")
            };
            format!(
                "setweight(to_tsvector('english'::regconfig, coalesce({text}, '')), '{weight}')"
            )
        })
        .collect();
    format!("({})", parts.join(" || "))
}

fn index_name(collection_id: i64) -> String {
    format!("documents_fts_{collection_id}")
}

/// Creates (or re-creates, after boosts changed) the collection's full-text index.
pub async fn create_fts_index(
    db: &PgPool,
    collection_id: i64,
    schema: &CollectionSchema,
) -> Result<(), sqlx::Error> {
    let name = index_name(collection_id);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
        .execute(db)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE INDEX IF NOT EXISTS {name} ON documents USING gin ({}) WHERE collection_id = {collection_id}",
        tsvector_expression(schema)
    )))
    .execute(db)
    .await?;
    Ok(())
}

/// Builds the collection's full-text index again after its boosts changed, without
/// blocking writes: the new index is built `CONCURRENTLY` under a temporary name, the
/// old one is dropped `CONCURRENTLY`, and the new one takes its name. (A plain
/// `CREATE INDEX` on the shared `documents` table would block writes to every
/// collection until it ends.) A build that failed earlier leaves an invalid index
/// under the temporary name; it is dropped first.
pub async fn rebuild_fts_index(
    db: &PgPool,
    collection_id: i64,
    schema: &CollectionSchema,
) -> Result<(), sqlx::Error> {
    let name = index_name(collection_id);
    let building = format!("{name}_next");
    for statement in [
        format!("DROP INDEX CONCURRENTLY IF EXISTS {building}"),
        format!(
            "CREATE INDEX CONCURRENTLY {building} ON documents USING gin ({}) WHERE collection_id = {collection_id}",
            tsvector_expression(schema)
        ),
        format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
        format!("ALTER INDEX {building} RENAME TO {name}"),
    ] {
        // One statement per call: `CONCURRENTLY` cannot run inside a transaction block.
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(db)
            .await?;
    }
    Ok(())
}

/// Whether the collection's full-text index exists and is valid (built to the end:
/// `CREATE INDEX CONCURRENTLY` leaves an invalid one while it runs or after it failed).
pub async fn fts_index_ready(db: &PgPool, collection_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
          WHERE c.relname = $1 AND i.indisvalid)",
    )
    .bind(index_name(collection_id))
    .fetch_one(db)
    .await
}

/// Drops the collection's full-text index (and one a failed build left under the
/// temporary name), `CONCURRENTLY`: writes to the shared `documents` table go on.
pub async fn drop_fts_index(db: &PgPool, collection_id: i64) -> Result<(), sqlx::Error> {
    let name = index_name(collection_id);
    for index in [format!("{name}_next"), name] {
        // One statement per call: `CONCURRENTLY` cannot run inside a transaction block.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {index}"
        )))
        .execute(db)
        .await?;
    }
    Ok(())
}

fn escape_like(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A geo field's latitude or longitude (`coordinate`), NULL when the stored value is not
/// a number (rows written with plain SQL skip validation).
fn push_coordinate(builder: &mut QueryBuilder<Postgres>, field: &str, coordinate: &'static str) {
    builder
        .push("(CASE WHEN jsonb_typeof(")
        .push_json(field)
        .push(" -> '")
        .push(coordinate)
        .push("') = 'number' THEN (")
        .push_json(field)
        .push(" ->> '")
        .push(coordinate)
        .push("')::float8 END)");
}

/// The great-circle distance in meters from a document's point to (`lat`, `lng`), by
/// the haversine formula on the sphere [`crate::search::filter::distance_meters`] uses.
pub fn push_distance(builder: &mut QueryBuilder<Postgres>, field: &str, lat: f64, lng: f64) {
    // NULL without a point (`least` would turn a NULL into 1, the far side of Earth).
    builder.push("(CASE WHEN ");
    push_coordinate(builder, field, "lat");
    builder.push(" IS NULL OR ");
    push_coordinate(builder, field, "lng");
    builder.push(" IS NULL THEN NULL ELSE ");
    builder
        .push("(2 * ")
        .push_bind(EARTH_RADIUS_METERS)
        .push(" * asin(least(1, sqrt(power(sin(radians(");
    push_coordinate(builder, field, "lat");
    builder
        .push(" - ")
        .push_bind(lat)
        .push(") / 2), 2) + cos(radians(")
        .push_bind(lat)
        .push(")) * cos(radians(");
    push_coordinate(builder, field, "lat");
    builder.push(")) * power(sin(radians(");
    push_coordinate(builder, field, "lng");
    builder
        .push(" - ")
        .push_bind(lng)
        .push(") / 2), 2))))) END)");
}

/// Appends `filter` as a SQL condition over the `body` column of `documents`.
pub fn push_filter(builder: &mut QueryBuilder<Postgres>, filter: &Filter) {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => {
            let joiner = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            builder.push("(");
            for (n, part) in parts.iter().enumerate() {
                if n > 0 {
                    builder.push(joiner);
                }
                push_filter(builder, part);
            }
            builder.push(")");
        }
        Filter::Not(inner) => {
            builder.push("NOT coalesce((");
            push_filter(builder, inner);
            builder.push("), false)");
        }
        Filter::Geo { field, area } => {
            builder.push("coalesce(");
            match *area {
                GeoArea::Radius { lat, lng, meters } => {
                    push_distance(builder, field, lat, lng);
                    builder.push(" <= ").push_bind(meters);
                }
                GeoArea::Box {
                    north,
                    east,
                    south,
                    west,
                } => {
                    push_coordinate(builder, field, "lat");
                    builder
                        .push(" BETWEEN ")
                        .push_bind(south)
                        .push(" AND ")
                        .push_bind(north)
                        .push(" AND ");
                    builder.push("(");
                    push_coordinate(builder, field, "lng");
                    if west <= east {
                        builder
                            .push(" BETWEEN ")
                            .push_bind(west)
                            .push(" AND ")
                            .push_bind(east);
                    } else {
                        // Across the antimeridian: east of `west` or west of `east`.
                        builder.push(" >= ").push_bind(west).push(" OR ");
                        push_coordinate(builder, field, "lng");
                        builder.push(" <= ").push_bind(east);
                    }
                    builder.push(")");
                }
            }
            builder.push(", false)");
        }
        Filter::Is { field, check } => {
            match check {
                Presence::Exists => builder.push_has(field),
                Presence::Null => builder
                    .push("coalesce(")
                    .push_json(field)
                    .push(" = 'null'::jsonb, false)"),
                Presence::Empty => builder
                    .push("coalesce(")
                    .push_json(field)
                    .push(" IN ('\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb), false)"),
            };
        }
        Filter::Compare {
            field,
            field_type,
            op,
            value,
        } => {
            let sql_op = match op {
                Op::Eq => " = ",
                Op::Ne => " <> ",
                Op::Lt => " < ",
                Op::Le => " <= ",
                Op::Gt => " > ",
                Op::Ge => " >= ",
            };
            match (field_type, value) {
                (FieldType::Keyword, FilterValue::Keyword(v)) => {
                    if *op == Op::Ne {
                        builder.push("NOT coalesce(");
                    }
                    builder
                        .push("(")
                        .push_json(field)
                        .push(" = to_jsonb(")
                        .push_bind(v.clone())
                        .push("::text) OR ")
                        .push_json(field)
                        .push(" @> jsonb_build_array(")
                        .push_bind(v.clone())
                        .push("::text))");
                    if *op == Op::Ne {
                        builder.push(", false)");
                    }
                }
                (FieldType::Bool, FilterValue::Bool(v)) => {
                    builder
                        .push("coalesce(")
                        .push_json(field)
                        .push(sql_op)
                        .push("to_jsonb(")
                        .push_bind(*v)
                        .push("), false)");
                }
                (FieldType::Datetime, FilterValue::Datetime(_, text)) => {
                    builder
                        .push("(CASE WHEN ")
                        .push_text(field)
                        .push(" ~ '^\\d{4}-\\d{2}-\\d{2}T' THEN (")
                        .push_text(field)
                        .push(")::timestamptz END)")
                        .push(sql_op)
                        .push_bind(text.clone())
                        .push("::timestamptz");
                }
                (_, value) => {
                    let number = match value {
                        FilterValue::Integer(n) => *n as f64,
                        FilterValue::Float(f) => *f,
                        _ => f64::NAN,
                    };
                    builder
                        .push("(CASE WHEN jsonb_typeof(")
                        .push_json(field)
                        .push(") = 'number' THEN (")
                        .push_text(field)
                        .push(")::float8 END)")
                        .push(sql_op)
                        .push_bind(number);
                }
            }
        }
    }
}

fn push_conditions(
    builder: &mut QueryBuilder<Postgres>,
    collection_id: i64,
    schema: &CollectionSchema,
    request: &SearchRequest,
    tsquery: bool,
) {
    builder
        .push(" WHERE collection_id = ")
        .push_bind(collection_id);
    if tsquery {
        if !request.q.trim().is_empty() {
            builder
                .push(" AND ")
                .push(tsvector_expression(schema))
                .push(" @@ websearch_to_tsquery('english'::regconfig, ")
                .push_bind(request.q.clone())
                .push(")");
        }
    } else {
        let text_fields: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| f.searched())
            .map(|f| f.name.as_str())
            .collect();
        for word in request
            .q
            .split_whitespace()
            .take(crate::search::query::MAX_QUERY_WORDS)
        {
            let pattern = escape_like(word);
            builder.push(" AND (");
            for (n, field) in text_fields.iter().enumerate() {
                if n > 0 {
                    builder.push(" OR ");
                }
                builder
                    .push_text(field)
                    .push(" ILIKE ")
                    .push_bind(pattern.clone());
            }
            builder.push(")");
        }
    }
    if let Some(filter) = &request.filter {
        builder.push(" AND ");
        push_filter(builder, filter);
    }
}

/// Runs `request` (engine `ilike` or `fts`) in PostgreSQL.
pub async fn search(
    db: &PgPool,
    collection_id: i64,
    schema: &CollectionSchema,
    request: &SearchRequest,
) -> Result<SearchResponse, sqlx::Error> {
    let started = Instant::now();
    let fts = request.engine == Engine::Fts;
    let ranked = fts && !request.q.trim().is_empty();

    let mut count = QueryBuilder::new("SELECT count(*) FROM documents");
    push_conditions(&mut count, collection_id, schema, request, fts);
    let total: i64 = count.build_query_scalar().fetch_one(db).await?;

    let mut select = QueryBuilder::new("SELECT id, body, ");
    if ranked {
        select
            .push("ts_rank_cd(")
            .push(tsvector_expression(schema))
            .push(", websearch_to_tsquery('english'::regconfig, ")
            .push_bind(request.q.clone())
            .push("))::float4");
    } else {
        select.push("NULL::float4");
    }
    select.push(" AS score FROM documents");
    push_conditions(&mut select, collection_id, schema, request, fts);
    select.push(" ORDER BY ");
    if request.sort.is_empty() {
        if ranked {
            select.push("score DESC, id");
        } else {
            select.push("created_at DESC, id DESC");
        }
    } else {
        for sort in &request.sort {
            let direction = if sort.order == SortOrder::Asc {
                " ASC NULLS LAST, "
            } else {
                " DESC NULLS LAST, "
            };
            match &sort.by {
                SortBy::Field { name, .. } => {
                    select.push_json(name);
                }
                // `ilike` has no relevance: its score is NULL everywhere, a no-op key.
                SortBy::Score => {
                    select.push("score");
                }
                SortBy::Geo { field, lat, lng } => {
                    push_distance(&mut select, field, *lat, *lng);
                }
            }
            select.push(direction);
        }
        // Ties go to the lower id, as in the index engine.
        select.push("id");
    }
    select
        .push(" LIMIT ")
        .push_bind(request.limit as i64)
        .push(" OFFSET ")
        .push_bind(request.offset as i64);
    let rows: Vec<(String, sqlx::types::Json<Value>, Option<f32>)> =
        select.build_query_as().fetch_all(db).await?;
    let mut hits: Vec<Hit> = rows
        .into_iter()
        .map(|(id, body, score)| Hit {
            id,
            score,
            ranking_score: None,
            ranking_score_details: None,
            geo_distance: None,
            document: body.0,
            highlights: BTreeMap::new(),
            matches_position: BTreeMap::new(),
        })
        .collect();
    crate::search::add_geo_distances(&mut hits, request);
    crate::search::retain_attributes(&mut hits, request.attributes.as_deref());
    Ok(SearchResponse {
        hits,
        total: total.max(0) as u64,
        offset: request.offset,
        limit: request.limit,
        facets: BTreeMap::new(),
        facet_stats: BTreeMap::new(),
        took_ms: (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        matched_words: None,
        engine: request.engine,
    })
}
