//! The exact set of documents a query matches, as one bitset per segment.
//!
//! Why bitsets: the search API promises an exact `total`, and counting a broad query
//! by walking its conjunction of unions costs as much as scoring it (a three-word
//! query with a two-letter prefix matches most of a million documents). A word's
//! union is instead the OR of its terms' doc sets, the query is the AND of its words,
//! and the count is a popcount: a few machine words per 64 documents.
//!
//! Dense terms (in at least one document in [`DENSE_FRACTION`]) are what makes a
//! broad query slow, and the same few recur across queries (Zipf), so their bitsets
//! are kept in a cache bounded by bytes. Segments are immutable, so a term's bitset
//! keyed by segment id stays true; deletes are applied from the segment's alive set,
//! itself cached by segment and delete opstamp.
//!
//! The match set also lets the search rank with block-max WAND: a candidate it finds
//! is kept only if it is in the set.
//!
//! This lives with the index, not the search, because the cache is per process and
//! keyed by segment: every generation of every collection shares it, and the indexer
//! hands it to each index it opens. It knows terms and words, not query plans.

use std::sync::Arc;

use tantivy::index::SegmentId;
use tantivy::postings::BlockSegmentPostings;
use tantivy::query::Weight;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, SegmentReader, Term};

/// A term is cached as a bitset when it is in at least `max_doc / DENSE_FRACTION`
/// documents: then its bitset is no larger than about two bytes per posting, and
/// decoding its postings would cost more than OR-ing the cached bits.
const DENSE_FRACTION: u32 = 16;

/// Segments smaller than this (by default) are never cached: their postings are read in
/// microseconds, and the small segments that commits make come and go (merged away),
/// so caching them would fill the cache with entries nobody asks for again.
const MIN_CACHED_SEGMENT_DOCS: u32 = 65_536;

/// What an entry costs beyond its bits (key, term bytes, the cache's own bookkeeping),
/// counted so the capacity bounds memory rather than bits alone.
const ENTRY_OVERHEAD_BYTES: usize = 256;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Term(SegmentId, Term),
    /// `None`: the segment has no deletes.
    Alive(SegmentId, Option<u64>),
}

/// Cached doc sets of dense terms and of segments' alive documents.
pub struct TermBitsets {
    cache: moka::sync::Cache<Key, Arc<[u64]>>,
    /// [`MIN_CACHED_SEGMENT_DOCS`]; lower in tests, so small indexes use the cache.
    min_segment_docs: u32,
}

impl std::fmt::Debug for TermBitsets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermBitsets")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}

