//! Cache keys: namespaced (`<prefix>:v2:`), versioned so that a change of format
//! can't read old entries, and for searches carrying the collection's epoch and a hash
//! of the normalized request.
//!
//! The cache knows no search types: a caller hands over the request's *fingerprint*
//! (every parameter that changes the answer, normalized; see
//! `SearchRequest::fingerprint`), and this module only hashes it under the epoch.

use sha2::{Digest, Sha256};

pub use crate::index::Epoch;

/// Bumped whenever what is cached changes shape (v2: document entries carry the
/// snapshot they were read in), so replicas of two versions never read each other's.
pub const FORMAT_VERSION: &str = "v2";

#[derive(Debug, Clone)]
pub struct Keys {
    /// `<prefix>:<FORMAT_VERSION>`
    namespace: String,
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

    /// A search answer at `epoch`; `fingerprint` names every parameter that changes it.
    pub fn search(&self, epoch: Epoch, fingerprint: &str) -> String {
        self.at_epoch("search", epoch, fingerprint)
    }

    /// A suggest answer at `epoch`; `fingerprint` names every parameter that changes it.
    pub fn suggest(&self, epoch: Epoch, fingerprint: &str) -> String {
        self.at_epoch("suggest", epoch, fingerprint)
    }

    fn at_epoch(&self, kind: &str, epoch: Epoch, normalized: &str) -> String {
        let hash = hex::encode(&Sha256::digest(normalized.as_bytes())[..16]);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(seq: i64) -> Epoch {
        Epoch {
            collection_id: 3,
            settings_generation: 1,
            txid: 900,
            seq,
        }
    }

    #[test]
    fn the_epoch_and_the_fingerprint_are_in_the_key() {
        let keys = Keys::new("sift");
        let base = keys.search(epoch(1), "q=lamp");
        assert!(base.starts_with("sift:v2:search:3:1:900.1:"), "{base}");
        assert_ne!(base, keys.search(epoch(2), "q=lamp"));
        assert_ne!(base, keys.search(epoch(1), "q=lamps"));
        assert_ne!(base, keys.suggest(epoch(1), "q=lamp"), "kinds differ");
    }
}
