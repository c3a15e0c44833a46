//! Bulk NDJSON import.
//!
//! The body is read as a stream of lines, never held whole in memory: each line is
//! parsed and validated on arrival, and the valid documents go to PostgreSQL in
//! batches, each batch one multi-row upsert (one transaction). A bad line is reported
//! and skipped; it never stops the good ones. Imports are upserts, so running the same
//! import again is safe.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, TryStreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;
use tracing::Instrument;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ErrorCode};
use crate::schema::{CollectionName, CollectionSchema, document_identity};
use crate::state::App;
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
    state: Arc<App>,
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
    fn new(state: Arc<App>, collection_id: i64, collection: String) -> Self {
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
        self.in_flight = Some(tokio::spawn(
            async move {
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
                state
                    .after_write(collection_id, batch.ids.iter().map(String::as_str), &txid)
                    .await;
                Ok((batch.lines, txid))
            }
            .in_current_span(),
        ));
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

impl App {
    /// Imports the NDJSON `body` into collection `name`, line by line.
    #[tracing::instrument(name = "import", skip_all, fields(collection = %name))]
    pub async fn import<E>(
        self: &Arc<Self>,
        name: &CollectionName,
        body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    ) -> Result<ImportReport, ApiError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let collection = self.collection(name).await?;
        let schema = &collection.schema;

        let reader = StreamReader::new(body.map_err(std::io::Error::other));
        let mut lines = FramedRead::new(
            reader,
            NdjsonLines(LinesCodec::new_with_max_length(self.config.body_limit)),
        );

        let mut report = ImportReport {
            imported: 0,
            failed: 0,
            errors: Vec::new(),
            consistency_token: None,
        };
        let mut writer = BatchWriter::new(self.clone(), collection.id, name.to_string());
        let mut line_number = 0u64;

        loop {
            // Imports have no overall timeout (a large one takes minutes), but a body that
            // stops arriving must not hold a connection and a batch for ever.
            let Ok(next) =
                tokio::time::timeout(self.config.body_idle_timeout, lines.try_next()).await
            else {
                let imported = writer.finish().await?;
                tracing::warn!(imported, "import body stalled");
                return Err(ApiError::BodyStalled(format!(
                    "no part of the request body arrived for {} s; {imported} documents were imported before it stalled",
                    self.config.body_idle_timeout.as_secs()
                )));
            };
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
                            self.config.body_limit
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
                    tracing::warn!(error = %error, imported, "import body ended early");
                    return Err(ApiError::InvalidRequestBody(format!(
                        "the request body could not be read to its end; {imported} documents were imported before it broke"
                    )));
                }
            };
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            // A line that is one JSON string holds NDJSON text: what Swagger UI (and
            // other tools) send for a text example of a JSON-like media type. A string
            // is never a document, so reading it as the lines it holds loses nothing.
            if text.starts_with('"')
                && let Ok(Value::String(inner)) = serde_json::from_str::<Value>(text)
            {
                let mut inner_lines = inner.lines().peekable();
                while let Some(inner_line) = inner_lines.next() {
                    if let Some((id, json)) =
                        parse_line(schema, inner_line, line_number, &mut report)
                    {
                        writer.push(id, json).await?;
                    }
                    if inner_lines.peek().is_some() {
                        line_number += 1;
                    }
                }
                continue;
            }
            if let Some((id, json)) = parse_line(schema, text, line_number, &mut report) {
                writer.push(id, json).await?;
            }
        }
        report.imported = writer.finish().await?;
        report.consistency_token = writer.consistency_token();
        metrics::counter!("import_documents_total", "outcome" => "failed").increment(report.failed);
        tracing::info!(
            imported = report.imported,
            failed = report.failed,
            "import finished"
        );
        Ok(report)
    }
}

