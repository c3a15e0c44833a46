//! The words of each segment (the `_words` field's terms, as written) as a plain FST
//! in memory, for finding typos.
//!
//! Why a copy of a dictionary tantivy already has: tantivy's term dictionary can only
//! be searched with an automaton through its stream, which decodes every child of every
//! node it reaches before asking the automaton whether the child can match. A
//! Levenshtein search reaches few live nodes but many dead children, so most of its
//! time went to nodes it then threw away (about 280 µs a word at 580,000 words). With
//! the FST's nodes at hand, a child is decoded only when the automaton accepts its byte:
//! the same words, in the same order, about three times faster. The copy costs about
//! 7.5 bytes a word (4.4 MB for the 580,000 words of 822,679 PyPI packages) and is built
//! once per segment, when a reload first sees it (a
//! tantivy [`Warmer`]), so searches never wait for it.
//!
//! Each word carries its document frequency in the segment (the FST's output), so a
//! short misspelt word with many neighbours keeps the common ones (`pytest` for
//! `pytet`) rather than the first in alphabetical order, without a term lookup each.

use std::sync::{Arc, OnceLock};

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::schema::Field;
use tantivy::{Searcher, SearcherGeneration, SegmentReader, Warmer};
use tantivy_fst::raw::{Builder, Fst, Node, Output};
use tantivy_fst::{IntoStreamer, Streamer};

use crate::index::per_segment::PerSegment;

/// The words of one segment, each with the number of documents holding it.
pub struct SegmentWords {
    fst: Fst<Vec<u8>>,
}

impl SegmentWords {
    fn build(segment: &SegmentReader, field: Field) -> tantivy::Result<Self> {
        let inverted = segment.inverted_index(field)?;
        let mut builder = Builder::memory();
        let mut terms = inverted.terms().stream()?;
        while terms.advance() {
            builder
                .insert(terms.key(), u64::from(terms.value().doc_freq))
                .map_err(|e| tantivy::TantivyError::InternalError(e.to_string()))?;
        }
        let fst = builder
            .into_inner()
            .and_then(Fst::new)
            .map_err(|e| tantivy::TantivyError::InternalError(e.to_string()))?;
        Ok(SegmentWords { fst })
    }

    /// Whether the segment has the word `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.fst.contains_key(key)
    }

    /// The documents of the segment holding the word `key`, if any does.
    pub fn frequency(&self, key: &str) -> Option<u64> {
        self.fst.get(key).map(Output::value)
    }

    /// Up to `take` words beginning with `prefix`, in order, with their frequencies.
    pub fn beginning(&self, prefix: &str, take: usize) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut stream = self.fst.range().ge(prefix).into_stream();
        while out.len() < take {
            let Some((key, frequency)) = stream.next() else {
                break;
            };
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            if let Ok(word) = std::str::from_utf8(key) {
                out.push((word.to_owned(), frequency.value()));
            }
        }
        out
    }

    /// Calls `found` with the word made of `pieces` written together, if the segment
    /// has it; with `take`, with the first `take` words beginning so instead, in order
    /// (what [`SegmentWords::beginning`] lists). The key is walked down the FST piece by
    /// piece and copied out only when it is there: the first-letter typos of a word
    /// are some seventy such keys, most of them dead after a byte or two, and building
    /// each as a string (and a range stream for the word being typed) cost more than
    /// looking it up; the range stream is opened only for a key that is there.
    pub fn visit_key(&self, pieces: &[&[u8]], take: Option<usize>, found: &mut dyn FnMut(&str)) {
        let mut node = self.fst.root();
        for byte in pieces.iter().flat_map(|piece| piece.iter()) {
            let Some(at) = node.find_input(*byte) else {
                return;
            };
            node = self.fst.node(node.transition_addr(at));
        }
        let key = pieces.concat();
        let Ok(word) = std::str::from_utf8(&key) else {
            return;
        };
        match take {
            None if node.is_final() => found(word),
            None => {}
            Some(take) => {
                for (below, _) in self.beginning(word, take) {
                    found(&below);
                }
            }
        }
    }

    /// Calls `found` with the words that begin with the bytes `first` and go on with
    /// what `rest` accepts (a whole word, or with a prefix automaton any word beginning
    /// so), in order, at most `limit` of them.
    pub fn search(
        &self,
        first: &[u8],
        rest: &TypoAutomaton,
        limit: usize,
        found: &mut dyn FnMut(&str),
    ) {
        let mut node = self.fst.root();
        for byte in first {
            let Some(at) = node.find_input(*byte) else {
                return;
            };
            node = self.fst.node(node.transition_addr(at));
        }
        let mut walk = Walk {
            fst: &self.fst,
            dfa: &rest.0,
            key: first.to_vec(),
            left: limit,
            found,
        };
        let start = rest.0.initial_state();
        walk.visit(node, start);
    }
}

