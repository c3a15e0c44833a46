//! Ranking rules and the matching strategy: the order users of Meilisearch and
//! Typesense expect, with BM25 inside it.
//!
//! A search's matches are taken in *buckets*. The first bucket holds the documents
//! that match every word of the query; when it cannot fill the page, the next holds
//! those matching all words but one (any one), then all but two, and so on down to
//! one word. So an answer is never empty while some word matches, and a document
//! matching more words always ranks above one matching fewer: a word misspelt beyond
//! the typo rules, or an extra word the document lacks, costs a bucket, wherever it
//! stands in the query. Inside a bucket the matching strategy says which missing
//! words cost least (`last`: the last word, then the one before it; `frequency`: the
//! most common word first, counted as written, see [`written_frequencies`]; `all`
//! has one bucket): the documents lacking only the
//! words it drops first lead, as they would if it dropped words one at a time, and
//! the documents lacking other words follow instead of being lost. A bucket is ranked
//! in parts, one per set of words lacking, in that order, so that a part is cut by
//! the score of the words its documents hold (fewer scorers for block-max WAND to
//! prune: ranking a lower bucket whole, or cutting it over every word, doubled the
//! p99 of three-word queries on the practice set). (Dropping words
//! one at a time, as Meilisearch does, loses them: `reljies nupy sciqy` with `nupy`
//! a package name but a misspelt `numpy` kept `nupy` to the end and found only it.)
//!
//! Inside a bucket, documents are ordered by the collection's ranking rules, in
//! order, each breaking the ties of the one before (the default order is this
//! table's, without the field rule):
//!
//! | rule | better |
//! |---|---|
//! | `words` | more query words matched (the bucket) |
//! | `typo` | fewer typos over the matched words (a first-letter typo counts two) |
//! | `exactness` | a field that *is* the query (its words as typed), then a field that begins with it (the last word may be the start of one), more important fields first (while the word being typed is likely unfinished, most documents with a word beginning so having a longer one, a field that is the query only begins with it: `goo` is the start of `google` more often than the package `goo`); then more words found exactly as written: as typed, or as the spelling a typo was corrected to; not another form of the word (`development` for `developing`), nor a prefix (but the word being typed, one of several and of 4 letters or more, counts when found whole) |
//! | `proximity` | the matched words closer together, and in the query's order |
//! | `attribute` | the words found in more important fields (by boost; of equal boosts, the field declared first), then nearer the start of the field |
//! | `score` | among fields that are (or begin with) the query corrected, the likeliest correction (closest, then most common) first; then higher BM25, each query word scoring once, by its best term in the document (the field it matches best, weighted by its boost; its likeliest spelling or completion, typos and prefixes weighted down), summed over the words |
//! | `field:desc`, `field:asc` | a numeric or date field declared `sortable`: popularity, sales, rating |
//!
//! Why `exactness` comes early, where Meilisearch has it last: the text fields are
//! stemmed, so a word also matches its other forms; `exactness` puts the documents
//! with the very words typed first, which is what matching only those words gives
//! Meilisearch (on the practice set, moving it before `proximity` took known-item
//! MRR@10 from .77 to .82 and typo queries from .70 to .77).
//!
//! Word positions (for `proximity` and the start of `attribute`) are read only for
//! the best [`POSITIONS_WINDOW`] of a bucket by the other rules: reading positions
//! costs more than everything else a document needs. Prefix terms have no positions
//! in the index; the word being typed is found in those documents' stored text.
//!
//! A bucket of up to [`EXACT_RANK_LIMIT`] documents is ranked whole. A larger one (a
//! query of one common word or a short prefix) is first cut to its
//! [`RERANK_WINDOW`] best documents by the BM25 of all their terms summed (what
//! block-max WAND can prune; never below the `score` rule's sum of each word's best
//! term), and those are ranked by the rules: a document outside that window would
//! have to win on a rule before `score` to be missed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tantivy::columnar::{StrColumn, TermOrdHit};
use tantivy::postings::SegmentPostings;
use tantivy::query::{EnableScoring, Query, Weight};
use tantivy::{DocAddress, DocId, DocSet, Searcher, SegmentReader, Term};

use crate::index::CollectionIndex;
use crate::index::bitsets::DocBits;
use crate::index::fields::user_field;
use crate::index::head_columns::HeadColumn;
use crate::schema::{CollectionSchema, FieldType};
use crate::search::distinct::first_value;
use crate::search::query::{self, QueryPlan};
use crate::search::score_details::{
    AttributeDetails, Bm25Details, ExactnessDetails, FieldDetails, MatchType, ProximityDetails,
    RankingScoreDetails, TypoDetails, WordsDetails,
};

/// A bucket up to this size is ranked whole by the rules.
pub const EXACT_RANK_LIMIT: u64 = 10_000;
/// A part of a bucket of documents lacking some words is ranked whole up to this size
/// only (a part lacking the rarest words holds thousands: every document with one
/// common word); past it, it is cut by score as a larger bucket is. What lacks words
/// matters less than what matches them all.
pub const LOWER_EXACT_RANK_LIMIT: u64 = RERANK_WINDOW as u64;
/// A larger bucket is cut to this many documents by score before the rules rank them.
pub const RERANK_WINDOW: usize = 1_000;

/// How many of a bucket's best documents get their word positions read (the same for
/// every page, so that pages never repeat or skip a hit; a page past them is in the
/// order the other rules give).
pub const POSITIONS_WINDOW: usize = 200;
/// How many of a bucket's best documents (by the rules before positions are known,
/// whatever the page asked for) have the word being typed looked for in their stored
/// text; the others count it as far from the other words. Reading stored text is the
/// dearest step of ranking.
pub const PREFIX_POSITIONS_WINDOW: usize = 20;
/// The word being typed, when one of several and at least this long, found whole as
/// typed counts for `exactness` like a finished word: who typed `release reserve`
/// most likely means `reserve`. Shorter, it is too often the start of a longer word
/// (`xl` of `xlsx`); alone, it is the whole query, which `exactness` already judges
/// by the fields that are or begin with it, and counting it would put documents that
/// merely hold a short word (`hatch`) above the names beginning with it
/// (`hatchling`). On the practice set: known-item MRR@10 +.008, extra word +.006,
/// the one-word sets unchanged.
pub(crate) const MIN_TYPED_WHOLE_CHARS: usize = 4;
/// The proximity cost of two words further apart than this, or in different fields.
const MAX_PROXIMITY: u32 = 8;
/// Where in a field a match counts as "late"; later ones count the same.
const MAX_POSITION: u32 = 16;

/// The rules when a collection does not set its own.
pub const DEFAULT_RULES: [&str; 6] = [
    "words",
    "typo",
    "exactness",
    "proximity",
    "attribute",
    "score",
];

pub use crate::schema::MatchingStrategy;

/// One ranking rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Words,
    Typo,
    Proximity,
    Attribute,
    Exactness,
    Score,
    /// A sortable numeric or date field: higher first when `descending`.
    Field {
        name: String,
        field_type: FieldType,
        descending: bool,
    },
}

/// Parses ranking rules (`words`, `typo`, `proximity`, `attribute`, `exactness`,
/// `score`, `field:asc|desc`, and Meilisearch's `sort`, which changes nothing) against
/// the schema, `score` last.
pub fn parse_rules(raw: &[String], schema: &CollectionSchema) -> Result<Vec<Rule>, String> {
    if raw.is_empty() || raw.len() > 16 {
        return Err("rankingRules: give 1 to 16 rules".into());
    }
    let mut rules = Vec::with_capacity(raw.len());
    let mut sort_given = false;
    for text in raw {
        let rule = match text.as_str() {
            "words" => Rule::Words,
            "typo" => Rule::Typo,
            "proximity" => Rule::Proximity,
            "attribute" => Rule::Attribute,
            "exactness" => Rule::Exactness,
            "score" => Rule::Score,
            // Meilisearch's place for the search's `sort`, accepted so its rules can be
            // used as they are; here `sort=` replaces the rules for one search, so
            // the place changes nothing.
            "sort" if !sort_given => {
                sort_given = true;
                continue;
            }
            "sort" => return Err("rankingRules: `sort` is given twice".into()),
            other => {
                let (name, descending) = match other.rsplit_once(':') {
                    Some((name, "desc")) => (name, true),
                    Some((name, "asc")) => (name, false),
                    _ => {
                        return Err(format!(
                            "rankingRules: `{}` is not words, typo, proximity, attribute, exactness, score or field:asc|desc",
                            crate::schema::truncate(other, 40)
                        ));
                    }
                };
                match schema.field(name) {
                    Some(f)
                        if f.sortable
                            && matches!(
                                f.field_type,
                                FieldType::Integer | FieldType::Float | FieldType::Datetime
                            ) =>
                    {
                        Rule::Field {
                            name: f.name.clone(),
                            field_type: f.field_type,
                            descending,
                        }
                    }
                    _ => {
                        return Err(format!(
                            "rankingRules: `{}` is not a sortable integer, float or datetime field",
                            crate::schema::truncate(name, 40)
                        ));
                    }
                }
            }
        };
        if rules.contains(&rule) {
            return Err(format!("rankingRules: `{text}` is given twice"));
        }
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err("rankingRules: give at least one rule besides `sort`".into());
    }
    // BM25 almost never ties, so a rule after `score` could never decide anything:
    // `score` goes last, and the rules listed after it apply before it. Written either
    // way (`..., "score", "popularity:desc"`, the order of "text relevance, then a
    // custom signal" in Typesense and in Meilisearch, which have no BM25 rule), a
    // popularity rule orders what the text rules tie.
    if let Some(at) = rules.iter().position(|r| *r == Rule::Score) {
        let score = rules.remove(at);
        rules.push(score);
    }
    Ok(rules)
}