impl TermBitsets {
    /// A cache holding at most `capacity_bytes` of bitsets.
    pub fn new(capacity_bytes: u64) -> TermBitsets {
        TermBitsets {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_, bits: &Arc<[u64]>| {
                    u32::try_from(bits.len() * 8 + ENTRY_OVERHEAD_BYTES).unwrap_or(u32::MAX)
                })
                .build(),
            min_segment_docs: MIN_CACHED_SEGMENT_DOCS,
        }
    }

    /// Caches segments of any size (tests of the cached path on small indexes).
    pub fn caching_every_segment(mut self) -> TermBitsets {
        self.min_segment_docs = 0;
        self
    }

    /// Entries and bytes held, for `/metrics`.
    pub fn size(&self) -> (u64, u64) {
        self.cache.run_pending_tasks();
        (self.cache.entry_count(), self.cache.weighted_size())
    }

    /// The documents of `reader` that hold at least one term of every word (a word
    /// being the terms it may match), are alive, and match `filter` (a weight built
    /// with scoring disabled).
    pub fn segment_matches<'t, Word>(
        &self,
        reader: &SegmentReader,
        words: impl IntoIterator<Item = Word>,
        filter: Option<&dyn Weight>,
    ) -> tantivy::Result<DocBits>
    where
        Word: IntoIterator<Item = &'t Term>,
    {
        let max_doc = reader.max_doc();
        let mut matches: Option<DocBits> = None;
        for word in words {
            let mut union = DocBits::empty(max_doc);
            for term in word {
                self.add_term(reader, term, &mut union)?;
            }
            let joined = match matches {
                None => union,
                Some(mut so_far) => {
                    so_far.and(&union.words);
                    so_far
                }
            };
            if joined.is_empty() {
                return Ok(joined);
            }
            matches = Some(joined);
        }
        let mut matches = matches.unwrap_or_else(|| DocBits::full(max_doc));
        if let Some(alive) = self.alive(reader) {
            matches.and(&alive);
        }
        if let Some(filter) = filter {
            let mut allowed = DocBits::empty(max_doc);
            filter.for_each_no_score(reader, &mut |docs| {
                for &doc in docs {
                    allowed.insert(doc);
                }
            })?;
            matches.and(&allowed.words);
        }
        Ok(matches)
    }

    /// The documents of `reader` holding at least one of `terms` (a query word's
    /// union), whether alive or not.
    pub fn word_matches<'t>(
        &self,
        reader: &SegmentReader,
        terms: impl IntoIterator<Item = &'t Term>,
    ) -> tantivy::Result<DocBits> {
        let mut union = DocBits::empty(reader.max_doc());
        for term in terms {
            self.add_term(reader, term, &mut union)?;
        }
        Ok(union)
    }

    /// The documents of `reader` that are alive and match `filter` (a weight built
    /// with scoring disabled; none: every alive document). `None` when that is every
    /// document: no filter and no deletes, the usual case, where building the full set
    /// and intersecting each word's set with it was a copy of the segment's bits per
    /// word for nothing.
    pub fn allowed(
        &self,
        reader: &SegmentReader,
        filter: Option<&dyn Weight>,
    ) -> tantivy::Result<Option<DocBits>> {
        let alive = self.alive(reader);
        let mut allowed = match (filter, alive) {
            (None, None) => return Ok(None),
            (_, Some(alive)) => DocBits {
                words: alive.to_vec(),
            },
            (Some(_), None) => DocBits::full(reader.max_doc()),
        };
        if let Some(filter) = filter {
            let mut matching = DocBits::empty(reader.max_doc());
            filter.for_each_no_score(reader, &mut |docs| {
                for &doc in docs {
                    matching.insert(doc);
                }
            })?;
            allowed.and(&matching.words);
        }
        Ok(Some(allowed))
    }

    /// ORs the documents holding `term` into `into`.
    fn add_term(
        &self,
        reader: &SegmentReader,
        term: &Term,
        into: &mut DocBits,
    ) -> tantivy::Result<()> {
        let inverted = reader.inverted_index(term.field())?;
        let Some(info) = inverted.get_term_info(term)? else {
            return Ok(());
        };
        let read = |bits: &mut DocBits| -> std::io::Result<()> {
            let mut postings =
                inverted.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
            fill(&mut postings, bits);
            Ok(())
        };
        if reader.max_doc() >= self.min_segment_docs
            && info.doc_freq >= (reader.max_doc() / DENSE_FRACTION).max(1)
        {
            let key = Key::Term(reader.segment_id(), term.clone());
            let bits = self.cache.try_get_with(key, || {
                let mut bits = DocBits::empty(reader.max_doc());
                read(&mut bits).map(|()| Arc::<[u64]>::from(bits.words))
            });
            let bits = bits.map_err(|e| tantivy::TantivyError::InternalError(e.to_string()))?;
            into.or(&bits);
        } else {
            read(into)?;
        }
        Ok(())
    }

    /// The segment's alive documents as bitset words; `None` when none are deleted.
    fn alive(&self, reader: &SegmentReader) -> Option<Arc<[u64]>> {
        let alive = reader.alive_bitset()?;
        let read = || {
            let mut bits = DocBits::empty(reader.max_doc());
            for doc in alive.iter_alive() {
                bits.insert(doc);
            }
            Arc::from(bits.words)
        };
        if reader.max_doc() < self.min_segment_docs {
            return Some(read());
        }
        let key = Key::Alive(reader.segment_id(), reader.delete_opstamp());
        Some(self.cache.get_with(key, read))
    }
}

fn fill(postings: &mut BlockSegmentPostings, bits: &mut DocBits) {
    loop {
        let docs = postings.docs();
        if docs.is_empty() {
            break;
        }
        for &doc in docs {
            bits.insert(doc);
        }
        postings.advance();
    }
}

/// A set of a segment's documents, one bit each.
#[derive(Debug, Clone, Default)]
pub struct DocBits {
    words: Vec<u64>,
}

impl DocBits {
    fn empty(max_doc: DocId) -> DocBits {
        DocBits {
            words: vec![0; (max_doc as usize).div_ceil(64)],
        }
    }

    fn full(max_doc: DocId) -> DocBits {
        let mut bits = DocBits {
            words: vec![u64::MAX; (max_doc as usize).div_ceil(64)],
        };
        let tail = max_doc % 64;
        if tail != 0
            && let Some(last) = bits.words.last_mut()
        {
            *last = (1u64 << tail) - 1;
        }
        bits
    }

    /// A set of `max_doc` documents holding `docs` (a phrase's matches, which no
    /// cached term set holds; and tests of set logic).
    pub fn from_docs(max_doc: DocId, docs: &[DocId]) -> DocBits {
        let mut bits = DocBits::empty(max_doc);
        for &doc in docs {
            bits.insert(doc);
        }
        bits
    }

    fn insert(&mut self, doc: DocId) {
        if let Some(word) = self.words.get_mut((doc / 64) as usize) {
            *word |= 1 << (doc % 64);
        }
    }

