//! Bulk import: NDJSON, a JSON array, or CSV.
//!
//! The body is read as a stream of documents (lines, array elements or CSV rows),
//! never held whole in memory: each is parsed and validated on arrival, and the valid documents go to PostgreSQL in
//! batches, each batch one multi-row upsert (one transaction). A bad line is reported
//! and skipped; it never stops the good ones. Imports are upserts, so running the same
//! import again is safe.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, TryStreamExt};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;
use tracing::Instrument;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, ErrorCode};
use crate::schema::{CollectionName, CollectionSchema, FieldType, document_identity, truncate};
use crate::state::App;
use crate::store::collections::{CollectionRecord, FieldsGuard};
use crate::store::documents::{self as store, Guarded};

/// Documents per upsert statement: large enough to amortise the round trip and the
/// commit, small enough that a batch's parameters stay a few megabytes.
pub const BATCH_SIZE: usize = 1000;
/// Line errors listed in the response; the rest are only counted.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// The body formats an import takes, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// One JSON object a line (`application/x-ndjson`).
    Ndjson,
    /// One JSON array of objects (`application/json`).
    JsonArray,
    /// A header row naming the fields, then one document a row (`text/csv`).
    Csv,
}

/// One line that was not imported.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportLineError {
    /// 1-based: the line (NDJSON, and CSV where the row starts) or the element of the
    /// array (JSON).
    pub line: u64,
    /// The document's id, when the failed document has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
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
        self.fail_with_id(line, None, code, message);
    }

    fn fail_with_id(&mut self, line: u64, id: Option<String>, code: ErrorCode, message: String) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(ImportLineError {
                line,
                id,
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
    collection: CollectionName,
    /// The fields the lines were checked against: a batch is stored only while they
    /// are still the collection's.
    guard: FieldsGuard,
    filling: Batch,
    in_flight: Option<tokio::task::JoinHandle<Result<(u64, String), ApiError>>>,
    /// Lines stored so far.
    imported: u64,
    /// The transaction of the last batch stored: the import's consistency token.
    last_txid: Option<String>,
}

impl BatchWriter {
    fn new(state: Arc<App>, name: &CollectionName, collection: &CollectionRecord) -> Self {
        BatchWriter {
            state,
            collection_id: collection.id,
            collection: name.clone(),
            guard: collection.stored_fields.clone(),
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
        let (state, collection_id, collection, guard, imported) = (
            self.state.clone(),
            self.collection_id,
            self.collection.clone(),
            self.guard.clone(),
            self.imported,
        );
        self.in_flight = Some(tokio::spawn(
            async move {
                let written = db::retry(|| {
                    store::upsert_batch(
                        &state.db,
                        collection_id,
                        &guard,
                        &batch.ids,
                        &batch.bodies,
                    )
                })
                .await?;
                let Guarded::Written(txid) = written else {
                    // The fields changed (or the collection went) since the lines were
                    // checked: stop here rather than store documents checked against
                    // fields the collection no longer has.
                    state.collection(&collection).await?;
                    return Err(ApiError::FieldsChanged(format!(
                        "the fields of collection `{collection}` changed during the import; {imported} documents were imported before it stopped (an import replaces documents by id, so sending it again is safe)"
                    )));
                };
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

/// One document of the body, as the decoder saw it.
enum Line {
    Text(String),
    /// Longer than the limit; the decoder skips to the next newline.
    TooLong,
    /// Not UTF-8; the line is consumed.
    NotUtf8,
    /// Not a document, with what is wrong (a broken array, a CSV cell of the wrong type).
    Invalid(String),
}

/// What the readers of every format hand the import: a document, with its line number
/// when the format knows it better than a count (a CSV row may span lines).
type Item = Result<(Option<u64>, Line), std::io::Error>;

/// The elements of a JSON array body, one at a time. serde_json parses whole values,
/// so an array of a million documents would be held whole: this finds the top-level
/// element boundaries (tracking strings, escapes and nesting) and hands each element's
/// text on, to be parsed like an NDJSON line. Written by hand: no crate found streams
/// the elements of an async body.
struct JsonArrayElements {
    max: usize,
    state: ArrayState,
    /// Inside an element: bytes of it already scanned, nesting, string and escape state.
    scanned: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The element grew past `max`: its bytes are dropped as they are scanned.
    too_long: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    Start,
    BeforeElement,
    InElement,
    AfterElement,
    End,
    Broken,
}

impl JsonArrayElements {
    fn new(max: usize) -> Self {
        JsonArrayElements {
            max,
            state: ArrayState::Start,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            too_long: false,
        }
    }

    fn skip_whitespace(buf: &mut BytesMut) {
        let blank = buf
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            .count();
        let _ = buf.split_to(blank);
    }

    fn broken(&mut self, buf: &mut BytesMut, message: &str) -> Option<Line> {
        self.state = ArrayState::Broken;
        buf.clear();
        Some(Line::Invalid(message.to_owned()))
    }

    /// Where the element being scanned ends in `buf` (exclusive), if it does.
    fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        while self.scanned < buf.len() {
            let at = self.scanned;
            let byte = buf[at];
            self.scanned += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Some(self.scanned);
                    }
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth == 0 => {
                    // The array's own `]` after a bare value.
                    self.scanned = at;
                    return Some(at);
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(self.scanned);
                    }
                }
                b',' if self.depth == 0 => {
                    self.scanned = at;
                    return Some(at);
                }
                _ => {}
            }
        }
        None
    }
}

impl Decoder for JsonArrayElements {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        loop {
            match self.state {
                ArrayState::Start => {
                    Self::skip_whitespace(buf);
                    match buf.first() {
                        None => return Ok(None),
                        Some(b'[') => {
                            let _ = buf.split_to(1);
                            self.state = ArrayState::BeforeElement;
                        }
                        Some(_) => {
                            return Ok(self.broken(
                                buf,
                                "the body is not a JSON array: it must start with `[` (or send `Content-Type: application/x-ndjson`)",
                            ));
                        }
                    }
                }
                ArrayState::BeforeElement => {
                    Self::skip_whitespace(buf);
                    match buf.first() {
                        None => return Ok(None),
                        Some(b']') => {
                            let _ = buf.split_to(1);
                            self.state = ArrayState::End;
                        }
                        Some(_) => {
                            self.state = ArrayState::InElement;
                            self.scanned = 0;
                            self.depth = 0;
                            self.in_string = false;
                            self.escaped = false;
                            self.too_long = false;
                        }
                    }
                }
                ArrayState::InElement => match self.scan(buf) {
                    Some(end) => {
                        let element = buf.split_to(end);
                        self.state = ArrayState::AfterElement;
                        if self.too_long {
                            return Ok(Some(Line::TooLong));
                        }
                        return Ok(Some(match String::from_utf8(element.to_vec()) {
                            Ok(text) => Line::Text(text),
                            Err(_) => Line::NotUtf8,
                        }));
                    }
                    None => {
                        if self.scanned > self.max {
                            // Keep the state, drop the bytes.
                            let _ = buf.split_to(self.scanned);
                            self.scanned = 0;
                            self.too_long = true;
                        }
                        return Ok(None);
                    }
                },
                ArrayState::AfterElement => {
                    Self::skip_whitespace(buf);
                    match buf.first() {
                        None => return Ok(None),
                        Some(b',') => {
                            let _ = buf.split_to(1);
                            self.state = ArrayState::BeforeElement;
                        }
                        Some(b']') => {
                            let _ = buf.split_to(1);
                            self.state = ArrayState::End;
                        }
                        Some(_) => {
                            return Ok(self
                                .broken(buf, "expected `,` or `]` after an element of the array"));
                        }
                    }
                }
                ArrayState::End => {
                    Self::skip_whitespace(buf);
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(self.broken(buf, "text after the array's closing `]`"));
                }
                ArrayState::Broken => {
                    buf.clear();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        match self.state {
            // An empty body imports nothing.
            ArrayState::Start | ArrayState::End | ArrayState::Broken => Ok(None),
            _ => Ok(self.broken(buf, "the body ended inside the array (no closing `]`)")),
        }
    }
}

/// Reads CSV rows from `reader` (blocking) and sends each as a document's JSON text,
/// cells typed by the schema (an empty cell leaves the field out; undeclared columns,
/// `id` included, are strings). Runs on the blocking pool: the `csv` crate reads
/// `std::io::Read`.
fn read_csv(
    reader: impl std::io::Read,
    schema: CollectionSchema,
    sender: tokio::sync::mpsc::Sender<Item>,
) {
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let headers = match rows.headers() {
        Ok(headers) => headers.clone(),
        Err(error) => {
            let item = match error.into_kind() {
                csv::ErrorKind::Io(error) => Err(error),
                other => Ok((
                    Some(1),
                    Line::Invalid(format!("the header row cannot be read: {other:?}")),
                )),
            };
            let _ = sender.blocking_send(item);
            return;
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = rows.position().line();
        let item = match rows.read_record(&mut record) {
            Ok(false) => return,
            Ok(true) => Ok((Some(line), csv_document(&headers, &record, &schema))),
            Err(error) => match error.into_kind() {
                csv::ErrorKind::Io(error) => Err(error),
                csv::ErrorKind::Utf8 { .. } => Ok((Some(line), Line::NotUtf8)),
                other => Ok((
                    Some(line),
                    Line::Invalid(format!("the row cannot be read: {other:?}")),
                )),
            },
        };
        let stop = item.is_err();
        if sender.blocking_send(item).is_err() || stop {
            return;
        }
    }
}

/// One CSV row as a document's JSON text, or what is wrong with it.
fn csv_document(
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
    schema: &CollectionSchema,
) -> Line {
    // A cell the schema's type refuses fails the row, saying what was expected.
    let refused = |name: &str, cell: &str, expected: &str| {
        Line::Invalid(format!(
            "column `{}`: `{}` is not {expected}",
            truncate(name, 64),
            truncate(cell, 64)
        ))
    };
    let mut document = Map::new();
    for (name, cell) in headers.iter().zip(record.iter()) {
        if cell.is_empty() || name.is_empty() {
            continue;
        }
        let value = match schema.field(name).map(|f| f.field_type) {
            Some(FieldType::Integer) => match cell.trim().parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return refused(name, cell, "an integer (e.g. 42)"),
            },
            Some(FieldType::Float) => {
                match cell
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    Some(n) => Value::Number(n),
                    None => return refused(name, cell, "a number (e.g. 9.5)"),
                }
            }
            Some(FieldType::Bool) => match cell.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return refused(name, cell, "a boolean (true or false)"),
            },
            Some(FieldType::Geo) => {
                let point: Vec<f64> = cell
                    .split(',')
                    .filter_map(|n| n.trim().parse::<f64>().ok())
                    .collect();
                match point.as_slice() {
                    [lat, lng] => serde_json::json!({"lat": lat, "lng": lng}),
                    _ => return refused(name, cell, "a point as `lat,lng` (e.g. 48.85,2.35)"),
                }
            }
            _ => Value::String(cell.to_owned()),
        };
        // `author.name` fills the object `author`, for fields declared by dot path.
        if !crate::schema::insert_at(&mut document, name, value) {
            return Line::Invalid(format!(
                "column `{}` clashes with another: a column `a` and a column `a.b` can't both be filled",
                truncate(name, 64)
            ));
        }
    }
    Line::Text(Value::Object(document).to_string())
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
    /// Imports `body` (in `format`) into collection `name`, document by document.
    #[tracing::instrument(name = "import", skip_all, fields(collection = %name, format = ?format))]
    pub async fn import<E>(
        self: &Arc<Self>,
        name: &CollectionName,
        format: ImportFormat,
        body: impl Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
    ) -> Result<ImportReport, ApiError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let collection = self.collection(name).await?;
        let schema = &collection.schema;

        let reader = StreamReader::new(body.map_err(std::io::Error::other));
        let limit = self.config.body_limit;
        let mut lines: std::pin::Pin<Box<dyn Stream<Item = Item> + Send>> = match format {
            ImportFormat::Ndjson => Box::pin(
                FramedRead::new(reader, NdjsonLines(LinesCodec::new_with_max_length(limit)))
                    .map_ok(|line| (None, line))
                    .map_err(|error| match error {
                        LinesCodecError::Io(error) => error,
                        other => std::io::Error::other(other),
                    }),
            ),
            ImportFormat::JsonArray => Box::pin(
                FramedRead::new(reader, JsonArrayElements::new(limit)).map_ok(|line| (None, line)),
            ),
            ImportFormat::Csv => {
                let (sender, receiver) = tokio::sync::mpsc::channel(64);
                let bridge = tokio_util::io::SyncIoBridge::new(reader);
                let schema = schema.clone();
                tokio::task::spawn_blocking(move || read_csv(bridge, schema, sender));
                Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
            }
        };

        let mut report = ImportReport {
            imported: 0,
            failed: 0,
            errors: Vec::new(),
            consistency_token: None,
        };
        let mut writer = BatchWriter::new(self.clone(), name, &collection);
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
            let next = next.map(|item| {
                item.map(|(number, line)| {
                    if let Some(number) = number {
                        line_number = number;
                    }
                    line
                })
            });
            let line = match next {
                Ok(Some(Line::Text(line))) => line,
                Ok(Some(Line::Invalid(message))) => {
                    report.fail(line_number, ErrorCode::InvalidJson, message);
                    continue;
                }
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
        self.refresh_planner_statistics(report.imported);
        Ok(report)
    }

    /// After imports have written many rows, has PostgreSQL's planner statistics of
    /// `documents` refreshed (`ANALYZE`, in a background task, one at a time), as
    /// autovacuum would, but now and whether or not it runs: a collection imported into
    /// a table the planner takes for nearly empty gets plans that read every row (a
    /// deep page of the document listing sorted all 822,679 PyPI documents: 1.3 s
    /// instead of 31 ms; `engine=fts` and `ilike` are planned the same way). Due when
    /// the rows imported since the last run reach [`ANALYZE_AFTER_ROWS`] plus
    /// [`ANALYZE_AFTER_FRACTION`] of the rows the planner knows of: a few runs over a
    /// large import (each samples 30,000 rows: 0.5 s at 822,679 documents).
    fn refresh_planner_statistics(self: &Arc<Self>, imported: u64) {
        use std::sync::atomic::Ordering;
        let written = self
            .planner_statistics
            .imported_since
            .fetch_add(imported, Ordering::Relaxed)
            + imported;
        if written < ANALYZE_AFTER_ROWS
            || self
                .planner_statistics
                .analyzing
                .swap(true, Ordering::AcqRel)
        {
            return;
        }
        let app = self.clone();
        self.background.spawn(
            async move {
                match store::analyze_documents_if_due(
                    &app.db,
                    written,
                    ANALYZE_AFTER_ROWS,
                    ANALYZE_AFTER_FRACTION,
                )
                .await
                {
                    Ok(true) => {
                        // Rows imported while it ran count towards the next one.
                        app.planner_statistics
                            .imported_since
                            .fetch_sub(written, Ordering::Relaxed);
                        tracing::info!(written, "refreshed the planner statistics of documents");
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot refresh the planner statistics of documents");
                    }
                }
                app.planner_statistics.analyzing.store(false, Ordering::Release);
            }
            .in_current_span(),
        );
    }
}

/// Rows imported before `documents` is analyzed again, at least.
const ANALYZE_AFTER_ROWS: u64 = 50_000;
/// And this share of the rows the planner counted at the last `ANALYZE`.
const ANALYZE_AFTER_FRACTION: f64 = 0.2;

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
    let named = value
        .get("id")
        .and_then(Value::as_str)
        .map(|id| truncate(id, 128).to_owned());
    let checked = document_identity(value, None).and_then(|(id, body, generated)| {
        schema.validate_document(&body)?;
        Ok((id, body, generated))
    });
    let (id, body, generated) = match checked {
        Ok(identity) => identity,
        Err(error) => {
            let error = ApiError::from(error);
            report.fail_with_id(line_number, named, error.code(), error.to_string());
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
                Line::TooLong | Line::NotUtf8 | Line::Invalid(_) => None,
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
            fn a_json_array_in_any_chunks_gives_back_its_elements(
                elements in prop::collection::vec(json(), 0..8),
                pretty in any::<bool>(),
                cuts in prop::collection::vec(1usize..16, 0..40),
            ) {
                let array = Value::Array(elements.clone());
                let body = if pretty {
                    serde_json::to_vec_pretty(&array).expect("JSON")
                } else {
                    serde_json::to_vec(&array).expect("JSON")
                };
                let mut decoder = JsonArrayElements::new(1 << 20);
                let mut buffer = BytesMut::new();
                let mut found = Vec::new();
                let mut rest = body.as_slice();
                for cut in cuts.into_iter().chain(std::iter::once(usize::MAX)) {
                    let (head, tail) = rest.split_at(cut.min(rest.len()));
                    rest = tail;
                    buffer.extend_from_slice(head);
                    while let Some(line) = decoder.decode(&mut buffer).expect("no error") {
                        found.push(line);
                    }
                }
                while let Some(line) = decoder.decode_eof(&mut buffer).expect("no error") {
                    found.push(line);
                }
                prop_assert_eq!(found.len(), elements.len());
                for (line, element) in found.into_iter().zip(&elements) {
                    match line {
                        Line::Text(text) => {
                            // Both through the same parse: serde_json's float parsing
                            // is not an exact round trip.
                            let parsed: Value = serde_json::from_str(&text).expect("an element");
                            let expected: Value =
                                serde_json::from_str(&element.to_string()).expect("JSON");
                            prop_assert_eq!(parsed.to_string(), expected.to_string());
                        }
                        _ => prop_assert!(false, "not an element"),
                    }
                }
            }

            #[test]
            fn any_bytes_as_a_json_array_decode_without_error(
                body in prop::collection::vec(prop_oneof![
                    Just(b'['), Just(b']'), Just(b'{'), Just(b'}'), Just(b','), Just(b'"'),
                    Just(b'\\'), Just(b' '), any::<u8>()
                ], 0..300),
                cut in 1usize..32,
            ) {
                let mut decoder = JsonArrayElements::new(64);
                let mut buffer = BytesMut::new();
                for chunk in body.chunks(cut) {
                    buffer.extend_from_slice(chunk);
                    while decoder.decode(&mut buffer).expect("no error").is_some() {}
                }
                while decoder.decode_eof(&mut buffer).expect("no error").is_some() {}
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
