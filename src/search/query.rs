//! Turning a query string into a tantivy query, the way users of Meilisearch or
//! Typesense expect it to behave:
//!
//! * every word must match some text field (AND), BM25 weighted by each field's boost;
//! * typos by word length (Damerau–Levenshtein; none under 5 characters, one from 5,
//!   two from 9, configurable), never on numbers. tantivy's fuzzy query scores every
//!   match the same (tantivy#563), so a Levenshtein automaton is run against the words
//!   here (each segment's words as written, [`crate::index::typo_dictionary`]) and each
//!   word it finds becomes real term queries, weighted down by its distance: an exact
//!   match outranks a typo, and highlighting knows the terms;
//! * the last word is also a prefix (type-ahead): one lookup in the indexed prefixes
//!   up to six characters, the indexed words it begins past that;
//! * synonyms (one way: a word also matches its listed alternatives).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tantivy::collector::Count;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, PhraseQuery,
    Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use crate::index::analysis::{self, PrefixLookup, prefix_lookup};
use crate::index::typo_dictionary::{SegmentWords, TypoAutomaton};
use crate::index::{CollectionIndex, IndexSpec};
use crate::schema::TypoTolerance;

/// Words of a query that count; the rest are ignored.
pub const MAX_QUERY_WORDS: usize = 10;
/// Terms one misspelt word may expand to, per field.
const MAX_EXPANSIONS: usize = 30;
/// A word this long, one character short of a typo under the rules, gets one when no
/// document holds it as written: most often a longer word with a letter left out. As
/// Typesense's default allows a typo from 4 characters, but only for words that match
/// nothing or almost nothing (see [`RARE_SHORT_WORD_DOCS`]), so a real short word
/// (`yaml`, `gait`) is never widened.
const UNKNOWN_WORD_MIN_CHARS: usize = 4;
/// A word one character short of a typo that fewer documents than this hold as
/// written may still be a typo: see [`rare_short_word_typos`].
const RARE_SHORT_WORD_DOCS: u64 = 10;
/// How many times more documents than a rare short word the commonest word one typo
/// away must be in for the word to be taken as a typo of it.
const RARE_SHORT_WORD_COMMONER: u64 = 10;
/// Words found in at least this many documents as typed are not expanded to typos.
const TYPO_FREQUENCY_THRESHOLD: u64 = 50;
/// How much a match with one typo (two typos) counts against an exact one.
const ONE_TYPO_WEIGHT: f32 = 0.4;
const TWO_TYPOS_WEIGHT: f32 = 0.2;
/// How much a prefix match counts against a whole-word match.
const PREFIX_WEIGHT: f32 = 0.8;

/// How the query should treat its words.
#[derive(Debug, Clone, Copy)]
pub struct Matching {
    pub typos: bool,
    pub prefix: bool,
}

/// What matched, per text field, for highlighting.
#[derive(Debug, Default, Clone)]
pub struct MatchedTerms {
    /// Field name → analyzed terms (exact, typo expansions, synonyms).
    pub terms: HashMap<String, BTreeSet<String>>,
    /// The normalized last word, matched as a prefix.
    pub prefix: Option<String>,
    /// The words before it written together with it (`beautifulsou`), when the index
    /// holds words beginning so: matched as a prefix too. Each with the first of the
    /// query's words it stands for (by its place in [`QueryPlan::words`]).
    pub joined_prefixes: BTreeMap<String, usize>,
    /// Text fields with type-ahead off (`typeAhead: false`) or not searched
    /// (`attributesToSearchOn`): the prefix matches none of their words, so none is
    /// marked for it.
    pub whole_words_only: BTreeSet<String>,
}

/// The typos allowed for a word of `chars` characters.
pub fn allowed_typos(rules: &TypoTolerance, word: &str) -> u8 {
    if !rules.enabled || word.chars().all(|c| c.is_ascii_digit()) {
        return 0;
    }
    let chars = word.chars().count();
    if chars >= usize::from(rules.two_typos_min_length) {
        2
    } else if chars >= usize::from(rules.one_typo_min_length) {
        1
    } else {
        0
    }
}

/// Whether `word` is one character short of a typo under `rules`, and at least
/// [`UNKNOWN_WORD_MIN_CHARS`] long: such a word, when no document holds it, gets one.
pub fn short_of_one_typo(rules: &TypoTolerance, word: &str) -> bool {
    let chars = word.chars().count();
    rules.enabled
        && !word.chars().all(|c| c.is_ascii_digit())
        && chars >= UNKNOWN_WORD_MIN_CHARS
        && chars + 1 == usize::from(rules.one_typo_min_length)
}

/// Typos between `typed` and `found` for ranking: the edit distance (transpositions
/// count one), and one more when the first letter differs, since people rarely get
/// the first letter wrong.
pub fn typo_count(typed: &str, found: &str, distance: u8) -> u8 {
    let first_differs = typed.chars().next() != found.chars().next();
    distance.saturating_add(u8::from(first_differs))
}

/// Terms of `field` within `budget` typos of `word` (or, with `prefix`, beginning with
/// a string within `budget` typos of it), `word` itself excluded, with their edit
/// distance; the closest first, then the most common (the documents holding them,
/// summed over the segments, from the dictionaries' frequencies): a short word has many neighbours
/// (`pytet`: `pyet`, `pynet`, `pytec`, ... `pytest`), and past [`MAX_EXPANSIONS`] the
/// ones kept should be those most likely meant, not the first in alphabetical order.
///
/// A first-letter typo counts two, as in Meilisearch, and that is also what keeps
/// this fast: the dictionary is searched under the word's own first letter with the
/// whole budget (one branch of the FST instead of all of it), and across first
/// letters only for words with the rest typed exactly (one edit, at the front).
fn expand(words: &[Arc<SegmentWords>], word: &str, budget: u8, prefix: bool) -> Vec<(String, u8)> {
    let Some(first) = word.chars().next() else {
        return Vec::new();
    };
    let rest = &word[first.len_utf8()..];
    // Candidate → its distance (a word may be found twice: by the search and as a
    // first-letter variant).
    let mut found: HashMap<String, u8> = HashMap::new();
    let keep = |found: &mut HashMap<String, u8>, candidate: &str| {
        if candidate == word {
            return;
        }
        let compared = if prefix {
            // The candidate's beginning as long as what was typed, give or take.
            let end = candidate
                .char_indices()
                .nth(word.chars().count())
                .map_or(candidate.len(), |(at, _)| at);
            &candidate[..end]
        } else {
            candidate
        };
        let d = strsim::osa_distance(word, compared).min(usize::from(budget)) as u8;
        found.insert(candidate.to_owned(), d.max(1));
    };
    let mut first_bytes = [0u8; 4];
    let first_bytes = first.encode_utf8(&mut first_bytes).as_bytes();
    // The closest words first: two typos are looked for only when no word is one
    // away (a distance-2 search costs several times a distance-1 one).
    for distance in 1..=budget {
        if let Some(automaton) = TypoAutomaton::new(rest, distance, prefix) {
            for segment in words {
                segment.search(
                    first_bytes,
                    &automaton,
                    MAX_EXPANSIONS * 4,
                    &mut |candidate| keep(&mut found, candidate),
                );
            }
        }
        if !found.is_empty() {
            break;
        }
    }
    // A first-letter typo with the rest typed exactly: the few words that can be
    // are looked up one by one rather than searched for across the dictionary.
    if budget >= 1 {
        let take = prefix.then_some(4);
        for variant in first_letter_variants(first_bytes, rest) {
            for segment in words {
                segment.visit_key(&variant, take, &mut |candidate| keep(&mut found, candidate));
            }
        }
    }
    let mut found: Vec<(u8, std::cmp::Reverse<u64>, String)> = found
        .into_iter()
        .map(|(candidate, d)| {
            let frequency = words.iter().filter_map(|s| s.frequency(&candidate)).sum();
            (d, std::cmp::Reverse(frequency), candidate)
        })
        .collect();
    found.sort_unstable();
    found
        .into_iter()
        .take(MAX_EXPANSIONS)
        .map(|(d, _, t)| (t, d))
        .collect()
}