/// The collection's rules (its own, or the default).
pub fn rules_of(index: &CollectionIndex) -> Vec<Rule> {
    let default: Vec<String> = DEFAULT_RULES.iter().map(|r| (*r).to_owned()).collect();
    let spec = index.spec();
    let raw = spec.settings.ranking_rules.as_deref().unwrap_or(&default);
    parse_rules(raw, &spec.schema)
        .or_else(|_| parse_rules(&default, &spec.schema))
        .unwrap_or_default()
}

/// What the rules know of one candidate.
#[derive(Debug, Clone)]
struct Candidate {
    address: DocAddress,
    /// The bucket: 0 matched every word, 1 all but one, and so on.
    bucket: usize,
    /// The words it lacks, as the sum of their weights by the matching strategy's
    /// order (the first word to drop weighs least): inside a bucket, documents lacking
    /// the words the strategy would drop first come first.
    missing: u32,
    typos: u32,
    /// Words found only as another form of themselves (`developable` for
    /// `developing`, through the stem), neither as written nor as a prefix: the `typo`
    /// rule's second part, so that rules after it (`proximity`, `attribute`, listed
    /// before `exactness` as in Meilisearch) do not put a stemmed match side by side
    /// above the words as typed a little apart. Meilisearch, which does not stem,
    /// would not match them at all.
    other_forms: u32,
    /// Lower is closer; 0 until positions are read.
    proximity: u32,
    attribute: u32,
    /// Where the words stand in their best field; 0 until positions are read.
    position: u32,
    /// How a text field's value compares with the whole query: [`HEAD_EQUAL`] it is
    /// the query, [`HEAD_BEGINS`] it begins with it, plus the field's importance; 0
    /// neither. The first part of `exactness`, as in Meilisearch.
    start: u32,
    /// Finished words found exactly as typed.
    exact: u32,
    /// The word still being typed found complete as typed so far. Alone (or short)
    /// it is weaker evidence than a finished word, so it only breaks ties of BM25's
    /// rank, just before it; see [`MIN_TYPED_WHOLE_CHARS`] for when it also counts
    /// in `exact`.
    typed_exact: bool,
    /// Of the fields at the `start` level, the place of the likeliest correction of the
    /// query one of them is (or begins with), 0 when one is the query as typed (or
    /// none is either). Among names that are a correction of `numpyy`, `numpy`, the most
    /// common of the closest spellings, is likelier than `numpsy`. Part of `score`, just
    /// before BM25: a rule listed after `score` (popularity) comes before it, and knows
    /// better which spelling was meant than a word's frequency does.
    correction: u32,
    /// BM25, summed over the query words, each word scoring once: by its best term in
    /// the document (the field it matches best, the likeliest of its spellings and
    /// completions), as Lucene's `DisjunctionMaxQuery` scores a word searched in
    /// several fields. Summed over every term, a word found in the name and again in
    /// the summary (`sphin`: `sphinx-cs`, "a Sphinx extension"), or as two of its
    /// spellings, counted twice, and outweighed a name that is the word alone. On the
    /// practice set, with the default rules: popular-name prefixes MRR@10 .146 -> .195
    /// (Debian's packages .523 -> .577, known items .719 -> .732); the other sets
    /// within a query's worth.
    score: f32,
    /// One value per field rule, in rule order.
    values: Vec<Option<f64>>,
}

fn compare(a: &Candidate, b: &Candidate, rules: &[Rule]) -> Ordering {
    compare_by_rules(a, b, rules).then_with(|| a.address.cmp(&b.address))
}

/// [`compare`] without the address: `Equal` for documents every rule ties.
fn compare_by_rules(a: &Candidate, b: &Candidate, rules: &[Rule]) -> Ordering {
    let mut field = 0;
    for rule in rules {
        let order = match rule {
            Rule::Words => a.bucket.cmp(&b.bucket).then(a.missing.cmp(&b.missing)),
            Rule::Typo => a
                .typos
                .cmp(&b.typos)
                .then(a.other_forms.cmp(&b.other_forms)),
            Rule::Proximity => a.proximity.cmp(&b.proximity),
            Rule::Attribute => a
                .attribute
                .cmp(&b.attribute)
                .then(a.position.cmp(&b.position)),
            Rule::Exactness => b.start.cmp(&a.start).then(b.exact.cmp(&a.exact)),
            Rule::Score => b
                .typed_exact
                .cmp(&a.typed_exact)
                .then(a.correction.cmp(&b.correction))
                .then(b.score.total_cmp(&a.score)),
            Rule::Field { descending, .. } => {
                let (x, y) = (a.values[field], b.values[field]);
                field += 1;
                match (x, y) {
                    (Some(x), Some(y)) if *descending => y.total_cmp(&x),
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    // A document without the value goes after those with one.
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                }
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    // Buckets always come first, whatever the rules say.
    a.bucket.cmp(&b.bucket).then(a.missing.cmp(&b.missing))
}

/// Orders each run of `ranked` (sorted by [`compare`]) that every rule ties, and that
/// reaches into the first `upto`, shorter text first: the sum of the lengths of the
/// documents' searched fields' heads (their first [`HEAD_WORDS`] words). BM25 counts
/// words, in buckets, so `keyring` and `keyrings`, or two summaries of as many words,
/// tie on every rule; the shorter is the more focused match. Then by id, so that the
/// order of ties is the same in every build of the index (an address depends on how
/// indexing split the work): replicas and rebuilds answer alike, and a forked package
/// with the same summary and a name as long does not swap places with the original
/// from one rebuild to the next. Only tied runs on the page are read.
///
/// [`HEAD_WORDS`]: crate::index::fields::HEAD_WORDS
fn break_ties(
    index: &CollectionIndex,
    readers: &[SegmentReader],
    fields: &[(String, u8)],
    ranked: &mut [Candidate],
    upto: usize,
    rules: &[Rule],
) {
    // Each segment's columns, taken once, when a tie there is first met.
    let mut columns: Vec<Option<TieColumns>> = vec![None; readers.len()];
    let mut start = 0;
    while start < ranked.len().min(upto) {
        let mut end = start + 1;
        while end < ranked.len()
            && compare_by_rules(&ranked[start], &ranked[end], rules) == Ordering::Equal
        {
            end += 1;
        }
        if end - start > 1 {
            let run = &mut ranked[start..end];
            // Within one segment an id's ordinal orders as its bytes (the column's
            // dictionary is sorted), so the bytes are read only for a run across
            // segments.
            let one_segment = run
                .iter()
                .all(|c| c.address.segment_ord == run[0].address.segment_ord);
            let mut keys: Vec<(usize, TieId, usize)> = run
                .iter()
                .enumerate()
                .map(|(at, c)| {
                    let segment = c.address.segment_ord as usize;
                    let tie = columns.get_mut(segment).map(|slot| {
                        &*slot.get_or_insert_with(|| tie_columns(index, &readers[segment], fields))
                    });
                    let doc = c.address.doc_id;
                    let length = tie.map_or(0, |t| text_length(&t.heads, doc));
                    let ids = tie.and_then(|t| t.ids.as_ref());
                    let id = if one_segment {
                        TieId::Ordinal(ids.and_then(|ids| ids.term_ords(doc).next()))
                    } else {
                        TieId::Bytes(
                            ids.and_then(|ids| first_value(ids, doc))
                                .unwrap_or_default(),
                        )
                    };
                    (length, id, at)
                })
                .collect();
            keys.sort_unstable();
            let reordered: Vec<Candidate> =
                keys.iter().map(|(_, _, at)| run[*at].clone()).collect();
            run.clone_from_slice(&reordered);
        }
        start = end;
    }
}

/// What [`break_ties`] reads of one segment.
#[derive(Clone)]
struct TieColumns {
    /// The head columns of the searched fields, each with its values' byte lengths
    /// by ordinal when they could be read.
    heads: Vec<HeadColumn>,
    ids: Option<StrColumn>,
}

/// A tied document's id, as [`break_ties`] compares it: its ordinal in the id column
/// when every document of the run is in one segment (ordinals order as the ids do
/// there), else its bytes. A run holds one kind only.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum TieId {
    Ordinal(Option<u64>),
    Bytes(Vec<u8>),
}

/// The head columns of `fields`, and the ids, in one segment.
fn tie_columns(
    index: &CollectionIndex,
    reader: &SegmentReader,
    fields: &[(String, u8)],
) -> TieColumns {
    let segment = index.head_columns.segment(reader);
    TieColumns {
        heads: fields
            .iter()
            .filter_map(|(name, _)| segment.fields.get(name).cloned())
            .collect(),
        ids: segment.ids.clone(),
    }
}

/// The summed byte length of a document's heads.
fn text_length(heads: &[HeadColumn], doc: DocId) -> usize {
    let mut scratch = Vec::new();
    let mut length = 0;
    for head in heads {
        for ord in head.column.term_ords(doc) {
            length += head.value_length(ord, &mut scratch);
        }
    }
    length
}

/// The documents holding every word, over all segments.
fn at_least_all(words: &[Vec<DocBits>]) -> u64 {
    words
        .iter()
        .map(|per_word| DocBits::count_all(per_word))
        .sum()
}

/// How common each query word is as written, for the `frequency` strategy: of the
/// documents matching the word (`words`, per segment), those holding it as typed or as
/// a typo of it was corrected to (its form terms), or, for the word being typed, a word
/// it begins; not the other forms its stem brings (a word typed as two written
/// together counts where the two stand side by side). A word's stem is a family:
/// `converter` stems as `convert`, `converts` and `converting` do, in 11,500 of
/// 822,679 packages, more than `fast` (8,100), though as typed it is in 2,200.
/// Counted by stem, `converter fast executable` dropped `converter` first, the word
/// the person chose, and kept the generic `fast`; Meilisearch, which does not stem,
/// counts the words as typed.
fn written_frequencies(
    index: &CollectionIndex,
    searcher: &Searcher,
    plan: &QueryPlan,
    words: &[Vec<DocBits>],
) -> tantivy::Result<Vec<u64>> {
    let mut frequencies = vec![0u64; plan.words.len()];
    for (reader, matching) in searcher.segment_readers().iter().zip(words) {
        for (w, word) in plan.words.iter().enumerate() {
            let mut bits = index.bitsets.word_matches(
                reader,
                word.iter()
                    .filter(|t| t.next.is_none() && (t.form || t.prefix))
                    .map(|t| &t.term),
            )?;
            for split in word.iter().filter(|t| t.next.is_some()) {
                bits.union(&phrase_matches(searcher, reader, split)?);
            }
            bits.intersect(&matching[w]);
            frequencies[w] += bits.len();
        }
    }
    Ok(frequencies)
}

/// The strategy `plan` is ranked with: `frequency` drops the words of a query typed as
/// one identifier from its end, as `last` does ([`QueryPlan::one_identifier`]).
pub fn strategy_for(strategy: MatchingStrategy, plan: &QueryPlan) -> MatchingStrategy {
    if strategy == MatchingStrategy::Frequency && plan.one_identifier {
        MatchingStrategy::Last
    } else {
        strategy
    }
}

/// The words in the order the strategy drops them, every one of them (empty under
/// `all`, which drops none). Words that match nothing at all go first whatever the
/// strategy: keeping one to the end would leave the answer empty while other words
/// match.
fn drop_order(strategy: MatchingStrategy, frequencies: &[u64]) -> Vec<usize> {
    let n = frequencies.len();
    let mut order: Vec<usize> = (0..n).collect();
    match strategy {
        MatchingStrategy::All => return Vec::new(),
        // The later word first.
        MatchingStrategy::Last => order.reverse(),
        // Most frequent first; among equals, the later word first.
        MatchingStrategy::Frequency => {
            order.sort_by(|&a, &b| frequencies[b].cmp(&frequencies[a]).then(b.cmp(&a)))
        }
    }
    // Stable: the strategy's order stays among the words that match something.
    order.sort_by_key(|&w| frequencies[w] > 0);
    order
}

/// The ranked documents, best first, and the exact number of documents in the buckets
/// visited.
pub struct Ranked {
    pub hits: Vec<(f32, DocAddress)>,
    pub total: u64,
    /// Which query words every hit matches (indexes into the plan's words): all of
    /// them unless words were dropped.
    pub kept_words: Vec<usize>,
    /// What the rules saw of each hit, in the order of `hits`: kept so that the
    /// ranking score and its details are worked out only for the hits shown.
    seen: Vec<Candidate>,
    rules: Vec<Rule>,
    scale: Scale,
}

impl Ranked {
    /// The `i`th hit's ranking score (see [`ranking_score`]).
    pub fn ranking_score(&self, i: usize) -> Option<f64> {
        self.seen
            .get(i)
            .map(|c| ranking_score(c, &self.rules, self.scale))
    }

    /// What each rule saw of the `i`th hit, and its score on the rule.
    pub fn details(&self, i: usize) -> Option<RankingScoreDetails> {
        self.seen
            .get(i)
            .map(|c| score_details(c, &self.rules, self.scale))
    }
}

/// Where ranking switches from ranking a bucket whole to cutting it by score first.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// [`EXACT_RANK_LIMIT`]
    pub exact: u64,
    /// [`LOWER_EXACT_RANK_LIMIT`]
    pub lower_exact: u64,
    /// [`RERANK_WINDOW`]
    pub window: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            exact: EXACT_RANK_LIMIT,
            lower_exact: LOWER_EXACT_RANK_LIMIT,
            window: RERANK_WINDOW,
        }
    }
}