/// A depth-first walk of an FST under a Levenshtein DFA, in key order.
struct Walk<'a, 'f> {
    fst: &'a Fst<Vec<u8>>,
    dfa: &'a DFA,
    key: Vec<u8>,
    /// Matches still wanted.
    left: usize,
    found: &'f mut dyn FnMut(&str),
}

impl Walk<'_, '_> {
    /// Visits `node`, reached in DFA state `state` (not the sink).
    fn visit(&mut self, node: Node<'_>, state: u32) {
        if node.is_final() && matches!(self.dfa.distance(state), Distance::Exact(_)) {
            if let Ok(word) = std::str::from_utf8(&self.key) {
                (self.found)(word);
            }
            self.left = self.left.saturating_sub(1);
        }
        for transition in node.transitions() {
            if self.left == 0 {
                return;
            }
            // The point of this module: a dead byte costs a table lookup, not a node.
            let next = self.dfa.transition(state, transition.inp);
            if next == SINK_STATE {
                continue;
            }
            self.key.push(transition.inp);
            self.visit(self.fst.node(transition.addr), next);
            self.key.pop();
        }
    }
}

/// A Levenshtein automaton (transpositions count one edit) for a word, or for the
/// words beginning with something within the distance of it.
pub struct TypoAutomaton(DFA);

impl TypoAutomaton {
    /// `None` past two edits (the builders are made for 1 and 2 only).
    pub fn new(word: &str, distance: u8, prefix: bool) -> Option<Self> {
        static BUILDERS: [OnceLock<LevenshteinAutomatonBuilder>; 2] =
            [OnceLock::new(), OnceLock::new()];
        let slot = BUILDERS.get(usize::from(distance).checked_sub(1)?)?;
        let builder = slot.get_or_init(|| LevenshteinAutomatonBuilder::new(distance, true));
        Some(TypoAutomaton(if prefix {
            builder.build_prefix_dfa(word)
        } else {
            builder.build_dfa(word)
        }))
    }
}

/// The words of every segment of one index, kept up to date by tantivy as a warmer:
/// a reload builds the segments it has not seen, and segments no searcher holds any
/// more are dropped.
pub struct TypoDictionary {
    field: Field,
    segments: PerSegment<SegmentWords>,
}

impl TypoDictionary {
    pub fn new(field: Field) -> Self {
        TypoDictionary {
            field,
            segments: PerSegment::default(),
        }
    }

    /// The words of `segment`, built now if no reload has built them yet (a searcher
    /// taken before the warmer ran, or a build that failed then).
    pub fn segment(&self, segment: &SegmentReader) -> Option<Arc<SegmentWords>> {
        let id = segment.segment_id();
        self.segments
            .get_or_build(segment, || match SegmentWords::build(segment, self.field) {
                Ok(words) => {
                    tracing::debug!(
                        segment = %id.short_uuid_string(),
                        words = words.fst.len(),
                        bytes = words.fst.size(),
                        "built a segment's words for typos"
                    );
                    Some(words)
                }
                Err(error) => {
                    tracing::warn!(error = %error, segment = %id.short_uuid_string(), "could not read a segment's words for typos");
                    None
                }
            })
    }

    /// The words of every segment of `searcher`.
    pub fn of(&self, searcher: &Searcher) -> Vec<Arc<SegmentWords>> {
        searcher
            .segment_readers()
            .iter()
            .filter_map(|segment| self.segment(segment))
            .collect()
    }
}

