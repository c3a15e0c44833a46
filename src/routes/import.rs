//! `POST /v1/collections/{name}/documents:import`: bulk NDJSON import.
//!
//! The body is read as a stream of lines, never held whole in memory: each line is
//! parsed and validated on arrival, and the valid documents go to PostgreSQL in
//! batches, each batch one multi-row upsert (one transaction). A bad line is reported
//! and skipped; it never stops the good ones. Imports are upserts, so running the same
//! import again is safe.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use bytes::BytesMut;
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ErrorCode, ErrorResponse};
use crate::extract::{CollectionPath, Json};
use crate::routes::collections::load as load_collection;
use crate::schema::{CollectionSchema, document_identity};
use crate::state::AppState;
use crate::store::documents as store;
use crate::store::is_foreign_key_violation;

/// Documents per upsert statement: large enough to amortise the round trip and the
/// commit, small enough that a batch's parameters stay a few megabytes.
pub const BATCH_SIZE: usize = 1000;
/// Line errors listed in the response; the rest are only counted.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// One line that was not imported.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportLineError {
    /// 1-based line number in the body.
    pub line: u64,
    /// An error code from the table (`invalid_json`, `invalid_document`, `invalid_document_id`, `payload_too_large`).
    pub code: String,
    pub message: String,
}

/// The outcome of an import.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "imported": 998,
    "failed": 2,
    "errors": [
        {"line": 17, "code": "invalid_json", "message": "expected value at line 1 column 1"},
        {"line": 512, "code": "invalid_document", "message": "field `price` must be a number (float), got a string"}
    ]
}))]
pub struct ImportReport {
    /// Documents created or replaced.
    pub imported: u64,
    /// Lines that were not imported.
    pub failed: u64,
    /// The first 100 failed lines, in order.
    pub errors: Vec<ImportLineError>,
    /// Pass as `after` to a search to see the imported documents in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_token: Option<String>,
}

impl ImportReport {
    fn fail(&mut self, line: u64, code: ErrorCode, message: String) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(ImportLineError {
                line,
                code: code.as_str().to_owned(),
                message,
            });
        }
    }
}

/// Valid documents waiting for their upsert, as JSON text. A later line with the same
/// id replaces an earlier one in the batch (one statement cannot upsert a row twice),
/// as it would have in line-by-line order.
#[derive(Default)]
struct Batch {
    ids: Vec<String>,
    bodies: Vec<String>,
    positions: HashMap<String, usize>,
    /// Lines the batch stands for, duplicates included.
    lines: u64,
}

