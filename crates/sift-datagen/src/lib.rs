//! `sift-bench datagen`: deterministic, realistic documents for benchmarks, streamed as NDJSON.
//!
//! Words come from an English vocabulary (`words.txt`: about 420 common words in rough
//! frequency order, then words from SCOWL's American English list via Debian's
//! `wamerican`), drawn with a Zipf-like frequency (rank r has weight 1/r), so a few
//! words are everywhere and most are rare, as in real text. The same seed gives the
//! same corpus on any machine. Generation is hand-written JSON from a table lookup per
//! word, to stay far above the import rate (hundreds of thousands of documents per
//! second).

pub mod queries;

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The corpora `sift-bench datagen` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Corpus {
    /// Product reviews: product name, title, body (20–200 words), rating, category,
    /// author, createdAt.
    Reviews,
    /// A product catalog: title, description, brand, category, price, rating, inStock.
    Products,
}

impl Corpus {
    pub fn name(self) -> &'static str {
        match self {
            Corpus::Reviews => "reviews",
            Corpus::Products => "products",
        }
    }

    /// The collection schema this corpus is made for (`POST /v1/collections`).
    pub fn schema(self, collection: &str) -> Value {
        match self {
            Corpus::Reviews => json!({
                "name": collection,
                "fields": [
                    {"name": "title", "type": "text", "boost": 3.0},
                    {"name": "productName", "type": "text", "boost": 2.0},
                    {"name": "body", "type": "text", "boost": 1.0},
                    {"name": "rating", "type": "integer", "filterable": true, "sortable": true},
                    {"name": "category", "type": "keyword", "facet": true},
                    {"name": "author", "type": "keyword"},
                    {"name": "createdAt", "type": "datetime", "sortable": true}
                ]
            }),
            Corpus::Products => json!({
                "name": collection,
                "fields": [
                    {"name": "title", "type": "text", "boost": 3.0},
                    {"name": "description", "type": "text", "boost": 1.0},
                    {"name": "brand", "type": "keyword", "facet": true},
                    {"name": "category", "type": "keyword", "facet": true},
                    {"name": "price", "type": "float", "filterable": true, "sortable": true},
                    {"name": "rating", "type": "float", "filterable": true, "sortable": true},
                    {"name": "inStock", "type": "bool", "filterable": true}
                ]
            }),
        }
    }
}

/// The vocabulary, most frequent first.
pub fn vocabulary() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        include_str!("words.txt")
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect()
    })
}

