//! Text analysis: how text becomes terms, at index time and at query time alike.
//!
//! * `text`: words (letters and digits; pairs of characters in Chinese, Japanese and
//!   Korean, see [`crate::index::tokenizer`]), lower-cased, ASCII-folded (`café` → `cafe`),
//!   stop words removed, English-stemmed (`headphones` → `headphon`). BM25 and typo
//!   tolerance work on these terms.
//! * `normalized`: the same words without stop-word removal or stemming, for
//!   prefixes (type-ahead) and highlighting.
//!
//! Tokenizers must be registered on every index each time it is opened; the
//! collection's stop words are part of its analyzer.

use rustc_hash::FxHashMap;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, StopWordFilter, TextAnalyzer,
    Token, TokenFilter, TokenStream, Tokenizer,
};

use crate::index::tokenizer::WordTokenizer;

/// Name of the analyzer of `text` fields, as registered on each index.
pub const TEXT_ANALYZER: &str = "sift_text";

/// Words longer than this are dropped: they are rarely words, and they bloat the index.
pub const MAX_WORD_BYTES: usize = 40;

/// Type-ahead prefixes. A word's prefixes of `MIN_PREFIX_CHARS` to
/// `MAX_PREFIX_CHARS` characters are indexed, and so is the whole word when it is
/// longer: a short prefix would expand to thousands of words, so it is looked up as
/// one term, while a longer one is expanded at query time to the few indexed words
/// it begins (Meilisearch keeps prefix postings for short prefixes the same way).
/// One character is a prefix too, so the first keystroke and `name-x` find something.
///
/// Every length is indexed, although prefixes are most of the terms of a review (319 of
/// 520 when they went up to five characters) and most of the indexing time: indexing only 1, 3 and 5 characters (a 2-
/// or 4-letter prefix looked up as the few dozen terms one character longer) cut a
/// rebuild's CPU by a sixth, but made the first keystrokes of type-ahead four times
/// slower (`co`: 3.4 → 15 ms on 822,679 packages), where a prefix is one term now.
///
/// Six rather than five: a six-letter prefix of a common word expanded to hundreds of
/// words, and block-max WAND over hundreds of term scorers spends its time sorting them
/// (`python` took 70–113 ms, `django` 26 ms, `stream` 20 ms; as one term, 4–8 ms), at
/// the sixth keystroke of words that are typed all the time. It costs about a tenth
/// more indexing time (a rebuild of 200,000 reviews: 37–38 CPU-seconds against 33).
pub const MIN_PREFIX_CHARS: usize = 1;
pub const MAX_PREFIX_CHARS: usize = 6;

/// The analyzer of `text` fields. `stop_words`: `None` is the English list.
pub fn text_analyzer(stop_words: Option<&[String]>) -> TextAnalyzer {
    let stop_words = match stop_words {
        Some(words) => StopWordFilter::remove(words.iter().map(|w| normalize_word(w))),
        None => StopWordFilter::new(Language::English)
            .unwrap_or_else(|| StopWordFilter::remove(Vec::new())),
    };
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(stop_words)
        .filter(MemoStemmer)
        .build()
}

/// English stemming (the Snowball stemmer tantivy's `Stemmer` runs, same crate and
/// version, so the same stems), remembering the stems of the words it has seen. Text
/// repeats its words (200,000 generated reviews stem millions of words from a
/// vocabulary of thousands; real text has more distinct words, still far fewer than
/// words), and a hash lookup costs a fraction of stemming. Each clone of the analyzer (tantivy takes one per segment it writes)
/// has its own memo, emptied when it holds [`MEMO_STEMS`] words.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoStemmer;

/// Most stems one analyzer remembers (a few MiB).
const MEMO_STEMS: usize = 1 << 16;

impl TokenFilter for MemoStemmer {
    type Tokenizer<T: Tokenizer> = MemoStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> MemoStemmerFilter<T> {
        MemoStemmerFilter {
            inner: tokenizer,
            memo: FxHashMap::default(),
        }
    }
}

#[derive(Clone)]
pub struct MemoStemmerFilter<T> {
    inner: T,
    /// Word → its stem, `None` when the word is its own stem.
    memo: FxHashMap<String, Option<String>>,
}

