//! The shape of `showRankingScoreDetails`: per ranking rule, what the rule saw of a
//! hit and the hit's score on that rule alone.
//!
//! The names follow Meilisearch's `_rankingScoreDetails` where the rules mean the same,
//! so a client written for it reads these; `ranking::score_details` fills them. Each
//! rule's `score` is in (0, 1], 1 the best the rule can give, and orders hits as the rule
//! does; `order` is the rule's place in the collection's `rankingRules`. The hit's
//! `rankingScore` is these scores read as digits of one number, in that order, up to
//! `score` (rules after it break ties but don't count in it).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What each ranking rule saw of a hit. A rule the collection doesn't rank by is left
/// out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": 1.0},
    "typo": {"order": 1, "typoCount": 1, "maxTypoCount": 4, "otherForms": 0, "score": 0.8},
    "exactness": {"order": 2, "matchType": "noExactMatch", "exactWords": 1, "score": 0.0029},
    "proximity": {"order": 3, "score": 1.0},
    "attribute": {"order": 4, "attributeRankingOrderScore": 1.0, "wordPositionScore": 0.97, "score": 0.97},
    "score": {"order": 5, "bm25": 7.31, "score": 0.21},
    "popularity:desc": {"order": 6, "value": 1520}
}))]
pub struct RankingScoreDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<WordsDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typo: Option<TypoDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exactness: Option<ExactnessDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proximity: Option<ProximityDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<AttributeDetails>,
    /// The `score` rule: BM25.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<Bm25Details>,
    /// Field rules (`popularity:desc`), by the rule as written: the hit's value.
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub fields: BTreeMap<String, FieldDetails>,
}

/// `words`: how many of the query's words the hit matches (words are dropped by the
/// matching strategy when all of them can't fill the page).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WordsDetails {
    pub order: usize,
    pub matching_words: u32,
    pub max_matching_words: u32,
    pub score: f64,
}

/// `typo`: the typos over the matched words, a first-letter typo counting two; then
/// the words found only as another form of themselves (through their stem:
/// `connected` for `connecting`), which count below the words as written.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypoDetails {
    pub order: usize,
    pub typo_count: u32,
    pub max_typo_count: u32,
    /// Matched words found neither as written nor as the start of a word, only as
    /// another form of themselves.
    pub other_forms: u32,
    pub score: f64,
}

/// Whether a text field of the hit is the query, begins with it, or neither. While the
/// last word is likely unfinished (most words beginning so are longer: `goo`), a field
/// that is the query only begins with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum MatchType {
    ExactMatch,
    MatchesStart,
    NoExactMatch,
}

/// `exactness`: a field that is the query (or begins with it), then how many words
/// were found exactly as typed (not another form of the word, nor a prefix).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExactnessDetails {
    pub order: usize,
    pub match_type: MatchType,
    pub exact_words: u32,
    pub score: f64,
}

/// `proximity`: how close together, and in the query's order, the matched words are.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProximityDetails {
    pub order: usize,
    pub score: f64,
}

/// `attribute`: how important the fields the words were found in are (by boost), then
/// how near the start of the field.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDetails {
    pub order: usize,
    pub attribute_ranking_order_score: f64,
    pub word_position_score: f64,
    pub score: f64,
}

/// `score`: BM25, each query word by its best term (the field it matches best, weighted
/// by its boost), summed over the words, as `bm25 / (bm25 + 10)`, after whether the word being typed was found complete and, among fields that are the
/// query with a typo corrected, how likely the correction is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bm25Details {
    pub order: usize,
    pub bm25: f32,
    pub score: f64,
}

/// A field rule: the hit's value of the field (`null` when it has none). It has no
/// score: it orders, as a sort does, and doesn't count in `rankingScore`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldDetails {
    pub order: usize,
    #[schema(value_type = Object)]
    pub value: Option<Value>,
}