impl Warmer for TypoDictionary {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        // Never an error: a reload must not fail for the sake of typos, and a segment
        // left out here is built on first use.
        for segment in searcher.segment_readers() {
            // Built unless it is already there.
            self.segment(segment);
        }
        Ok(())
    }

    fn garbage_collect(&self, live_generations: &[&SearcherGeneration]) {
        self.segments.retain_live(live_generations);
    }
}

#[cfg(test)]
mod tests {
    use tantivy::schema::{STRING, Schema};
    use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument};

    use super::*;

    const WORDS: &[&str] = &[
        "internal",
        "internals",
        "intern",
        "interval",
        "intent",
        "eternal",
        "infernal",
        "inter",
        "ntern",
        "nitern",
        "int",
        "i",
        "in",
        "internally",
        "interna",
        "ixternal",
        "zinternal",
        "internal2",
        "intrenal",
        "iternal",
    ];

    /// An index of [`WORDS`] in two segments, with the dictionary as its warmer.
    fn index() -> (Index, IndexReader, Arc<TypoDictionary>, Field) {
        index_of(WORDS, Some(WORDS.len() / 2))
    }

    /// An index of `words`, a document each, with the dictionary as its warmer; in two
    /// segments when `split` says after which word to commit too.
    fn index_of(
        words: &[&str],
        split: Option<usize>,
    ) -> (Index, IndexReader, Arc<TypoDictionary>, Field) {
        let mut schema = Schema::builder();
        let field = schema.add_text_field("w", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: tantivy::IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        for (n, word) in words.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_text(field, word);
            writer.add_document(doc).expect("add");
            if split == Some(n) {
                writer.commit().expect("commit");
            }
        }
        writer.commit().expect("commit");
        let dictionary = Arc::new(TypoDictionary::new(field));
        let warmer: Arc<dyn Warmer> = dictionary.clone();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()
            .expect("reader");
        (index, reader, dictionary, field)
    }

    /// Brute force: the words beginning with `first` whose rest is within `distance`
    /// edits of `rest` (or, with `prefix`, begins with something that is).
    fn expected(first: &str, rest: &str, distance: usize, prefix: bool) -> Vec<String> {
        let mut out: Vec<String> = WORDS
            .iter()
            .filter_map(|word| word.strip_prefix(first).map(|tail| (word, tail)))
            .filter(|(_, tail)| {
                let within = |s: &str| strsim::osa_distance(rest, s) <= distance;
                if prefix {
                    (0..=tail.len()).any(|end| within(&tail[..end]))
                } else {
                    within(tail)
                }
            })
            .map(|(word, _)| word.to_string())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn finds_what_a_brute_force_scan_finds() {
        let (_index, reader, dictionary, _) = index();
        let searcher = reader.searcher();
        let segments = dictionary.of(&searcher);
        assert_eq!(segments.len(), 2);
        for (word, distance, prefix) in [
            ("internal", 1, false),
            ("intrenal", 1, false),
            ("internal", 2, false),
            ("intr", 1, true),
            ("inte", 2, true),
            ("xyz", 1, false),
        ] {
            let (first, rest) = word.split_at(1);
            let automaton = TypoAutomaton::new(rest, distance, prefix).expect("automaton");
            let mut found = Vec::new();
            for segment in &segments {
                segment.search(first.as_bytes(), &automaton, usize::MAX, &mut |w| {
                    found.push(w.to_owned())
                });
            }
            found.sort();
            assert_eq!(
                found,
                expected(first, rest, usize::from(distance), prefix),
                "{word} within {distance}, prefix {prefix}"
            );
        }
        assert!(TypoAutomaton::new("abc", 3, false).is_none());
    }

    #[test]
    fn stops_at_the_limit_in_key_order() {
        let (_index, reader, dictionary, _) = index();
        let searcher = reader.searcher();
        let automaton = TypoAutomaton::new("n", 1, true).expect("automaton");
        let mut found = Vec::new();
        for segment in dictionary.of(&searcher) {
            let mut here = Vec::new();
            segment.search(b"i", &automaton, 2, &mut |w| here.push(w.to_owned()));
            assert!(here.len() <= 2);
            assert!(here.windows(2).all(|pair| pair[0] < pair[1]), "{here:?}");
            found.extend(here);
        }
        assert!(!found.is_empty());
    }

    #[test]
    fn lookups_and_prefixes() {
        let (_index, reader, dictionary, _) = index();
        let searcher = reader.searcher();
        let segments = dictionary.of(&searcher);
        assert!(segments.iter().any(|s| s.frequency("intern") == Some(1)));
        assert!(segments.iter().all(|s| s.frequency("interns").is_none()));
        let mut beginning: Vec<String> = segments
            .iter()
            .flat_map(|s| s.beginning("interna", 10))
            .map(|(word, _)| word)
            .collect();
        beginning.sort();
        assert_eq!(
            beginning,
            [
                "interna",
                "internal",
                "internal2",
                "internally",
                "internals"
            ]
        );
    }

    #[test]
    fn a_key_in_pieces_is_found_as_a_lookup_and_a_range_find_it() {
        let (_index, reader, dictionary, _) = index();
        let searcher = reader.searcher();
        let segments = dictionary.of(&searcher);
        let keys = ["intern", "interns", "internal", "in", "e", "zzz", ""];
        for segment in &segments {
            for key in keys {
                // Split anywhere: the pieces make the same key.
                for at in 0..=key.len() {
                    let pieces = [&key.as_bytes()[..at], &key.as_bytes()[at..]];
                    let mut whole = Vec::new();
                    segment.visit_key(&pieces, None, &mut |w| whole.push(w.to_owned()));
                    let expected: Vec<String> = segment
                        .contains(key)
                        .then(|| key.to_owned())
                        .into_iter()
                        .collect();
                    assert_eq!(whole, expected, "{key} whole");
                    for take in [1, 2, 4, 100] {
                        let mut below = Vec::new();
                        segment.visit_key(&pieces, Some(take), &mut |w| below.push(w.to_owned()));
                        let expected: Vec<String> = segment
                            .beginning(key, take)
                            .into_iter()
                            .map(|(w, _)| w)
                            .collect();
                        assert_eq!(below, expected, "{key} beginning, {take}");
                    }
                }
            }
        }
        // Not vacuous: some key is found both ways.
        let mut any = 0;
        for segment in &segments {
            segment.visit_key(&[b"inter", b"nal"], None, &mut |_| any += 1);
        }
        assert_eq!(any, 1);
    }

    #[test]
    fn words_carry_their_document_frequencies() {
        let words = ["pytest", "pytest", "pytest", "pytec", "pyter", "pyter"];
        let (_index, reader, dictionary, _) = index_of(&words, None);
        let segments = dictionary.of(&reader.searcher());
        let [segment] = segments.as_slice() else {
            panic!("one segment, got {}", segments.len());
        };
        assert_eq!(segment.frequency("pytest"), Some(3));
        assert_eq!(segment.frequency("pytes"), None);
        assert_eq!(
            segment.beginning("pyte", 10),
            [
                ("pytec".to_owned(), 1),
                ("pyter".to_owned(), 2),
                ("pytest".to_owned(), 3)
            ]
        );
    }

    #[test]
    fn a_reload_builds_new_segments_and_merges_drop_old_ones() {
        let (index, reader, dictionary, field) = index();
        assert_eq!(
            dictionary.segments.len(),
            2,
            "the reader's first searcher is warmed"
        );
        let mut writer: tantivy::IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        let mut doc = TantivyDocument::default();
        doc.add_text(field, "internat");
        writer.add_document(doc).expect("add");
        writer.commit().expect("commit");
        reader.reload().expect("reload");
        assert_eq!(dictionary.segments.len(), 3);
        let ids = index.searchable_segment_ids().expect("ids");
        writer.merge(&ids).wait().expect("merge");
        reader.reload().expect("reload");
        let searcher = reader.searcher();
        let live: Vec<tantivy::index::SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|s| s.segment_id())
            .collect();
        assert_eq!(live.len(), 1);
        assert!(dictionary.segments.contains(&live[0]));
        // Old segments go once no searcher holds them (tantivy collects in the background).
        drop(searcher);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while dictionary.segments.len() > 1 && std::time::Instant::now() < deadline {
            reader.reload().expect("reload");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(dictionary.segments.len(), 1);
    }
}
