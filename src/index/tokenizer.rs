//! How text is cut into words, before any filter (lower-casing, folding, stemming):
//! the first step of every analyzer, at index time and at query time alike.
//!
//! Words are runs of letters and digits, as tantivy's `SimpleTokenizer` cuts them,
//! except in Chinese, Japanese and Korean. Those are written without spaces between
//! words, so a run of their characters is a whole sentence: as one "word" it matched
//! no query but itself, and past 13 characters (40 bytes) the index dropped it
//! altogether. Such a run is cut into overlapping pairs of characters (`中文工具` →
//! `中文`, `文工`, `工具`), as Elasticsearch's `cjk` analyzer does: a query is cut the
//! same way, so its pairs are words that must match, one after the other (the
//! `proximity` rule ranks them together and in order first), and the last pair is a
//! prefix while it is being typed. A character standing alone is a word of its own.
//! No dictionary is needed, at the cost of pairs that straddle two words (`文工`),
//! which only ever match where the same characters stand together.
//!
//! Where such characters meet letters or digits (`用于查询12306车票`), the run is cut
//! there too: `12306` is a word of its own.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Cuts text into words; see the module's documentation.
#[derive(Clone, Debug, Default)]
pub struct WordTokenizer {
    token: Token,
}

/// The words of one text.
pub struct WordTokenStream<'a> {
    text: &'a str,
    /// Where the next word may begin, in bytes.
    at: usize,
    /// The character at `at` is the second of the pair just given: it stands alone
    /// only if no pair came before it.
    in_pair: bool,
    token: &'a mut Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordTokenStream<'a> {
        self.token.reset();
        WordTokenStream {
            text,
            at: 0,
            in_pair: false,
            token: &mut self.token,
        }
    }
}

/// Whether `c` is written without spaces between words, so that words are taken as
/// pairs of characters: Han ideographs, Hiragana, Katakana and Hangul (the scripts of
/// Lucene's CJK bigram filter).
pub fn is_paired_script(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF // Hangul Jamo
        | 0x3005..=0x3007 // 々 〆 〇
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3130..=0x318F // Hangul compatibility Jamo
        | 0x31F0..=0x31FF // Katakana phonetic extensions
        | 0x3400..=0x4DBF // CJK unified ideographs, extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xA960..=0xA97F // Hangul Jamo extended A
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0xFF66..=0xFF9F // half-width Katakana
        | 0x20000..=0x3FFFF // CJK ideographs, extensions B and later
    )
}

impl WordTokenStream<'_> {
    fn give(&mut self, from: usize, to: usize) {
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.text.push_str(&self.text[from..to]);
    }
}

impl TokenStream for WordTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        let bytes = self.text.as_bytes();
        while let Some(&byte) = bytes.get(self.at) {
            let from = self.at;
            if byte.is_ascii() && !byte.is_ascii_alphanumeric() {
                self.at += 1;
                self.in_pair = false;
                continue;
            }
            let c = if byte.is_ascii() {
                char::from(byte)
            } else {
                match self.text[from..].chars().next() {
                    Some(c) => c,
                    None => break,
                }
            };
            let next = from + c.len_utf8();
            if !c.is_alphanumeric() {
                self.at = next;
                self.in_pair = false;
                continue;
            }
            if is_paired_script(c) {
                self.at = next;
                match self.text[next..].chars().next() {
                    Some(second) if second.is_alphanumeric() && is_paired_script(second) => {
                        self.in_pair = true;
                        self.give(from, next + second.len_utf8());
                        return true;
                    }
                    // The last character of a run of pairs is in the last pair.
                    _ if self.in_pair => {
                        self.in_pair = false;
                        continue;
                    }
                    _ => {
                        self.give(from, next);
                        return true;
                    }
                }
            }
            let mut to = next;
            while let Some(&byte) = bytes.get(to) {
                if byte.is_ascii() {
                    if !byte.is_ascii_alphanumeric() {
                        break;
                    }
                    to += 1;
                    continue;
                }
                match self.text[to..].chars().next() {
                    Some(c) if c.is_alphanumeric() && !is_paired_script(c) => to += c.len_utf8(),
                    _ => break,
                }
            }
            self.at = to;
            self.in_pair = false;
            self.give(from, to);
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tantivy::tokenizer::SimpleTokenizer;

    fn tokens<T: Tokenizer>(tokenizer: &mut T, text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.offset_from, t.offset_to, t.position));
        }
        out
    }

    fn texts(text: &str) -> Vec<String> {
        tokens(&mut WordTokenizer::default(), text)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    #[test]
    fn runs_of_chinese_japanese_and_korean_are_cut_into_pairs() {
        assert_eq!(texts("中文工具"), ["中文", "文工", "工具"]);
        assert_eq!(
            texts("一个基于Vue的中文工具库"),
            [
                "一个", "个基", "基于", "Vue", "的中", "中文", "文工", "工具", "具库"
            ]
        );
        assert_eq!(
            texts("用于查询12306车票信息"),
            ["用于", "于查", "查询", "12306", "车票", "票信", "信息"]
        );
        assert_eq!(
            texts("テキストを処理"),
            ["テキ", "キス", "スト", "トを", "を処", "処理"]
        );
        assert_eq!(texts("한국어 검색"), ["한국", "국어", "검색"]);
        // A character alone is a word; punctuation ends a run.
        assert_eq!(texts("中"), ["中"]);
        assert_eq!(texts("中，文。工具"), ["中", "文", "工具"]);
        assert_eq!(texts("a中b"), ["a", "中", "b"]);
        // Punctuation among those scripts (`・`, `ー` is a letter) is no part of a pair.
        assert_eq!(texts("テ・キー"), ["テ", "キー"]);
    }

    #[test]
    fn pairs_stand_one_after_the_other_at_their_characters() {
        let text = "x 中文工 y";
        assert_eq!(
            tokens(&mut WordTokenizer::default(), text),
            [
                ("x".to_string(), 0, 1, 0),
                ("中文".to_string(), 2, 8, 1),
                ("文工".to_string(), 5, 11, 2),
                ("y".to_string(), 12, 13, 3),
            ]
        );
    }

    proptest! {
        /// Text without those scripts is cut exactly as `SimpleTokenizer` cuts it:
        /// the same words, offsets and positions.
        #[test]
        fn other_text_is_cut_as_before(
            text in prop_oneof![
                "[a-zA-Z0-9éüß_ .,'\\-/@ñΩж]{0,40}",
                any::<String>().prop_filter("none paired", |t| !t.chars().any(is_paired_script)),
            ]
        ) {
            prop_assert_eq!(
                tokens(&mut WordTokenizer::default(), &text),
                tokens(&mut SimpleTokenizer::default(), &text)
            );
        }

        /// Every character of those scripts is in some word, every word is one or two
        /// of them (or none), and positions count up by one.
        #[test]
        fn every_paired_character_is_in_a_word(text in "[中文工具テキ・한국a1 ,]{0,24}") {
            let found = tokens(&mut WordTokenizer::default(), &text);
            for (at, c) in text
                .char_indices()
                .filter(|&(_, c)| c.is_alphanumeric() && is_paired_script(c))
            {
                prop_assert!(found.iter().any(|t| t.1 <= at && at < t.2), "{c} at {at}");
            }
            for (i, t) in found.iter().enumerate() {
                prop_assert_eq!(t.3, i);
                prop_assert!(t.0.chars().all(char::is_alphanumeric));
                let paired = t.0.chars().filter(|&c| is_paired_script(c)).count();
                prop_assert!(paired == 0 || (paired == t.0.chars().count() && paired <= 2));
            }
        }
    }
}