impl Batch {
    fn push(&mut self, id: String, body: String) {
        self.lines += 1;
        if let Some(&at) = self.positions.get(&id) {
            self.bodies[at] = body;
        } else {
            self.positions.insert(id.clone(), self.ids.len());
            self.ids.push(id);
            self.bodies.push(body);
        }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Stores batches one behind the reader: while batch N is written to PostgreSQL, the
/// lines of batch N+1 are read and validated, so the database and the parsing overlap
/// instead of taking turns. At most one batch is in flight, which bounds memory.
struct BatchWriter {
    state: AppState,
    collection_id: i64,
    collection: String,
    filling: Batch,
    in_flight: Option<tokio::task::JoinHandle<Result<(u64, String), ApiError>>>,
    /// Lines stored so far.
    imported: u64,
    /// The transaction of the last batch stored: the import's consistency token.
    last_txid: Option<String>,
}

impl BatchWriter {
    fn new(state: AppState, collection_id: i64, collection: String) -> Self {
        BatchWriter {
            state,
            collection_id,
            collection,
            filling: Batch::default(),
            in_flight: None,
            imported: 0,
            last_txid: None,
        }
    }

    async fn push(&mut self, id: String, body: String) -> Result<(), ApiError> {
        self.filling.push(id, body);
        if self.filling.len() >= BATCH_SIZE {
            self.flush().await?;
        }
        Ok(())
    }

    /// Waits for the batch in flight, if any.
    async fn settle(&mut self) -> Result<(), ApiError> {
        if let Some(task) = self.in_flight.take() {
            let (lines, txid) = task.await.map_err(ApiError::internal)??;
            self.imported += lines;
            self.last_txid = Some(txid);
            self.state.indexer.wake(self.collection_id);
            metrics::counter!("import_documents_total", "outcome" => "imported").increment(lines);
        }
        Ok(())
    }

    /// Sends the filling batch on its way once the previous one is stored.
    async fn flush(&mut self) -> Result<(), ApiError> {
        self.settle().await?;
        if self.filling.len() == 0 {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.filling);
        let (state, collection_id, collection) = (
            self.state.clone(),
            self.collection_id,
            self.collection.clone(),
        );
        self.in_flight = Some(tokio::spawn(async move {
            let txid = db::retry(|| {
                store::upsert_batch(&state.db, collection_id, &batch.ids, &batch.bodies)
            })
            .await
            .map_err(|error| {
                if is_foreign_key_violation(&error) {
                    ApiError::CollectionNotFound(collection)
                } else {
                    ApiError::from(error)
                }
            })?;
            let keys = batch
                .ids
                .iter()
                .map(|id| state.caches.keys.document(collection_id, id))
                .collect();
            state.caches.invalidate_documents(keys).await;
            Ok((batch.lines, txid))
        }));
        Ok(())
    }

    /// Stores what is left; returns the lines stored in all.
    async fn finish(&mut self) -> Result<u64, ApiError> {
        self.flush().await?;
        self.settle().await?;
        Ok(self.imported)
    }

    fn consistency_token(&self) -> Option<String> {
        self.last_txid.clone()
    }
}

/// One line of the body, as the decoder saw it.
enum Line {
    Text(String),
    /// Longer than the limit; the decoder skips to the next newline.
    TooLong,
    /// Not UTF-8; the line is consumed.
    NotUtf8,
}

/// `LinesCodec`, but with an over-long or non-UTF-8 line as an item rather than an
/// error: `FramedRead` ends the stream after a decoder error, which would drop every
/// line after the bad one.
struct NdjsonLines(LinesCodec);

impl NdjsonLines {
    fn map(
        result: Result<Option<String>, LinesCodecError>,
    ) -> Result<Option<Line>, LinesCodecError> {
        match result {
            Ok(line) => Ok(line.map(Line::Text)),
            Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(Line::TooLong)),
            // The codec's only I/O error is invalid UTF-8, raised after the line was
            // taken from the buffer; read errors come from the reader, not from here.
            Err(LinesCodecError::Io(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
                Ok(Some(Line::NotUtf8))
            }
            Err(error) => Err(error),
        }
    }
}

impl Decoder for NdjsonLines {
    type Item = Line;
    type Error = LinesCodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, LinesCodecError> {
        Self::map(self.0.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, LinesCodecError> {
        Self::map(self.0.decode_eof(buf))
    }
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            matches!(
                v.as_str(),
                "application/x-ndjson" | "application/jsonl" | "application/json-lines"
            )
        })
}

/// Import documents (NDJSON)
///
/// One JSON document per line (`Content-Type: application/x-ndjson`). Each document is
/// created or replaced by its `id` (generated when absent). Lines that are not valid
/// JSON objects or break the schema are reported and skipped; all others are stored.
/// The body is streamed, so its size has no limit, but each line must fit the body
/// limit. Safe to retry: importing the same lines twice leaves the same documents.
#[utoipa::path(
    post,
    path = "/v1/collections/{name}/documents:import",
    tag = "documents",
    params(("name" = String, Path, description = "Collection name", example = "products")),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One JSON document per line",
        example = "{\"id\": \"sku-1\", \"title\": \"Wireless headphones\", \"price\": 59.9}\n{\"id\": \"sku-2\", \"title\": \"USB-C cable\", \"price\": 9.5}\n"),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "What was imported and which lines failed", body = ImportReport),
        (status = 400, description = "`invalid_collection_name`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`", body = ErrorResponse,
            example = json!({"error": {"code": "unsupported_media_type", "message": "expected `Content-Type: application/x-ndjson`", "requestId": "0190f5c2-8d7e-7c1a-9a51-3f0e2b9d4c11"}})),
        (status = 503, description = "`database_unavailable`: batches stored before it stay stored; retrying the import is safe", body = ErrorResponse),
    )
)]
pub async fn import_documents(
    State(state): State<AppState>,
    CollectionPath(name): CollectionPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    if !is_ndjson(&headers) {
        return Err(ApiError::UnsupportedMediaType(
            "expected `Content-Type: application/x-ndjson`".into(),
        ));
    }
    let collection = load_collection(&state, &name).await?;
    let schema = CollectionSchema::from_stored(collection.fields.0);

    let reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let mut lines = FramedRead::new(
        reader,
        NdjsonLines(LinesCodec::new_with_max_length(state.config.body_limit)),
    );

    let mut report = ImportReport {
        imported: 0,
        failed: 0,
        errors: Vec::new(),
        consistency_token: None,
    };
    let mut writer = BatchWriter::new(state.clone(), collection.id, name.to_string());
    let mut line_number = 0u64;

    loop {
        let next = lines.try_next().await;
        line_number += 1;
        let line = match next {
            Ok(Some(Line::Text(line))) => line,
            Ok(None) => break,
            Ok(Some(Line::TooLong)) => {
                report.fail(
                    line_number,
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "the line is longer than the body limit ({} bytes)",
                        state.config.body_limit
                    ),
                );
                continue;
            }
            Ok(Some(Line::NotUtf8)) => {
                report.fail(
                    line_number,
                    ErrorCode::InvalidJson,
                    "the line is not valid UTF-8".into(),
                );
                continue;
            }
            Err(error) => {
                // The client went away or the body stream broke: store what arrived
                // whole, then report the failure.
                let imported = writer.finish().await?;
                tracing::warn!(collection = %name, error = %error, imported, "import body ended early");
                return Err(ApiError::InvalidRequestBody(format!(
                    "the request body could not be read to its end; {imported} documents were imported before it broke"
                )));
            }
        };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => {
                report.fail(line_number, ErrorCode::InvalidJson, error.to_string());
                continue;
            }
        };
        let (id, body, generated) = match document_identity(value, None) {
            Ok(identity) => identity,
            Err(error) => {
                report.fail(line_number, error.code(), error.to_string());
                continue;
            }
        };
        if let Err(message) = schema.validate_document(&body) {
            report.fail(line_number, ErrorCode::InvalidDocument, message);
            continue;
        }
        // The line already is the document's JSON unless an id had to be added.
        let json = if generated {
            Value::Object(body).to_string()
        } else {
            text.to_owned()
        };
        writer.push(id.into_string(), json).await?;
    }
    report.imported = writer.finish().await?;
    report.consistency_token = writer.consistency_token();
    metrics::counter!("import_documents_total", "outcome" => "failed").increment(report.failed);
    tracing::info!(collection = %name, imported = report.imported, failed = report.failed, "import finished");
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_duplicate_replaces_earlier_in_a_batch() {
        let mut batch = Batch::default();
        batch.push("a".into(), "1".into());
        batch.push("b".into(), "2".into());
        batch.push("a".into(), "3".into());
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.lines, 3);
        assert_eq!(batch.ids, vec!["a", "b"]);
        assert_eq!(batch.bodies, vec!["3", "2"]);
    }

    #[test]
    fn errors_are_listed_up_to_the_limit_and_all_counted() {
        let mut report = ImportReport {
            imported: 0,
            failed: 0,
            errors: Vec::new(),
            consistency_token: None,
        };
        for line in 0..150 {
            report.fail(line, ErrorCode::InvalidJson, "bad".into());
        }
        assert_eq!(report.failed, 150);
        assert_eq!(report.errors.len(), MAX_REPORTED_ERRORS);
    }
}
