//! Highlights: the matched words of a text field marked with tags, HTML-escaped
//! around them (the result is meant to be put into a page), and long text cropped to
//! a window of words around the first match.

use std::collections::HashMap;

use tantivy::tokenizer::TextAnalyzer;

use crate::index::analysis::{self, terms};
use crate::search::query::MatchedTerms;

/// How to mark and crop.
#[derive(Debug, Clone)]
pub struct HighlightOptions {
    pub pre_tag: String,
    pub post_tag: String,
    /// Words kept around the first match when a text is longer.
    pub crop_words: usize,
    /// Mark only the typed part of a word matched by prefix (`<mark>headph</mark>ones`),
    /// as completions do; otherwise the whole word.
    pub typed_part_only: bool,
    /// Put where a cropped text was cut (default `…`).
    pub crop_marker: String,
}

impl Default for HighlightOptions {
    fn default() -> Self {
        HighlightOptions {
            pre_tag: "<mark>".into(),
            post_tag: "</mark>".into(),
            crop_words: 30,
            typed_part_only: false,
            crop_marker: "…".into(),
        }
    }
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Marks matched words in the texts of one search's hits. It analyzes only the words
/// that begin like a matched term, each once per search: stemming every word of every
/// hit was a fifth of an uncached search's time.
pub struct Highlighter {
    normalizer: TextAnalyzer,
    analyzer: TextAnalyzer,
    /// Normalized word → its analyzed terms (none for a stop word).
    terms: HashMap<String, Vec<String>>,
}

impl Highlighter {
    pub fn new(normalizer: TextAnalyzer, analyzer: TextAnalyzer) -> Highlighter {
        Highlighter {
            normalizer,
            analyzer,
            terms: HashMap::new(),
        }
    }

    fn terms_of(&mut self, word: &str) -> &[String] {
        if !self.terms.contains_key(word) {
            let analyzed = terms(&mut self.analyzer, word);
            self.terms.insert(word.to_owned(), analyzed);
        }
        self.terms.get(word).map(Vec::as_slice).unwrap_or_default()
    }

    /// The highlighted text, cropped, or `None` when nothing in it matched.
    pub fn highlight(
        &mut self,
        text: &str,
        field: &str,
        matched: &MatchedTerms,
        options: &HighlightOptions,
    ) -> Option<String> {
        let marked = self.mark(text, field, matched, options.typed_part_only);
        render(text, &marked, options, true)
    }