/// One line of an import: the document's id and JSON, or `None` with the failure
/// recorded in `report`.
fn parse_line(
    schema: &CollectionSchema,
    line: &str,
    line_number: u64,
    report: &mut ImportReport,
) -> Option<(String, String)> {
    let text = line.trim();
    if text.is_empty() {
        return None;
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => {
            report.fail(line_number, ErrorCode::InvalidJson, error.to_string());
            return None;
        }
    };
    let checked = document_identity(value, None).and_then(|(id, body, generated)| {
        schema.validate_document(&body)?;
        Ok((id, body, generated))
    });
    let (id, body, generated) = match checked {
        Ok(identity) => identity,
        Err(error) => {
            let error = ApiError::from(error);
            report.fail(line_number, error.code(), error.to_string());
            return None;
        }
    };
    // The line already is the document's JSON unless an id had to be added.
    let json = if generated {
        Value::Object(body).to_string()
    } else {
        text.to_owned()
    };
    Some((id.into_string(), json))
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

    /// Fuzzing the NDJSON line parser: any bytes, cut into any chunks, and any JSON.
    mod properties {
        use super::*;
        use crate::schema::{CollectionSchema, FieldDefinition};
        use proptest::prelude::*;

        /// Runs the decoder over `chunks` as the body would arrive; the lines it gives.
        fn decode(chunks: &[Vec<u8>], limit: usize) -> Vec<Option<String>> {
            let mut codec = NdjsonLines(LinesCodec::new_with_max_length(limit));
            let mut buffer = BytesMut::new();
            let mut lines = Vec::new();
            let take = |line: Line| match line {
                Line::Text(text) => Some(text),
                Line::TooLong | Line::NotUtf8 => None,
            };
            for chunk in chunks {
                buffer.extend_from_slice(chunk);
                while let Some(line) = codec.decode(&mut buffer).expect("no decoder error") {
                    lines.push(take(line));
                }
            }
            while let Some(line) = codec.decode_eof(&mut buffer).expect("no decoder error") {
                lines.push(take(line));
            }
            lines
        }

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                Just(serde_json::json!(1.7976931348623157e308)),
                Just(serde_json::json!(-0.0)),
                "\\PC{0,10}".prop_map(Value::String),
                Just(Value::String("a\u{0}b".into())),
            ];
            leaf.prop_recursive(8, 64, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("id".to_owned()),
                            Just("title".to_owned()),
                            Just("price".to_owned()),
                            Just("tags".to_owned()),
                            "\\PC{0,6}",
                        ],
                        inner,
                        0..6
                    )
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        fn schema() -> CollectionSchema {
            let fields: Vec<FieldDefinition> = serde_json::from_value(serde_json::json!([
                {"name": "title", "type": "text"},
                {"name": "price", "type": "float", "filterable": true},
                {"name": "tags", "type": "keyword"},
                {"name": "when", "type": "datetime", "sortable": true}
            ]))
            .expect("fields");
            CollectionSchema::parse(fields).expect("schema")
        }

        proptest! {
            #[test]
            fn any_bytes_in_any_chunks_decode_without_error(
                body in prop::collection::vec(any::<u8>(), 0..600),
                cuts in prop::collection::vec(1usize..64, 0..20),
            ) {
                let mut chunks = Vec::new();
                let mut rest = body.as_slice();
                for cut in cuts {
                    let (head, tail) = rest.split_at(cut.min(rest.len()));
                    chunks.push(head.to_vec());
                    rest = tail;
                }
                chunks.push(rest.to_vec());
                let lines = decode(&chunks, 64);
                // One item per newline, plus an unterminated last line.
                let newlines = body.iter().filter(|b| **b == b'\n').count();
                prop_assert!(lines.len() == newlines || lines.len() == newlines + 1);
            }

            #[test]
            fn the_line_checks_take_or_refuse_any_json(value in json()) {
                let line = value.to_string();
                if let Ok(value) = serde_json::from_str::<Value>(&line)
                    && let Ok((_, body, _)) = document_identity(value, None)
                {
                    let _ = schema().validate_document(&body);
                }
            }
        }
    }
}
