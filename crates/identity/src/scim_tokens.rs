//! In-memory index of SCIM bearer tokens, the `/scim/v2` counterpart of [`crate::Directory`]:
//! loaded once at start, kept current by the admin API (created tokens inserted, revoked ones
//! removed before the HTTP answer), never a database read per request.

use std::collections::HashMap;
use std::sync::Arc;

use domain::{EntityId, KeyHash, ScimToken, ScimTokenId};
use parking_lot::RwLock;
use store::{Store, StoreError};

/// Who a SCIM request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimClient {
    pub token_id: ScimTokenId,
    /// The entity the token is bound to; `None` for a group-wide token.
    pub entity_id: Option<EntityId>,
}

impl ScimClient {
    /// The audit actor: `scim:<token id>`.
    pub fn actor(&self) -> String {
        format!("scim:{}", self.token_id)
    }
}

/// The live SCIM token index. `Send + Sync`; share it as `Arc<ScimTokens>`.
#[derive(Default)]
pub struct ScimTokens {
    index: RwLock<TokenIndex>,
}

#[derive(Default)]
struct TokenIndex {
    by_hash: HashMap<KeyHash, Arc<ScimClient>>,
    hash_by_id: HashMap<ScimTokenId, KeyHash>,
}

impl std::fmt::Debug for ScimTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimTokens")
            .field("tokens", &self.index.read().by_hash.len())
            .finish()
    }
}

impl ScimTokens {
    pub fn new() -> Self {
        ScimTokens::default()
    }

    /// Every token of the store that is not revoked.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let tokens = ScimTokens::new();
        for token in store.list_scim_tokens(None, store::Window::ALL).await? {
            if token.revoked_at.is_none() {
                tokens.insert(&token);
            }
        }
        tracing::info!(
            tokens = tokens.index.read().by_hash.len(),
            "SCIM tokens loaded"
        );
        Ok(tokens)
    }

    /// The client of the live token whose secret is `presented`.
    pub fn authenticate(&self, presented: &str) -> Option<Arc<ScimClient>> {
        let hash = KeyHash::of(presented);
        self.index.read().by_hash.get(&hash).cloned()
    }

    pub fn insert(&self, token: &ScimToken) {
        let client = Arc::new(ScimClient {
            token_id: token.id,
            entity_id: token.entity_id,
        });
        let mut index = self.index.write();
        if let Some(previous) = index.hash_by_id.insert(token.id, token.hash) {
            index.by_hash.remove(&previous);
        }
        index.by_hash.insert(token.hash, client);
    }

    /// The ids of the live tokens.
    pub(crate) fn ids(&self) -> std::collections::HashSet<ScimTokenId> {
        self.index.read().hash_by_id.keys().copied().collect()
    }

    /// Forgets the token; the next request with it is refused. `false` when it was not live.
    pub fn revoke(&self, id: ScimTokenId) -> bool {
        let mut index = self.index.write();
        match index.hash_by_id.remove(&id) {
            Some(hash) => index.by_hash.remove(&hash).is_some(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::KeySecret;

    use super::*;

    #[test]
    fn a_live_token_authenticates_and_a_revoked_one_fails_at_once() {
        let tokens = ScimTokens::new();
        let secret = KeySecret::generate_with_prefix(domain::SCIM_TOKEN_PREFIX);
        let token = ScimToken {
            id: ScimTokenId::generate(),
            name: None,
            entity_id: Some(EntityId::generate()),
            hash: secret.hash(),
            display_prefix: secret.display_prefix(),
            created_at: 0,
            revoked_at: None,
        };
        tokens.insert(&token);
        let client = tokens.authenticate(secret.expose());
        assert_eq!(client.map(|c| c.entity_id), Some(token.entity_id));
        assert!(tokens.authenticate("fabs_other").is_none());
        assert!(tokens.revoke(token.id));
        assert!(tokens.authenticate(secret.expose()).is_none());
        assert!(!tokens.revoke(token.id));
    }
}
