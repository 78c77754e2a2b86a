//! Files' contents moved from the place `[batches] file_contents` no longer names to the one it
//! does, at start, so a change of the setting strands no file.
//!
//! Each file is copied, its copy's size and SHA-256 checked against the file's metadata, and
//! only then is the old copy removed: a move cut short (a crash, a stop) leaves every file
//! readable at its old place or its new one, and the next start goes on (a copy found whole at
//! the new place is checked and kept; one found partial is copied again). Only files with
//! metadata move: a running batch's spool is its runner's.

use std::io;

use domain::FileId;
use store::{Store, StoredFile};

use super::{Contents, Measure, Place, Written};

/// What a move did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Files now at the new place and no longer at the old one.
    pub files: u64,
    pub bytes: u64,
    /// Files left at the old place: their bytes do not match their metadata there.
    pub mismatched: u64,
}

impl Contents {
    /// Moves into this place every file whose contents are kept at `from`.
    pub async fn move_from(&self, from: &Contents, store: &Store) -> io::Result<Moved> {
        let mut moved = Moved::default();
        for id in from.held_files(store).await? {
            let Some(file) = store.stored_file(id).await.map_err(io::Error::other)? else {
                continue;
            };
            if self.move_file(from, &file).await? {
                moved.files += 1;
                moved.bytes += file.bytes;
            } else {
                tracing::error!(file = %id, "file contents not moved: they do not match the file's size and digest");
                moved.mismatched += 1;
            }
        }
        Ok(moved)
    }

    /// Moves one file; `false` when its bytes at `from` do not match its metadata (kept there).
    async fn move_file(&self, from: &Contents, file: &StoredFile) -> io::Result<bool> {
        let expected = Written {
            bytes: file.bytes,
            sha256: file.sha256.clone(),
        };
        // A copy already whole here (a move cut short after copying): kept.
        let whole_here = match self.measure(file.id, file.bytes).await {
            Ok(found) => found == expected,
            Err(_) => false,
        };
        if !whole_here {
            self.clear(file.id).await?;
            let copied = self.copy(from, file).await?;
            if copied.as_ref() != Some(&expected) {
                self.clear(file.id).await?;
                return Ok(false);
            }
        }
        from.clear(file.id).await?;
        Ok(true)
    }

    /// Copies `file` from `from` here, measuring what was read; `None` when `from` could not
    /// read it whole.
    async fn copy(&self, from: &Contents, file: &StoredFile) -> io::Result<Option<Written>> {
        let mut chunks = from.read(file.id, file.bytes);
        let mut writer = self.writer(file.id, u64::MAX);
        let mut measure = Measure::default();
        while let Some(chunk) = chunks.recv().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    tracing::warn!(file = %file.id, %error, "file contents unreadable where they were");
                    writer.abort().await;
                    return Ok(None);
                }
            };
            measure.add(&chunk);
            writer.write(chunk).await.map_err(io::Error::other)?;
        }
        writer.finish().await.map_err(io::Error::other)?;
        Ok(Some(measure.written()))
    }

    /// The files with contents kept here.
    async fn held_files(&self, store: &Store) -> io::Result<Vec<FileId>> {
        match &self.place {
            Place::Disk(disk) => disk.files().await,
            Place::Database(_) => store.files_with_chunks().await.map_err(io::Error::other),
        }
    }

    /// Removes whatever is kept here of file `id`, whole or partial.
    async fn clear(&self, id: FileId) -> io::Result<()> {
        match &self.place {
            Place::Disk(disk) => disk.clear(id).await,
            Place::Database(_) => self.remove(id).await,
        }
    }
}
