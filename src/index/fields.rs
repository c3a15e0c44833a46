//! The tantivy schema of a collection, derived from its sift schema, and the
//! conversion of a stored document into an index document.
//!
//! Field names: `_id`, `_version` and `_source` are sift's; a declared field `f` is
//! `u_f`, a text field's type-ahead prefixes are `p_f` and its head (see
//! [`IndexFields::heads`]) `h_f`; a searchable keyword field's words are `s_f` (and its
//! prefixes and head as a text field's). The prefixes keep the name spaces apart whatever
//! users call their fields.

use std::collections::HashMap;

use rustc_hash::FxHashSet;
use serde_json::{Map, Value};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DateTime, TantivyDocument};

use crate::index::analysis::{self, TEXT_ANALYZER};
use crate::schema::{CollectionSchema, FieldType, Presence};

/// The sift fields of an index, by kind.
#[derive(Clone)]
pub struct IndexFields {
    pub schema: Schema,
    pub id: Field,
    pub version: Field,
    pub source: Field,
    /// Declared fields: name → (type, the field's tantivy field).
    pub declared: HashMap<String, (FieldType, Field)>,
    /// Fields `q` looks in: name → the analyzed (stemmed, with positions) field its
    /// words are matched in. A text field's is its declared field; a `searchable`
    /// keyword field's is a second field, `s_<name>`, beside the exact value that
    /// filters and facets read.
    pub searched: HashMap<String, Field>,
    /// Text fields with type-ahead (`typeAhead`, on by default): name → the prefix field.
    pub prefixes: HashMap<String, Field>,
    /// Text fields: name → the head field, a fast (columnar) string of the value's
    /// first [`HEAD_WORDS`] words, normalized, one space apart. Sorted, so the values
    /// equal to a query, or beginning with it, are one range of ordinals: the
    /// `exactness` rule tells with one column read per candidate whether a field *is*
    /// what was typed, or starts with it (a name typed up to its first words).
    pub heads: HashMap<String, Field>,
    /// Every word of every text field as written (normalized, not stemmed), once per
    /// document: the one dictionary typos are looked for in, so a misspelt word is
    /// compared with words rather than stems, in one pass rather than one per field.
    pub words: Field,
    /// The geo field, when the collection has one: its latitude and longitude as fast
    /// float fields (`g_<name>_lat`, `g_<name>_lng`), for bounding-box ranges, the exact
    /// distance check and sorting by distance.
    pub geo: Option<GeoFields>,
    /// What `EXISTS`, `IS NULL` and `IS EMPTY` filters look up: one marker per declared
    /// field a document has (`e:name`), holds `null` in (`n:name`) or holds `""`, `[]`
    /// or `{}` in (`m:name`), from [`Presence::marker`]. One small field for every check,
    /// where fast-field existence would cover only fast fields and never tell `null`.
    pub presence: Field,
    /// Character 1- to 3-grams of every text field, lower-cased, when the collection
    /// has `substringIndex`.
    pub grams: Option<Field>,
}

/// A geo field's two coordinates in the index.
#[derive(Clone, Debug)]
pub struct GeoFields {
    pub name: String,
    pub lat: Field,
    pub lng: Field,
}

/// The tantivy names of a geo field's latitude and longitude columns.
pub fn geo_fields(name: &str) -> (String, String) {
    let name = tantivy_name(name);
    (format!("g_{name}_lat"), format!("g_{name}_lng"))
}

/// The tantivy name of a declared field.
pub fn user_field(name: &str) -> String {
    format!("u_{}", tantivy_name(name))
}

/// The tantivy name of a searchable keyword field's analyzed words.
fn keyword_words_field(name: &str) -> String {
    format!("s_{}", tantivy_name(name))
}

fn prefix_field(name: &str) -> String {
    format!("p_{}", tantivy_name(name))
}

pub fn head_field(name: &str) -> String {
    format!("h_{}", tantivy_name(name))
}