impl<T: Tokenizer> Tokenizer for MemoStemmerFilter<T> {
    type TokenStream<'a> = MemoStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        if self.memo.len() >= MEMO_STEMS {
            self.memo.clear();
        }
        MemoStemmerStream {
            tail: self.inner.token_stream(text),
            memo: &mut self.memo,
            stemmer: frostem::Stemmer::new(frostem::Algorithm::English),
        }
    }
}

pub struct MemoStemmerStream<'a, T> {
    tail: T,
    memo: &'a mut FxHashMap<String, Option<String>>,
    stemmer: frostem::Stemmer,
}

impl<T: TokenStream> TokenStream for MemoStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        let stem = match self.memo.get(token.text.as_str()) {
            Some(stem) => stem,
            None => {
                let stem = match self.stemmer.stem(&token.text) {
                    std::borrow::Cow::Borrowed(same) if same == token.text => None,
                    stemmed => Some(stemmed.into_owned()),
                };
                self.memo.entry(token.text.clone()).or_insert(stem)
            }
        };
        if let Some(stem) = stem {
            token.text.clear();
            token.text.push_str(stem);
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Words without stemming or stop-word removal.
pub fn normalizer() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// One word of a text, normalized, with where it stands in the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub from: usize,
    pub to: usize,
}

/// The normalized words of `text`.
pub fn words(normalizer: &mut TextAnalyzer, text: &str) -> Vec<Word> {
    let mut stream = normalizer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let token = stream.token();
        out.push(Word {
            text: token.text.clone(),
            from: token.offset_from,
            to: token.offset_to,
        });
    }
    out
}

/// The analyzed terms of `text` (what the index holds for it).
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The analyzed terms of `text` with their positions (stop words leave gaps, as in
/// the index), first at 0: a phrase's terms as a phrase query wants them.
pub fn positioned_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut out: Vec<(usize, String)> = Vec::new();
    while stream.advance() {
        let token = stream.token();
        out.push((token.position, token.text.clone()));
    }
    if let Some(first) = out.first().map(|t| t.0) {
        for term in &mut out {
            term.0 -= first;
        }
    }
    out
}