/// Ranks the matches of `plan` (restricted by `filter`) and returns the `wanted` best.
pub fn rank(
    index: &CollectionIndex,
    searcher: &Searcher,
    plan: &QueryPlan,
    filter: Option<&dyn Query>,
    wanted: usize,
    strategy: MatchingStrategy,
    rules: &[Rule],
) -> tantivy::Result<Ranked> {
    rank_with(
        index,
        searcher,
        plan,
        filter,
        wanted,
        strategy,
        rules,
        Limits::default(),
    )
}

/// [`rank`] with other limits (tests reach the cut-by-score path on small indexes).
#[allow(clippy::too_many_arguments)]
pub fn rank_with(
    index: &CollectionIndex,
    searcher: &Searcher,
    plan: &QueryPlan,
    filter: Option<&dyn Query>,
    wanted: usize,
    strategy: MatchingStrategy,
    rules: &[Rule],
    limits: Limits,
) -> tantivy::Result<Ranked> {
    let strategy = strategy_for(strategy, plan);
    let filter_weight = filter
        .map(|f| f.weight(EnableScoring::disabled_from_searcher(searcher)))
        .transpose()?;
    let readers = searcher.segment_readers();
    let n = plan.words.len();
    // Per segment: the allowed documents, and each word's documents among them.
    let mut words: Vec<Vec<DocBits>> = Vec::with_capacity(readers.len());
    let mut frequencies = vec![0u64; n];
    for reader in readers {
        let allowed = index.bitsets.allowed(reader, filter_weight.as_deref())?;
        let mut per_word = Vec::with_capacity(n);
        for (w, word) in plan.words.iter().enumerate() {
            // The markers of words as written only tell `exactness`; they match
            // nothing a word's other terms don't (a stop word has no stem).
            let mut bits = index.bitsets.word_matches(
                reader,
                word.iter()
                    .filter(|t| !t.form && t.next.is_none())
                    .map(|t| &t.term),
            )?;
            for split in word.iter().filter(|t| t.next.is_some()) {
                bits.union(&phrase_matches(searcher, reader, split)?);
            }
            if let Some(allowed) = &allowed {
                bits.intersect(allowed);
            }
            frequencies[w] += bits.len();
            per_word.push(bits);
        }
        words.push(per_word);
    }
    if strategy == MatchingStrategy::Frequency && n > 1 && at_least_all(&words) < wanted as u64 {
        let written = written_frequencies(index, searcher, plan, &words)?;
        // A word written nowhere (nor any correction of it) is counted by what it
        // matches at all: its stem alone (`oing` stems as `o`), a synonym, the word
        // it is joined with.
        for (frequency, written) in frequencies.iter_mut().zip(written) {
            if written > 0 {
                *frequency = written;
            }
        }
    }
    let order = drop_order(strategy, &frequencies);
    // What a missing word costs a document in its bucket: a power of two by the
    // strategy's order, so that summed over the missing words they sort as the
    // strategy drops words (`last`: missing only the last word beats missing only the
    // one before it, which beats missing both).
    let mut weights = vec![0u32; n];
    for (at, &w) in order.iter().enumerate() {
        weights[w] = 1 << at.min(30);
    }
    // The last bucket: documents matching at least one word (every word, under `all`).
    let last_step = if order.is_empty() { 0 } else { n - 1 };
    let mut ranked: Vec<Candidate> = Vec::new();
    let mut total = 0;
    let statistics = plan.statistics(searcher);
    let scorer_weights = plan
        .words
        .iter()
        .flatten()
        .map(|t| {
            query::term_query(t).weight(EnableScoring::enabled_from_statistics_provider(
                &statistics,
                searcher,
            ))
        })
        .collect::<tantivy::Result<Vec<_>>>()?;
    let terms: Vec<&query::WeightedTerm> = plan.words.iter().flatten().collect();
    // Per term, whether some candidate described so far holds it: the documents whose
    // positions are read are among those, so a term none holds needs no postings
    // opened (most terms of a typo query are spellings no candidate has).
    let mut present = vec![false; terms.len()];
    let prefix_probe = PrefixProbe::of(index, plan);
    // The text fields and their ranks, once per search (not per segment).
    let ranks = query::text_field_ranks(index);
    let heads: Vec<Vec<HeadMatch>> = if rules.contains(&Rule::Exactness) {
        readers
            .iter()
            .map(|reader| head_matches(index, reader, plan, &ranks))
            .collect()
    } else {
        Vec::new()
    };
    // Per segment, entry `k - 1`: the documents matching at least `k` words; worked
    // out only when needed (the total of a lower bucket, the rest of a large one).
    let mut levels: Option<Vec<Vec<DocBits>>> = None;
    for step in 0..=last_step {
        // The bucket of documents lacking `step` words, taken apart by which ones
        // they lack, the strategy's favourite first: each part is the documents
        // holding every word but those (so the words rule orders the parts), and it
        // is cut by the score of those words alone when large. Past
        // [`MAX_BUCKET_PARTS`] parts, the rest of the bucket is one part.
        let mut parts = missing_sets(n, step, MAX_BUCKET_PARTS);
        // The parts' documents are gathered only when a rest must leave them out.
        let has_rest = parts.len() == MAX_BUCKET_PARTS;
        if has_rest {
            parts.push(Part::Rest);
        }
        let mut taken: Option<Vec<DocBits>> = None;
        for part in parts {
            // `None`: the rest, whose documents lack various words.
            let (mask, docs): (Option<u32>, Vec<DocBits>) = match part {
                Part::Lacking(mask) => {
                    let lacking: Vec<usize> = (0..n)
                        .filter(|&at| mask & (1 << at) != 0)
                        .map(|at| order[at])
                        .collect();
                    let docs = words
                        .iter()
                        .map(|per_word| {
                            let held: Vec<&DocBits> = per_word
                                .iter()
                                .enumerate()
                                .filter(|(w, _)| !lacking.contains(w))
                                .map(|(_, bits)| bits)
                                .collect();
                            let lacked: Vec<&DocBits> =
                                lacking.iter().map(|&w| &per_word[w]).collect();
                            DocBits::all_of(&held, &lacked).unwrap_or_default()
                        })
                        .collect();
                    (Some(mask), docs)
                }
                Part::Rest => {
                    // Documents holding exactly `n - step` words, less the parts taken.
                    let levels = levels.get_or_insert_with(|| {
                        words.iter().map(|per_word| at_least(per_word)).collect()
                    });
                    let docs = levels
                        .iter()
                        .enumerate()
                        .map(|(segment, levels)| {
                            let mut docs = levels[n - step - 1].clone();
                            if let Some(above) = levels.get(n - step) {
                                docs.subtract(above);
                            }
                            if let Some(taken) = taken.as_ref().and_then(|t| t.get(segment)) {
                                docs.subtract(taken);
                            }
                            docs
                        })
                        .collect();
                    (None, docs)
                }
            };
            if step == 0 {
                total = docs.iter().map(DocBits::len).sum();
            }
            if has_rest {
                match taken.as_mut() {
                    None => taken = Some(docs.clone()),
                    Some(taken) => taken.iter_mut().zip(&docs).for_each(|(t, d)| t.union(d)),
                }
            }
            let size: u64 = docs.iter().map(DocBits::len).sum();
            if size == 0 {
                continue;
            }
            let exact = if step == 0 {
                limits.exact
            } else {
                limits.lower_exact
            };
            let candidates: Vec<Vec<DocId>> = if size <= exact {
                docs.iter().map(|b| b.iter().collect()).collect()
            } else {
                // The part's documents hold no term of the words they lack: the
                // score of the others is theirs, with fewer scorers to prune.
                let lacking = mask.unwrap_or(0);
                let kept: Vec<usize> = (0..n).filter(|&w| weights[w] & lacking == 0).collect();
                best_by_score(plan, &kept, searcher, &docs, limits.window.max(wanted))?
            };
            let mut found = describe(
                readers,
                &candidates,
                &scorer_weights,
                &terms,
                &heads,
                step,
                rules,
                &mut present,
            )?;
            // A part's documents all lack its words (the mask is their weight); the
            // rest's are looked up one by one.
            for candidate in &mut found {
                candidate.missing = mask.unwrap_or_else(|| {
                    let segment = &words[candidate.address.segment_ord as usize];
                    (0..n)
                        .filter(|&w| !segment[w].contains(candidate.address.doc_id))
                        .map(|w| weights[w])
                        .sum()
                });
            }
            // The first `window` get their word positions read; those the page needs
            // past them follow in the order the rules give without positions. Neither
            // window depends on the page asked for: pages of one query (`offset`) must
            // neither repeat nor skip a hit, so the first hits are the same whatever
            // the `limit`. Only the documents kept are picked out (linear) and sorted,
            // rather than the whole part (up to [`EXACT_RANK_LIMIT`] documents).
            // `compare` is a total order (the address breaks ties), so these are the
            // very documents a full sort puts first.
            let upto = wanted.saturating_sub(ranked.len());
            let window = POSITIONS_WINDOW.min(found.len());
            let keep = window.max(upto).min(found.len());
            if keep < found.len() {
                found.select_nth_unstable_by(keep, |a, b| compare(a, b, rules));
                found.truncate(keep);
            }
            found.sort_unstable_by(|a, b| compare(a, b, rules));
            if rules
                .iter()
                .any(|r| matches!(r, Rule::Proximity | Rule::Attribute))
            {
                read_positions(
                    searcher,
                    &mut found[..window],
                    &terms,
                    &present,
                    prefix_probe.as_ref().map(|p| (p, PREFIX_POSITIONS_WINDOW)),
                )?;
                found[..window].sort_unstable_by(|a, b| compare(a, b, rules));
            }
            break_ties(index, readers, &ranks, &mut found[..window], upto, rules);
            found.truncate(upto);
            ranked.extend(found);
            if ranked.len() >= wanted {
                break;
            }
        }
        if ranked.len() >= wanted || step == last_step {
            // The total counts the documents holding at least as many words as the
            // last bucket visited.
            if step > 0 {
                let levels = levels.get_or_insert_with(|| {
                    words.iter().map(|per_word| at_least(per_word)).collect()
                });
                total = levels.iter().map(|l| l[n - step - 1].len()).sum();
            }
            break;
        }
    }
    // The words every hit matches: those no hit misses.
    let missed = ranked.iter().fold(0u32, |all, c| all | c.missing);
    let kept_words = (0..n).filter(|&w| missed & weights[w] == 0).collect();
    let scale = Scale {
        words: n as u32,
        text_fields: ranks.len() as u32,
    };
    Ok(Ranked {
        hits: ranked.iter().map(|c| (c.score, c.address)).collect(),
        total,
        kept_words,
        seen: ranked,
        rules: rules.to_vec(),
        scale,
    })
}

