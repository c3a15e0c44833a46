//! Who may do what: the actions an API key grants, on which collections.
//!
//! A key grants actions (`search`, `documents.read`, `documents.write`,
//! `collections.read`, `collections.write`, or `*` for all of them) on collections named
//! exactly, by a prefix pattern (`shop-*`) or all (`*`), until it expires. Managing keys
//! is for the admin key (`SIFT_API_KEY`) alone, so a key can never make a stronger one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Action {
    /// Search and suggest.
    #[serde(rename = "search")]
    Search,
    /// Read documents and list them.
    #[serde(rename = "documents.read")]
    DocumentsRead,
    /// Create, replace, patch, delete and import documents.
    #[serde(rename = "documents.write")]
    DocumentsWrite,
    /// Read collections, their settings and statistics.
    #[serde(rename = "collections.read")]
    CollectionsRead,
    /// Create, change, rebuild and delete collections.
    #[serde(rename = "collections.write")]
    CollectionsWrite,
    /// Every action above.
    #[serde(rename = "*")]
    All,
}

impl Action {
    /// Whether the action only reads (open without a key unless reads require one).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Action::Search | Action::DocumentsRead | Action::CollectionsRead
        )
    }
}

/// An API key as stored (its digest, never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: uuid::Uuid,
    pub actions: Vec<Action>,
    /// Names, prefix patterns ending in `*`, or `*`.
    pub collections: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a key may not do something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Past its expiry: as good as no key (401).
    Expired,
    /// A valid key without this action or collection (403).
    NotAllowed,
}

impl Grant {
    /// Whether this key may do `action` on `collection` (none: a request about no one
    /// collection, such as listing them) at `now`.
    pub fn allows(
        &self,
        action: Action,
        collection: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), Denied> {
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(Denied::Expired);
        }
        let acts = self
            .actions
            .iter()
            .any(|a| *a == Action::All || *a == action);
        let on = match collection {
            None => true,
            Some(name) => self
                .collections
                .iter()
                .any(|pattern| matches(pattern, name)),
        };
        if acts && on {
            Ok(())
        } else {
            Err(Denied::NotAllowed)
        }
    }
}

/// `*`, `prefix*` or an exact name.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Whether a collection pattern is well formed: a collection name, optionally ending in
/// `*`, or `*` alone.
pub fn valid_pattern(pattern: &str) -> bool {
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    (pattern == "*" || !name.is_empty())
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The digest under which a key is stored and looked up.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new key: `sift_` and 32 random bytes in hex.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    let mut key = String::with_capacity(5 + 64);
    key.push_str("sift_");
    for byte in bytes {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(actions: &[Action], collections: &[&str]) -> Grant {
        Grant {
            id: uuid::Uuid::nil(),
            actions: actions.to_vec(),
            collections: collections.iter().map(|c| c.to_string()).collect(),
            expires_at: None,
        }
    }

    #[test]
    fn a_key_allows_its_actions_on_its_collections_only() {
        let now = Utc::now();
        let key = grant(&[Action::Search], &["shop-*", "blog"]);
        assert_eq!(key.allows(Action::Search, Some("shop-eu"), now), Ok(()));
        assert_eq!(key.allows(Action::Search, Some("blog"), now), Ok(()));
        assert_eq!(
            key.allows(Action::Search, Some("blogs"), now),
            Err(Denied::NotAllowed)
        );
        assert_eq!(
            key.allows(Action::DocumentsRead, Some("blog"), now),
            Err(Denied::NotAllowed)
        );
        let all = grant(&[Action::All], &["*"]);
        assert_eq!(all.allows(Action::CollectionsWrite, Some("x"), now), Ok(()));
    }

    #[test]
    fn an_expired_key_allows_nothing() {
        let mut key = grant(&[Action::All], &["*"]);
        key.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
        assert_eq!(
            key.allows(Action::Search, Some("x"), Utc::now()),
            Err(Denied::Expired)
        );
    }

    #[test]
    fn patterns_are_names_with_an_optional_trailing_star() {
        assert!(valid_pattern("*"));
        assert!(valid_pattern("shop-*"));
        assert!(valid_pattern("blog"));
        assert!(!valid_pattern("Shop"));
        assert!(!valid_pattern("a*b"));
        assert!(!valid_pattern(""));
    }

    #[test]
    fn keys_are_long_random_and_prefixed() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with("sift_") && a.len() == 69);
        assert_ne!(a, b);
    }
}
