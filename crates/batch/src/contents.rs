//! Files' bytes on disk: one file per id in the files directory (0700, each file 0600), written
//! under a temporary name and renamed into place only once whole and synced, so a reader never
//! sees a partial file and a crash leaves at most a `.partial` file behind.
//!
//! The disk is reached on the blocking pool, never on the runtime's threads: a [`Writer`] hands
//! its chunks to one blocking task through a small channel (so a 512 MB upload holds a few
//! chunks in memory at a time), and [`Contents::read`] streams a file the same way.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::FileId;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight between the runtime and the blocking pool.
const CHANNEL_CHUNKS: usize = 8;
/// The size of the chunks a file is read in.
const READ_CHUNK: usize = 64 * 1024;

/// The files directory.
#[derive(Debug, Clone)]
pub struct Contents {
    dir: PathBuf,
}

/// A file written whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("writing the file: {0}")]
    Io(#[from] io::Error),
}

enum Chunk {
    Bytes(Bytes),
    /// The last chunk was sent: the file is whole.
    Done,
}

/// A file being written. Dropped before [`Writer::finish`], its partial file is removed.
#[derive(Debug)]
pub struct Writer {
    chunks: mpsc::Sender<Chunk>,
    task: JoinHandle<io::Result<Written>>,
    bytes: u64,
    limit: u64,
}

impl Contents {
    /// The files directory `dir`, created (0700) when missing.
    pub fn open(dir: &Path) -> io::Result<Contents> {
        fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(Contents {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: FileId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Starts writing the file `id`, which may hold at most `limit` bytes.
    pub fn writer(&self, id: FileId, limit: u64) -> Writer {
        let (chunks, mut received) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
        let (path, partial) = (self.path(id), self.dir.join(format!("{id}.partial")));
        let task = tokio::task::spawn_blocking(move || {
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
        });
        Writer {
            chunks,
            task,
            bytes: 0,
            limit,
        }
    }

    /// The bytes of the file `id`, streamed in chunks.
    pub fn read(&self, id: FileId) -> mpsc::Receiver<io::Result<Bytes>> {
        let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
        let path = self.path(id);
        tokio::task::spawn_blocking(move || {
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            };
            loop {
                let mut buffer = vec![0; READ_CHUNK];
                match file.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => {
                        buffer.truncate(n);
                        if sender.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = sender.blocking_send(Err(error));
                        return;
                    }
                }
            }
        });
        receiver
    }

    /// The lines of the file `id` from line `first` on (counted from 0), each with its number and
    /// without its line ending; blank lines are skipped but counted.
    pub fn lines(&self, id: FileId, first: u64) -> mpsc::Receiver<io::Result<(u64, Bytes)>> {
        let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
        let path = self.path(id);
        tokio::task::spawn_blocking(move || {
            let mut reader = match File::open(&path) {
                Ok(file) => BufReader::new(file),
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            };
            let mut number = 0u64;
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(error) => {
                        let _ = sender.blocking_send(Err(error));
                        return;
                    }
                }
                let current = number;
                number += 1;
                let text = line.trim_ascii_end();
                if current < first || text.is_empty() {
                    continue;
                }
                let text = Bytes::copy_from_slice(text);
                if sender.blocking_send(Ok((current, text))).is_err() {
                    return;
                }
            }
        });
        receiver
    }

    /// Removes the file `id`'s bytes; a file already gone is no error.
    pub async fn remove(&self, id: FileId) -> io::Result<()> {
        let path = self.path(id);
        let removed = tokio::task::spawn_blocking(move || match fs::remove_file(&path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        });
        removed.await.map_err(io::Error::other)?
    }
}