/// A small, fast, deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never zero: xorshift would stay there.
        Rng((seed ^ 0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One of `items` (not empty), uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Draws ranks with a Zipf-like frequency in O(1): a table of 2^16 slots, each slot a
/// rank, filled in proportion to 1/rank.
#[derive(Debug, Clone)]
pub struct Zipf {
    table: Vec<u32>,
}

impl Zipf {
    pub fn new(n: usize) -> Zipf {
        const SLOTS: usize = 1 << 16;
        let total: f64 = (1..=n).map(|r| 1.0 / r as f64).sum();
        let mut table = Vec::with_capacity(SLOTS);
        let mut cumulative = 0.0;
        for rank in 0..n {
            cumulative += 1.0 / (rank + 1) as f64 / total;
            let until = ((cumulative * SLOTS as f64).round() as usize).min(SLOTS);
            while table.len() < until {
                table.push(rank as u32);
            }
        }
        while table.len() < SLOTS {
            table.push((n - 1) as u32);
        }
        Zipf { table }
    }

    /// A rank. With 2^16 slots and 8,000 words every rank but the rarest few holds a
    /// slot, which is close enough to Zipf for benchmarks.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        self.table[(rng.next_u64() & 0xffff) as usize] as usize
    }
}

const CATEGORIES: &[&str] = &[
    "books",
    "electronics",
    "home",
    "kitchen",
    "garden",
    "toys",
    "sports",
    "beauty",
    "grocery",
    "pets",
    "office",
    "music",
    "outdoor",
    "automotive",
    "baby",
    "clothing",
];
const BRANDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Contoso",
    "Fabrikam",
    "Northwind",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Wonka",
    "Cyberdyne",
    "Aperture",
];
const ADJECTIVES: &[&str] = &[
    "compact",
    "portable",
    "wireless",
    "premium",
    "classic",
    "smart",
    "foldable",
    "quiet",
    "heavy-duty",
    "ergonomic",
    "waterproof",
    "rechargeable",
    "digital",
    "stainless",
    "vintage",
    "deluxe",
];
const NOUNS: &[&str] = &[
    "headphones",
    "kettle",
    "backpack",
    "lamp",
    "blender",
    "speaker",
    "keyboard",
    "camera",
    "toaster",
    "drill",
    "jacket",
    "tent",
    "watch",
    "charger",
    "mixer",
    "vacuum",
    "grinder",
    "router",
    "monitor",
    "scooter",
    "novel",
    "cookbook",
    "puzzle",
    "stroller",
];
const FIRST_NAMES: &[&str] = &[
    "alex", "sam", "jordan", "taylor", "morgan", "casey", "riley", "jamie", "avery", "quinn",
    "maria", "john", "li", "fatima", "olga", "kenji", "amara", "diego", "noor", "lucas",
];
const LAST_NAMES: &[&str] = &[
    "smith", "garcia", "chen", "patel", "kim", "novak", "okafor", "silva", "mueller", "rossi",
    "haddad", "tanaka", "larsen", "dubois", "kowalski", "nguyen", "jones", "brown", "ali", "wood",
];

/// Writes documents as NDJSON.
pub struct Generator {
    corpus: Corpus,
    rng: Rng,
    zipf: Zipf,
    words: &'static [&'static str],
}

impl Generator {
    pub fn new(corpus: Corpus, seed: u64) -> Generator {
        let words = vocabulary();
        Generator {
            corpus,
            rng: Rng::new(seed),
            zipf: Zipf::new(words.len()),
            words,
        }
    }

