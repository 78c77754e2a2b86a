//! Where each person's wrapped content key is kept: in the database (the default), or outside
//! it, in a directory of one file per person (`[retention] content_key_dir`), so that an erasure
//! reaches database backups too.
//!
//! A key kept in the database is in every backup of it: a backup taken before an erasure, with
//! the master key, still opens the erased person's records. A key kept outside is in none of
//! them: an erasure deletes the person's file, and from then on no database backup, old or new,
//! opens their content, whoever holds the master key. What the directory's own copies keep is
//! the operator's to bound (README, "What backups keep").
//!
//! [`KeyCustody`] is the seam for a key-management service or an HSM: anything that can keep a
//! small blob per person, hand it back, and destroy it for good.

use std::fmt;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use domain::{EntityId, KeyOwner};
use serde::{Deserialize, Serialize};
use store::{Store, StoreError};

/// Keeps the owners' wrapped content keys (wrapped under their entity's data key, so a keeper
/// alone opens nothing). Every operation is idempotent; replicas sharing a keeper may race.
#[async_trait::async_trait]
pub trait KeyCustody: fmt::Debug + Send + Sync {
    /// The owner's wrapped content key and the entity whose data key wraps it.
    async fn get(&self, owner: KeyOwner) -> Result<Option<(EntityId, Vec<u8>)>, StoreError>;

    /// Keeps `wrapped` as the owner's key unless they have one, and returns the one kept: of
    /// replicas racing, all end up with the same key.
    async fn create(
        &self,
        owner: KeyOwner,
        entity: EntityId,
        wrapped: &[u8],
        at: domain::UnixMillis,
    ) -> Result<(EntityId, Vec<u8>), StoreError>;

    /// Destroys the owner's key for good; whether there was one.
    async fn destroy(&self, owner: KeyOwner) -> Result<bool, StoreError>;
}

/// Content keys kept in the database (`content_keys`), the default. The erasure's transaction
/// deletes the key's row too (`Store::erase_content`), with the records.
#[derive(Debug)]
pub struct InDatabase(pub Store);

#[async_trait::async_trait]
impl KeyCustody for InDatabase {
    async fn get(&self, owner: KeyOwner) -> Result<Option<(EntityId, Vec<u8>)>, StoreError> {
        self.0.content_key(owner).await
    }

    async fn create(
        &self,
        owner: KeyOwner,
        entity: EntityId,
        wrapped: &[u8],
        at: domain::UnixMillis,
    ) -> Result<(EntityId, Vec<u8>), StoreError> {
        self.0.create_content_key(owner, entity, wrapped, at).await
    }

    async fn destroy(&self, owner: KeyOwner) -> Result<bool, StoreError> {
        self.0.delete_content_key(owner).await
    }
}

/// Content keys kept in a directory outside the database: one file per owner
/// (`user.<id>.key`, `service_account.<id>.key`), 0600, in a directory that is 0700.
pub struct KeyDirectory {
    dir: PathBuf,
}

impl fmt::Debug for KeyDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDirectory")
            .field("dir", &self.dir)
            .finish()
    }
}

/// One owner's file.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    entity: EntityId,
    /// The content key wrapped under the entity's data key, in base64.
    wrapped: String,
}