impl Writer {
    /// Appends `chunk`; refused once the file would pass its limit.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), WriteError> {
        self.bytes = self.bytes.saturating_add(chunk.len() as u64);
        if self.bytes > self.limit {
            return Err(WriteError::TooLarge { limit: self.limit });
        }
        if self.chunks.send(Chunk::Bytes(chunk)).await.is_err() {
            // The blocking side stopped: its error says why.
            return Err(self.failure().await);
        }
        Ok(())
    }

    /// Ends the file: synced and in place once this returns.
    pub async fn finish(self) -> Result<Written, WriteError> {
        let Writer { chunks, task, .. } = self;
        let _ = chunks.send(Chunk::Done).await;
        drop(chunks);
        Ok(task.await.map_err(io::Error::other)??)
    }

    /// Gives the file up: its partial file is removed before this returns.
    pub async fn abort(self) {
        let Writer { chunks, task, .. } = self;
        drop(chunks);
        let _ = task.await;
    }

    async fn failure(&mut self) -> WriteError {
        match (&mut self.task).await {
            Ok(Err(error)) => WriteError::Io(error),
            Ok(Ok(_)) => WriteError::Io(io::Error::other("the file was closed")),
            Err(error) => WriteError::Io(io::Error::other(error)),
        }
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
    let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
    while let Some(chunk) = received.blocking_recv() {
        match chunk {
            Chunk::Bytes(chunk) => {
                file.write_all(&chunk)?;
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
            }
            Chunk::Done => {
                file.sync_all()?;
                let sha256 = hex::encode(hasher.finalize());
                return Ok(Some(Written { bytes, sha256 }));
            }
        }
    }
    Ok(None)
}

/// A batch's two result files while it runs — its output and its errors — appended to in
/// chunks, each chunk synced before the progress that counts it is committed; published under
/// their file ids when the batch ends.
#[derive(Debug, Clone)]
pub struct Spool {
    output: PathBuf,
    errors: PathBuf,
    dir: PathBuf,
}

impl Contents {
    /// The spool of batch `batch`.
    pub fn spool(&self, batch: domain::BatchId) -> Spool {
        Spool {
            output: self.dir.join(format!("{batch}.output.partial")),
            errors: self.dir.join(format!("{batch}.errors.partial")),
            dir: self.dir.clone(),
        }
    }
}

impl Spool {
    /// Prepares the spool to go on from committed lengths: what was appended after the last
    /// commit (by a run a restart interrupted) is cut off, since those lines run again.
    pub async fn resume(&self, output_bytes: u64, error_bytes: u64) -> io::Result<()> {
        let spool = self.clone();
        blocking(move || {
            cut(&spool.output, output_bytes)?;
            cut(&spool.errors, error_bytes)
        })
        .await
    }

    /// Appends a chunk of results to both files and syncs them.
    pub async fn append(&self, output: Vec<u8>, errors: Vec<u8>) -> io::Result<()> {
        let spool = self.clone();
        blocking(move || {
            append(&spool.output, &output)?;
            append(&spool.errors, &errors)
        })
        .await
    }

    /// Puts the output and error files in place under their ids; each's size and digest, `None`
    /// for an error file left empty (no error file is published then). Idempotent: after a
    /// restart that interrupted it, files already in place are measured again.
    pub async fn publish(
        &self,
        output: FileId,
        errors: FileId,
    ) -> io::Result<(Written, Option<Written>)> {
        let spool = self.clone();
        blocking(move || {
            let output = place(&spool.output, &spool.dir.join(output.to_string()))?;
            let errors = place(&spool.errors, &spool.dir.join(errors.to_string()))?;
            Ok((output, Some(errors).filter(|w| w.bytes > 0)))
        })
        .await
    }
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

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = private_options().append(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Moves `partial` to `path` (unless already done) and measures it.
fn place(partial: &Path, path: &Path) -> io::Result<Written> {
    if partial.exists() {
        fs::rename(partial, path)?;
    }
    let mut file = File::open(path)?;
    let (mut hasher, mut bytes, mut buffer) = (Sha256::new(), 0u64, vec![0; READ_CHUNK]);
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    let sha256 = hex::encode(hasher.finalize());
    Ok(Written { bytes, sha256 })
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
