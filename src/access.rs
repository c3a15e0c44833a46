//! Who may do what: the actions an API key grants, on which collections.
//!
//! A key grants actions (`search`, `documents.read`, `documents.write`,
//! `collections.read`, `collections.write`, or `*` for all of them) on collections named
//! exactly, by a prefix pattern (`shop-*`) or all (`*`), until it expires. Managing keys
//! is for the admin key (`SIFT_API_KEY`) alone, so a key can never make a stronger one.
//!
//! A key is derived from the admin key and a salt of its own (HMAC-SHA256), and only its
//! digest is stored: a database dump holds no usable key, yet the server can recompute
//! a key to check a **tenant token** signed with it. A tenant token is a JWT (HS256,
//! signed with a search key) whose claims name the key (`apiKeyId`), a filter every
//! search made with it must also match (`filter`, e.g. `tenant = acme`) and an expiry
//! (`exp`, required): one collection serves many customers, each seeing only its own
//! documents. The JWT is checked by hand (header `alg` must be `HS256`, the MAC compared
//! in constant time by `hmac`) rather than with a JWT crate, whose current versions
//! build a whole crypto backend for this one algorithm.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
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
    /// Every action, with the name the API uses for it.
    const NAMES: [(Action, &'static str); 6] = [
        (Action::Search, "search"),
        (Action::DocumentsRead, "documents.read"),
        (Action::DocumentsWrite, "documents.write"),
        (Action::CollectionsRead, "collections.read"),
        (Action::CollectionsWrite, "collections.write"),
        (Action::All, "*"),
    ];

    /// The action's name, as in the API and the `api_keys` table.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(action, _)| *action == self)
            .map_or("*", |(_, name)| name)
    }

    /// The action named `name`.
    pub fn parse(name: &str) -> Option<Action> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(action, _)| *action)
    }

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

/// How far a request's key reaches, for the routes that name their collections in the
/// body (multi-search), which the key check cannot see: set by the key check on every
/// request it lets through, so a handler that requires it fails closed if it is
/// missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The admin key, no admin key configured, or an open read.
    Everything,
    /// An API key (or a tenant token's key): its grant.
    Grant(Grant),
}

impl Reach {
    /// Whether `action` on `collection` is within reach.
    pub fn allows(&self, action: Action, collection: &str, now: DateTime<Utc>) -> bool {
        match self {
            Reach::Everything => true,
            Reach::Grant(grant) => grant.allows(action, Some(collection), now).is_ok(),
        }
    }
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

/// A new key's salt.
pub fn salt() -> [u8; 16] {
    rand::random()
}

/// The key with id `id` and `salt`: `sift_` and HMAC-SHA256(admin key, id ‖ salt) in hex.
pub fn derive_key(admin: &str, id: uuid::Uuid, salt: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(admin.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(salt);
    format!("sift_{}", hex::encode(mac.finalize().into_bytes()))
}

/// What a tenant token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantClaims {
    /// The key that signed the token.
    pub api_key_id: uuid::Uuid,
    /// What every search made with the token must also match.
    pub filter: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// The forced filter of a request made with a tenant token (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantFilter(pub String);

/// Whether a bearer value is shaped like a JWT rather than a key.
pub fn is_token(value: &str) -> bool {
    value.starts_with("eyJ") && value.split('.').count() == 3
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A token's claims before its signature is checked: only to find the key to check it
/// with.
pub fn unverified_claims(token: &str) -> Option<TenantClaims> {
    decode_part(token.split('.').nth(1)?)
}

/// Checks a tenant token: HS256 signed with `key`, not expired at `now` (Unix seconds).
pub fn verify_token(token: &str, key: &str, now: i64) -> Option<TenantClaims> {
    let mut parts = token.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    let header: serde_json::Value = decode_part(header)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(header_and_claims(token)?.as_bytes());
    mac.verify_slice(&signature).ok()?;
    let claims: TenantClaims = decode_part(claims)?;
    (claims.exp > now).then_some(claims)
}

/// `header.claims`, the signed part of a JWT.
fn header_and_claims(token: &str) -> Option<&str> {
    let last_dot = token.rfind('.')?;
    Some(&token[..last_dot])
}

/// Makes a tenant token (for tests and examples; clients make their own).
pub fn sign_token(claims: &TenantClaims, key: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signed = format!("{header}.{body}");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(signed.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signed}.{signature}")
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
    fn action_names_match_their_serde_names() {
        for (action, name) in Action::NAMES {
            assert_eq!(action.as_str(), name);
            assert_eq!(Action::parse(name), Some(action));
            assert_eq!(serde_json::to_value(action).expect("json"), name);
        }
        assert_eq!(Action::parse("fly"), None);
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
    fn keys_are_derived_long_and_prefixed() {
        let id = uuid::Uuid::now_v7();
        let (a, b) = (
            derive_key("admin", id, &salt()),
            derive_key("admin", id, &salt()),
        );
        assert!(a.starts_with("sift_") && a.len() == 69);
        assert_ne!(a, b, "salts differ");
        let s = salt();
        assert_eq!(derive_key("admin", id, &s), derive_key("admin", id, &s));
        assert_ne!(derive_key("admin", id, &s), derive_key("other", id, &s));
    }

    #[test]
    fn a_tenant_token_is_checked_for_its_signature_algorithm_and_expiry() {
        let claims = TenantClaims {
            api_key_id: uuid::Uuid::nil(),
            filter: "tenant = acme".into(),
            exp: 2_000,
        };
        let token = sign_token(&claims, "sift_key");
        assert!(is_token(&token));
        assert_eq!(unverified_claims(&token), Some(claims.clone()));
        assert_eq!(
            verify_token(&token, "sift_key", 1_000),
            Some(claims.clone())
        );
        assert_eq!(verify_token(&token, "sift_other", 1_000), None, "wrong key");
        assert_eq!(verify_token(&token, "sift_key", 2_000), None, "expired");
        // Changing the claims breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&TenantClaims {
                filter: "tenant = evil".into(),
                ..claims.clone()
            })
            .expect("json"),
        );
        parts[1] = &forged;
        assert_eq!(verify_token(&parts.join("."), "sift_key", 1_000), None);
        // `alg: none` is refused.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            token.split('.').nth(1).expect("claims")
        );
        assert_eq!(verify_token(&none, "sift_key", 1_000), None);
    }
}