impl KeyDirectory {
    /// The directory at `dir`, created (0700) when missing.
    pub fn open(dir: &Path) -> Result<KeyDirectory, StoreError> {
        let custody = |error: std::io::Error| {
            StoreError::KeyCustody(format!("content key directory {}: {error}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(custody)?;
        restrict(dir, 0o700).map_err(custody)?;
        Ok(KeyDirectory {
            dir: dir.to_owned(),
        })
    }

    /// Moves every key kept in the database here, then deletes it there: a deployment that
    /// kept its keys in the database keeps reading its content. Returns how many moved.
    pub async fn take_over_from(&self, store: &Store) -> Result<u64, StoreError> {
        let mut moved = 0;
        for (owner, entity, wrapped, at) in store.content_keys().await? {
            let kept = self.create(owner, entity, &wrapped, at).await?;
            if kept != (entity, wrapped) {
                return Err(StoreError::KeyCustody(format!(
                    "{} holds another content key than the database for {}",
                    self.dir.display(),
                    file_name(owner)
                )));
            }
            store.delete_content_key(owner).await?;
            moved += 1;
        }
        Ok(moved)
    }

    fn path(&self, owner: KeyOwner) -> PathBuf {
        self.dir.join(file_name(owner))
    }

    fn error(&self, owner: KeyOwner, error: impl fmt::Display) -> StoreError {
        StoreError::KeyCustody(format!(
            "content key {}: {error}",
            self.path(owner).display()
        ))
    }

    fn read(&self, owner: KeyOwner) -> Result<Option<(EntityId, Vec<u8>)>, StoreError> {
        let text = match std::fs::read(self.path(owner)) {
            Ok(text) => text,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.error(owner, error)),
        };
        let file: KeyFile = serde_json::from_slice(&text).map_err(|e| self.error(owner, e))?;
        let wrapped = base64_decode(&file.wrapped).map_err(|e| self.error(owner, e))?;
        Ok(Some((file.entity, wrapped)))
    }

    /// Writes a new file under a temporary name, then links it to its own name, which fails if
    /// another writer got there first: a reader never sees half a file.
    fn write_new(
        &self,
        owner: KeyOwner,
        entity: EntityId,
        wrapped: &[u8],
    ) -> Result<(), StoreError> {
        let file = KeyFile {
            entity,
            wrapped: base64_encode(wrapped),
        };
        let text = serde_json::to_vec(&file).map_err(|e| self.error(owner, e))?;
        let temporary = tempfile_in(&self.dir).map_err(|e| self.error(owner, e))?;
        let result = (|| {
            let mut handle = std::fs::File::options().write(true).open(&temporary)?;
            handle.write_all(&text)?;
            handle.sync_all()?;
            match std::fs::hard_link(&temporary, self.path(owner)) {
                Err(error) if error.kind() != ErrorKind::AlreadyExists => Err(error),
                _ => Ok(()),
            }
        })();
        let removed = std::fs::remove_file(&temporary);
        result.and(removed).map_err(|e| self.error(owner, e))
    }

    fn remove(&self, owner: KeyOwner) -> Result<bool, StoreError> {
        match std::fs::remove_file(self.path(owner)) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
            Err(error) => Err(self.error(owner, error)),
        }
    }
}

#[async_trait::async_trait]
impl KeyCustody for KeyDirectory {
    async fn get(&self, owner: KeyOwner) -> Result<Option<(EntityId, Vec<u8>)>, StoreError> {
        self.read(owner)
    }

    async fn create(
        &self,
        owner: KeyOwner,
        entity: EntityId,
        wrapped: &[u8],
        _: domain::UnixMillis,
    ) -> Result<(EntityId, Vec<u8>), StoreError> {
        if let Some(kept) = self.read(owner)? {
            return Ok(kept);
        }
        self.write_new(owner, entity, wrapped)?;
        self.read(owner)?
            .ok_or_else(|| self.error(owner, "vanished after it was written"))
    }

    async fn destroy(&self, owner: KeyOwner) -> Result<bool, StoreError> {
        self.remove(owner)
    }
}

fn file_name(owner: KeyOwner) -> String {
    match owner {
        KeyOwner::User(id) => format!("user.{id}.key"),
        KeyOwner::ServiceAccount(id) => format!("service_account.{id}.key"),
    }
}

/// A new empty file (0600) with a name no one else uses, in `dir`.
fn tempfile_in(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(format!(".new-{}", uuid::Uuid::now_v7().simple()));
    let mut options = std::fs::File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&path)?;
    Ok(path)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::UserId;

    #[tokio::test]
    async fn a_directory_keeps_one_key_per_owner_until_it_is_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::open(&dir.path().join("keys")).unwrap();
        let (ada, bob) = (
            KeyOwner::User(UserId::generate()),
            KeyOwner::User(UserId::generate()),
        );
        let entity = EntityId::generate();
        assert_eq!(keys.get(ada).await.unwrap(), None);
        assert_eq!(
            keys.create(ada, entity, &[1, 2, 3], 0).await.unwrap(),
            (entity, vec![1, 2, 3])
        );
        // A replica that lost the race gets the key kept first.
        assert_eq!(
            keys.create(ada, EntityId::generate(), &[9], 0)
                .await
                .unwrap(),
            (entity, vec![1, 2, 3])
        );
        keys.create(bob, entity, &[4], 0).await.unwrap();
        assert!(keys.destroy(ada).await.unwrap());
        assert!(
            !keys.destroy(ada).await.unwrap(),
            "destroying again finds nothing"
        );
        assert_eq!(keys.get(ada).await.unwrap(), None);
        assert_eq!(keys.get(bob).await.unwrap(), Some((entity, vec![4])));
        let left: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind: {left:?}");
    }

    #[tokio::test]
    async fn a_damaged_key_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::open(dir.path()).unwrap();
        let ada = KeyOwner::User(UserId::generate());
        std::fs::write(keys.path(ada), "not json").unwrap();
        let error = keys.get(ada).await.unwrap_err().to_string();
        assert!(error.contains(&file_name(ada)), "{error}");
    }
}
