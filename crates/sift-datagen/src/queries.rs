//! Query workloads drawn from the corpus's own vocabulary: rare, medium and common
//! words, one to three of them, exact or with a typo or a prefix, as a benchmark needs.

use serde::{Deserialize, Serialize};

use crate::{Rng, vocabulary};

/// How frequent a query's words are in the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// Among the ~100 most frequent content words: in a large share of documents.
    Common,
    /// Ranks 1,000 to 2,500.
    Medium,
    /// Ranks 5,000 and beyond: in few documents.
    Rare,
}

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::Common, Frequency::Medium, Frequency::Rare];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Common => "common",
            Frequency::Medium => "medium",
            Frequency::Rare => "rare",
        }
    }
}

/// What was done to the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Exact,
    /// Two letters of the longest word swapped.
    Typo,
    /// The last word cut to 3–5 letters.
    Prefix,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Query {
    pub text: String,
    pub frequency: Frequency,
    pub words: usize,
    pub variant: Variant,
}

/// Words too common to be worth searching for (the analyzer drops many of them).
fn is_content_word(word: &str) -> bool {
    word.len() >= 5
}

/// `count` queries, cycling through frequencies, word counts and variants so each
/// combination is represented.
pub fn workload(seed: u64, count: usize) -> Vec<Query> {
    let words = vocabulary();
    let common: Vec<&str> = words[..words.len().min(424)]
        .iter()
        .copied()
        .filter(|w| is_content_word(w))
        .take(100)
        .collect();
    let medium = &words[1000.min(words.len())..2500.min(words.len())];
    let rare = &words[5000.min(words.len())..];
    let mut rng = Rng::new(seed);
    let mut queries = Vec::with_capacity(count);
    for n in 0..count {
        let frequency = Frequency::ALL[n % 3];
        let pool: &[&str] = match frequency {
            Frequency::Common => &common,
            Frequency::Medium => medium,
            Frequency::Rare => rare,
        };
        let word_count = 1 + (n / 3) % 3;
        let variant = [Variant::Exact, Variant::Typo, Variant::Prefix][(n / 9) % 3];
        let mut parts: Vec<String> = (0..word_count)
            .map(|_| pool[rng.below(pool.len())].to_owned())
            .collect();
        match variant {
            Variant::Exact => {}
            Variant::Typo => {
                if let Some(longest) = parts.iter_mut().max_by_key(|w| w.len())
                    && longest.len() >= 5
                {
                    let mut chars: Vec<char> = longest.chars().collect();
                    chars.swap(2, 3);
                    *longest = chars.into_iter().collect();
                }
            }
            Variant::Prefix => {
                if let Some(last) = parts.last_mut() {
                    let keep = (3 + rng.below(3)).min(last.len());
                    last.truncate(keep);
                }
            }
        }
        queries.push(Query {
            text: parts.join(" "),
            frequency,
            words: word_count,
            variant,
        });
    }
    queries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frequency_word_count_and_variant_is_represented() {
        let queries = workload(1, 27);
        for f in Frequency::ALL {
            for w in 1..=3 {
                for v in [Variant::Exact, Variant::Typo, Variant::Prefix] {
                    assert!(
                        queries
                            .iter()
                            .any(|q| q.frequency == f && q.words == w && q.variant == v),
                        "{f:?} {w} {v:?}"
                    );
                }
            }
        }
        assert!(queries.iter().all(|q| !q.text.is_empty()));
        assert_eq!(workload(1, 27).len(), 27);
    }
}
