//! Facet value search: the values of a keyword facet that begin with what was typed
//! (each typed word the start of a word of the value, with typos as the collection
//! allows them), counted over the documents a search matches, most frequent first.
//! What a filter panel's "search brands" box asks for (Meilisearch's and Typesense's
//! facet search).

use std::collections::{HashMap, HashSet};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::index::CollectionIndex;
use crate::index::analysis;
use crate::index::fields::user_field;
use crate::search::index_engine::{SearchError, all_words_under, plan_of};
use crate::search::{FacetCount, SearchRequest, query};

/// Whether `typed` is the start of `word`, allowing `typos` edits (Damerau–Levenshtein)
/// between `typed` and some start of `word`.
fn begins_within(typed: &str, word: &str, typos: usize) -> bool {
    if word.starts_with(typed) {
        return true;
    }
    if typos == 0 {
        return false;
    }
    let typed_len = typed.chars().count();
    let word: Vec<char> = word.chars().collect();
    let shortest = typed_len.saturating_sub(typos).max(1);
    let longest = (typed_len + typos).min(word.len());
    (shortest..=longest).any(|len| {
        let start: String = word[..len].iter().collect();
        strsim::damerau_levenshtein(typed, &start) <= typos
    })
}

/// Whether a facet value answers the typed words: each one begins a word of the value.
fn answers(value_words: &[String], typed: &[(String, usize)]) -> bool {
    typed.iter().all(|(word, typos)| {
        value_words
            .iter()
            .any(|value_word| begins_within(word, value_word, *typos))
    })
}

/// The values of `facet` answering `facet_query`, counted over the documents that
/// `request` (its words and filter) matches; the `limit` most frequent, then by value.
pub fn facet_search(
    index: &CollectionIndex,
    request: &SearchRequest,
    facet: &str,
    facet_query: &str,
    limit: usize,
) -> Result<Vec<FacetCount>, SearchError> {
    let searcher = index.reader.searcher();
    let mut normalizer = index.normalizer();
    let tolerance = &index.spec().settings.typo_tolerance;
    let typed: Vec<(String, usize)> = analysis::words(&mut normalizer, facet_query)
        .into_iter()
        .map(|w| {
            let typos = usize::from(query::allowed_typos(tolerance, &w.text));
            (w.text, typos)
        })
        .collect();
    // Per segment, the ordinals of the values that answer.
    let mut accepted: Vec<Option<(StrColumn, HashSet<u64>)>> = Vec::new();
    for reader in searcher.segment_readers() {
        let Ok(Some(column)) = reader.fast_fields().str(&user_field(facet)) else {
            accepted.push(None);
            continue;
        };
        let mut ords = HashSet::new();
        let mut stream = column
            .dictionary()
            .stream()
            .map_err(tantivy::TantivyError::from)?;
        while stream.advance() {
            let value = String::from_utf8_lossy(stream.key());
            let words: Vec<String> = analysis::words(&mut normalizer, &value)
                .into_iter()
                .map(|w| w.text)
                .collect();
            if answers(&words, &typed) {
                ords.insert(stream.term_ord());
            }
        }
        accepted.push(Some((column, ords)));
    }
    let plan = plan_of(index, &searcher, request);
    let matches = all_words_under(index, &plan, request.filter.as_ref());
    let counts = searcher.search(&*matches, &ValueCount { accepted })?;
    let mut counts: Vec<FacetCount> = counts
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    counts.truncate(limit);
    Ok(counts)
}

/// Counts the matching documents holding each accepted value.
struct ValueCount {
    accepted: Vec<Option<(StrColumn, HashSet<u64>)>>,
}

struct SegmentValueCount {
    accepted: Option<(StrColumn, HashSet<u64>)>,
    counts: HashMap<u64, u64>,
}

impl SegmentCollector for SegmentValueCount {
    type Fruit = HashMap<String, u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some((column, accepted)) = &self.accepted {
            for ord in column.term_ords(doc) {
                if accepted.contains(&ord) {
                    *self.counts.entry(ord).or_default() += 1;
                }
            }
        }
    }

    fn harvest(self) -> HashMap<String, u64> {
        let mut out = HashMap::new();
        if let Some((column, _)) = &self.accepted {
            for (ord, count) in self.counts {
                let mut value = String::new();
                if let Ok(true) = column.ord_to_str(ord, &mut value) {
                    out.insert(value, count);
                }
            }
        }
        out
    }
}

impl Collector for ValueCount {
    type Fruit = HashMap<String, u64>;
    type Child = SegmentValueCount;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _reader: &SegmentReader,
    ) -> tantivy::Result<SegmentValueCount> {
        Ok(SegmentValueCount {
            accepted: self.accepted.get(segment as usize).cloned().flatten(),
            counts: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        segments: Vec<HashMap<String, u64>>,
    ) -> tantivy::Result<HashMap<String, u64>> {
        let mut out: HashMap<String, u64> = HashMap::new();
        for segment in segments {
            for (value, count) in segment {
                *out.entry(value).or_default() += count;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_begin_value_words_with_the_typos_allowed() {
        assert!(begins_within("sci", "science", 0));
        assert!(!begins_within("sco", "science", 0));
        assert!(begins_within("scence", "science", 1), "a letter left out");
        assert!(begins_within("scienc", "science", 1));
        assert!(begins_within("elcetr", "electronics", 1), "a transposition");
        assert!(!begins_within("elxxtr", "electronics", 1));
        let typed = vec![("fic".to_owned(), 0), ("sci".to_owned(), 0)];
        let value = vec!["science".to_owned(), "fiction".to_owned()];
        assert!(answers(&value, &typed), "in any order");
        assert!(!answers(&value, &[("fant".to_owned(), 0)]));
        assert!(answers(&value, &[]), "nothing typed: every value");
    }
}