/// A field path (`author.name`) with its dots as `-`: tantivy reads a dot in a name
/// as a step into a JSON field, and a user's name never holds a `-`.
fn tantivy_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains('.') {
        std::borrow::Cow::Owned(name.replace('.', "-"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Words of a text value kept in its head: queries are at most ten words, and the
/// start of a value is what this is for.
pub const HEAD_WORDS: usize = 8;

/// The index field of a document's id (a fast string column as well as stored).
pub const ID_FIELD: &str = "_id";

/// Ends a head whose value has more words than it keeps: no query word holds it, so
/// such a head never equals a query, yet still begins with one.
pub const HEAD_MORE: char = '\u{1}';

/// The head of a text value: its first [`HEAD_WORDS`] normalized words, one space
/// apart, then ` ` and [`HEAD_MORE`] when there are more.
pub fn head<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut head = String::new();
    for (n, word) in words.into_iter().enumerate() {
        if n > 0 {
            head.push(' ');
        }
        if n == HEAD_WORDS {
            head.push(HEAD_MORE);
            break;
        }
        head.push_str(word);
    }
    head
}

/// The normalized words of one text value in one buffer, so that building a document
/// allocates per value rather than per word (a review holds a hundred words or more,
/// and allocating was a third of the time spent building its index document).
struct ValueWords {
    /// The words one after the other.
    text: String,
    /// Where each word ends in `text`.
    ends: Vec<usize>,
}

impl ValueWords {
    fn of(normalizer: &mut TextAnalyzer, value: &str) -> ValueWords {
        let mut words = ValueWords {
            text: String::with_capacity(value.len()),
            ends: Vec::new(),
        };
        let mut stream = normalizer.token_stream(value);
        while tantivy::tokenizer::TokenStream::advance(&mut stream) {
            words
                .text
                .push_str(&tantivy::tokenizer::TokenStream::token(&stream).text);
            words.ends.push(words.text.len());
        }
        words
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(from, to)| &self.text[from..to])
    }
}

impl IndexFields {
    pub fn build(schema: &CollectionSchema, substring_index: bool) -> IndexFields {
        let mut builder = Schema::builder();
        let id = builder.add_text_field(ID_FIELD, STRING | STORED | FAST);
        let version = builder.add_u64_field("_version", STORED | FAST);
        let source = builder.add_text_field("_source", STORED);
        let mut declared = HashMap::new();
        let mut prefixes = HashMap::new();
        let mut heads = HashMap::new();
        let mut searched = HashMap::new();
        let mut geo = None;
        for field in schema.fields() {
            let name = user_field(&field.name);
            // The analyzed field of a searched field, with its prefixes (unless
            // type-ahead is off) and its head.
            let mut analyzed = |builder: &mut tantivy::schema::SchemaBuilder, tantivy: &str| {
                let indexing = TextFieldIndexing::default()
                    .set_tokenizer(TEXT_ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions);
                // Freqs and fieldnorms although each prefix is indexed once per
                // document: block-max WAND only prunes term scorers that read
                // freqs, and tantivy records a block maximum of zero for a field
                // without fieldnorms, which would make WAND skip real hits.
                let prefix_indexing = TextFieldIndexing::default()
                    .set_tokenizer("whitespace")
                    .set_index_option(IndexRecordOption::WithFreqs);
                if field.type_ahead {
                    prefixes.insert(
                        field.name.clone(),
                        builder.add_text_field(
                            &prefix_field(&field.name),
                            TextOptions::default().set_indexing_options(prefix_indexing),
                        ),
                    );
                }
                heads.insert(
                    field.name.clone(),
                    builder.add_text_field(&head_field(&field.name), FAST),
                );
                let handle = builder.add_text_field(
                    tantivy,
                    TextOptions::default().set_indexing_options(indexing),
                );
                searched.insert(field.name.clone(), handle);
                handle
            };
            let handle = match field.field_type {
                FieldType::Text => analyzed(&mut builder, &name),
                FieldType::Keyword => {
                    let exact = builder.add_text_field(&name, STRING | FAST);
                    if field.searchable {
                        analyzed(&mut builder, &keyword_words_field(&field.name));
                    }
                    exact
                }
                FieldType::Integer => builder.add_i64_field(&name, INDEXED | FAST),
                FieldType::Float => builder.add_f64_field(&name, INDEXED | FAST),
                FieldType::Bool => builder.add_bool_field(&name, INDEXED | FAST),
                FieldType::Datetime => builder.add_date_field(&name, INDEXED | FAST),
                FieldType::Geo => {
                    let (lat, lng) = geo_fields(&field.name);
                    let lat = builder.add_f64_field(&lat, INDEXED | FAST);
                    let lng = builder.add_f64_field(&lng, INDEXED | FAST);
                    geo = Some(GeoFields {
                        name: field.name.clone(),
                        lat,
                        lng,
                    });
                    lat
                }
            };
            declared.insert(field.name.clone(), (field.field_type, handle));
        }
        let words = builder.add_text_field(
            "_words",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("whitespace")
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::Basic),
            ),
        );
        let presence = builder.add_text_field("_presence", STRING);
        let grams = substring_index.then(|| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer("whitespace")
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic);
            builder.add_text_field(
                "_grams",
                TextOptions::default().set_indexing_options(indexing),
            )
        });
        IndexFields {
            schema: builder.build(),
            id,
            version,
            source,
            declared,
            searched,
            prefixes,
            heads,
            words,
            geo,
            presence,
            grams,
        }
    }

    /// The index document of a stored document. Values that do not fit their type
    /// (possible only for rows written with plain SQL, which skip validation) are left
    /// out of the index but kept in `_source`.
    pub fn document(
        &self,
        normalizer: &mut TextAnalyzer,
        id: &str,
        version: i64,
        body: &Map<String, Value>,
        source: &str,
    ) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, id);
        doc.add_u64(self.version, u64::try_from(version).unwrap_or(0));
        doc.add_text(self.source, source);
        let mut grams: Option<std::collections::HashSet<String>> =
            self.grams.map(|_| Default::default());
        // The words of each text value, with its field's prefix field (unless type-ahead
        // is off) and head: its prefixes and the words as written are added once every
        // value is read, since the sets of them borrow from these.
        let mut texts: Vec<(Option<Field>, Option<Field>, ValueWords)> = Vec::new();
        for (name, (field_type, field)) in &self.declared {
            let Some(value) = crate::schema::value_at(body, name) else {
                continue;
            };
            doc.add_text(self.presence, Presence::Exists.marker(name));
            let empty = match value {
                Value::Null => {
                    doc.add_text(self.presence, Presence::Null.marker(name));
                    false
                }
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            if empty {
                doc.add_text(self.presence, Presence::Empty.marker(name));
            }
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for value in values {
                if let (Some(words_field), Value::String(text)) = (self.searched.get(name), value) {
                    if words_field != field {
                        doc.add_text(*field, text);
                    }
                    doc.add_text(*words_field, text);
                    if let Some(grams) = grams.as_mut() {
                        add_grams(text, grams);
                    }
                    texts.push((
                        self.prefixes.get(name).copied(),
                        self.heads.get(name).copied(),
                        ValueWords::of(normalizer, text),
                    ));
                    continue;
                }
                match (field_type, value) {
                    (FieldType::Keyword, Value::String(text)) => doc.add_text(*field, text),
                    (FieldType::Integer, Value::Number(n)) => {
                        if let Some(n) = n.as_i64() {
                            doc.add_i64(*field, n)
                        }
                    }
                    (FieldType::Float, Value::Number(n)) => {
                        if let Some(n) = n.as_f64() {
                            doc.add_f64(*field, n)
                        }
                    }
                    (FieldType::Bool, Value::Bool(b)) => doc.add_bool(*field, *b),
                    (FieldType::Geo, point) => {
                        if let (Some((lat, lng)), Some(geo)) =
                            (crate::schema::geo_point(point), &self.geo)
                        {
                            doc.add_f64(geo.lat, lat);
                            doc.add_f64(geo.lng, lng);
                        }
                    }
                    (FieldType::Datetime, Value::String(text)) => {
                        if let Some(date) = parse_datetime(text) {
                            doc.add_date(*field, date)
                        }
                    }
                    _ => {}
                }
            }
        }
        // Fx rather than SipHash: these sets see every word and prefix of every document
        // indexed (SipHash was a fifth of the time spent building documents), and their
        // keys come from the collection's own text, not from a request.
        let mut all_words: FxHashSet<&str> = FxHashSet::default();
        for (prefix, head_field, words) in &texts {
            all_words.extend(words.iter());
            if let Some(prefix) = prefix {
                // A value's prefixes, once each: a prefix is a filter for type-ahead, how
                // often it occurs does not matter. One value of space-separated prefixes,
                // split again by the whitespace tokenizer: far cheaper than a value per
                // prefix.
                let mut seen: FxHashSet<&str> =
                    FxHashSet::with_capacity_and_hasher(words.ends.len() * 4, Default::default());
                let mut joined = String::with_capacity(words.text.len() * 4);
                for word in words.iter() {
                    for p in analysis::prefixes(word) {
                        if seen.insert(p) {
                            joined.push_str(p);
                            joined.push(' ');
                        }
                    }
                }
                doc.add_text(*prefix, joined);
            }
            if let Some(head_field) = head_field {
                doc.add_text(*head_field, head(words.iter()));
            }
        }
        if !all_words.is_empty() {
            let mut joined =
                String::with_capacity(all_words.iter().map(|w| w.len() + 1).sum::<usize>());
            for word in &all_words {
                joined.push_str(word);
                joined.push(' ');
            }
            doc.add_text(self.words, joined);
        }
        if let (Some(field), Some(grams)) = (self.grams, grams) {
            let joined: Vec<String> = grams.into_iter().collect();
            doc.add_text(field, joined.join(" "));
        }
        doc
    }
}