    fn word(&mut self) -> &'static str {
        let rank = self.zipf.sample(&mut self.rng);
        self.words[rank]
    }

    fn pick(&mut self, list: &[&'static str]) -> &'static str {
        list[self.rng.below(list.len())]
    }

    /// `count` words, the first capitalized, as a JSON string body (no escaping is
    /// needed: the vocabulary is plain lowercase ASCII).
    fn sentence(&mut self, out: &mut Vec<u8>, count: usize, period_every: usize) {
        for i in 0..count {
            let word = self.word();
            if i > 0 {
                out.push(b' ');
            }
            if i == 0 {
                let mut chars = word.bytes();
                if let Some(first) = chars.next() {
                    out.push(first.to_ascii_uppercase());
                }
                out.extend(chars);
            } else {
                out.extend_from_slice(word.as_bytes());
            }
            if period_every > 0 && i + 1 < count && (i + 1) % period_every == 0 {
                out.push(b'.');
            }
        }
        if period_every > 0 {
            out.push(b'.');
        }
    }

    /// Appends document number `n` and a newline.
    pub fn write_document(&mut self, n: u64, out: &mut Vec<u8>) {
        match self.corpus {
            Corpus::Reviews => self.review(n, out),
            Corpus::Products => self.product(n, out),
        }
        out.push(b'\n');
    }

    fn product_name(&mut self, out: &mut Vec<u8>) {
        let (brand, adjective, noun) = (self.pick(BRANDS), self.pick(ADJECTIVES), self.pick(NOUNS));
        out.extend_from_slice(brand.as_bytes());
        out.push(b' ');
        out.extend_from_slice(adjective.as_bytes());
        out.push(b' ');
        out.extend_from_slice(noun.as_bytes());
    }

    fn review(&mut self, n: u64, out: &mut Vec<u8>) {
        let _ = write!(out, r#"{{"id":"r{n}","productName":""#);
        self.product_name(out);
        out.extend_from_slice(br#"","title":""#);
        let title_words = 3 + self.rng.below(6);
        self.sentence(out, title_words, 0);
        out.extend_from_slice(br#"","body":""#);
        let body_words = 20 + self.rng.below(181);
        self.sentence(out, body_words, 12);
        let rating = 1 + self.rng.below(5);
        let category = self.pick(CATEGORIES);
        let (first, last) = (self.pick(FIRST_NAMES), self.pick(LAST_NAMES));
        // Spread over 2020-01-01 .. 2026-01-01 (189,302,400 s).
        let created = 1_577_836_800 + (self.rng.next_u64() % 189_302_400) as i64;
        let created = chrono::DateTime::from_timestamp(created, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ");
        let _ = write!(
            out,
            r#"","rating":{rating},"category":"{category}","author":"{first}.{last}","createdAt":"{created}"}}"#
        );
    }

    fn product(&mut self, n: u64, out: &mut Vec<u8>) {
        let _ = write!(out, r#"{{"id":"p{n}","title":""#);
        self.product_name(out);
        out.extend_from_slice(br#"","description":""#);
        let words = 15 + self.rng.below(46);
        self.sentence(out, words, 10);
        let brand = self.pick(BRANDS);
        let category = self.pick(CATEGORIES);
        let price = (self.rng.below(50_000) + 99) as f64 / 100.0;
        let rating = (10 + self.rng.below(41)) as f64 / 10.0;
        let in_stock = self.rng.below(5) != 0;
        let _ = write!(
            out,
            r#"","brand":"{brand}","category":"{category}","price":{price},"rating":{rating},"inStock":{in_stock}}}"#
        );
    }
}

/// Streams documents `0..count` as NDJSON into `writer`, in chunks.
pub fn generate(
    corpus: Corpus,
    seed: u64,
    count: u64,
    writer: &mut impl Write,
) -> std::io::Result<()> {
    let mut generator = Generator::new(corpus, seed);
    let mut buffer = Vec::with_capacity(1 << 20);
    for n in 0..count {
        generator.write_document(n, &mut buffer);
        if buffer.len() >= 1 << 20 {
            writer.write_all(&buffer)?;
            buffer.clear();
        }
    }
    writer.write_all(&buffer)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_valid_json_with_the_schema_fields() {
        for corpus in [Corpus::Reviews, Corpus::Products] {
            let mut out = Vec::new();
            generate(corpus, 7, 200, &mut out).expect("generate");
            let schema = corpus.schema("x");
            let lines: Vec<&[u8]> = out
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(lines.len(), 200);
            for line in lines {
                let doc: Value = serde_json::from_slice(line).expect("valid JSON");
                for field in schema["fields"].as_array().expect("fields") {
                    let name = field["name"].as_str().expect("name");
                    assert!(doc.get(name).is_some(), "{corpus:?} lacks {name}: {doc}");
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_corpus() {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        generate(Corpus::Reviews, 1, 50, &mut a).expect("a");
        generate(Corpus::Reviews, 1, 50, &mut b).expect("b");
        generate(Corpus::Reviews, 2, 50, &mut c).expect("c");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn review_bodies_have_20_to_200_words() {
        let mut out = Vec::new();
        generate(Corpus::Reviews, 3, 500, &mut out).expect("generate");
        for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let doc: Value = serde_json::from_slice(line).expect("json");
            let words = doc["body"]
                .as_str()
                .expect("body")
                .split_whitespace()
                .count();
            assert!((20..=200).contains(&words), "{words}");
        }
    }

    #[test]
    fn word_frequencies_fall_with_rank() {
        let words = vocabulary();
        let zipf = Zipf::new(words.len());
        let mut rng = Rng::new(9);
        let mut counts = vec![0u32; words.len()];
        for _ in 0..200_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[100]);
        // Rank 1 against rank 10: about 10 times as frequent.
        let ratio = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((6.0..14.0).contains(&ratio), "{ratio}");
        // The tail is reached too.
        assert!(counts[words.len() / 2..].iter().any(|c| *c > 0));
    }
}