/// The typos of a word one character short of the rules that a few documents hold as
/// written (`frequency`, fewer than [`RARE_SHORT_WORD_DOCS`]): when a word one typo away
/// is in [`RARE_SHORT_WORD_COMMONER`] times as many documents, the word is more likely
/// that one with a letter left out than meant as written: `gust` is in 5 of the 822,679
/// PyPI packages and `guest` in 94, so `gust acconut` finds `guest account`. The
/// documents holding the word as written still rank first (`typo`), and a short word
/// as common as its neighbours (`gait`, `clan`, `yaml`) keeps none.
fn rare_short_word_typos(
    words: &[Arc<SegmentWords>],
    word: &str,
    frequency: u64,
) -> Vec<(String, u8)> {
    let found = expand(words, word, 1, false);
    // One typo away each, the commonest first (the order `expand` gives).
    let commonest = found.first().map_or(0, |(candidate, _)| {
        words
            .iter()
            .filter_map(|s| s.frequency(candidate))
            .sum::<u64>()
    });
    if commonest >= frequency.saturating_mul(RARE_SHORT_WORD_COMMONER) {
        found
    } else {
        Vec::new()
    }
}

/// The words one first-letter edit away from `first` + `rest` with `rest` unchanged:
/// another first letter, one more in front, the first one left out, the first two
/// swapped. Letters are the folded alphabet and digits, as the analyzers produce. Each
/// is given as the pieces it is written with, looked up without being built.
fn first_letter_variants<'a>(first: &'a [u8], rest: &'a str) -> Vec<[&'a [u8]; 3]> {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let rest_bytes = rest.as_bytes();
    let mut variants: Vec<[&[u8]; 3]> = Vec::with_capacity(2 * LETTERS.len() + 2);
    for at in 0..LETTERS.len() {
        let letter = &LETTERS[at..=at];
        if letter != first {
            variants.push([letter, rest_bytes, b""]);
        }
        variants.push([letter, first, rest_bytes]);
    }
    if !rest.is_empty() {
        variants.push([rest_bytes, b"", b""]);
        // Where the second letter (the first of `rest`) ends.
        let after = rest.char_indices().nth(1).map_or(rest.len(), |(at, _)| at);
        let (second, tail) = rest_bytes.split_at(after);
        if second != first {
            variants.push([second, first, tail]);
        }
    }
    variants
}

/// One term a query word may match, with the weight its score is multiplied by and
/// what a match on it says for the ranking rules.
#[derive(Debug, Clone)]
pub struct WeightedTerm {
    pub term: Term,
    pub weight: f32,
    /// The query word it stands for (index into [`QueryPlan::words`]).
    pub word: usize,
    /// Typos between the word as typed and this term's word (a first-letter typo
    /// counts twice, as in Meilisearch).
    pub typos: u8,
    /// A prefix match (the word being typed), not a whole word.
    pub prefix: bool,
    /// The field's rank among the text fields, by boost: 0 is the most important.
    pub attribute: u8,
    /// The word exactly as typed, in the dictionary of words as written: it scores
    /// nothing and matches nothing its word's other terms don't; it tells the
    /// `exactness` rule that the document has the very word, not another form of it.
    pub form: bool,
    /// A word typed as two written together (`nodefetch`): this term must be followed,
    /// at the next position of the same field, by this one (a phrase of the two).
    pub next: Option<Term>,
    /// The stem of the word as typed, or of a spelling it was corrected to, in a text
    /// field: a document may hold it as another form of the word (`developable` for
    /// `developing`), which Meilisearch, without stemming, would not match at all. The
    /// `typo` rule puts a word found only so after the word as written (see
    /// `Candidate::other_forms`). Not synonyms, prefixes, words written together or apart.
    pub stemmed: bool,
}

/// A text query taken apart: a document matches when it holds at least one term of
/// every word; the `score` rule sums, over the words, the BM25 of the best term of
/// each that it holds ([`QueryPlan::best_terms_query`]).
#[derive(Debug, Default, Clone)]
pub struct QueryPlan {
    /// Per query word, the terms it may match: each text field's analyzed word,
    /// synonyms, typo expansions and the prefix (or the words it expands to). Empty:
    /// every document matches.
    pub words: Vec<Vec<WeightedTerm>>,
    pub matched: MatchedTerms,
    /// The query words as typed (normalized), one per entry of `words`.
    pub texts: Vec<String>,
    /// Phrases in double quotes, as analyzed terms with their positions: a document
    /// must hold each one, in order and adjacent, in one text field.
    pub phrases: Vec<Vec<(usize, String)>>,
    /// The whole query as a field's head would hold it (see
    /// [`IndexFields::heads`](crate::index::fields::IndexFields::heads)), for the
    /// `exactness` rule; `None` with phrases in quotes.
    pub head: Option<HeadQuery>,
    /// The text fields searched, when a search narrows them (`attributesToSearchOn`);
    /// `None`: all. The rules that look at fields beyond the terms (`exactness`, where
    /// the word being typed stands) look only at these.
    pub fields: Option<Vec<String>>,
    /// The document frequency BM25 gives each typo of a word: that of the word's most
    /// common term in the same field (see [`PlanStatistics`]).
    pub blended: HashMap<Term, u64>,
    /// The query is one identifier typed left to right, its words joined by
    /// separators and no space (`scikit-lern`, `lib1.2-core`): its last part is the
    /// least certain, so `frequency` drops words from the end, as `last` does, rather
    /// than drop the commoner first part.
    pub one_identifier: bool,
}

/// BM25's statistics with the typos of a word blended, as Lucene's fuzzy queries do
/// (`TopTermsBlendedFreqScoringRewrite`): each term a misspelt word found scores with
/// the document frequency of the word's most common spelling in that field. Left to
/// its own, a rare spelling near the word (`panisa`, for `pandsa`) would score the
/// highest IDF of them all and outrank the common word meant (`pandas`), though both
/// are one typo away; blended, the typos compete on their fields alone.
pub struct PlanStatistics<'a> {
    searcher: &'a Searcher,
    blended: &'a HashMap<Term, u64>,
}

impl Bm25StatisticsProvider for PlanStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.searcher.total_num_tokens(field)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.searcher.total_num_docs()
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        match self.blended.get(term) {
            Some(&blended) => Ok(blended),
            None => self.searcher.doc_freq(term),
        }
    }
}

impl QueryPlan {
    /// The statistics BM25 scores this plan's terms with: the searcher's, with the
    /// typos of each word blended.
    pub fn statistics<'a>(&'a self, searcher: &'a Searcher) -> PlanStatistics<'a> {
        PlanStatistics {
            searcher,
            blended: &self.blended,
        }
    }

    /// Whether the text field `name` is searched.
    pub fn searches(&self, name: &str) -> bool {
        self.fields
            .as_ref()
            .is_none_or(|fields| fields.iter().any(|f| f == name))
    }
}

/// The query's normalized words, stop words included, one space apart; and whether
/// the last one is still being typed (so a field beginning with it counts).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadQuery {
    pub text: String,
    /// The same with each word typed as two written together (`pydanticsettings`)
    /// written apart (`pydantic settings`): a field that is this is the query too.
    pub apart: Option<String>,
    /// The same with a misspelt word corrected (`sqlalchmey` as `sqlalchemy`), to
    /// each of its closest spellings in the index; at most [`MAX_CORRECTED_HEADS`].
    /// A field that is one of these is the query as the document spells it, as a word
    /// held in its closest spelling counts as exact.
    pub corrected: Vec<String>,
    /// The same with two or three adjacent words written together, for each run the
    /// index holds as one word (`py yaml` as `pyyaml`, `beautiful sou` as
    /// `beautifulsou`), when typed a space apart: a field that is the words written
    /// together is the query too. Each with whether it is likely finished: when the
    /// word being typed is one of them, that is the word they make together (`path lib`
    /// as `pathlib`), not the last as typed (`lib`, the start of `library` more often
    /// than not).
    pub joined: Vec<(String, bool)>,
    pub last_is_prefix: bool,
    /// The query ends with a separator (`units-`): a field that is only its words is
    /// not what is being typed, one that goes on is.
    pub more: bool,
    /// The last word, still being typed, is likely the start of a longer word: most
    /// documents with a word beginning so have a longer one (`goo` among `google`s).
    /// A field that is exactly the query then counts only as one beginning with it:
    /// more is most likely coming, and the rules after `exactness` (a popularity rule,
    /// say) decide between `goo` and `google-auth`.
    pub unfinished: bool,
}