/// The documents of `reader` holding a word typed as two (`nodefetch`) written apart:
/// its phrase, which no cache of term bitsets holds (such words are rare: only those
/// rare as typed are split).
fn phrase_matches(
    searcher: &Searcher,
    reader: &SegmentReader,
    split: &query::WeightedTerm,
) -> tantivy::Result<DocBits> {
    let weight =
        query::term_query(split).weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut docs = Vec::new();
    weight.for_each_no_score(reader, &mut |found| docs.extend_from_slice(found))?;
    Ok(DocBits::from_docs(reader.max_doc(), &docs))
}

/// How many parts of a bucket (by the words their documents lack) are ranked one by
/// one; the rest of the bucket is one more part. Ten words lacking five make 252.
const MAX_BUCKET_PARTS: usize = 32;

/// One part of a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    /// The documents lacking exactly these words: bit `p` is the `p`th word of the
    /// strategy's drop order, so the mask is also the part's weight.
    Lacking(u32),
    /// The bucket's documents in no part before.
    Rest,
}

/// The first `most` sets of `lacking` words out of `n`, as masks over the drop order,
/// in increasing order: the strategy's favourite first.
fn missing_sets(n: usize, lacking: usize, most: usize) -> Vec<Part> {
    if lacking > n || n > 30 {
        return Vec::new();
    }
    if lacking == 0 {
        return vec![Part::Lacking(0)];
    }
    let mut out = Vec::new();
    // Gosper's hack: the next larger integer with as many bits set.
    let mut mask: u32 = (1 << lacking) - 1;
    while mask < (1 << n) && out.len() < most {
        out.push(Part::Lacking(mask));
        let lowest = mask & mask.wrapping_neg();
        let ripple = mask + lowest;
        mask = (((ripple ^ mask) >> 2) / lowest) | ripple;
    }
    out
}

/// Per segment's word sets: entry `k - 1` holds the documents matching at least `k`
/// of the words.
fn at_least(per_word: &[DocBits]) -> Vec<DocBits> {
    let n = per_word.len();
    let mut levels: Vec<DocBits> = Vec::with_capacity(n);
    for (i, word) in per_word.iter().enumerate() {
        // levels[j] |= levels[j - 1] & word, from the top down; levels[-1] is everything.
        let mut top = levels.last().cloned().unwrap_or_else(|| word.clone());
        if i > 0 {
            top.intersect(word);
        }
        for j in (1..levels.len()).rev() {
            let mut both = levels[j - 1].clone();
            both.intersect(word);
            levels[j].union(&both);
        }
        if let Some(first) = levels.first_mut() {
            first.union(word);
        }
        levels.push(top);
    }
    levels
}

/// What a ranking score is out of: the query's words and the collection's text fields.
#[derive(Debug, Clone, Copy)]
struct Scale {
    words: u32,
    text_fields: u32,
}

/// Most words whose missing combinations the ranking score tells apart (a query has
/// at most [`query::MAX_QUERY_WORDS`]).
const MAX_SCORED_WORDS: u32 = 16;

/// A candidate's ranking score, in (0, 1]: the rules in order, as digits of one number.
/// Each rule places the candidate on its own scale (`rank` of `levels`, the best being
/// `levels`), and a rule counts for less than the smallest step of the rule before it, so
/// the scores order candidates as the rules do, and they mean the same in any query
/// of any collection: 1 is the best any rule can give (all words, no typos, the field
/// *is* the query...). BM25 has no top: it counts last, as `s / (s + 10)`. Field rules
/// (`popularity:desc`) have no scale and don't count, as sort rules don't in
/// Meilisearch's ranking score, the idea this follows.
fn ranking_score(c: &Candidate, rules: &[Rule], scale: Scale) -> f64 {
    let mut digits: Vec<(u32, u32)> = Vec::with_capacity(2 * rules.len());
    // BM25's share of the last step, when `score` is a rule.
    let mut tail = None;
    for rule in rules {
        let (own, bm25) = rule_digits(c, rule, scale);
        digits.extend(own);
        if let Rule::Score = rule {
            tail = bm25;
            break;
        }
    }
    mixed_radix(&digits, tail)
}

/// A rule's place for a candidate as digits `(rank, levels)`, 1 the worst rank and
/// `levels` the best (a digit of one level says nothing), and for `score` BM25's share
/// of the last step.
fn rule_digits(c: &Candidate, rule: &Rule, scale: Scale) -> ([(u32, u32); 2], Option<f64>) {
    let n = scale.words.max(1);
    let none = (1, 1);
    match rule {
        Rule::Words => {
            // Which words are missing, below how many: 2^n sums of weights.
            let sums = 1u32 << n.min(MAX_SCORED_WORDS);
            (
                [
                    (n - (c.bucket as u32).min(n - 1), n),
                    (sums - c.missing.min(sums - 1), sums),
                ],
                None,
            )
        }
        Rule::Typo => {
            let most = 2 * n;
            (
                [
                    (most + 1 - c.typos.min(most), most + 1),
                    (n + 1 - c.other_forms.min(n), n + 1),
                ],
                None,
            )
        }
        Rule::Proximity => {
            let most = MAX_PROXIMITY * (n - 1);
            ([(most + 1 - c.proximity.min(most), most + 1), none], None)
        }
        Rule::Attribute => {
            let most = scale.text_fields.saturating_sub(1) * n;
            let latest = MAX_POSITION * n;
            (
                [
                    (most + 1 - c.attribute.min(most), most + 1),
                    (latest + 1 - c.position.min(latest), latest + 1),
                ],
                None,
            )
        }
        Rule::Exactness => {
            // Neither (1); begins with a correction, is one, begins with the query as
            // typed, is it, each by field importance (2 to 1025).
            let levels = 2 + (HEAD_EQUAL + 255 - CORRECTED_BEGINS);
            let start = match c.start.checked_sub(CORRECTED_BEGINS) {
                Some(above) => 2 + above.min(levels - 2),
                None => 1,
            };
            ([(start, levels), (c.exact.min(n) + 1, n + 1)], None)
        }
        Rule::Score => {
            let bm25 = f64::from(c.score.max(0.0));
            (
                [
                    (1 + u32::from(c.typed_exact), 2),
                    (HEAD_CORRECTIONS - c.correction, HEAD_CORRECTIONS),
                ],
                Some(bm25 / (bm25 + 10.0)),
            )
        }
        Rule::Field { .. } => ([none, none], None),
    }
}