    pub fn contains(&self, doc: DocId) -> bool {
        self.words
            .get((doc / 64) as usize)
            .is_some_and(|word| word & (1 << (doc % 64)) != 0)
    }

    /// The documents in every one of `sets` (all of one segment), less those in any of
    /// `less`; `None` when `sets` is empty. The first two are intersected into a new
    /// set as it is written, rather than a copy of the first narrowed by the second:
    /// each pass over a segment's bits (100 KB at 822,679 documents) is memory traffic
    /// every search pays for.
    pub fn all_of(sets: &[&DocBits], less: &[&DocBits]) -> Option<DocBits> {
        let (first, rest) = sets.split_first()?;
        let mut all = match rest.first() {
            Some(second) => DocBits {
                words: first
                    .words
                    .iter()
                    .zip(&second.words)
                    .map(|(a, b)| a & b)
                    .collect(),
            },
            None => (*first).clone(),
        };
        for set in rest.iter().skip(1) {
            all.intersect(set);
        }
        for set in less {
            all.subtract(set);
        }
        Some(all)
    }

    /// How many documents are in every one of `sets` (all of one segment); two are
    /// counted without building their intersection.
    pub fn count_all(sets: &[DocBits]) -> u64 {
        match sets {
            [] => 0,
            [one] => one.len(),
            [a, b] => a
                .words
                .iter()
                .zip(&b.words)
                .map(|(a, b)| u64::from((a & b).count_ones()))
                .sum(),
            _ => {
                let all: Vec<&DocBits> = sets.iter().collect();
                DocBits::all_of(&all, &[]).map_or(0, |all| all.len())
            }
        }
    }

    /// Keeps the documents also in `other`.
    pub fn intersect(&mut self, other: &DocBits) {
        self.and(&other.words);
    }

    /// Adds the documents in `other`.
    pub fn union(&mut self, other: &DocBits) {
        self.or(&other.words);
    }

    /// Drops the documents in `other`.
    pub fn subtract(&mut self, other: &DocBits) {
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word &= !other;
        }
    }

    fn or(&mut self, other: &[u64]) {
        for (word, other) in self.words.iter_mut().zip(other) {
            *word |= other;
        }
    }

    fn and(&mut self, other: &[u64]) {
        for (word, other) in self.words.iter_mut().zip(other) {
            *word &= other;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The documents in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = DocId> + '_ {
        self.words.iter().enumerate().flat_map(|(at, &word)| {
            let base = at as DocId * 64;
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(base + bit)
            })
        })
    }

    /// How many documents the set holds.
    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_bits_set_operations() {
        let mut a = DocBits::empty(130);
        for doc in [0, 63, 64, 129, 500] {
            a.insert(doc);
        }
        assert_eq!(a.len(), 4, "a doc past max_doc is ignored");
        assert!(a.contains(129) && !a.contains(128) && !a.contains(500));
        let full = DocBits::full(130);
        assert_eq!(full.len(), 130);
        let mut b = full.clone();
        b.and(&a.words);
        assert_eq!(b.len(), 4);
        let mut c = DocBits::empty(130);
        c.insert(1);
        c.or(&a.words);
        assert_eq!(c.len(), 5);
        assert!(DocBits::empty(130).is_empty() && !c.is_empty());
        assert_eq!(c.iter().collect::<Vec<_>>(), [0, 1, 63, 64, 129]);
    }

    #[test]
    fn all_of_intersects_the_sets_less_the_others_and_count_all_agrees() {
        let set = |docs: &[DocId]| DocBits::from_docs(200, docs);
        let (a, b, c) = (
            set(&[1, 2, 3, 70, 199]),
            set(&[2, 3, 70, 150]),
            set(&[3, 70, 199]),
        );
        let less = set(&[70]);
        let docs = |bits: Option<DocBits>| bits.map(|b| b.iter().collect::<Vec<_>>());
        assert_eq!(docs(DocBits::all_of(&[], &[])), None);
        assert_eq!(
            docs(DocBits::all_of(&[&a], &[])),
            Some(vec![1, 2, 3, 70, 199])
        );
        assert_eq!(docs(DocBits::all_of(&[&a], &[&b])), Some(vec![1, 199]));
        assert_eq!(docs(DocBits::all_of(&[&a, &b], &[])), Some(vec![2, 3, 70]));
        assert_eq!(
            docs(DocBits::all_of(&[&a, &b, &c], &[&less])),
            Some(vec![3])
        );
        assert_eq!(DocBits::count_all(&[]), 0);
        assert_eq!(DocBits::count_all(std::slice::from_ref(&a)), 5);
        assert_eq!(DocBits::count_all(&[a.clone(), b.clone()]), 3);
        assert_eq!(DocBits::count_all(&[a, b, c]), 2);
    }
}