/// Longest character n-gram indexed for substring matching.
pub const MAX_GRAM: usize = 3;

/// The 1- to 3-grams of the whitespace-separated chunks of `text`, lower-cased. A query
/// word has no whitespace, so grams across it are never needed.
pub fn add_grams(text: &str, into: &mut std::collections::HashSet<String>) {
    for chunk in text.split_whitespace() {
        let chars: Vec<char> = chunk.chars().flat_map(char::to_lowercase).collect();
        for size in 1..=MAX_GRAM {
            for window in chars.windows(size) {
                into.insert(window.iter().collect());
            }
        }
    }
}

/// The grams a lower-cased query word needs: itself when short, else its trigrams.
pub fn query_grams(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= MAX_GRAM {
        return vec![word.to_owned()];
    }
    let mut grams: Vec<String> = chars
        .windows(MAX_GRAM)
        .map(|w| w.iter().collect())
        .collect();
    grams.sort();
    grams.dedup();
    grams
}

/// An RFC 3339 string as a tantivy date.
pub fn parse_datetime(text: &str) -> Option<DateTime> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(DateTime::from_timestamp_micros(parsed.timestamp_micros()))
}

/// A fingerprint of everything that shapes the index (fields, types, analyzers), kept in
/// the commit payload: an index whose fingerprint differs is rebuilt.
pub fn fingerprint(
    schema: &CollectionSchema,
    stop_words: Option<&[String]>,
    substring_index: bool,
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    // The version of how text is analyzed: v8 cuts Chinese, Japanese and Korean into
    // pairs of characters, so an index built before is rebuilt once.
    hasher.update(b"sift-index-v8\n");
    for field in schema.fields() {
        hasher.update(format!("{}:{:?}", field.name, field.field_type).as_bytes());
        // Added only when off, so that existing indexes keep their fingerprint.
        if !field.type_ahead {
            hasher.update(b":no-type-ahead");
        }
        if field.searchable {
            hasher.update(b":searchable");
        }
        hasher.update(b"\n");
    }
    hasher.update(format!("stop:{stop_words:?}\n").as_bytes());
    hasher.update(format!("grams:{substring_index}\n").as_bytes());
    hasher.update(
        format!(
            "prefix:{}-{}\n",
            analysis::MIN_PREFIX_CHARS,
            analysis::MAX_PREFIX_CHARS
        )
        .as_bytes(),
    );
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::Value as _;

    fn values(doc: &TantivyDocument, field: Field) -> Vec<String> {
        doc.get_all(field)
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    /// The index document of `body` (id `d1`, version 1).
    fn document_of(fields: &IndexFields, body: &serde_json::Value) -> TantivyDocument {
        let body = body.as_object().expect("object");
        fields.document(
            &mut analysis::normalizer(),
            "d1",
            1,
            body,
            &Value::Object(body.clone()).to_string(),
        )
    }

    fn sorted_words(value: &str) -> Vec<&str> {
        let mut words: Vec<&str> = value.split_whitespace().collect();
        words.sort_unstable();
        words
    }

    #[test]
    fn a_text_value_gives_its_prefixes_once_its_head_and_its_words_as_written() {
        let fields = serde_json::from_value(serde_json::json!([
            {"name": "title", "type": "text"},
            {"name": "tags", "type": "text"}
        ]))
        .expect("fields");
        let schema = CollectionSchema::parse(fields).expect("schema");
        let index_fields = IndexFields::build(&schema, false);
        let doc = document_of(
            &index_fields,
            &serde_json::json!({"title": "Kettle kettles, KETTLE!", "tags": ["Red lamp", "red"]}),
        );

        let title_prefixes = values(&doc, index_fields.prefixes["title"]);
        assert_eq!(title_prefixes.len(), 1);
        assert_eq!(
            sorted_words(&title_prefixes[0]),
            ["k", "ke", "ket", "kett", "kettl", "kettle", "kettles"]
        );
        // Each value of a list has its own prefixes.
        let tag_prefixes = values(&doc, index_fields.prefixes["tags"]);
        assert_eq!(tag_prefixes.len(), 2);
        assert_eq!(
            sorted_words(&tag_prefixes[0]),
            ["l", "la", "lam", "lamp", "r", "re", "red"]
        );
        assert_eq!(sorted_words(&tag_prefixes[1]), ["r", "re", "red"]);

        assert_eq!(
            values(&doc, index_fields.heads["title"]),
            ["kettle kettles kettle"]
        );
        assert_eq!(
            values(&doc, index_fields.heads["tags"]),
            ["red lamp", "red"]
        );

        // The words as written, once each across the document's text fields.
        let words = values(&doc, index_fields.words);
        assert_eq!(words.len(), 1);
        assert_eq!(
            sorted_words(&words[0]),
            ["kettle", "kettles", "lamp", "red"]
        );
    }

    #[test]
    fn a_text_field_with_type_ahead_off_has_no_prefixes_but_its_words_and_head() {
        let fields = serde_json::from_value(serde_json::json!([
            {"name": "title", "type": "text"},
            {"name": "body", "type": "text", "typeAhead": false}
        ]))
        .expect("fields");
        let schema = CollectionSchema::parse(fields).expect("schema");
        let index_fields = IndexFields::build(&schema, false);
        assert!(index_fields.prefixes.contains_key("title"));
        assert!(!index_fields.prefixes.contains_key("body"));
        let doc = document_of(
            &index_fields,
            &serde_json::json!({"title": "Lamp", "body": "Brass lamps"}),
        );
        assert_eq!(
            sorted_words(&values(&doc, index_fields.words)[0]),
            ["brass", "lamp", "lamps"]
        );
        assert_eq!(values(&doc, index_fields.heads["body"]), ["brass lamps"]);
        // Another fingerprint: an index built with prefixes is rebuilt without them.
        let all_on = CollectionSchema::parse(
            serde_json::from_value(serde_json::json!([
                {"name": "title", "type": "text"},
                {"name": "body", "type": "text"}
            ]))
            .expect("fields"),
        )
        .expect("schema");
        assert_ne!(
            fingerprint(&schema, None, false),
            fingerprint(&all_on, None, false)
        );
    }

    #[test]
    fn a_searchable_keyword_value_keeps_its_exact_value_and_gets_words_like_text() {
        let parse = |value: serde_json::Value| {
            CollectionSchema::parse(serde_json::from_value(value).expect("fields")).expect("schema")
        };
        let schema = parse(serde_json::json!([
            {"name": "title", "type": "text"},
            {"name": "genre", "type": "keyword", "searchable": true},
            {"name": "shelf", "type": "keyword"}
        ]));
        let index_fields = IndexFields::build(&schema, false);
        let (_, exact) = index_fields.declared["genre"];
        let words_field = index_fields.searched["genre"];
        assert_ne!(exact, words_field, "the exact value and the words apart");
        assert_eq!(
            index_fields.searched["title"], index_fields.declared["title"].1,
            "a text field's words are its own field"
        );
        assert!(!index_fields.searched.contains_key("shelf"));
        let doc = document_of(
            &index_fields,
            &serde_json::json!({"title": "Dune", "genre": ["Science-Fiction", "classic"], "shelf": "B-2"}),
        );
        assert_eq!(values(&doc, exact), ["Science-Fiction", "classic"]);
        assert_eq!(values(&doc, words_field), ["Science-Fiction", "classic"]);
        assert_eq!(
            values(&doc, index_fields.heads["genre"]),
            ["science fiction", "classic"]
        );
        assert!(values(&doc, index_fields.prefixes["genre"])[0].contains("scien "));
        assert_eq!(
            sorted_words(&values(&doc, index_fields.words)[0]),
            ["classic", "dune", "fiction", "science"],
            "a searchable keyword's words are typo candidates; a plain keyword's are not"
        );
        // Turning `searchable` on or off rebuilds the index.
        let plain = parse(serde_json::json!([
            {"name": "title", "type": "text"},
            {"name": "genre", "type": "keyword"},
            {"name": "shelf", "type": "keyword"}
        ]));
        assert_ne!(
            fingerprint(&schema, None, false),
            fingerprint(&plain, None, false)
        );
    }

    #[test]
    fn a_head_keeps_the_first_words_and_marks_that_more_follow() {
        let words = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        assert_eq!(head(words[..2].iter().copied()), "a b");
        assert_eq!(
            head(words.iter().copied()),
            format!("a b c d e f g h {HEAD_MORE}")
        );
    }
}