    /// Which words of `text` match, and how much of each: what [`render`] marks and
    /// [`Marked::positions`] reports.
    pub fn mark(
        &mut self,
        text: &str,
        field: &str,
        matched: &MatchedTerms,
        typed_part_only: bool,
    ) -> Marked {
        let words = analysis::words(&mut self.normalizer, text);
        let field_terms = matched.terms.get(field);
        // For each word: not matched, or matched over its first N bytes (all of it, or
        // only the typed part of a prefix match when `typed_part_only`).
        let marks: Vec<Option<usize>> = words
            .iter()
            .map(|word| {
                // Stemming keeps a word's first letter (a test checks it over the word
                // list), so only words that begin like a matched term are analyzed.
                let by_term = field_terms.is_some_and(|set| {
                    let first = word.text.chars().next();
                    set.iter().any(|t| t.chars().next() == first)
                        && self.terms_of(&word.text).iter().any(|t| set.contains(t))
                });
                let by_prefix = matched
                    .prefix
                    .iter()
                    .chain(matched.joined_prefixes.keys())
                    .map(String::as_str)
                    .filter(|p| word.text.starts_with(*p))
                    .max_by_key(|p| p.len())
                    .filter(|_| !matched.whole_words_only.contains(field));
                let original = &text[word.from..word.to];
                match (by_term, by_prefix) {
                    (false, Some(prefix)) if typed_part_only => {
                        let chars = prefix.chars().count();
                        Some(
                            original
                                .char_indices()
                                .nth(chars)
                                .map(|(at, _)| at)
                                .unwrap_or(original.len()),
                        )
                    }
                    (true, _) | (false, Some(_)) => Some(original.len()),
                    (false, None) => None,
                }
            })
            .collect();
        Marked { words, marks }
    }
}

/// The words of a text and which of them matched (see [`Highlighter::mark`]).
pub struct Marked {
    words: Vec<analysis::Word>,
    /// Per word: the matched length in bytes from its start.
    marks: Vec<Option<usize>>,
}

impl Marked {
    /// Where the matches are: (start, length) in bytes of the text, in order.
    pub fn positions(&self) -> Vec<(usize, usize)> {
        spans(&self.words, &self.marks)
            .into_iter()
            .map(|(from, to)| (from, to - from))
            .collect()
    }
}

/// The marked parts of the text, (from, to) in bytes, in order. Words of Chinese,
/// Japanese and Korean overlap (pairs of characters, see [`crate::index::tokenizer`]):
/// a mark that overlaps or touches the one before it extends it, so that `中文工具`
/// is one mark rather than three crossing ones.
fn spans(words: &[analysis::Word], marks: &[Option<usize>]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (word, mark) in words.iter().zip(marks) {
        let Some(length) = *mark else { continue };
        let (from, to) = (word.from, word.from + length);
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// `text` with the matched words marked and HTML-escaped around the marks; when `crop`,
/// cut to `options.crop_words` words around the first match, `options.crop_marker` where
/// it was cut. `None` when nothing matched.
pub fn render(
    text: &str,
    marked: &Marked,
    options: &HighlightOptions,
    crop: bool,
) -> Option<String> {
    let Marked { words, marks } = marked;
    let first = marks.iter().position(Option::is_some)?;
    // Crop to a window of words starting a little before the first match.
    let (from_word, to_word) = if crop && words.len() > options.crop_words {
        let start = first.saturating_sub(options.crop_words / 4);
        (start, (start + options.crop_words).min(words.len()))
    } else {
        (0, words.len())
    };
    let start = if from_word == 0 {
        0
    } else {
        words[from_word].from
    };
    let end = if to_word == words.len() {
        text.len()
    } else {
        words[to_word - 1].to
    };
    let mut out = String::with_capacity(end - start + 32);
    if start > 0 {
        out.push_str(&options.crop_marker);
    }
    let mut at = start;
    for (from, to) in spans(&words[from_word..to_word], &marks[from_word..to_word]) {
        escape(&text[at..from], &mut out);
        out.push_str(&options.pre_tag);
        escape(&text[from..to], &mut out);
        out.push_str(&options.post_tag);
        at = to;
    }
    escape(&text[at..end], &mut out);
    if end < text.len() {
        out.push_str(&options.crop_marker);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn matched(terms: &[&str], prefix: Option<&str>) -> MatchedTerms {
        let mut m = MatchedTerms::default();
        m.terms.insert(
            "title".into(),
            terms.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>(),
        );
        m.prefix = prefix.map(str::to_owned);
        m
    }

    fn run(text: &str, m: &MatchedTerms, crop: usize) -> Option<String> {
        let options = HighlightOptions {
            crop_words: crop,
            ..HighlightOptions::default()
        };
        Highlighter::new(analysis::normalizer(), analysis::text_analyzer(None))
            .highlight(text, "title", m, &options)
    }

    #[test]
    fn analysis_keeps_the_first_letter() {
        let mut analyzer = analysis::text_analyzer(None);
        for word in sift_datagen::vocabulary().iter().chain(&[
            "dying",
            "skies",
            "ugly",
            "news",
            "happy",
            "generously",
        ]) {
            let word = analysis::normalize_word(word);
            for term in terms(&mut analyzer, &word) {
                assert_eq!(term.chars().next(), word.chars().next(), "{word} → {term}");
            }
        }
    }

    #[test]
    fn marks_stemmed_and_prefix_matches_and_escapes() {
        let m = matched(&["headphon"], Some("wire"));
        assert_eq!(
            run("Wireless <Headphones> & more", &m, 30).as_deref(),
            Some("<mark>Wireless</mark> &lt;<mark>Headphones</mark>&gt; &amp; more")
        );
        assert_eq!(run("nothing here", &m, 30), None);
    }

    /// Pairs of Chinese characters overlap: the matched ones are one mark, and a pair
    /// touching the last letters of a word joins their marks.
    #[test]
    fn overlapping_pairs_of_characters_are_one_mark() {
        let m = matched(&["中文", "文工", "工具"], None);
        assert_eq!(
            run("一个基于Vue的中文工具库，中文", &m, 30).as_deref(),
            Some("一个基于Vue的<mark>中文工具</mark>库，<mark>中文</mark>")
        );
        let m = matched(&["vue", "的中"], None);
        assert_eq!(
            run("基于Vue的中文", &m, 30).as_deref(),
            Some("基于<mark>Vue的中</mark>文")
        );
        let marked = Highlighter::new(analysis::normalizer(), analysis::text_analyzer(None)).mark(
            "的中文工具",
            "title",
            &matched(&["中文", "文工", "工具"], None),
            false,
        );
        assert_eq!(marked.positions(), [(3, 12)]);
    }

    #[test]
    fn completions_mark_only_the_typed_part() {
        let m = matched(&["wireless"], Some("headph"));
        let options = HighlightOptions {
            typed_part_only: true,
            ..HighlightOptions::default()
        };
        let out = Highlighter::new(analysis::normalizer(), analysis::text_analyzer(None))
            .highlight("Wireless headphones", "title", &m, &options);
        assert_eq!(
            out.as_deref(),
            Some("<mark>Wireless</mark> <mark>headph</mark>ones")
        );
    }

    #[test]
    fn long_text_is_cropped_around_the_first_match() {
        let text = (0..100)
            .map(|n| format!("w{n}"))
            .collect::<Vec<_>>()
            .join(" ")
            + " lamp "
            + &"x ".repeat(50);
        let m = matched(&["lamp"], None);
        let out = run(&text, &m, 8).expect("matched");
        assert!(out.starts_with('…') && out.ends_with('…'), "{out}");
        assert!(out.contains("<mark>lamp</mark>"));
        assert!(out.split_whitespace().count() <= 9, "{out}");
    }
}