impl HeadQuery {
    /// Every text a field's head is compared with (as typed, written apart, corrected,
    /// written together), each with whether a field that is exactly that counts as
    /// *being* the query (see [`HeadQuery::equal_counts`]) and with its place among the
    /// corrections (0 for the others): a field that is the likeliest correction comes
    /// before one that is a less likely one.
    pub fn texts(&self) -> impl Iterator<Item = HeadText<'_>> {
        let equal = self.equal_counts();
        let head = |text, equal_counts, correction| HeadText {
            text,
            equal_counts,
            correction,
        };
        std::iter::once(&self.text)
            .chain(self.apart.as_ref())
            .map(move |text| head(text, equal, 0))
            .chain(
                (1..)
                    .zip(&self.corrected)
                    .map(move |(at, text)| head(text, equal, at)),
            )
            .chain(
                self.joined
                    .iter()
                    .map(move |(text, finished)| head(text, !self.more && *finished, 0)),
            )
    }

    /// Whether a field that is exactly the query counts as *being* it (rather than only
    /// beginning with it): not when more is coming after a separator, nor while the
    /// word being typed is likely unfinished.
    pub fn equal_counts(&self) -> bool {
        !self.more && !self.unfinished
    }
}

/// One text a field's head is compared with (see [`HeadQuery::texts`]).
pub struct HeadText<'a> {
    pub text: &'a String,
    /// Whether a field that is exactly this counts as *being* the query.
    pub equal_counts: bool,
    /// 0 for the query as typed (written apart or together), else the place of the
    /// correction this is among the query's corrected heads, the likeliest first (the
    /// closest spellings, then the most common).
    pub correction: usize,
}

/// The parts of a query in double quotes with a closing quote (a lone quote is text),
/// and the query without its quotes.
pub fn phrases(text: &str) -> (Vec<&str>, String) {
    let parts: Vec<&str> = text.split('"').collect();
    // An even number of parts means an odd number of quotes: the last one is lone.
    let closed = if parts.len() % 2 == 0 {
        parts.len() - 1
    } else {
        parts.len()
    };
    let phrases = parts
        .iter()
        .take(closed)
        .skip(1)
        .step_by(2)
        .copied()
        .collect();
    (phrases, text.replace('"', " "))
}

impl QueryPlan {
    /// The query's meaning as one tantivy query: the conjunction of each word's union.
    pub fn query(&self) -> Box<dyn Query> {
        let all: Vec<usize> = (0..self.words.len()).collect();
        self.query_of(&all)
    }

    /// The conjunction of the unions of some of the words (indexes into `words`): the
    /// documents a bucket of the matching strategy draws from.
    pub fn query_of(&self, words: &[usize]) -> Box<dyn Query> {
        // One word: its union alone, so tantivy can prune it with block-max WAND.
        all_of(
            words
                .iter()
                .filter_map(|&w| self.words.get(w))
                .map(|w| union(w))
                .collect(),
        )
    }

    /// Every term of some of the words (indexes into `words`) as one flat union. For
    /// a document that holds no term of the other words it scores what
    /// [`QueryPlan::query`] does (a sum over the terms the document holds, never less
    /// than the `score` rule's sum of each word's best term), and tantivy can run it
    /// with block-max WAND, so a large bucket's top documents are found without
    /// scoring every match; the fewer words, the fewer scorers to prune. It also
    /// matches documents that miss a word: callers check membership against their own
    /// match set.
    pub fn scoring_query_of(&self, words: &[usize]) -> Box<dyn Query> {
        union(words.iter().filter_map(|&w| self.words.get(w)).flatten())
    }

    /// The documents of [`QueryPlan::query`], scored as the `score` rule scores them:
    /// each word by its best term in the document (a disjunction max), summed over the
    /// words. For `_score` among the keys of a `sort`, which has no rules and no cut
    /// by block-max WAND.
    pub fn best_terms_query(&self) -> Box<dyn Query> {
        all_of(
            self.words
                .iter()
                .map(|terms| -> Box<dyn Query> {
                    Box::new(DisjunctionMaxQuery::new(
                        terms.iter().filter(|t| !t.form).map(term_query).collect(),
                    ))
                })
                .collect(),
        )
    }
}

/// The documents every one of `required` matches: every document for none, the one
/// query itself for one (as tantivy would run it alone), else their conjunction.
fn all_of(mut required: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match required.len() {
        0 => Box::new(AllQuery),
        1 => required.remove(0),
        _ => Box::new(BooleanQuery::new(
            required.into_iter().map(|q| (Occur::Must, q)).collect(),
        )),
    }
}

/// The union of a word's terms; the markers of words as written (`form`) match
/// nothing of their own, so they are left out.
fn union<'a>(terms: impl IntoIterator<Item = &'a WeightedTerm>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        terms
            .into_iter()
            .filter(|t| !t.form)
            .map(|t| (Occur::Should, term_query(t)))
            .collect(),
    ))
}

/// One weighted term as a query: BM25 on the term (or on the phrase it begins, for a
/// word typed as two), times its weight.
pub fn term_query(term: &WeightedTerm) -> Box<dyn Query> {
    match &term.next {
        Some(next) => boosted(
            Box::new(PhraseQuery::new(vec![term.term.clone(), next.clone()])),
            term.weight,
        ),
        None => boosted(
            Box::new(TermQuery::new(
                term.term.clone(),
                IndexRecordOption::WithFreqs,
            )),
            term.weight,
        ),
    }
}

/// Most indexed words one long prefix expands to. Past it the prefix matches only the
/// first words in dictionary order; natural-language prefixes of six letters or more
/// begin far fewer words.
const MAX_PREFIX_EXPANSIONS: usize = 1_000;

/// The indexed words of a prefix field that begin with `prefix` (longer than the
/// indexed prefixes, so every term found is a whole word), over all segments.
fn words_beginning(searcher: &Searcher, field: Field, prefix: &str) -> Vec<String> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    for segment in searcher.segment_readers() {
        let Ok(inverted) = segment.inverted_index(field) else {
            continue;
        };
        let Ok(mut stream) = inverted.terms().range().ge(prefix).into_stream() else {
            continue;
        };
        while found.len() < MAX_PREFIX_EXPANSIONS && stream.advance() {
            if !stream.key().starts_with(prefix.as_bytes()) {
                break;
            }
            if let Ok(word) = std::str::from_utf8(stream.key()) {
                found.insert(word.to_owned());
            }
        }
    }
    found.into_iter().collect()
}

/// The terms of a prefix field that stand for `prefix` (normalized), the word being
/// typed: see [`PrefixLookup`].
fn prefix_terms(searcher: &Searcher, field: Field, prefix: &str) -> Vec<String> {
    match prefix_lookup(prefix) {
        PrefixLookup::None => Vec::new(),
        PrefixLookup::Term(p) => vec![p.to_owned()],
        PrefixLookup::Expand(p) => words_beginning(searcher, field, p),
    }
}

