//! Files' bytes on disk (`[batches] file_contents = "disk"`): one file per id in the files
//! directory (0700, each file 0600), written under a temporary name and renamed into place only
//! once whole and synced, so a reader never sees a partial file and a crash leaves at most a
//! `.partial` file behind. A batch's spool is two `.partial` files named after the batch,
//! renamed to the result files' ids when it ends. Everything here runs on the blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::FileId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{CHANNEL_CHUNKS, Chunk, Measure, SpoolFile, Written, not_whole};

/// The size of the chunks a file is read in.
const READ_CHUNK: usize = 64 * 1024;

/// The files directory.
#[derive(Debug, Clone)]
pub(super) struct Disk {
    dir: PathBuf,
}

impl Disk {
    /// The files directory `dir`, created (0700) when missing.
    pub(super) fn open(dir: &Path) -> io::Result<Disk> {
        fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(Disk {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: FileId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// The task writing the file `id` from what `received` brings.
    pub(super) fn write(
        &self,
        id: FileId,
        mut received: mpsc::Receiver<Chunk>,
    ) -> JoinHandle<io::Result<Written>> {
        let (path, partial) = (self.path(id), self.dir.join(format!("{id}.partial")));
        tokio::task::spawn_blocking(move || {
            let written = write_chunks(&partial, &mut received);
            match written {
                Ok(Some(written)) => fs::rename(&partial, &path).map(|()| written),
                Ok(None) => {
                    let _ = fs::remove_file(&partial);
                    Err(io::Error::other("the upload ended before its end"))
                }
                Err(error) => {
                    let _ = fs::remove_file(&partial);
                    Err(error)
                }
            }
        })
    }

    /// The bytes of the file `id`, which must be `bytes` long, streamed in chunks.
    pub(super) fn read(&self, id: FileId, bytes: u64) -> mpsc::Receiver<io::Result<Bytes>> {
        let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
        let path = self.path(id);
        tokio::task::spawn_blocking(move || {
            let mut file = match File::open(&path) {
                Ok(file) => file,
                // An empty file's bytes are kept nowhere in the database: none here is whole.
                Err(error) if error.kind() == io::ErrorKind::NotFound && bytes == 0 => return,
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            };
            let mut found = 0u64;
            loop {
                let mut buffer = vec![0; READ_CHUNK];
                let chunk = match file.read(&mut buffer) {
                    Ok(0) if found == bytes => return,
                    Ok(0) => Err(not_whole(id, found, bytes)),
                    Ok(n) => {
                        found += n as u64;
                        buffer.truncate(n);
                        Ok(Bytes::from(buffer))
                    }
                    Err(error) => Err(error),
                };
                let failed = chunk.is_err();
                if sender.blocking_send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        receiver
    }

    /// Removes the file `id`; a file already gone is no error.
    pub(super) async fn remove(&self, id: FileId) -> io::Result<()> {
        let path = self.path(id);
        blocking(move || match fs::remove_file(&path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
    }

    /// Removes the file `id` and what a write of it cut short left; either already gone is no
    /// error.
    pub(super) async fn clear(&self, id: FileId) -> io::Result<()> {
        let partial = self.dir.join(format!("{id}.partial"));
        self.remove(id).await?;
        blocking(move || match fs::remove_file(&partial) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
    }

    /// The files whose bytes are here (named by their id), by id.
    pub(super) async fn files(&self) -> io::Result<Vec<FileId>> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut ids = Vec::new();
            for entry in fs::read_dir(&dir)? {
                let name = entry?.file_name();
                if let Some(id) = name.to_str().and_then(|n| n.parse::<FileId>().ok()) {
                    ids.push(id);
                }
            }
            ids.sort_by_key(ToString::to_string);
            Ok(ids)
        })
        .await
    }

    fn spool_path(&self, (batch, which, _): SpoolFile) -> PathBuf {
        self.dir.join(format!("{batch}.{which}.partial"))
    }

    /// Brings a spool file to `len` bytes, which it must reach. One already published by an
    /// interrupted end is taken back first.
    pub(super) async fn resume(&self, file: SpoolFile, len: u64) -> io::Result<()> {
        let (partial, published) = (self.spool_path(file), self.path(file.2));
        blocking(move || {
            if !partial.exists() && published.exists() {
                fs::rename(&published, &partial)?;
            }
            cut(&partial, len)
        })
        .await
    }

    /// Appends `bytes` to a spool file and syncs it.
    pub(super) async fn append(&self, file: SpoolFile, bytes: Vec<u8>) -> io::Result<()> {
        let partial = self.spool_path(file);
        blocking(move || {
            let mut file = private_options().append(true).open(&partial)?;
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .await
    }

    /// Moves a spool file to its id (unless already done).
    pub(super) async fn place(&self, file: SpoolFile) -> io::Result<()> {
        let (partial, path) = (self.spool_path(file), self.path(file.2));
        blocking(move || match partial.exists() {
            true => fs::rename(partial, path),
            false => Ok(()),
        })
        .await
    }
}

/// Writes what arrives to `partial`; `None` when the channel closed before [`Chunk::Done`].
fn write_chunks(
    partial: &Path,
    received: &mut mpsc::Receiver<Chunk>,
) -> io::Result<Option<Written>> {
    let mut file = private_options()
        .write(true)
        .create_new(true)
        .open(partial)?;
    let mut measure = Measure::default();
    while let Some(chunk) = received.blocking_recv() {
        match chunk {
            Chunk::Bytes(chunk) => {
                file.write_all(&chunk)?;
                measure.add(&chunk);
            }
            Chunk::Done => {
                file.sync_all()?;
                return Ok(Some(measure.written()));
            }
        }
    }
    Ok(None)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

/// Creates `path` when missing and cuts it to `len`, which it must reach.
fn cut(path: &Path, len: u64) -> io::Result<()> {
    let file = private_options().read(true).write(true).open(path)?;
    let actual = file.metadata()?.len();
    if actual < len {
        return Err(io::Error::other(format!(
            "{} holds {actual} bytes, fewer than the {len} committed",
            path.display()
        )));
    }
    file.set_len(len)?;
    file.sync_all()
}

/// Options creating a file readable by the service's user only.
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}
