//! `distinct`: the best hit per value of a keyword field (one product per family), and
//! totals and facet counts that count those groups rather than documents.
//!
//! A document's group is its value of the field (a keyword array: its first value in
//! sorted order); a document without a value is a group of its own, as in
//! Meilisearch. Groups are compared by their text, since each segment numbers its
//! values on its own.

use std::collections::{BTreeMap, HashMap, HashSet};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use crate::index::fields::user_field;
use crate::search::FacetCount;

/// A document's group: its value's text, or its address when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Group {
    Value(Vec<u8>),
    Alone(DocAddress),
}

/// The keyword column of `field` in one segment.
fn column(reader: &SegmentReader, field: &str) -> Option<StrColumn> {
    reader.fast_fields().str(&user_field(field)).ok().flatten()
}

/// A document's first value in a string column; `None` when it has none.
pub(crate) fn first_value(column: &StrColumn, doc: DocId) -> Option<Vec<u8>> {
    let ord = column.term_ords(doc).next()?;
    let mut bytes = Vec::new();
    matches!(column.ord_to_bytes(ord, &mut bytes), Ok(true)).then_some(bytes)
}

fn group_of(column: Option<&StrColumn>, address: DocAddress) -> Group {
    match column.and_then(|c| first_value(c, address.doc_id)) {
        Some(value) => Group::Value(value),
        None => Group::Alone(address),
    }
}

/// Keeps the first hit of each group, in order. `address` tells where a hit is.
pub fn first_of_each<T>(
    searcher: &Searcher,
    field: &str,
    hits: Vec<T>,
    address: impl Fn(&T) -> DocAddress,
) -> Vec<T> {
    let columns: Vec<Option<StrColumn>> = searcher
        .segment_readers()
        .iter()
        .map(|reader| column(reader, field))
        .collect();
    let mut seen = HashSet::new();
    hits.into_iter()
        .filter(|hit| {
            let at = address(hit);
            let column = columns
                .get(at.segment_ord as usize)
                .and_then(Option::as_ref);
            seen.insert(group_of(column, at))
        })
        .collect()
}

/// Counts the groups among a query's matches, and per value of each keyword facet the
/// groups holding it.
pub struct GroupCount {
    pub field: String,
    pub facets: Vec<String>,
}

/// What one segment saw: per group (by ord; `None` alone), the facet values' ords.
pub struct SegmentGroups {
    segment: SegmentOrdinal,
    column: Option<StrColumn>,
    facets: Vec<Option<StrColumn>>,
    /// Groups by their ord, with the facet ords their documents hold.
    valued: HashMap<u64, Vec<HashSet<u64>>>,
    /// Documents without a value: each its own group.
    alone: Vec<(DocId, Vec<HashSet<u64>>)>,
}

impl SegmentCollector for SegmentGroups {
    type Fruit = SegmentGroups;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let values: Vec<HashSet<u64>> = self
            .facets
            .iter()
            .map(|facet| {
                facet
                    .as_ref()
                    .map(|c| c.term_ords(doc).collect())
                    .unwrap_or_default()
            })
            .collect();
        match self.column.as_ref().and_then(|c| c.term_ords(doc).next()) {
            Some(ord) => {
                let held = self
                    .valued
                    .entry(ord)
                    .or_insert_with(|| vec![HashSet::new(); self.facets.len()]);
                for (into, from) in held.iter_mut().zip(values) {
                    into.extend(from);
                }
            }
            None => self.alone.push((doc, values)),
        }
    }

    fn harvest(self) -> SegmentGroups {
        self
    }
}

/// The groups of the matches, and the facet counts by group.
#[derive(Debug, Default)]
pub struct Groups {
    pub total: u64,
    pub facets: BTreeMap<String, Vec<FacetCount>>,
}

impl Collector for GroupCount {
    type Fruit = Groups;
    type Child = SegmentGroups;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentGroups> {
        Ok(SegmentGroups {
            segment,
            column: column(reader, &self.field),
            facets: self.facets.iter().map(|f| column(reader, f)).collect(),
            valued: HashMap::new(),
            alone: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<SegmentGroups>) -> tantivy::Result<Groups> {
        let text = |column: &StrColumn, ord: u64| {
            let mut out = String::new();
            column
                .ord_to_str(ord, &mut out)
                .ok()
                .filter(|f| *f)
                .map(|_| out)
        };
        // Per facet, per value: the groups holding it.
        let mut by_value: Vec<HashMap<String, HashSet<Group>>> =
            vec![HashMap::new(); self.facets.len()];
        let mut groups: HashSet<Group> = HashSet::new();
        for segment in segments {
            let mut add = |group: Group, held: Vec<HashSet<u64>>| {
                for ((counts, column), ords) in by_value.iter_mut().zip(&segment.facets).zip(held) {
                    let Some(column) = column else { continue };
                    for ord in ords {
                        if let Some(value) = text(column, ord) {
                            counts.entry(value).or_default().insert(group.clone());
                        }
                    }
                }
                groups.insert(group);
            };
            if let Some(column) = &segment.column {
                for (ord, held) in segment.valued {
                    let mut bytes = Vec::new();
                    if let Ok(true) = column.ord_to_bytes(ord, &mut bytes) {
                        add(Group::Value(bytes), held);
                    }
                }
            }
            for (doc, held) in segment.alone {
                add(Group::Alone(DocAddress::new(segment.segment, doc)), held);
            }
        }
        let facets = self
            .facets
            .iter()
            .zip(by_value)
            .map(|(name, counts)| {
                let mut counts: Vec<FacetCount> = counts
                    .into_iter()
                    .map(|(value, groups)| FacetCount {
                        value,
                        count: groups.len() as u64,
                    })
                    .collect();
                counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                (name.clone(), counts)
            })
            .collect();
        Ok(Groups {
            total: groups.len() as u64,
            facets,
        })
    }
}