/// Takes `text` apart into the terms each of its words may match, in every text field
/// or in those of `search_on`.
pub fn plan(
    index: &CollectionIndex,
    searcher: &Searcher,
    text: &str,
    matching: Matching,
    search_on: Option<&[String]>,
) -> QueryPlan {
    let mut normalizer = index.normalizer();
    let mut analyzer = index.analyzer();
    let (quoted, unquoted) = phrases(text);
    let mut words = analysis::words(&mut normalizer, &unquoted);
    words.truncate(MAX_QUERY_WORDS);
    let mut matched = MatchedTerms::default();
    if words.is_empty() {
        return QueryPlan::default();
    }
    let phrases: Vec<Vec<(usize, String)>> = quoted
        .iter()
        .map(|phrase| analysis::positioned_terms(&mut analyzer, phrase))
        .filter(|terms| terms.len() > 1)
        .collect();
    // Type-ahead: the last word is still being typed unless the query ends in a space
    // (or closes a phrase, whose words are whole).
    let ends_phrase = text.trim_end().ends_with('"') && text.matches('"').count() % 2 == 0;
    // A name typed up to a separator (`node-fetch-`, `lib1.`) has its last word
    // finished, and more to come.
    let ends_with_separator = text
        .chars()
        .last()
        .is_some_and(|c| !c.is_alphanumeric() && !c.is_whitespace() && c != '"');
    let last_is_prefix = matching.prefix
        && !text.ends_with(char::is_whitespace)
        && !ends_phrase
        && !ends_with_separator;
    let mut head = quoted.is_empty().then(|| HeadQuery {
        apart: None,
        corrected: Vec::new(),
        joined: Vec::new(),
        more: ends_with_separator,
        unfinished: false,
        text: words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        last_is_prefix,
    });
    let mut texts = Vec::new();
    let spec = index.spec();
    let mut text_fields = text_fields(&spec, index);
    if let Some(names) = search_on {
        text_fields.retain(|f| names.iter().any(|n| n == f.name));
    }
    let typo_rules = &spec.settings.typo_tolerance;
    let count = words.len();
    let mut required: Vec<Vec<WeightedTerm>> = Vec::new();
    // Where each kept word stands in the query (stop words are not kept).
    let mut kept_at: Vec<usize> = Vec::new();
    // The words typed as two written together, written apart, by their place in `words`.
    let mut apart: HashMap<usize, String> = HashMap::new();
    // The closest spellings of the misspelt words, by their place in `words`.
    let mut corrections: Vec<(usize, Vec<String>)> = Vec::new();
    // The words of each segment, for typos; taken once, and only if a word needs them.
    let mut dictionary: Option<Vec<Arc<SegmentWords>>> = None;
    let mut blended: HashMap<Term, u64> = HashMap::new();
    for (position, word) in words.iter().enumerate() {
        let is_prefix = last_is_prefix && position + 1 == count;
        let mut alternatives: Vec<String> = analysis::terms(&mut analyzer, &word.text);
        let own_stems = alternatives.len();
        if let Some(synonyms) = spec.settings.synonyms.get(&word.text) {
            for synonym in synonyms {
                alternatives.extend(analysis::terms(&mut analyzer, synonym));
            }
        }
        let prefix = if is_prefix {
            match prefix_lookup(&word.text) {
                PrefixLookup::None => None,
                PrefixLookup::Term(p) | PrefixLookup::Expand(p) => Some(p.to_owned()),
            }
        } else {
            None
        };
        if alternatives.is_empty() && prefix.is_none() {
            // A stop word: it neither has to match nor can it.
            continue;
        }
        let mut typos = if matching.typos {
            allowed_typos(typo_rules, &word.text)
        } else {
            0
        };
        // A word one letter short of a typo, which may still be unknown to the index.
        let may_be_unknown =
            matching.typos && typos == 0 && short_of_one_typo(typo_rules, &word.text);
        // A word long enough for a typo may also be two written together (`nodefetch`),
        // a missing space; both are looked for only in a word rare as typed. So may a
        // shorter one where letters and digits meet (`gta5`, `win11`): a number typed on
        // to a word is no typo.
        let mut may_split =
            typos > 0 || (matching.typos && typo_rules.enabled && letters_meet_digits(&word.text));
        // A word that is common as typed is taken to be spelt right: looking for its
        // typos would add thousands of matches that rank below the exact ones anyway,
        // at a cost on every query (Typesense's typo threshold works the same way).
        // "As typed" is the dictionary of words as written, not the stems: `defie`
        // (for `define`) stems to `defi`, a common word of its own.
        let typed_frequency = if may_split || may_be_unknown {
            searcher
                .doc_freq(&Term::from_field_text(index.fields.words, &word.text))
                .unwrap_or(0)
        } else {
            0
        };
        if typed_frequency >= TYPO_FREQUENCY_THRESHOLD {
            typos = 0;
            may_split = false;
        }
        // Whether some word begins with the word being typed, looked up once if needed:
        // then it is taken to be spelt right, and unfinished rather than two words.
        let mut begins_cache: Option<bool> = None;
        let mut begins = |p: &str| {
            *begins_cache.get_or_insert_with(|| begins_some_word(searcher, &text_fields, p))
        };
        // Whether the word being typed is likely finished, looked up once if needed
        // (deciding a split and the word's exactness both ask).
        let mut finished_cache: Option<bool> = None;
        let mut finished = || {
            *finished_cache.get_or_insert_with(|| {
                let form = Term::from_field_text(index.fields.words, &word.text);
                likely_finished(searcher, &text_fields, &form, &word.text)
            })
        };
        // A word no document holds as written, and (being typed) begins none, was
        // meant as no word of the index: it has its typo even one letter short of the
        // rules (`othr` for `other`, `zila` for `zilla`: a deleted letter takes a
        // five-letter word under them). So was one that only a few documents hold,
        // when a word one typo away is far more common: see [`rare_short_word_typos`].
        let rare_short = may_be_unknown
            && typed_frequency < RARE_SHORT_WORD_DOCS
            && !prefix.as_deref().is_some_and(&mut begins);
        if rare_short && typed_frequency == 0 {
            typos = 1;
        }
        // Typos are found among the words as written (one dictionary of every text
        // field's words), then match every form of the word through its stem:
        // `intelnal` is one edit from `internal`, but more than two from `intern`.
        let timer = std::time::Instant::now();
        let typo_words = if typos > 0 {
            let words = dictionary.get_or_insert_with(|| index.typo_words.of(searcher));
            expand(words, &word.text, typos, false)
        } else if rare_short {
            let words = dictionary.get_or_insert_with(|| index.typo_words.of(searcher));
            let found = rare_short_word_typos(words, &word.text, typed_frequency);
            if !found.is_empty() {
                typos = 1;
            }
            found
        } else {
            Vec::new()
        };
        // The closest spellings, for the head: not other forms of the word itself
        // (`kiwi` for `kiwis`: the stem matches those with no typo), nor for the word
        // being typed while it is likely unfinished (`goo`, the start of `google`, is
        // taken as spelt right). A word being typed that is likely finished may still
        // be a typo found as typed in a few documents (`reqeusts` in a summary):
        // its corrections count for exactness as a finished word's do.
        let spelt_right = match prefix.as_deref() {
            Some(p) if is_prefix => begins(p) && !finished(),
            _ => false,
        };
        if !typo_words.is_empty() && !spelt_right {
            // The closest first, then the most common (the likelier meant): the order
            // `expand` gives.
            let spellings: Vec<String> = typo_words
                .iter()
                .filter(|(w, _)| {
                    !analysis::terms(&mut analyzer, w)
                        .iter()
                        .any(|stem| alternatives.contains(stem))
                })
                .take(CORRECTIONS_PER_WORD)
                .map(|(w, _)| w.clone())
                .collect();
            if !spellings.is_empty() {
                corrections.push((position, spellings));
            }
        }
        let typo_stems = stems_of(&mut analyzer, &typo_words, &word.text, &alternatives);
        // The word being typed is split only when finished: when it begins no word, or
        // is likely finished (`nodefetch` among `nodefetch`es; not `reactnat`, the
        // start of `reactnative`, though `react` and `nat` are words too).
        let still_typing = match prefix.as_deref() {
            Some(p) if may_split => begins(p) && !finished(),
            _ => false,
        };
        let split = if may_split && !still_typing {
            // A word found nowhere as typed or begun, nor one edit from a word, is no
            // closer to any word than to the two it splits into (a missing space counts
            // as one typo): then a split into rarer parts is tried too (`ruamelyaml`:
            // `ruamel` is in 42 of 822,679 packages; `jaegerclient`, two edits from
            // `jasperclient`). The two must still stand side by side to match.
            let unmatched = typed_frequency == 0
                && typo_words.iter().all(|(_, distance)| *distance > 1)
                && !prefix.as_deref().is_some_and(&mut begins);
            let dictionary = dictionary.get_or_insert_with(|| index.typo_words.of(searcher));
            split_in_two(
                searcher,
                dictionary,
                &mut analyzer,
                &word.text,
                is_prefix,
                unmatched,
                |split| {
                    let (left, rights) = &split.stems;
                    text_fields.iter().any(|f| {
                        rights.iter().any(|right| {
                            let phrase = PhraseQuery::new(vec![
                                Term::from_field_text(f.field, left),
                                Term::from_field_text(f.field, right),
                            ]);
                            searcher.search(&phrase, &Count).is_ok_and(|n| n > 0)
                        })
                    })
                },
            )
        } else {
            None
        };
        if let Some(split) = &split {
            apart.insert(position, format!("{} {}", split.left, split.right));
        }
        // The word being typed may have a typo too: whole words beginning with
        // something within the allowed typos of it, unless some word begins with it
        // as typed (then it is taken to be spelt right, as whole words are).
        let typo_us = timer.elapsed().as_micros() as u64;
        let prefix_typo_stems = match &prefix {
            Some(p)
                if matching.typos
                    && allowed_typos(typo_rules, p).max(typos) > 0
                    && text_fields.iter().any(|f| f.prefix_field.is_some())
                    && !begins(p) =>
            {
                stems_of(
                    &mut analyzer,
                    &expand(
                        dictionary.get_or_insert_with(|| index.typo_words.of(searcher)),
                        p,
                        allowed_typos(typo_rules, p).max(typos),
                        true,
                    ),
                    p,
                    &alternatives,
                )
            }
            _ => Vec::new(),
        };
        tracing::debug!(
            word = %word.text,
            typos,
            typo_us,
            prefix_typo_us = timer.elapsed().as_micros() as u64 - typo_us,
            typo_stems = typo_stems.len(),
            prefix_typo_stems = prefix_typo_stems.len(),
            split = ?split.as_ref().map(|s| (&s.left, &s.right)),
            "query word"
        );
        let slot = required.len();
        let mut options: Vec<WeightedTerm> = Vec::new();
        for f in &text_fields {
            let field_terms = matched.terms.entry(f.name.to_owned()).or_default();
            let mut push =
                |term: Term, weight: f32, typos: u8, prefix: bool, next: Option<Term>, stemmed| {
                    options.push(WeightedTerm {
                        term,
                        weight,
                        word: slot,
                        typos,
                        prefix,
                        attribute: f.attribute,
                        form: false,
                        next,
                        stemmed,
                    });
                };
            for (n, term) in alternatives.iter().enumerate() {
                let weight = if n == 0 { f.boost } else { f.boost * 0.9 };
                // The word's own stems come first, its synonyms' after them.
                let own = n < own_stems;
                push(
                    Term::from_field_text(f.field, term),
                    weight,
                    0,
                    false,
                    None,
                    own,
                );
                field_terms.insert(term.clone());
            }
            for (stem, typos) in &typo_stems {
                push(
                    Term::from_field_text(f.field, stem),
                    f.boost * typo_weight(*typos),
                    *typos,
                    false,
                    None,
                    true,
                );
                field_terms.insert(stem.clone());
            }
            // The two words side by side count as one typo, as in Meilisearch.
            if let Some(Split {
                stems: (left, rights),
                ..
            }) = &split
            {
                for right in rights {
                    push(
                        Term::from_field_text(f.field, left),
                        f.boost * typo_weight(1),
                        1,
                        false,
                        Some(Term::from_field_text(f.field, right)),
                        false,
                    );
                    field_terms.insert(right.clone());
                }
                field_terms.insert(left.clone());
            }
            // Matches of the word being typed as the start of a word: only in fields
            // with type-ahead.
            let Some(prefix_field) = f.prefix_field else {
                continue;
            };
            for (stem, typos) in &prefix_typo_stems {
                push(
                    Term::from_field_text(f.field, stem),
                    f.boost * PREFIX_WEIGHT * typo_weight(*typos),
                    *typos,
                    true,
                    None,
                    false,
                );
                field_terms.insert(stem.clone());
            }
            if let Some(prefix) = &prefix {
                let terms = prefix_terms(searcher, prefix_field, prefix);
                for term in &terms {
                    push(
                        Term::from_field_text(prefix_field, term),
                        f.boost * PREFIX_WEIGHT,
                        0,
                        true,
                        None,
                        false,
                    );
                }
            }
        }
        // The corrected spellings as written: a document holding the very word meant
        // (`developing` for `develpoing`) is exact, one with another form of it
        // (`development`) is not.
        for (candidate, distance) in &typo_words {
            options.push(WeightedTerm {
                term: Term::from_field_text(index.fields.words, candidate),
                weight: 0.0,
                word: slot,
                typos: typo_count(&word.text, candidate, *distance),
                prefix: false,
                attribute: u8::MAX,
                form: true,
                next: None,
                stemmed: false,
            });
        }
        if !alternatives.is_empty() {
            let form = Term::from_field_text(index.fields.words, &word.text);
            // On the word being typed, a document holding it complete as typed so far
            // says less than a finished word does, unless the word is likely finished:
            // most documents with a word beginning so have this very word (`emails`,
            // not `goo` among `google`s).
            // A word typed as two written together is finished (see above), and so is
            // one that begins no word (`matplotlb`): it is not the start of a longer
            // word but a typo, whose corrections (`matplotlib`) are whole words.
            let unfinished = is_prefix
                && split.is_none()
                && prefix.as_deref().is_none_or(&mut begins)
                && !finished();
            if let Some(head) = head.as_mut().filter(|_| is_prefix) {
                head.unfinished = unfinished;
            }
            options.push(WeightedTerm {
                prefix: unfinished,
                term: form,
                weight: 0.0,
                word: slot,
                typos: 0,
                attribute: u8::MAX,
                form: true,
                next: None,
                stemmed: false,
            });
        }
        if prefix.is_some() {
            matched.prefix = prefix;
            matched.whole_words_only = self::text_fields(&spec, index)
                .iter()
                .filter(|f| {
                    f.prefix_field.is_none() || !text_fields.iter().any(|t| t.name == f.name)
                })
                .map(|f| f.name.to_owned())
                .collect();
        }
        blend_typos(searcher, &options, &mut blended);
        required.push(options);
        texts.push(word.text.clone());
        kept_at.push(position);
    }
    if let Some(head) = head.as_mut().filter(|_| !apart.is_empty()) {
        head.apart = Some(
            words
                .iter()
                .enumerate()
                .map(|(at, w)| apart.get(&at).map_or(w.text.as_str(), String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if let Some(head) = head.as_mut() {
        head.corrected = corrected_heads(&words, &corrections);
    }
    let last = required.len().checked_sub(1);
    for first in 0..required.len().saturating_sub(1) {
        // Two or three adjacent words (`web socket`, `django rest framework`), as
        // Meilisearch's n-grams.
        for end in first + 1..(first + MAX_JOINED_WORDS).min(required.len()) {
            if kept_at[end] != kept_at[end - 1] + 1 {
                break;
            }
            let parts: Vec<&str> = texts[first..=end].iter().map(String::as_str).collect();
            if parts.iter().map(|p| p.chars().count()).sum::<usize>() < MIN_JOINED_CHARS {
                continue;
            }
            let is_prefix = last_is_prefix && last == Some(end);
            let terms = joined_terms(
                index,
                searcher,
                &mut analyzer,
                &text_fields,
                &mut matched,
                &parts,
                is_prefix,
            );
            // Only words typed a space apart: `mcp-le` is not `mcplex`, whose name the
            // hyphen typed says it is not.
            let spaced = words
                .get(kept_at[first]..=kept_at[end])
                .is_some_and(|typed| {
                    typed.windows(2).all(|pair| {
                        unquoted
                            .get(pair[0].to..pair[1].from)
                            .is_some_and(|gap| gap.chars().all(char::is_whitespace))
                    })
                });
            if is_prefix && !terms.is_empty() {
                matched.joined_prefixes.insert(parts.concat(), first);
            }
            if let Some(head) = head.as_mut().filter(|_| spaced && !terms.is_empty()) {
                let finished = if is_prefix {
                    let joined = parts.concat();
                    let form = Term::from_field_text(index.fields.words, &joined);
                    likely_finished(searcher, &text_fields, &form, &joined)
                } else {
                    !head.unfinished
                };
                head.joined
                    .push((joined_head(&words, kept_at[first]..=kept_at[end]), finished));
            }
            for term in terms {
                for (word, options) in required.iter_mut().enumerate().take(end + 1).skip(first) {
                    options.push(WeightedTerm {
                        word,
                        ..term.clone()
                    });
                }
            }
        }
    }
    let one_identifier = typed_as_one_identifier(text, texts.len());
    QueryPlan {
        words: required,
        matched,
        texts,
        phrases,
        head,
        fields: search_on.map(<[String]>::to_vec),
        blended,
        one_identifier,
    }
}

/// Whether `text`, taken apart into `words` words, is one identifier typed left to
/// right: several words joined by separators, no space, no quotes (`scikit-lern`,
/// `lib1.2-core`, `snake_case_na`).
fn typed_as_one_identifier(text: &str, words: usize) -> bool {
    let text = text.trim();
    words > 1 && !text.contains('"') && !text.contains(char::is_whitespace)
}

/// The query's words with those of `joined` written together.
fn joined_head(words: &[analysis::Word], joined: std::ops::RangeInclusive<usize>) -> String {
    let mut out = String::new();
    for (at, word) in words.iter().enumerate() {
        if at > 0 && !(at > *joined.start() && joined.contains(&at)) {
            out.push(' ');
        }
        out.push_str(&word.text);
    }
    out
}

/// Most closest spellings of one misspelt word tried in the query's head (the closest,
/// then the most common, first).
const CORRECTIONS_PER_WORD: usize = 8;

/// Most corrected heads of one query (see [`HeadQuery::corrected`]).
pub const MAX_CORRECTED_HEADS: usize = 16;

/// The query's words joined as a head, with each misspelt word (by its place in
/// `words`) replaced by each of its closest spellings, alone and together with the
/// others', the first corrections first; at most [`MAX_CORRECTED_HEADS`].
fn corrected_heads(words: &[analysis::Word], corrections: &[(usize, Vec<String>)]) -> Vec<String> {
    let typed: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    let mut variants: Vec<Vec<&str>> = vec![typed];
    for (at, spellings) in corrections {
        let mut more = Vec::new();
        for variant in &variants {
            for spelling in spellings {
                let mut corrected = variant.clone();
                if let Some(slot) = corrected.get_mut(*at) {
                    *slot = spelling.as_str();
                }
                more.push(corrected);
            }
        }
        variants.extend(more);
        variants.truncate(MAX_CORRECTED_HEADS + 1);
    }
    variants
        .into_iter()
        .skip(1)
        .map(|words| words.join(" "))
        .collect()
}

/// Gives each typo among a word's `options` the document frequency of the word's most
/// common term in its field (typos, its own forms, synonyms), in `blended`; see
/// [`PlanStatistics`]. Only a word with typos is looked at.
fn blend_typos(searcher: &Searcher, options: &[WeightedTerm], blended: &mut HashMap<Term, u64>) {
    let scored = || options.iter().filter(|t| !t.form && t.next.is_none());
    if !scored().any(|t| t.typos > 0) {
        return;
    }
    let mut most: HashMap<Field, u64> = HashMap::new();
    let mut typos: Vec<&Term> = Vec::new();
    for option in scored() {
        let field = option.term.field();
        let freq = searcher.doc_freq(&option.term).unwrap_or(0);
        let entry = most.entry(field).or_default();
        *entry = (*entry).max(freq);
        if option.typos > 0 {
            typos.push(&option.term);
        }
    }
    for term in typos {
        if let Some(&freq) = most.get(&term.field()) {
            blended.insert(term.clone(), freq);
        }
    }
}

/// Two adjacent query words are also looked for written together, when the two make
/// at least this many characters: `web socket` finds `websocket`, `beautiful sou`
/// finds `beautifulsoup4` (Meilisearch's n-grams of two words work the same way).
const MIN_JOINED_CHARS: usize = 4;

/// Most adjacent query words looked for written together: `django rest framework`
/// finds `djangorestframework` (Meilisearch's n-grams go up to three words too).
const MAX_JOINED_WORDS: usize = 3;

/// The terms adjacent query words written as one (`joined`) match, each standing for
/// all of the words (`word` is set by the caller): whole (stemmed, in each text field,
/// and as written for `exactness`) or, when the last is the word being typed, as a
/// prefix. Only terms the index holds: most runs of words are not a word together.
/// Whole terms are added to `matched` for highlighting, as the words' own are.
fn joined_terms(
    index: &CollectionIndex,
    searcher: &Searcher,
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    text_fields: &[TextField<'_>],
    matched: &mut MatchedTerms,
    parts: &[&str],
    is_prefix: bool,
) -> Vec<WeightedTerm> {
    let joined = &parts.concat();
    let held = |term: &Term| searcher.doc_freq(term).unwrap_or(0) > 0;
    let weighted = |term: Term, weight: f32, prefix: bool, attribute: u8| WeightedTerm {
        term,
        weight,
        word: 0,
        typos: 0,
        prefix,
        attribute,
        form: false,
        next: None,
        stemmed: false,
    };
    let mut out = Vec::new();
    if is_prefix {
        for f in text_fields {
            let Some(prefix_field) = f.prefix_field else {
                continue;
            };
            for found in prefix_terms(searcher, prefix_field, joined) {
                let term = Term::from_field_text(prefix_field, &found);
                if held(&term) {
                    out.push(weighted(term, f.boost * PREFIX_WEIGHT, true, f.attribute));
                }
            }
        }
        return out;
    }
    let stems = analysis::terms(analyzer, joined);
    // A stop word alone, or a joined word the analyzer split again: not one word.
    let [stem] = stems.as_slice() else {
        return out;
    };
    // `test s` joined is `tests`, whose stem is `test`'s: every document holding the
    // first word would hold the second too.
    if parts
        .iter()
        .any(|part| analysis::terms(analyzer, part).contains(stem))
    {
        return out;
    }
    for f in text_fields {
        let term = Term::from_field_text(f.field, stem);
        if held(&term) {
            out.push(weighted(term, f.boost, false, f.attribute));
            matched
                .terms
                .entry(f.name.to_owned())
                .or_default()
                .insert(stem.clone());
        }
    }
    let form = Term::from_field_text(index.fields.words, joined);
    if !out.is_empty() && held(&form) {
        out.push(WeightedTerm {
            form: true,
            ..weighted(form, 0.0, false, u8::MAX)
        });
    }
    out
}

/// Each part of a word split in two is at least this long: in a large collection of
/// technical text, nearly every two-letter string is a word somewhere (`ng`, `ed`,
/// `rs`), and `protectng` would split into `protect` and `ng`.
const MIN_SPLIT_PART_CHARS: usize = 3;

/// Each part of a split of a word that matches nothing otherwise is at least this long.
/// Names are made of two-letter parts too (`socket.io`, `chart.js`, `vue-ui`), typed
/// joined (`socketio`); such a split is taken only where its parts stand side by side
/// in some document, and `protectng`, one edit from `protecting`, is not unmatched.
const MIN_CHECKED_SPLIT_PART_CHARS: usize = 2;

/// Each part of a word split in two is in at least one document in this many (and
/// in two at least), unless the split is checked ([`CHECKED_SPLIT_PART_DOCS`]).
const SPLIT_PART_RARITY: u64 = 10_000;
/// Each part of a split checked to stand side by side in some document (of a word that
/// matches nothing otherwise, or where letters and digits meet) is in at least this
/// many documents.
const CHECKED_SPLIT_PART_DOCS: u64 = 1;

/// The word being typed, split in two, has its second part typed up to its start
/// (`pydanticsett`: `pydantic` and `sett`): the part stands for this many of the words
/// beginning with it, the most common (`settings`, `setting`, ...).
const SPLIT_PREFIX_COMPLETIONS: usize = 4;

/// The words beginning with such a part read from each segment's dictionary, to
/// pick the most common from.
const SPLIT_PREFIX_SCAN: usize = 1_000;

/// Whether somewhere in `word` a letter and a digit stand side by side.
fn letters_meet_digits(word: &str) -> bool {
    word.chars()
        .zip(word.chars().skip(1))
        .any(|(a, b)| a.is_ascii_digit() != b.is_ascii_digit())
}

/// A word typed as two written together.
#[derive(Debug)]
struct Split {
    /// The two words as typed (normalized); the second, of the word being typed, may
    /// be typed up to its start.
    left: String,
    right: String,
    /// Their stems, which the phrase of the two is looked for with: the second's, or
    /// those of the most common words beginning with it.
    stems: (String, Vec<String>),
}

/// The two words `word` most likely is, written together (`nodefetch`: `node` and
/// `fetch`). Each part is a word of the index as written, of at least
/// [`MIN_SPLIT_PART_CHARS`] characters (or split where letters and digits meet) and one
/// stem (not a stop word), and in at least one document in [`SPLIT_PART_RARITY`]; of
/// several such splits, the one whose rarer part is the more common. When `unmatched`
/// (the word is found nowhere as typed nor one edit from a word), or where letters and
/// digits meet, each part need only be in [`CHECKED_SPLIT_PART_DOCS`] documents if the
/// two are side by side in some document (`side_by_side`); when `unmatched`, every split
/// is so checked. (Meilisearch picks the pair most often side by side, from an index of
/// word pairs that sift does not keep; a word rarely splits into two real
/// words more than one way.) With `typing` (the word being typed), the second part
/// may be the start of words (`pydanticsett`: `pydantic` and `sett`, for `settings`):
/// it counts as the documents holding a word beginning so, and stands for the
/// [`SPLIT_PREFIX_COMPLETIONS`] most common of them, and for itself when it is a word
/// (`langchainexa`: `exa`). The split points are tried against
/// the in-memory dictionaries of words as written with their frequencies (`dictionary`,
/// the typo search's): a term-dictionary lookup per split point cost typo queries a
/// fifth of their time.
fn split_in_two(
    searcher: &Searcher,
    dictionary: &[Arc<SegmentWords>],
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    word: &str,
    typing: bool,
    unmatched: bool,
    mut side_by_side: impl FnMut(&Split) -> bool,
) -> Option<Split> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    // The split points, each with whether letters and digits meet there: each part at
    // least `MIN_SPLIT_PART_CHARS` long (`MIN_CHECKED_SPLIT_PART_CHARS` when every
    // split is checked), or where they meet (`iphone15`: `iphone` and `15`; a number is
    // typed on purpose, not a fragment).
    let min_part = if unmatched {
        MIN_CHECKED_SPLIT_PART_CHARS
    } else {
        MIN_SPLIT_PART_CHARS
    };
    let points: Vec<(usize, bool)> = (1..chars.len())
        .filter_map(|n| {
            let long = n >= min_part && chars.len() - n >= min_part;
            let meet = chars[n - 1].1.is_ascii_digit() != chars[n].1.is_ascii_digit();
            (long || meet).then_some((chars[n].0, meet))
        })
        .collect();
    let frequency = |part: &str| -> u64 {
        dictionary
            .iter()
            .filter_map(|segment| segment.frequency(part))
            .sum()
    };
    // The words the second part stands for, the most common first, with the
    // documents holding each.
    let completions = |part: &str| -> Vec<(String, u64)> {
        if !typing {
            let n = frequency(part);
            return if n > 0 {
                vec![(part.to_owned(), n)]
            } else {
                Vec::new()
            };
        }
        let mut found: HashMap<String, u64> = HashMap::new();
        for segment in dictionary {
            for (w, n) in segment.beginning(part, SPLIT_PREFIX_SCAN) {
                *found.entry(w).or_default() += n;
            }
        }
        let mut found: Vec<(String, u64)> = found.into_iter().collect();
        found.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        found
    };
    // Both parts must be words in use: in a large collection nearly any misspelt word
    // splits into two fragments found somewhere (`compzct`: `compz` and `ct`).
    // Rarer parts are taken where checked to be side by side somewhere: for a word
    // unmatched otherwise, and where letters and digits meet (`spriteutils7`, though
    // `spriteutils` is one edit away: the number was typed on purpose).
    let common = (searcher.num_docs() / SPLIT_PART_RARITY).max(2);
    let checked = |rarer: u64| unmatched || rarer < common;
    // The splits found; one taken unchecked beats any later with a rarer part as rare.
    let mut found: Vec<(u64, Split)> = Vec::new();
    let beaten = |found: &[(u64, Split)], n: u64| {
        found.iter().any(|(best, _)| !checked(*best) && *best >= n)
    };
    for &(at, meet) in &points {
        let floor = if unmatched || meet {
            CHECKED_SPLIT_PART_DOCS
        } else {
            common
        };
        let (left, right) = word.split_at(at);
        let left_frequency = frequency(left);
        if left_frequency < floor || beaten(&found, left_frequency) {
            continue;
        }
        let rights = completions(right);
        let rarer = left_frequency.min(rights.iter().map(|(_, n)| n).sum());
        if rarer < floor || beaten(&found, rarer) {
            continue;
        }
        let left_stems = analysis::terms(analyzer, left);
        let [left_stem] = left_stems.as_slice() else {
            continue;
        };
        let mut right_stems: Vec<String> = Vec::new();
        // The part typed so far, when a word of its own, may be the whole of it
        // (`langchainexa`: `exa`, not only `example`).
        let whole = rights.iter().find(|(w, _)| w == right).into_iter();
        for (w, _) in whole.chain(rights.iter().take(SPLIT_PREFIX_COMPLETIONS)) {
            if let [stem] = analysis::terms(analyzer, w).as_slice()
                && !right_stems.contains(stem)
            {
                right_stems.push(stem.clone());
            }
        }
        if right_stems.is_empty() {
            continue;
        }
        let split = Split {
            left: left.to_owned(),
            right: right.to_owned(),
            stems: (left_stem.clone(), right_stems),
        };
        found.push((rarer, split));
    }
    // The likeliest first (a stable sort: of equals, the first split point), of those
    // taken unchecked or found side by side: a word unmatched otherwise takes the
    // likeliest whose two words stand side by side somewhere (`walkscoreapi`:
    // `walkscore` and `api`, not `walks` and `coreapi`, whose rarer part is more
    // common), else the likeliest of common parts, as any other word.
    found.sort_by_key(|(rarer, _)| std::cmp::Reverse(*rarer));
    let at = found
        .iter()
        .position(|(rarer, split)| !checked(*rarer) || side_by_side(split))
        .or_else(|| {
            found
                .first()
                .filter(|(rarer, _)| *rarer >= common)
                .map(|_| 0)
        });
    at.map(|at| found.swap_remove(at).1)
}

/// A text field as the plan uses it.
struct TextField<'a> {
    name: &'a str,
    boost: f32,
    field: Field,
    prefix_field: Option<Field>,
    /// Rank by boost, 0 the highest; of equal boosts, the field declared first ranks
    /// higher.
    attribute: u8,
}

/// The text fields by name with their rank by boost, then by declaration order (0 the
/// most important), as the terms of a plan carry it in `attribute`.
pub fn text_field_ranks(index: &CollectionIndex) -> Vec<(String, u8)> {
    text_fields(&index.spec(), index)
        .into_iter()
        .map(|f| (f.name.to_owned(), f.attribute))
        .collect()
}

fn text_fields<'a>(spec: &'a IndexSpec, index: &CollectionIndex) -> Vec<TextField<'a>> {
    let fields: Vec<&crate::schema::FieldDefinition> = spec
        .schema
        .fields()
        .iter()
        .filter(|f| f.searched())
        .collect();
    // Higher boost first; of equal boosts, the field declared first (a stable sort), as
    // Meilisearch's `searchableAttributes` and Typesense's `query_by` order fields: who
    // lists `title` before `description` and sets no boosts means a title match first.
    let mut by_importance: Vec<usize> = (0..fields.len()).collect();
    by_importance.sort_by(|&a, &b| fields[b].boost.total_cmp(&fields[a].boost));
    let mut ranks = vec![0usize; fields.len()];
    for (rank, &at) in by_importance.iter().enumerate() {
        ranks[at] = rank;
    }
    fields
        .into_iter()
        .zip(ranks)
        .filter_map(|(f, attribute)| {
            let handle = index.fields.searched.get(&f.name)?;
            Some(TextField {
                name: f.name.as_str(),
                boost: f.boost as f32,
                field: *handle,
                prefix_field: index.fields.prefixes.get(&f.name).copied(),
                attribute: u8::try_from(attribute).unwrap_or(u8::MAX),
            })
        })
        .collect()
}

/// The stems of typo candidates (whole words with their distance to `typed`), with
/// the fewest typos each, leaving out the word's own terms.
fn stems_of(
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    candidates: &[(String, u8)],
    typed: &str,
    own: &[String],
) -> Vec<(String, u8)> {
    let mut stems: HashMap<String, u8> = HashMap::new();
    for (candidate, distance) in candidates {
        let typos = typo_count(typed, candidate, *distance);
        for stem in analysis::terms(analyzer, candidate) {
            if own.contains(&stem) {
                continue;
            }
            let best = stems.entry(stem).or_insert(typos);
            *best = (*best).min(typos);
        }
    }
    let mut stems: Vec<(String, u8)> = stems.into_iter().collect();
    stems.sort();
    stems
}

/// Whether `word`, still being typed, is likely finished: at least half of the
/// documents with a word beginning with it (in its busiest field) hold it exactly.
fn likely_finished(searcher: &Searcher, fields: &[TextField<'_>], form: &Term, word: &str) -> bool {
    let exact = searcher.doc_freq(form).unwrap_or(0);
    if exact == 0 {
        return false;
    }
    let beginning = fields
        .iter()
        .filter_map(|f| f.prefix_field)
        .map(|field| {
            // Summed over the terms: a document with two of them counts twice, which
            // only makes "likely finished" a little harder to reach.
            prefix_terms(searcher, field, word)
                .iter()
                .map(|w| {
                    searcher
                        .doc_freq(&Term::from_field_text(field, w))
                        .unwrap_or(0)
                })
                .sum()
        })
        .max()
        .unwrap_or(0);
    tracing::debug!(word, exact, beginning, "word being typed");
    exact.saturating_mul(2) >= beginning
}

/// Whether some indexed word of some text field begins with `prefix`.
fn begins_some_word(searcher: &Searcher, fields: &[TextField<'_>], prefix: &str) -> bool {
    fields.iter().filter_map(|f| f.prefix_field).any(|field| {
        prefix_terms(searcher, field, prefix).iter().any(|t| {
            searcher
                .doc_freq(&Term::from_field_text(field, t))
                .is_ok_and(|n| n > 0)
        })
    })
}

/// How much a match with `typos` typos counts against an exact one.
fn typo_weight(typos: u8) -> f32 {
    match typos {
        0 => 1.0,
        1 => ONE_TYPO_WEIGHT,
        _ => TWO_TYPOS_WEIGHT,
    }
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if boost == 0.0 {
        return Box::new(ConstScoreQuery::new(query, 0.0));
    }
    if (boost - 1.0).abs() < f32::EPSILON {
        query
    } else {
        Box::new(BoostQuery::new(query, boost))
    }
}

/// The documents holding every phrase of the plan (in one text field each), as a
/// filter; `None` without phrases.
pub fn phrase_filter(index: &CollectionIndex, plan: &QueryPlan) -> Option<Box<dyn Query>> {
    if plan.phrases.is_empty() {
        return None;
    }
    let fields: Vec<Field> = text_fields(&index.spec(), index)
        .iter()
        .filter(|f| plan.searches(f.name))
        .map(|f| f.field)
        .collect();
    let each: Vec<(Occur, Box<dyn Query>)> = plan
        .phrases
        .iter()
        .map(|terms| {
            let in_some_field: Vec<(Occur, Box<dyn Query>)> = fields
                .iter()
                .map(|&field| {
                    let phrase = tantivy::query::PhraseQuery::new_with_offset(
                        terms
                            .iter()
                            .map(|(at, t)| (*at, Term::from_field_text(field, t)))
                            .collect(),
                    );
                    (Occur::Should, Box::new(phrase) as Box<dyn Query>)
                })
                .collect();
            (
                Occur::Must,
                Box::new(BooleanQuery::new(in_some_field)) as Box<dyn Query>,
            )
        })
        .collect();
    Some(Box::new(BooleanQuery::new(each)))
}

/// `query` restricted to documents `filter` matches, without `filter` adding to scores.
pub fn with_filter(query: Box<dyn Query>, filter: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, query),
        (Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_word_is_corrected_alone_and_with_the_others_up_to_a_bound() {
        let words: Vec<analysis::Word> = ["flsk", "sqlalchmey", "utils"]
            .iter()
            .map(|w| analysis::Word {
                text: (*w).to_owned(),
                from: 0,
                to: 0,
            })
            .collect();
        let corrections = vec![
            (0, vec!["flask".to_owned()]),
            (1, vec!["sqlalchemy".to_owned(), "sqlalchemyx".to_owned()]),
        ];
        assert_eq!(
            corrected_heads(&words, &corrections),
            [
                "flask sqlalchmey utils",
                "flsk sqlalchemy utils",
                "flsk sqlalchemyx utils",
                "flask sqlalchemy utils",
                "flask sqlalchemyx utils",
            ]
        );
        let many = vec![(1, (0..40).map(|n| format!("w{n}")).collect())];
        assert_eq!(corrected_heads(&words, &many).len(), MAX_CORRECTED_HEADS);
        assert!(corrected_heads(&words, &[]).is_empty());
    }

    #[test]
    fn a_query_without_spaces_of_several_words_is_one_identifier() {
        assert!(typed_as_one_identifier("scikit-lern", 2));
        assert!(typed_as_one_identifier(" lib1.2-core ", 3));
        assert!(!typed_as_one_identifier("scikit lern", 2), "words apart");
        assert!(!typed_as_one_identifier("scikit", 1), "one word");
        assert!(!typed_as_one_identifier("\"scikit-lern\"", 2), "a phrase");
    }

    #[test]
    fn typos_by_word_length_and_never_on_numbers() {
        let rules = TypoTolerance::default();
        assert_eq!(allowed_typos(&rules, "lamp"), 0);
        assert_eq!(allowed_typos(&rules, "kettle"), 1);
        assert_eq!(allowed_typos(&rules, "headphones"), 2);
        assert_eq!(allowed_typos(&rules, "123456789"), 0);
        let off = TypoTolerance {
            enabled: false,
            ..TypoTolerance::default()
        };
        assert_eq!(allowed_typos(&off, "headphones"), 0);
    }

    #[test]
    fn a_word_one_letter_short_of_a_typo_and_four_long_may_have_one() {
        let rules = TypoTolerance::default();
        assert!(short_of_one_typo(&rules, "othr"));
        assert!(short_of_one_typo(&rules, "zïla"), "characters, not bytes");
        assert!(!short_of_one_typo(&rules, "oth"), "too short");
        assert!(!short_of_one_typo(&rules, "other"), "has its typo already");
        assert!(!short_of_one_typo(&rules, "2024"), "a number");
        let longer = TypoTolerance {
            one_typo_min_length: 7,
            ..TypoTolerance::default()
        };
        assert!(short_of_one_typo(&longer, "guests"));
        assert!(!short_of_one_typo(&longer, "othr"), "two letters short");
        let off = TypoTolerance {
            enabled: false,
            ..TypoTolerance::default()
        };
        assert!(!short_of_one_typo(&off, "othr"));
    }
}
