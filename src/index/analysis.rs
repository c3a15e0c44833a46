//! Text analysis: how text becomes terms, at index time and at query time alike.
//!
//! * `text`: words (letters and digits), lower-cased, ASCII-folded (`café` → `cafe`),
//!   stop words removed, English-stemmed (`headphones` → `headphon`). BM25 and typo
//!   tolerance work on these terms.
//! * `normalized`: the same words without stop-word removal or stemming, for
//!   prefixes (type-ahead) and highlighting.
//!
//! Tokenizers must be registered on every index each time it is opened; the
//! collection's stop words are part of its analyzer.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenStream,
};

/// Name of the analyzer of `text` fields, as registered on each index.
pub const TEXT_ANALYZER: &str = "sift_text";

/// Words longer than this are dropped: they are rarely words, and they bloat the index.
pub const MAX_WORD_BYTES: usize = 40;

/// Shortest and longest prefix indexed for type-ahead. A query's last word of one
/// character is matched as a whole word; prefixes longer than the maximum are cut.
pub const MIN_PREFIX_CHARS: usize = 2;
pub const MAX_PREFIX_CHARS: usize = 15;

/// The analyzer of `text` fields. `stop_words`: `None` is the English list.
pub fn text_analyzer(stop_words: Option<&[String]>) -> TextAnalyzer {
    let stop_words = match stop_words {
        Some(words) => StopWordFilter::remove(words.iter().map(|w| normalize_word(w))),
        None => StopWordFilter::new(Language::English)
            .unwrap_or_else(|| StopWordFilter::remove(Vec::new())),
    };
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(stop_words)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Words without stemming or stop-word removal.
pub fn normalizer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
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

/// A normalized word lower-cased and folded the way the analyzers do.
pub fn normalize_word(word: &str) -> String {
    let mut normalizer = normalizer();
    words(&mut normalizer, word)
        .into_iter()
        .map(|w| w.text)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The prefixes of a normalized word that type-ahead indexes.
pub fn prefixes(word: &str) -> impl Iterator<Item = &str> {
    let ends: Vec<usize> = word
        .char_indices()
        .map(|(at, c)| at + c.len_utf8())
        .enumerate()
        .filter(|(n, _)| (MIN_PREFIX_CHARS - 1..MAX_PREFIX_CHARS).contains(n))
        .map(|(_, end)| end)
        .collect();
    ends.into_iter().map(move |end| &word[..end])
}

/// The prefix a query's last word is looked up by (cut to the longest indexed).
pub fn prefix_key(word: &str) -> Option<&str> {
    let chars = word.chars().count();
    if chars < MIN_PREFIX_CHARS {
        return None;
    }
    let end = word
        .char_indices()
        .nth(MAX_PREFIX_CHARS)
        .map(|(at, _)| at)
        .unwrap_or(word.len());
    Some(&word[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn prefixes_run_from_two_to_fifteen_characters() {
        assert_eq!(prefixes("lamp").collect::<Vec<_>>(), ["la", "lam", "lamp"]);
        assert!(prefixes("a").next().is_none());
        assert_eq!(
            prefixes("internationalization").last(),
            Some("internationaliz")
        );
        assert_eq!(prefix_key("internationalization"), Some("internationaliz"));
        assert_eq!(prefix_key("w"), None);
        assert_eq!(prefixes("éa").collect::<Vec<_>>(), ["éa"]);
    }
}