/// A normalized word lower-cased and folded the way the analyzers do.
pub fn normalize_word(word: &str) -> String {
    let mut normalizer = normalizer();
    words(&mut normalizer, word)
        .into_iter()
        .map(|w| w.text)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The terms type-ahead indexes for a normalized word: its short prefixes, and the
/// word itself when it is longer than them. No allocation: this runs for every word
/// of every document indexed.
pub fn prefixes(word: &str) -> impl Iterator<Item = &str> {
    let short = word
        .char_indices()
        .map(|(at, c)| at + c.len_utf8())
        .skip(MIN_PREFIX_CHARS - 1)
        .take(MAX_PREFIX_CHARS + 1 - MIN_PREFIX_CHARS);
    let whole = word
        .chars()
        .nth(MAX_PREFIX_CHARS)
        .is_some()
        .then_some(word.len());
    short.chain(whole).map(move |end| &word[..end])
}

/// How a query's last word is found as a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixLookup<'a> {
    /// Too short to be a prefix.
    None,
    /// Indexed as it is: one term.
    Term(&'a str),
    /// Longer than the indexed prefixes: every indexed word beginning with it.
    Expand(&'a str),
}

/// How `word` (normalized) is looked up as a prefix.
pub fn prefix_lookup(word: &str) -> PrefixLookup<'_> {
    match word.chars().count() {
        n if n < MIN_PREFIX_CHARS => PrefixLookup::None,
        n if n <= MAX_PREFIX_CHARS => PrefixLookup::Term(word),
        _ => PrefixLookup::Expand(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memo gives tantivy's own stems: for the generated corpora's vocabulary,
    /// stemmed (the first time) and remembered (the second); for a text of more distinct
    /// words than the memo holds, which empties it before the next text; and for the
    /// vocabulary again after that.
    #[test]
    fn remembered_stems_are_the_stemmers_stems() {
        let vocabulary: String = include_str!("../../crates/sift-datagen/src/words.txt")
            .lines()
            .chain([
                "running",
                "runs",
                "ran",
                "happily",
                "generously",
                "cafés",
                "x",
            ])
            .collect::<Vec<_>>()
            .join(" ");
        let many: String = (0..MEMO_STEMS + 5_000)
            .map(|n| {
                let letter = char::from(b'a' + (n % 26) as u8).to_string();
                format!("{}{n}ings", letter.repeat(1 + n % 7))
            })
            .collect::<Vec<_>>()
            .join(" ");
        let analyzer = |stemmer: bool| {
            let base = TextAnalyzer::builder(tantivy::tokenizer::SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter);
            if stemmer {
                base.filter(tantivy::tokenizer::Stemmer::new(Language::English))
                    .build()
            } else {
                base.filter(MemoStemmer).build()
            }
        };
        let (mut plain, mut memo) = (analyzer(true), analyzer(false));
        let expected_vocabulary = terms(&mut plain, &vocabulary);
        let expected_many = terms(&mut plain, &many);
        assert!(
            expected_vocabulary.iter().any(|t| t == "happili"),
            "stemmed at all"
        );
        assert!(
            expected_many.len() > MEMO_STEMS,
            "{} words",
            expected_many.len()
        );
        for (pass, (text, expected)) in [
            (&vocabulary, &expected_vocabulary),
            (&vocabulary, &expected_vocabulary),
            (&many, &expected_many),
            (&many, &expected_many),
            (&vocabulary, &expected_vocabulary),
            (&vocabulary, &expected_vocabulary),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(&terms(&mut memo, text), expected, "pass {pass}");
        }
    }

    #[test]
    fn text_terms_are_folded_stemmed_and_stopped() {
        let mut analyzer = text_analyzer(None);
        assert_eq!(
            terms(&mut analyzer, "The Wireless Headphones, café!"),
            ["wireless", "headphon", "cafe"]
        );
        let mut custom = text_analyzer(Some(&["wireless".to_string()]));
        assert_eq!(terms(&mut custom, "the wireless lamp"), ["the", "lamp"]);
    }

    #[test]
    fn words_keep_offsets() {
        let mut normalizer = normalizer();
        let found = words(&mut normalizer, "Hi, Crème brûlée");
        assert_eq!(
            found[1],
            Word {
                text: "creme".into(),
                from: 4,
                to: 10
            }
        );
        assert_eq!(found[2].text, "brulee");
    }

    #[test]
    fn short_prefixes_and_long_words_are_indexed() {
        assert_eq!(
            prefixes("lamp").collect::<Vec<_>>(),
            ["l", "la", "lam", "lamp"]
        );
        assert_eq!(
            prefixes("kettles").collect::<Vec<_>>(),
            ["k", "ke", "ket", "kett", "kettl", "kettle", "kettles"]
        );
        assert_eq!(prefixes("a").collect::<Vec<_>>(), ["a"]);
        assert_eq!(prefixes("éa").collect::<Vec<_>>(), ["é", "éa"]);
        // The first keystroke is a prefix too.
        assert_eq!(prefix_lookup("w"), PrefixLookup::Term("w"));
        assert_eq!(prefix_lookup(""), PrefixLookup::None);
        assert_eq!(prefix_lookup("kettle"), PrefixLookup::Term("kettle"));
        assert_eq!(prefix_lookup("kettles"), PrefixLookup::Expand("kettles"));
    }

    /// Fuzzing the query analyzer's building blocks on any Unicode text.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn analysis_of_any_text_never_panics(text in "\\PC{0,300}") {
                let mut normalizer = normalizer();
                for word in words(&mut normalizer, &text) {
                    for prefix in prefixes(&word.text) {
                        prop_assert!(word.text.starts_with(prefix));
                    }
                    let _ = prefix_lookup(&word.text);
                }
                let _ = terms(&mut text_analyzer(None), &text);
                let _ = positioned_terms(&mut text_analyzer(None), &text);
                let _ = normalize_word(&text);
            }

            #[test]
            fn prefixes_of_any_word_are_its_prefixes(word in "\\PC{0,40}") {
                for prefix in prefixes(&word) {
                    prop_assert!(word.starts_with(prefix));
                }
            }
        }
    }
}