/// Digits `(rank, levels)` as one number in mixed radix, in integers so that the best
/// is exactly 1; `tail` is the share of the last step (all of it when `None`).
fn mixed_radix(digits: &[(u32, u32)], tail: Option<f64>) -> f64 {
    let (mut rank, mut of) = (0u128, 1u128);
    for &(r, levels) in digits {
        let levels = u128::from(levels.max(1));
        rank = rank.saturating_mul(levels) + u128::from(r.max(1) - 1).min(levels - 1);
        of = of.saturating_mul(levels);
    }
    (rank as f64 + tail.unwrap_or(1.0)) / of as f64
}

/// Per rule, what it saw of `c` and `c`'s score on the rule alone (its digits as
/// [`ranking_score`] reads them, so a rule's `score` orders candidates as the rule does).
fn score_details(c: &Candidate, rules: &[Rule], scale: Scale) -> RankingScoreDetails {
    let n = scale.words.max(1);
    let mut details = RankingScoreDetails::default();
    let mut field = 0;
    for (order, rule) in rules.iter().enumerate() {
        let (digits, tail) = rule_digits(c, rule, scale);
        let score = mixed_radix(&digits, tail);
        match rule {
            Rule::Words => {
                details.words = Some(WordsDetails {
                    order,
                    matching_words: n - (c.bucket as u32).min(n - 1),
                    max_matching_words: n,
                    score,
                })
            }
            Rule::Typo => {
                details.typo = Some(TypoDetails {
                    order,
                    typo_count: c.typos,
                    max_typo_count: 2 * n,
                    other_forms: c.other_forms,
                    score,
                })
            }
            Rule::Proximity => details.proximity = Some(ProximityDetails { order, score }),
            Rule::Attribute => {
                details.attribute = Some(AttributeDetails {
                    order,
                    attribute_ranking_order_score: mixed_radix(&digits[..1], None),
                    word_position_score: mixed_radix(&digits[1..], None),
                    score,
                })
            }
            Rule::Exactness => {
                details.exactness = Some(ExactnessDetails {
                    order,
                    match_type: match_type(c.start),
                    exact_words: c.exact,
                    score,
                })
            }
            Rule::Score => {
                details.score = Some(Bm25Details {
                    order,
                    bm25: c.score,
                    score,
                })
            }
            Rule::Field {
                name,
                field_type,
                descending,
            } => {
                let value = c.values.get(field).copied().flatten();
                field += 1;
                details.fields.insert(
                    format!("{name}:{}", if *descending { "desc" } else { "asc" }),
                    FieldDetails {
                        order,
                        value: value.map(|v| field_value(v, *field_type)),
                    },
                );
            }
        }
    }
    details
}

/// A field rule's value as the document has it: a datetime's microseconds back to
/// RFC 3339, an integer without a fraction.
fn field_value(value: f64, field_type: FieldType) -> serde_json::Value {
    match field_type {
        FieldType::Datetime => chrono::DateTime::from_timestamp_micros(value as i64)
            .map_or(serde_json::Value::Null, |d| {
                serde_json::Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }),
        FieldType::Integer => serde_json::Value::from(value as i64),
        _ => serde_json::Value::from(value),
    }
}

