//! Cache keys: namespaced (`<prefix>:v1:`), versioned so that a change of format
//! can't read old entries, and for searches carrying the collection's epoch and a hash
//! of the normalized request.

use sha2::{Digest, Sha256};

use crate::index::CollectionIndex;
use crate::search::SearchRequest;

/// Bumped whenever what is cached changes shape.
pub const FORMAT_VERSION: &str = "v1";

#[derive(Debug, Clone)]
pub struct Keys {
    /// `<prefix>:v1`
    namespace: String,
}

/// The point an index is at: searches cached under one epoch are exactly what the
/// index answers at that point, on any replica that has reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    pub collection_id: i64,
    pub settings_generation: i64,
    pub txid: u64,
    pub seq: i64,
}

impl Epoch {
    pub fn of(index: &CollectionIndex) -> Epoch {
        let watermark = index.progress().watermark;
        Epoch {
            collection_id: index.spec.collection_id,
            settings_generation: index.spec.settings_generation,
            txid: watermark.txid,
            seq: watermark.seq,
        }
    }
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            namespace: format!("{prefix}:{FORMAT_VERSION}"),
        }
    }

    /// The pub/sub channel of document invalidations.
    pub fn invalidation_channel(&self) -> String {
        format!("{}:invalidate", self.namespace)
    }

    /// The pub/sub channel of acknowledgements of invalidations.
    pub fn ack_channel(&self) -> String {
        format!("{}:ack", self.namespace)
    }

    pub fn search(&self, epoch: Epoch, request: &SearchRequest) -> String {
        self.at_epoch("search", epoch, &normalized_search(request))
    }

    pub fn suggest(&self, epoch: Epoch, q: &str, limit: usize) -> String {
        self.at_epoch(
            "suggest",
            epoch,
            &format!("q={}\u{1f}limit={limit}", normalize_query(q)),
        )
    }

    fn at_epoch(&self, kind: &str, epoch: Epoch, normalized: &str) -> String {
        let digest = Sha256::digest(normalized.as_bytes());
        let mut hash = String::with_capacity(32);
        for byte in &digest[..16] {
            hash.push_str(&format!("{byte:02x}"));
        }
        format!(
            "{}:{kind}:{}:{}:{}.{}:{hash}",
            self.namespace, epoch.collection_id, epoch.settings_generation, epoch.txid, epoch.seq
        )
    }

    /// The invalidation counter of document keys in a stripe.
    pub fn document_counter(&self, stripe: usize) -> String {
        format!("{}:doc-counter:{stripe}", self.namespace)
    }

    /// A document read. The collection id (not its name) keeps a re-created
    /// collection from finding the old one's entries.
    pub fn document(&self, collection_id: i64, id: &str) -> String {
        format!("{}:doc:{collection_id}:{id}", self.namespace)
    }
}

/// The query as the analyzer sees it: case and runs of whitespace don't matter.
pub fn normalize_query(q: &str) -> String {
    q.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every parameter that changes the answer, defaults filled in (the request is
/// already validated), in a fixed order. `after` is left out: it says when to answer,
/// not what.
fn normalized_search(r: &SearchRequest) -> String {
    format!(
        "q={}\u{1f}limit={}\u{1f}offset={}\u{1f}filter={:?}\u{1f}facets={:?}\u{1f}sort={:?}\u{1f}typos={}\u{1f}prefix={}\u{1f}highlight={:?}\u{1f}substring={}",
        normalize_query(&r.q),
        r.limit,
        r.offset,
        r.filter,
        r.facets,
        r.sort,
        r.typos,
        r.prefix,
        r.highlight,
        r.substring,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(q: &str) -> SearchRequest {
        SearchRequest::index(q.into(), 20)
    }

    fn epoch(seq: i64) -> Epoch {
        Epoch {
            collection_id: 3,
            settings_generation: 1,
            txid: 900,
            seq,
        }
    }

    #[test]
    fn case_and_whitespace_do_not_change_the_key() {
        let keys = Keys::new("sift");
        assert_eq!(
            keys.search(epoch(1), &request("Wireless  headph")),
            keys.search(epoch(1), &request(" wireless headph "))
        );
        assert_ne!(
            keys.search(epoch(1), &request("wireless headph")),
            keys.search(epoch(1), &request("wireless headphones"))
        );
    }

    #[test]
    fn the_epoch_and_every_parameter_are_in_the_key() {
        let keys = Keys::new("sift");
        let base = keys.search(epoch(1), &request("lamp"));
        assert!(base.starts_with("sift:v1:search:3:1:900.1:"), "{base}");
        assert_ne!(base, keys.search(epoch(2), &request("lamp")));
        let mut other = request("lamp");
        other.offset = 20;
        assert_ne!(base, keys.search(epoch(1), &other));
        let mut other = request("lamp");
        other.after = Some(77);
        assert_eq!(base, keys.search(epoch(1), &other), "`after` is not");
        assert_ne!(
            keys.suggest(epoch(1), "lamp", 5),
            keys.suggest(epoch(1), "lamp", 6)
        );
    }
}
