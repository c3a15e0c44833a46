//! API keys: create (the key is shown once), list, read, revoke; and finding the grant
//! of a presented key, with a short-lived cache so a request costs no database round
//! trip for a key seen in the last seconds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{self, Action, Grant};
use crate::db;
use crate::error::ApiError;
use crate::state::App;
use crate::store::keys as store;

/// How long a looked-up key (or its absence) is trusted in this process: a key revoked
/// on another replica stops working here within this.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// A request to create a key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "storefront search", "description": "shipped in the page", "actions": ["search"], "collections": ["products"], "expiresAt": null}))]
pub struct CreateKey {
    /// A name for people (1 to 200 characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub description: Option<String>,
    /// What the key may do.
    #[schema(min_items = 1)]
    pub actions: Vec<Action>,
    /// Collections by name, `prefix*`, or `*` for all.
    #[schema(min_items = 1)]
    pub collections: Vec<String>,
    /// When the key stops working (RFC 3339); none: never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub id: uuid::Uuid,
    pub name: String,
    pub description: Option<String>,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub actions: Vec<Action>,
    pub collections: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A key just created: the only answer that holds the key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    /// The key: shown this once; only its digest is stored.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// Every key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub data: Vec<KeyInfo>,
    pub total: usize,
}

fn actions(stored: &[String]) -> Vec<Action> {
    stored.iter().filter_map(|a| Action::parse(a)).collect()
}

/// What a stored key grants.
fn grant(record: &store::KeyRecord) -> Grant {
    Grant {
        id: record.id,
        actions: actions(&record.actions),
        collections: record.collections.clone(),
        expires_at: record.expires_at,
    }
}

impl From<store::KeyRecord> for KeyInfo {
    fn from(record: store::KeyRecord) -> KeyInfo {
        KeyInfo {
            id: record.id,
            name: record.name,
            description: record.description,
            prefix: record.key_prefix,
            actions: actions(&record.actions),
            collections: record.collections,
            expires_at: record.expires_at,
            created_at: record.created_at,
        }
    }
}

impl App {
    /// Creates a key; the answer holds it, once.
    pub async fn create_key(&self, request: CreateKey) -> Result<CreatedKey, ApiError> {
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.contains('\0') {
            return Err(ApiError::InvalidRequestBody(
                "`name` must be 1 to 200 characters".into(),
            ));
        }
        if request
            .description
            .as_deref()
            .is_some_and(|d| d.chars().count() > 1000 || d.contains('\0'))
        {
            return Err(ApiError::InvalidRequestBody(
                "`description` must be at most 1000 characters".into(),
            ));
        }
        if request.actions.is_empty() {
            return Err(ApiError::InvalidRequestBody(
                "`actions` must name at least one action".into(),
            ));
        }
        if request.collections.is_empty() || request.collections.len() > 100 {
            return Err(ApiError::InvalidRequestBody(
                "`collections` must name 1 to 100 collections or patterns (`*` for all)".into(),
            ));
        }
        if let Some(bad) = request
            .collections
            .iter()
            .find(|p| !access::valid_pattern(p))
        {
            return Err(ApiError::InvalidRequestBody(format!(
                "`collections`: `{}` is not a collection name, `prefix*` or `*`",
                bad.chars().take(80).collect::<String>()
            )));
        }
        let Some(admin) = self.config.api_key.as_deref() else {
            return Err(ApiError::Forbidden(
                "managing keys: set SIFT_API_KEY, the admin key, first".into(),
            ));
        };
        let id = uuid::Uuid::now_v7();
        let salt = access::salt();
        let key = access::derive_key(admin, id, &salt);
        let digest = access::digest(&key);
        let actions: Vec<String> = request
            .actions
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        let new = store::NewKey {
            id,
            name,
            description: request.description.as_deref(),
            digest: &digest,
            prefix: &key[..9],
            actions: &actions,
            collections: &request.collections,
            expires_at: request.expires_at,
            salt: &salt,
        };
        let record = db::retry(|| store::insert(&self.db, &new)).await?;
        tracing::info!(key_id = %record.id, "API key created");
        Ok(CreatedKey {
            key,
            info: record.into(),
        })
    }

    pub async fn list_keys(&self) -> Result<KeyList, ApiError> {
        let data: Vec<KeyInfo> = db::retry(|| store::list(&self.db))
            .await?
            .into_iter()
            .map(KeyInfo::from)
            .collect();
        Ok(KeyList {
            total: data.len(),
            data,
        })
    }

    pub async fn key(&self, id: uuid::Uuid) -> Result<KeyInfo, ApiError> {
        db::retry(|| store::find(&self.db, id))
            .await?
            .map(KeyInfo::from)
            .ok_or(ApiError::KeyNotFound(id))
    }

    /// Revokes a key: at once on this replica, within [`KEY_CACHE_TTL`] on others.
    pub async fn delete_key(&self, id: uuid::Uuid) -> Result<(), ApiError> {
        if !db::retry(|| store::delete(&self.db, id)).await? {
            return Err(ApiError::KeyNotFound(id));
        }
        self.key_grants.invalidate_all();
        tracing::info!(key_id = %id, "API key revoked");
        Ok(())
    }

    /// The grant and the key of key `id`, to check a tenant token it signed; `None` when
    /// there is no such key (or it predates tenant tokens).
    pub async fn tenant_key(&self, id: uuid::Uuid) -> Result<Option<(Grant, String)>, ApiError> {
        let Some(admin) = self.config.api_key.as_deref() else {
            return Ok(None);
        };
        let Some(record) = db::retry(|| store::find(&self.db, id)).await? else {
            return Ok(None);
        };
        let Some(salt) = record.key_salt.clone() else {
            return Ok(None);
        };
        let key = access::derive_key(admin, record.id, &salt);
        Ok(Some((grant(&record), key)))
    }

    /// The grant of a presented key; `None` when no key has this value.
    pub async fn grant_of(&self, key: &str) -> Result<Option<Arc<Grant>>, ApiError> {
        let digest = access::digest(key);
        if let Some(cached) = self.key_grants.get(&digest).await {
            return Ok(cached);
        }
        let grant = db::retry(|| store::find_by_digest(&self.db, &digest))
            .await?
            .map(|record| Arc::new(grant(&record)));
        self.key_grants.insert(digest, grant.clone()).await;
        Ok(grant)
    }
}