/// The `wanted` best documents of a bucket by score, per segment in doc order.
fn best_by_score(
    plan: &QueryPlan,
    kept: &[usize],
    searcher: &Searcher,
    bucket: &[DocBits],
    wanted: usize,
) -> tantivy::Result<Vec<Vec<DocId>>> {
    #[derive(PartialEq)]
    struct Entry(f32, u32, DocId);
    impl Eq for Entry {}
    impl PartialOrd for Entry {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Entry {
        // The heap's top is the worst kept: lowest score, then highest address.
        fn cmp(&self, other: &Self) -> Ordering {
            other
                .0
                .total_cmp(&self.0)
                .then_with(|| (self.1, self.2).cmp(&(other.1, other.2)))
        }
    }
    let statistics = plan.statistics(searcher);
    let scoring =
        plan.scoring_query_of(kept)
            .weight(EnableScoring::enabled_from_statistics_provider(
                &statistics,
                searcher,
            ))?;
    let mut best: BinaryHeap<Entry> = BinaryHeap::with_capacity(wanted + 1);
    for (ord, (reader, matches)) in searcher.segment_readers().iter().zip(bucket).enumerate() {
        if matches.is_empty() {
            continue;
        }
        let threshold = |best: &BinaryHeap<Entry>| {
            if best.len() < wanted {
                f32::MIN
            } else {
                best.peek().map_or(f32::MIN, |e| e.0)
            }
        };
        let initial = threshold(&best);
        scoring.for_each_pruning(initial, reader, &mut |doc, score| {
            if matches.contains(doc) {
                best.push(Entry(score, ord as u32, doc));
                if best.len() > wanted {
                    best.pop();
                }
            }
            threshold(&best)
        })?;
    }
    let mut out = vec![Vec::new(); bucket.len()];
    for Entry(_, ord, doc) in best {
        out[ord as usize].push(doc);
    }
    for docs in &mut out {
        docs.sort_unstable();
    }
    Ok(out)
}

/// A field's value is the whole query as typed (or with words typed apart written
/// together, or one typed together written apart).
const HEAD_EQUAL: u32 = 4 << 8;
/// A field's value begins with the whole query as typed.
const HEAD_BEGINS: u32 = 3 << 8;
/// A field's value is the query with a misspelt word corrected. It counts below the
/// query as typed, even one the field only begins with: who typed `dateutil`, where no
/// package has that name, wants `dateutil-br` before `bdateutil`, whose summary holds
/// `dateutil` as well (so the `typo` rule does not tell them apart).
const CORRECTED_EQUAL: u32 = 2 << 8;
/// A field's value begins with the query with a misspelt word corrected.
const CORRECTED_BEGINS: u32 = 1 << 8;

/// How a field's level ([`HeadMatch::level`], without its importance) reads in the
/// score details.
fn match_type(start: u32) -> MatchType {
    match start >> 8 {
        4 | 2 => MatchType::ExactMatch,
        3 | 1 => MatchType::MatchesStart,
        _ => MatchType::NoExactMatch,
    }
}
/// How many places among a query's corrected heads `score` tells apart (the query as
/// typed first, then the likeliest correction); the rest count as the last.
const HEAD_CORRECTIONS: u32 = 32;

/// In one segment, for one text field: which of its heads are the query and which
/// begin with it, as ordinals of the head column's sorted dictionary.
struct HeadMatch {
    column: StrColumn,
    equal: Option<u64>,
    begins: std::ops::Range<u64>,
    /// Added to the level: more for a more important field (rank 0 is the first).
    importance: u32,
    /// 0 for the query as typed, else the place of the correction of it this is (see
    /// [`Candidate::correction`]).
    correction: u32,
}

impl HeadMatch {
    /// The level of `doc` in this field: [`HEAD_EQUAL`] or [`HEAD_BEGINS`] (for a
    /// correction, [`CORRECTED_EQUAL`] or [`CORRECTED_BEGINS`]) plus the field's
    /// importance, else 0.
    fn level(&self, doc: DocId) -> u32 {
        let (equal, begins) = if self.correction == 0 {
            (HEAD_EQUAL, HEAD_BEGINS)
        } else {
            (CORRECTED_EQUAL, CORRECTED_BEGINS)
        };
        let mut level = 0;
        for ord in self.column.term_ords(doc) {
            if Some(ord) == self.equal {
                return equal + self.importance;
            }
            if self.begins.contains(&ord) {
                level = begins + self.importance;
            }
        }
        level
    }
}

/// The head matches of `plan`'s query in each text field (`ranks`) of `reader`.
fn head_matches(
    index: &CollectionIndex,
    reader: &SegmentReader,
    plan: &QueryPlan,
    ranks: &[(String, u8)],
) -> Vec<HeadMatch> {
    let Some(head) = plan.head.as_ref().filter(|h| !h.text.is_empty()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let columns = index.head_columns.segment(reader);
    for (name, rank) in ranks.iter().filter(|(name, _)| plan.searches(name)) {
        let Some(HeadColumn { column, .. }) = columns.fields.get(name) else {
            continue;
        };
        let dictionary = column.dictionary();
        let terms = dictionary.num_terms() as u64;
        // The ordinal of `key` or of the first value after it, and whether it is `key`.
        let ord_at = |key: &[u8]| match dictionary.term_ord_or_next(key) {
            Ok(TermOrdHit::Exact(ord)) => (ord.min(terms), true),
            Ok(TermOrdHit::Next(ord)) => (ord.min(terms), false),
            Err(_) => (terms, false),
        };
        // The query as typed, with the words typed as two written apart, corrected,
        // with words typed apart written together.
        for query::HeadText {
            text,
            equal_counts,
            correction,
        } in head.texts()
        {
            // A finished last word must be whole: `stream ` begins `stream deck`, not
            // `streamdeck`; so must the last word in a field with type-ahead off.
            let mut key = text.clone().into_bytes();
            let whole = !head.last_is_prefix || !index.fields.prefixes.contains_key(name);
            if whole {
                key.push(b' ');
            }
            if !is_or_begins(column, text.as_bytes(), &key) {
                // No value of this field is or begins with the query: nothing to read
                // per candidate (most queries of several words, and of corrections).
                continue;
            }
            let (start, found) = ord_at(&key);
            key.push(0xFF);
            let (end, _) = ord_at(&key);
            // Each lookup decodes a block of the dictionary (a tenth of a typo query's
            // work): a key that is the text itself tells whether the text is there.
            let equal = match (equal_counts, whole) {
                (false, _) => None,
                (true, false) => found.then_some(start),
                (true, true) => dictionary.term_ord(text).ok().flatten(),
            };
            if equal.is_none() && end <= start {
                // No value of this field is or begins with the query: nothing to read
                // per candidate (most queries of several words).
                continue;
            }
            out.push(HeadMatch {
                equal,
                begins: start..end,
                importance: 255u32.saturating_sub(u32::from(*rank)),
                correction: u32::try_from(correction)
                    .unwrap_or(u32::MAX)
                    .min(HEAD_CORRECTIONS - 1),
                column: column.clone(),
            });
        }
    }
    out
}

/// Whether some value of a head `column` is `text`, or begins with `key`
/// (`text`, with a space after it when the last word must be whole). Read off one
/// range stream from `text`: most values after it neither are it nor begin with it,
/// and then one block is decoded where finding the ordinals of both ends of the range
/// and of `text` decoded three (a tenth of a typo query's time went to those lookups,
/// most of them for corrections no name is). When in doubt (a read error, many values
/// between `text` and `key`), it says yes and the lookups decide.
fn is_or_begins(column: &StrColumn, text: &[u8], key: &[u8]) -> bool {
    /// Values after `text` and before `key` looked through: such values have a control
    /// character after the text, so there are next to none.
    const BETWEEN: usize = 8;
    let Ok(mut stream) = column.dictionary().range().ge(text).into_stream() else {
        return true;
    };
    for _ in 0..=BETWEEN {
        if !stream.advance() {
            return false;
        }
        let value = stream.key();
        if value == text {
            return true;
        }
        if value >= key {
            return value.starts_with(key);
        }
    }
    true
}

/// What the rules need of each candidate: per term present, the word, typos,
/// attribute and exactness it gives, and per word its best term's BM25; the field
/// rules' values. Marks in `present` the terms some candidate holds.
#[allow(clippy::too_many_arguments)]
fn describe(
    readers: &[SegmentReader],
    candidates: &[Vec<DocId>],
    weights: &[Box<dyn Weight>],
    terms: &[&query::WeightedTerm],
    heads: &[Vec<HeadMatch>],
    bucket: usize,
    rules: &[Rule],
    present: &mut [bool],
) -> tantivy::Result<Vec<Candidate>> {
    let words = terms.iter().map(|t| t.word + 1).max().unwrap_or(0);
    // The word being typed, found whole as typed so far, counts as a word found as
    // written when it is one of several words and long enough to be meant whole (see
    // [`MIN_TYPED_WHOLE_CHARS`]).
    let typed_counts_whole = words > 1
        && terms.iter().filter(|t| t.form && t.prefix).any(|t| {
            t.term
                .value()
                .as_str()
                .is_some_and(|w| w.chars().count() >= MIN_TYPED_WHOLE_CHARS)
        });
    let mut out = Vec::with_capacity(candidates.iter().map(Vec::len).sum());
    for (ord, (reader, docs)) in readers.iter().zip(candidates).enumerate() {
        if docs.is_empty() {
            continue;
        }
        let mut scorers = weights
            .iter()
            .map(|w| w.scorer(reader, 1.0))
            .collect::<tantivy::Result<Vec<_>>>()?;
        // Each scorer's current document, kept here: most terms of a typo or prefix
        // query are in none of a candidate's fields, and asking each boxed scorer
        // where it stands, for every candidate, was a third of a one-word prefix
        // query's time (`jsond`: 50 terms over 10,000 candidates).
        let mut at: Vec<DocId> = scorers.iter().map(|s| s.doc()).collect();
        let columns = field_columns(reader, rules);
        // Per word: (typos, attribute) of its best term present, the fewest typos with
        // which the word is there exactly as written, and the BM25 of its best term
        // (see [`Candidate::score`]); for each candidate in turn, allocated once.
        let mut best: Vec<Option<(u8, u8)>> = vec![None; words];
        let mut as_written: Vec<Option<u8>> = vec![None; words];
        let mut best_score: Vec<f32> = vec![0.0; words];
        // Per word: the fewest typos with which it is found other than through a stem
        // (a prefix, a synonym, words written together or apart); with `best` and
        // `as_written`, whether it is found only as another form of itself.
        let mut not_stemmed: Vec<Option<u8>> = vec![None; words];
        for &doc in docs {
            best.fill(None);
            as_written.fill(None);
            best_score.fill(0.0);
            not_stemmed.fill(None);
            let mut typed_exact = false;
            for (((scorer, current), term), present) in scorers
                .iter_mut()
                .zip(&mut at)
                .zip(terms)
                .zip(&mut *present)
            {
                if *current < doc {
                    *current = scorer.seek(doc);
                }
                if *current != doc {
                    continue;
                }
                *present = true;
                if term.form {
                    if term.prefix {
                        typed_exact = true;
                    } else {
                        let slot = &mut as_written[term.word];
                        *slot = Some(slot.map_or(term.typos, |t| t.min(term.typos)));
                    }
                    continue;
                }
                if !term.stemmed {
                    let slot = &mut not_stemmed[term.word];
                    *slot = Some(slot.map_or(term.typos, |t| t.min(term.typos)));
                }
                let slot = &mut best_score[term.word];
                *slot = slot.max(scorer.score());
                let this = (term.typos, term.attribute);
                let slot = &mut best[term.word];
                *slot = Some(match *slot {
                    None => this,
                    Some((typos, attribute)) => (typos.min(this.0), attribute.min(this.1)),
                });
            }
            let score = best_score.iter().sum();
            let (mut typos, mut attribute, mut exact, mut other_forms) = (0u32, 0u32, 0u32, 0u32);
            for (word, found) in best.iter().enumerate() {
                if let Some((t, a)) = found {
                    typos += u32::from(*t);
                    attribute += u32::from(*a);
                    // Exact when written as the closest spelling the document has.
                    let written = as_written[word] == Some(*t);
                    exact += u32::from(written);
                    // `t` is the fewest typos of any term: when no other term
                    // reaches it, a stem does.
                    other_forms += u32::from(!written && not_stemmed[word].is_none_or(|o| o > *t));
                }
            }
            exact += u32::from(typed_exact && typed_counts_whole);
            let (start, correction) = heads.get(ord).map_or((0, 0), |fields| {
                fields.iter().fold((0, 0), |best, h| {
                    let level = h.level(doc);
                    if level > best.0 {
                        (level, h.correction)
                    } else if level == best.0 && level > 0 {
                        (level, best.1.min(h.correction))
                    } else {
                        best
                    }
                })
            });
            out.push(Candidate {
                address: DocAddress::new(ord as u32, doc),
                bucket,
                missing: 0,
                typos,
                other_forms,
                proximity: 0,
                attribute,
                position: 0,
                start,
                exact,
                typed_exact,
                correction,
                score,
                values: columns.iter().map(|c| c.value(doc)).collect(),
            });
        }
    }
    Ok(out)
}

/// Where a word stands in a document: (field rank, position).
type Place = (u8, u32);
/// Every place a word stands in a document.
type Places = Vec<Place>;

/// Where the word being typed stands in a document, for `proximity` and `attribute`:
/// prefix terms are indexed without positions (five per word would multiply the
/// positions the index keeps), so the positions of the words it begins are read from
/// the stored text of the few documents whose positions are read at all.
struct PrefixProbe<'a> {
    index: &'a CollectionIndex,
    /// The query word being typed (index into the plan's words).
    word: usize,
    /// What was typed of it, normalized.
    typed: String,
    /// The other query words as typed, normalized: a word of the document that is one
    /// of them is not the word being typed (`differential equation dif` looks for a
    /// third word; `differential` itself, next to `equation`, would make the documents
    /// lacking one the closest).
    others: Vec<String>,
    /// The words before it and what was typed of it written together (`beautifulsou`,
    /// `djangorestfram`), when the index holds words beginning so, each with the first
    /// of the words it stands for, the longest first: such a word stands for all of
    /// them, next to each other, as a joined word the index keeps positions of does.
    joined: Vec<(usize, String)>,
    /// Text fields and their rank by boost.
    fields: Vec<(String, u8)>,
}

impl<'a> PrefixProbe<'a> {
    fn of(index: &'a CollectionIndex, plan: &QueryPlan) -> Option<PrefixProbe<'a>> {
        let typed = plan.matched.prefix.clone()?;
        let word = plan.words.len().checked_sub(1)?;
        // Only when the word has prefix terms, whose documents have no positions.
        plan.words[word]
            .iter()
            .any(|t| t.prefix && !t.form)
            .then(|| PrefixProbe {
                index,
                word,
                joined: {
                    let mut joined: Vec<(usize, String)> = plan
                        .matched
                        .joined_prefixes
                        .iter()
                        .map(|(text, &first)| (first, text.clone()))
                        .collect();
                    joined.sort_unstable();
                    joined
                },
                others: plan
                    .texts
                    .iter()
                    .take(word)
                    .filter(|text| **text != typed)
                    .cloned()
                    .collect(),
                typed,
                // Fields with type-ahead off hold no match of the word being typed.
                fields: query::text_field_ranks(index)
                    .into_iter()
                    .filter(|(name, _)| {
                        index.fields.prefixes.contains_key(name) && plan.searches(name)
                    })
                    .collect(),
            })
    }

    /// The (field rank, position) of every word in `doc` that begins with what was
    /// typed, and of every word that begins with words written together (with the
    /// first of those words).
    ///
    /// The text is read through the searcher's document store, whose cache of
    /// decompressed blocks outlives the search: the page's hits are most often among
    /// the documents probed, and loading them then costs no second decompression.
    fn positions(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        normalizer: &mut tantivy::tokenizer::TextAnalyzer,
    ) -> (Places, Vec<(usize, Place)>) {
        let Ok(stored) = searcher.doc::<tantivy::TantivyDocument>(address) else {
            return (Vec::new(), Vec::new());
        };
        let (_, body) = self.index.stored(&stored);
        let mut out = Vec::new();
        let mut joined = Vec::new();
        for (name, rank) in &self.fields {
            let texts: Vec<&str> = match body
                .as_object()
                .and_then(|b| crate::schema::value_at(b, name))
            {
                Some(serde_json::Value::String(text)) => vec![text.as_str()],
                Some(serde_json::Value::Array(items)) => {
                    items.iter().filter_map(|v| v.as_str()).collect()
                }
                _ => continue,
            };
            let mut offset = 0u32;
            for text in texts {
                let mut stream = normalizer.token_stream(text);
                let mut last = 0u32;
                while tantivy::tokenizer::TokenStream::advance(&mut stream) {
                    let token = tantivy::tokenizer::TokenStream::token(&stream);
                    last = token.position as u32;
                    if token.text.starts_with(&self.typed) {
                        if !self.others.contains(&token.text) {
                            out.push((*rank, offset + last));
                        }
                    } else if let Some((first, _)) = self
                        .joined
                        .iter()
                        .find(|(_, j)| token.text.starts_with(j.as_str()))
                    {
                        joined.push((*first, (*rank, offset + last)));
                    }
                }
                // Values of a list stand apart, as in the index.
                offset += last + 2;
            }
        }
        (out, joined)
    }
}

/// Reads the positions of the candidates' matched words (whole-word terms of the text
/// fields; the word being typed from the stored text) and sets their `proximity` and
/// `position`. `present`: per term, whether any of the candidates may hold it.
fn read_positions(
    searcher: &Searcher,
    candidates: &mut [Candidate],
    terms: &[&query::WeightedTerm],
    present: &[bool],
    prefix: Option<(&PrefixProbe<'_>, usize)>,
) -> tantivy::Result<()> {
    use tantivy::postings::Postings;
    use tantivy::schema::IndexRecordOption;
    let words = terms.iter().map(|t| t.word + 1).max().unwrap_or(0);
    // Documents in order per segment, so each term's postings only move forward.
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| candidates[i].address);
    let readers = searcher.segment_readers();
    // Per term, its postings, and for a word typed as two (`nodefetch`) those of the
    // second word written apart. Boxed: postings are kilobytes of block buffers, and
    // moving them as the vector grew was a measurable part of a typo query's copying.
    type TermPostings = Box<(SegmentPostings, Option<SegmentPostings>)>;
    let mut postings: Vec<Option<TermPostings>> = Vec::new();
    // The index's analyzer, built once per index; only when there is a word to find.
    let mut normalizer = prefix.map(|(probe, _)| probe.index.normalizer());
    let mut segment = u32::MAX;
    let mut buffer = Vec::new();
    let mut following = Vec::new();
    for i in order {
        let address = candidates[i].address;
        if address.segment_ord != segment {
            segment = address.segment_ord;
            let reader = &readers[segment as usize];
            postings = terms
                .iter()
                .zip(present)
                .map(|(t, &present)| {
                    if !present || t.form || t.prefix && t.typos == 0 {
                        return Ok(None);
                    }
                    let inverted = reader.inverted_index(t.term.field())?;
                    let read = |term: &Term| {
                        inverted.read_postings(term, IndexRecordOption::WithFreqsAndPositions)
                    };
                    let Some(first) = read(&t.term)? else {
                        return Ok(None);
                    };
                    match &t.next {
                        None => Ok(Some(Box::new((first, None)))),
                        Some(next) => Ok(read(next)?.map(|second| Box::new((first, Some(second))))),
                    }
                })
                .collect::<tantivy::Result<_>>()?;
        }
        // Per word, per field (by attribute), its positions.
        let mut at: Vec<Vec<(u8, u32)>> = vec![Vec::new(); words];
        for (postings, term) in postings.iter_mut().zip(terms) {
            let Some((postings, second)) = postings.as_deref_mut() else {
                continue;
            };
            if !seek_to(postings, address.doc_id) {
                continue;
            }
            buffer.clear();
            postings.positions(&mut buffer);
            if let Some(second) = second {
                // Words typed as one stand where the two stand side by side (the
                // phrase the document was matched by), not wherever the first is.
                if !seek_to(second, address.doc_id) {
                    continue;
                }
                following.clear();
                second.positions(&mut following);
                buffer.retain(|p| following.binary_search(&(p + 1)).is_ok());
            }
            at[term.word].extend(buffer.iter().map(|&p| (term.attribute, p)));
        }
        if let (Some((probe, probed)), Some(normalizer)) = (prefix, normalizer.as_mut())
            && i < probed
            && !at[probe.word].contains(&(0, 0))
        {
            // Also when the word was found whole: `debug` whole in the summary must
            // not hide `debugpy` at the start of the name, which only prefix terms
            // (without positions) matched.
            let (found, joined) = probe.positions(searcher, address, normalizer);
            at[probe.word].extend(found);
            for (first, place) in joined {
                for word in &mut at[first..=probe.word] {
                    word.push(place);
                }
            }
        }
        let candidate = &mut candidates[i];
        candidate.proximity = proximity(&at);
        candidate.position = at
            .iter()
            .filter(|positions| !positions.is_empty())
            .map(|positions| {
                let best = positions.iter().map(|p| p.0).min().unwrap_or(0);
                positions
                    .iter()
                    .filter(|p| p.0 == best)
                    .map(|p| p.1.min(MAX_POSITION))
                    .min()
                    .unwrap_or(MAX_POSITION)
            })
            .sum();
    }
    Ok(())
}

/// Moves `postings` to `doc` (or past it, never back); whether `doc` holds the term.
fn seek_to(postings: &mut SegmentPostings, doc: DocId) -> bool {
    if postings.doc() < doc {
        postings.seek(doc);
    }
    postings.doc() == doc
}

/// The proximity cost of words at these (field, position)s: per pair of query words
/// next to each other in the query, the smallest distance between them in one field
/// (1 when adjacent and in order, one more when reversed), up to [`MAX_PROXIMITY`];
/// a word without positions costs the most.
fn proximity(at: &[Vec<(u8, u32)>]) -> u32 {
    at.windows(2)
        .map(|pair| {
            let mut best = MAX_PROXIMITY;
            for &(field, first) in &pair[0] {
                for &(other, second) in &pair[1] {
                    if field != other {
                        continue;
                    }
                    let cost = if second > first {
                        second - first
                    } else {
                        first - second + 1
                    };
                    best = best.min(cost);
                }
            }
            best
        })
        .sum()
}

/// A field rule's column in one segment.
enum Column {
    Integer(tantivy::columnar::Column<i64>),
    Float(tantivy::columnar::Column<f64>),
    Date(tantivy::columnar::Column<tantivy::DateTime>),
    Missing,
}

impl Column {
    fn value(&self, doc: DocId) -> Option<f64> {
        match self {
            Column::Integer(c) => c.first(doc).map(|v| v as f64),
            Column::Float(c) => c.first(doc),
            Column::Date(c) => c.first(doc).map(|d| d.into_timestamp_micros() as f64),
            Column::Missing => None,
        }
    }
}

fn field_columns(reader: &SegmentReader, rules: &[Rule]) -> Vec<Column> {
    let fast = reader.fast_fields();
    rules
        .iter()
        .filter_map(|rule| match rule {
            Rule::Field {
                name, field_type, ..
            } => {
                let name = user_field(name);
                Some(match field_type {
                    FieldType::Integer => fast.i64(&name).map_or(Column::Missing, Column::Integer),
                    FieldType::Float => fast.f64(&name).map_or(Column::Missing, Column::Float),
                    FieldType::Datetime => fast.date(&name).map_or(Column::Missing, Column::Date),
                    _ => Column::Missing,
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    mod ranking_scores {
        use super::*;
        use proptest::prelude::*;

        const WORDS: u32 = 3;
        const FIELDS: u32 = 2;

        fn candidate() -> impl Strategy<Value = Candidate> {
            (
                0..WORDS as usize,
                0..=2 * WORDS,
                0..=MAX_PROXIMITY * (WORDS - 1),
                0..=(FIELDS - 1) * WORDS,
                prop_oneof![
                    Just(0u32),
                    (0u32..255).prop_map(|i| CORRECTED_BEGINS + i),
                    (0u32..255).prop_map(|i| CORRECTED_EQUAL + i),
                    (0u32..255).prop_map(|i| HEAD_BEGINS + i),
                    (0u32..255).prop_map(|i| HEAD_EQUAL + i)
                ],
                0..=WORDS,
                0.0f32..40.0,
                0u32..(1 << WORDS),
                0..HEAD_CORRECTIONS,
                0..=WORDS,
            )
                .prop_map(
                    |(
                        bucket,
                        typos,
                        proximity,
                        attribute,
                        start,
                        exact,
                        score,
                        missing,
                        correction,
                        other_forms,
                    )| {
                        Candidate {
                            address: DocAddress::new(0, 0),
                            bucket,
                            missing,
                            typos,
                            other_forms,
                            proximity,
                            attribute,
                            position: 0,
                            start,
                            exact,
                            typed_exact: false,
                            correction,
                            score,
                            values: Vec::new(),
                        }
                    },
                )
        }

        proptest! {
            /// The score orders candidates as the rules do (ties may merge), stays in
            /// (0, 1], and is 1 for a candidate best on every rule but BM25's.
            #[test]
            fn ranking_scores_follow_the_rules(a in candidate(), b in candidate()) {
                let rules = [Rule::Words, Rule::Typo, Rule::Exactness, Rule::Proximity, Rule::Attribute, Rule::Score];
                let scale = Scale { words: WORDS, text_fields: FIELDS };
                let (x, y) = (ranking_score(&a, &rules, scale), ranking_score(&b, &rules, scale));
                prop_assert!(x > 0.0 && x <= 1.0, "{x}");
                if compare(&a, &b, &rules) == Ordering::Less {
                    prop_assert!(x >= y, "{a:?} {x} ranks before {b:?} {y}");
                }
                let rules = &rules[..5];
                let best = Candidate { bucket: 0, missing: 0, typos: 0, other_forms: 0, proximity: 0, attribute: 0, position: 0, start: HEAD_EQUAL + 255, exact: WORDS, ..a.clone() };
                prop_assert_eq!(ranking_score(&best, rules, scale), 1.0);
            }

            /// Each rule's score in the details orders candidates as that rule does, the
            /// first rule whose scores differ decides `rankingScore`'s order, and the
            /// details say what the rules saw.
            #[test]
            fn score_details_agree_with_the_rules(a in candidate(), b in candidate()) {
                let rules = [Rule::Words, Rule::Typo, Rule::Exactness, Rule::Proximity, Rule::Attribute, Rule::Score];
                let scale = Scale { words: WORDS, text_fields: FIELDS };
                let (da, db) = (score_details(&a, &rules, scale), score_details(&b, &rules, scale));
                let scores = |d: &RankingScoreDetails| -> Vec<f64> {
                    vec![
                        d.words.as_ref().map_or(0.0, |r| r.score),
                        d.typo.as_ref().map_or(0.0, |r| r.score),
                        d.exactness.as_ref().map_or(0.0, |r| r.score),
                        d.proximity.as_ref().map_or(0.0, |r| r.score),
                        d.attribute.as_ref().map_or(0.0, |r| r.score),
                        d.score.as_ref().map_or(0.0, |r| r.score),
                    ]
                };
                let (sa, sb) = (scores(&da), scores(&db));
                for (i, rule) in rules.iter().enumerate() {
                    prop_assert!(sa[i] > 0.0 && sa[i] <= 1.0, "{rule:?} {}", sa[i]);
                    // `compare` falls back to the bucket: the same bucket but for `words`
                    // gives the rule's own verdict.
                    let b_same = if *rule == Rule::Words { b.clone() } else { Candidate { bucket: a.bucket, missing: a.missing, ..b.clone() } };
                    let by_rule = compare(&a, &b_same, std::slice::from_ref(rule));
                    prop_assert_eq!(sa[i].total_cmp(&sb[i]), by_rule.reverse(), "{:?}", rule);
                }
                if let Some(i) = (0..rules.len()).find(|&i| sa[i] != sb[i]) {
                    let (x, y) = (ranking_score(&a, &rules, scale), ranking_score(&b, &rules, scale));
                    prop_assert_eq!(x.total_cmp(&y), sa[i].total_cmp(&sb[i]), "rule {}", i);
                }
                let words = da.words.as_ref().map(|w| (w.matching_words, w.max_matching_words));
                prop_assert_eq!(words, Some((WORDS - a.bucket as u32, WORDS)));
                prop_assert_eq!(da.typo.as_ref().map(|t| t.typo_count), Some(a.typos));
                prop_assert_eq!(
                    da.exactness.as_ref().map(|e| e.match_type),
                    Some(match a.start { s if s >= HEAD_EQUAL => MatchType::ExactMatch, s if s >= HEAD_BEGINS => MatchType::MatchesStart, s if s >= CORRECTED_EQUAL => MatchType::ExactMatch, s if s >= CORRECTED_BEGINS => MatchType::MatchesStart, _ => MatchType::NoExactMatch })
                );
                prop_assert_eq!(da.score.as_ref().map(|s| s.order), Some(5));
            }
        }
    }

    #[test]
    fn proximity_counts_distance_order_and_fields() {
        let adjacent = vec![vec![(0, 3)], vec![(0, 4)]];
        assert_eq!(proximity(&adjacent), 1);
        let reversed = vec![vec![(0, 4)], vec![(0, 3)]];
        assert_eq!(proximity(&reversed), 2);
        let apart = vec![vec![(0, 1)], vec![(1, 2)]];
        assert_eq!(proximity(&apart), MAX_PROXIMITY, "different fields");
        let missing = vec![vec![(0, 1)], vec![]];
        assert_eq!(proximity(&missing), MAX_PROXIMITY);
        let far = vec![vec![(0, 1)], vec![(0, 40)]];
        assert_eq!(proximity(&far), MAX_PROXIMITY);
    }

    #[test]
    fn words_are_dropped_last_first_or_most_frequent_first() {
        assert_eq!(drop_order(MatchingStrategy::Last, &[5, 9, 1]), [2, 1, 0]);
        assert_eq!(
            drop_order(MatchingStrategy::Frequency, &[5, 9, 1]),
            [1, 0, 2]
        );
        assert!(drop_order(MatchingStrategy::All, &[5, 9, 1]).is_empty());
        assert_eq!(drop_order(MatchingStrategy::Last, &[5]), [0]);
        // A word that matches nothing goes first, so the last one kept matches.
        assert_eq!(drop_order(MatchingStrategy::Last, &[0, 9, 1]), [0, 2, 1]);
        assert_eq!(
            drop_order(MatchingStrategy::Frequency, &[5, 9, 0]),
            [2, 1, 0]
        );
    }

    #[test]
    fn frequency_drops_the_words_of_one_identifier_from_its_end() {
        let identifier = QueryPlan {
            one_identifier: true,
            ..QueryPlan::default()
        };
        let words = QueryPlan::default();
        use MatchingStrategy::{All, Frequency, Last};
        assert_eq!(strategy_for(Frequency, &identifier), Last);
        assert_eq!(strategy_for(Frequency, &words), Frequency);
        assert_eq!(strategy_for(All, &identifier), All, "asked for: kept");
        assert_eq!(strategy_for(Last, &words), Last);
    }

    #[test]
    fn missing_sets_come_in_the_strategy_order() {
        let masks = |n, k, most| -> Vec<u32> {
            missing_sets(n, k, most)
                .into_iter()
                .map(|p| match p {
                    Part::Lacking(m) => m,
                    Part::Rest => u32::MAX,
                })
                .collect()
        };
        assert_eq!(masks(3, 0, 8), [0]);
        assert_eq!(masks(3, 1, 8), [0b001, 0b010, 0b100]);
        assert_eq!(masks(3, 2, 8), [0b011, 0b101, 0b110]);
        assert_eq!(masks(4, 2, 3), [0b0011, 0b0101, 0b0110]);
        assert_eq!(masks(10, 5, 1000).len(), 252);
        assert!(masks(2, 3, 8).is_empty());
    }

    #[test]
    fn at_least_counts_the_words_each_document_matches() {
        // Documents 0..8; word sets chosen so each document has a known count.
        let a = DocBits::from_docs(8, &[0, 1, 2, 3]);
        let b = DocBits::from_docs(8, &[0, 1, 4, 5]);
        let c = DocBits::from_docs(8, &[0, 2, 4, 6]);
        let levels = at_least(&[a, b, c]);
        let docs = |k: usize| levels[k - 1].iter().collect::<Vec<_>>();
        assert_eq!(docs(3), [0]);
        assert_eq!(docs(2), [0, 1, 2, 4]);
        assert_eq!(docs(1), [0, 1, 2, 3, 4, 5, 6]);
    }

    mod is_or_begins_column {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;
        use tantivy::schema::{FAST, Schema};
        use tantivy::{Index, IndexWriter, TantivyDocument};

        /// A head column holding `values`, as the index writes one (a text field that is
        /// only `FAST`, see `IndexFields`).
        fn column(values: &[String]) -> StrColumn {
            let mut schema = Schema::builder();
            let head = schema.add_text_field("head", FAST);
            let index = Index::create_in_ram(schema.build());
            let mut writer: IndexWriter = index.writer(15_000_000).expect("writer");
            for value in values {
                let mut doc = TantivyDocument::default();
                doc.add_text(head, value);
                writer.add_document(doc).expect("add");
            }
            writer.commit().expect("commit");
            let searcher = index.reader().expect("reader").searcher();
            let segment = searcher.segment_reader(0);
            segment
                .fast_fields()
                .str("head")
                .expect("column")
                .expect("a value")
        }

        /// What `is_or_begins` answers when it reads every value.
        fn brute_force(values: &[String], text: &str, key: &str) -> bool {
            values.iter().any(|v| v == text || v.starts_with(key))
        }

        /// How many distinct values lie after `text` and before `key` (all with a
        /// character after the text that sorts before the space of `key`).
        fn between(values: &[String], text: &str, key: &str) -> usize {
            values
                .iter()
                .map(String::as_str)
                .filter(|v| *v > text && *v < key)
                .collect::<BTreeSet<_>>()
                .len()
        }

        #[test]
        fn finds_the_text_and_values_beginning_with_the_key() {
            let values: Vec<String> = ["flask", "flask sqlalchemy", "flaskapp", "numpy"]
                .map(String::from)
                .to_vec();
            let column = column(&values);
            let yes =
                |text: &str, key: &str| is_or_begins(&column, text.as_bytes(), key.as_bytes());
            assert!(yes("flask", "flask "), "the text itself");
            assert!(yes("flask sql", "flask sql"), "a value begins with the key");
            assert!(yes("flas", "flas"), "a prefix of several values");
            assert!(!yes("flaskap", "flaskap "), "a whole last word no value is");
            assert!(!yes("flasz", "flasz"), "between two values");
            assert!(!yes("zope", "zope"), "after the last value");
            assert!(
                !yes("numpy extra", "numpy extra "),
                "longer than every value"
            );
        }

        proptest! {
            /// Never says no where a value is the text or begins with the key, and says
            /// exactly what reading every value says when few values lie between them.
            #[test]
            fn agrees_with_reading_every_value(
                values in prop::collection::vec("[ab\\x01 ]{1,4}", 1..30),
                text in "[ab]{1,3}",
                whole in any::<bool>(),
            ) {
                let key = if whole { format!("{text} ") } else { text.clone() };
                let column = column(&values);
                let found = is_or_begins(&column, text.as_bytes(), key.as_bytes());
                let truth = brute_force(&values, &text, &key);
                if truth {
                    prop_assert!(found, "{values:?} {text:?} {key:?}");
                } else if between(&values, &text, &key) <= 8 {
                    prop_assert!(!found, "{values:?} {text:?} {key:?}");
                }
            }
        }
    }
}
