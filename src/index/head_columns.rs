//! Each segment's head columns (the fast string column of every text field's head, see
//! [`IndexFields::heads`](crate::index::fields::IndexFields::heads)) and its id column,
//! opened once per segment and kept while it lives.
//!
//! Why keep them: opening a string column decodes its index (the blocks of its
//! ordinals' codec, with their allocations), and the `exactness` rule and the tie-break
//! opened every text field's head column on every search, about 5% of a typo query's
//! time on 822,679 packages, for columns that never change while the segment lives
//! (deletes leave a segment's columns as they are). An open column is a few `Arc`s:
//! handing out a clone costs nothing.
//!
//! Each head column also keeps its values' byte lengths, by ordinal: the tie-break
//! orders tied documents by the length of their heads, and reading a value's bytes
//! decodes a block of the column's dictionary, once per tied document (about 6% of a
//! search's time on 822,679 packages, more on known-item queries, where clones of one
//! summary tie). The lengths are read off one pass over the dictionary when the segment
//! is first seen: two bytes a distinct head (about 1.6 MB per field for those packages).

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::columnar::StrColumn;
use tantivy::{Searcher, SearcherGeneration, SegmentReader, Warmer};

use crate::index::fields::{ID_FIELD, head_field};
use crate::index::per_segment::PerSegment;

/// One text field's head column in one segment, with its values' byte lengths.
#[derive(Clone)]
pub struct HeadColumn {
    pub column: StrColumn,
    /// The byte length of each value, by the value's ordinal (saturating at
    /// `u16::MAX`, far past any head); `None` when the dictionary could not be read
    /// when the segment was first seen, and [`HeadColumn::value_length`] reads the
    /// value itself.
    lengths: Option<Arc<[u16]>>,
}

impl HeadColumn {
    /// The byte length of the value with ordinal `ord`, from the table when it has
    /// one, else read off the column (`scratch` is reused between calls); 0 when the
    /// value cannot be read.
    pub fn value_length(&self, ord: u64, scratch: &mut Vec<u8>) -> usize {
        let known = self
            .lengths
            .as_ref()
            .and_then(|l| usize::try_from(ord).ok().and_then(|ord| l.get(ord)));
        if let Some(&known) = known {
            return usize::from(known);
        }
        scratch.clear();
        if self.column.ord_to_bytes(ord, scratch).unwrap_or(false) {
            scratch.len()
        } else {
            0
        }
    }
}

/// One segment's head columns, and its id column.
#[derive(Default)]
pub struct SegmentHeads {
    /// Text field name → its head column. A field whose column is missing (no
    /// document of the segment has a value) is not in it.
    pub fields: HashMap<String, HeadColumn>,
    /// The documents' ids: the last tie-break, so that documents every rule and their
    /// length tie on come in the same order in every build of the index (a document's
    /// address depends on how indexing split the work).
    pub ids: Option<StrColumn>,
}

/// The head columns of every live segment; a warmer of the index's reader, so a reload
/// opens a new segment's columns before searches see it.
pub struct HeadColumns {
    /// The text fields that have a head.
    fields: Vec<String>,
    segments: PerSegment<SegmentHeads>,
}

impl HeadColumns {
    pub fn new(fields: impl IntoIterator<Item = String>) -> Self {
        HeadColumns {
            fields: fields.into_iter().collect(),
            segments: PerSegment::default(),
        }
    }

    /// The head columns of `segment`, opened now if no reload has opened them yet (a
    /// searcher taken before the warmer ran).
    pub fn segment(&self, segment: &SegmentReader) -> Arc<SegmentHeads> {
        let id = segment.segment_id();
        // A column that cannot be read counts as missing: `exactness` then sees no
        // field equal to the query, as for a field without a value.
        let column = |name: &str| match segment.fast_fields().str(name) {
            Ok(column) => column,
            Err(error) => {
                tracing::warn!(error = %error, field = %name, segment = %id.short_uuid_string(), "could not open a column");
                None
            }
        };
        let open = || {
            let fields = self
                .fields
                .iter()
                .filter_map(|name| {
                    let column = column(&head_field(name))?;
                    let lengths = match value_lengths(&column) {
                        Ok(lengths) => Some(lengths),
                        Err(error) => {
                            // The tie-break then reads the values themselves.
                            tracing::warn!(error = %error, field = %name, segment = %id.short_uuid_string(), "could not read a column's values");
                            None
                        }
                    };
                    Some((name.clone(), HeadColumn { column, lengths }))
                })
                .collect();
            Some(SegmentHeads {
                fields,
                ids: column(ID_FIELD),
            })
        };
        self.segments
            .get_or_build(segment, open)
            .unwrap_or_default()
    }
}

/// The byte length of each value of `column`, by ordinal (the dictionary's order).
fn value_lengths(column: &StrColumn) -> std::io::Result<Arc<[u16]>> {
    let dictionary = column.dictionary();
    let mut lengths = Vec::with_capacity(dictionary.num_terms());
    let mut values = dictionary.stream()?;
    while values.advance() {
        lengths.push(u16::try_from(values.key().len()).unwrap_or(u16::MAX));
    }
    Ok(lengths.into())
}

impl Warmer for HeadColumns {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for segment in searcher.segment_readers() {
            self.segment(segment);
        }
        Ok(())
    }

    fn garbage_collect(&self, live_generations: &[&SearcherGeneration]) {
        self.segments.retain_live(live_generations);
    }
}
