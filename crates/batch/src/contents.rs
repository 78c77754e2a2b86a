//! Files' bytes, kept where `[batches] file_contents` says ([`ContentsAt`]): on disk, one file
//! per id in the files directory (`disk`), or in the store, in rows of at most 1 MiB
//! (`database`), so that every replica on one PostgreSQL reads every file.
//!
//! Both places are written, read and measured the same way from here: a [`Writer`] hands its
//! chunks to one task through a small channel (so a 512 MB upload holds a few chunks in memory
//! at a time) and says what was written whole ([`Written`]: size and SHA-256); [`Contents::read`]
//! streams a file in chunks and fails, rather than ending early, when what it finds does not
//! add up to the file's recorded size (a file deleted while a batch reads it); and
//! [`Contents::lines`] cuts that stream into numbered lines. The disk is reached on the blocking
//! pool, never on the runtime's threads; the store through its own asynchronous pool.
//!
//! A batch's results are appended to its [`Spool`] while it runs, each chunk durable before the
//! progress that counts it is committed, and published under the output and error files' ids
//! when it ends.

mod database;
mod disk;
mod moving;

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use domain::{BatchId, FileId};
use sha2::{Digest as _, Sha256};
use store::{Progress, Store};

pub use moving::Moved;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight between a file's reader or writer and its caller.
const CHANNEL_CHUNKS: usize = 8;

/// Where files' bytes are kept (`[batches] file_contents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentsAt {
    /// One file per id in this directory, created (0700) when missing.
    Disk(PathBuf),
    /// Rows of the store's `file_chunks`.
    Database,
}

/// The place files' bytes are kept, opened.
#[derive(Debug, Clone)]
pub struct Contents {
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    Disk(disk::Disk),
    Database(Store),
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

/// What a [`Writer`] hands to the task that keeps the bytes.
enum Chunk {
    Bytes(Bytes),
    /// The last chunk was sent: the file is whole.
    Done,
}

/// A file being written. Dropped before [`Writer::finish`], what it wrote is removed.
#[derive(Debug)]
pub struct Writer {
    chunks: mpsc::Sender<Chunk>,
    task: JoinHandle<io::Result<Written>>,
    bytes: u64,
    limit: u64,
}

impl Contents {
    /// The place `at`; on disk, its directory is created (0700) when missing.
    pub fn open(at: &ContentsAt, store: &Store) -> io::Result<Contents> {
        let place = match at {
            ContentsAt::Disk(dir) => Place::Disk(disk::Disk::open(dir)?),
            ContentsAt::Database => Place::Database(store.clone()),
        };
        Ok(Contents { place })
    }

    /// Starts writing the file `id`, which may hold at most `limit` bytes.
    pub fn writer(&self, id: FileId, limit: u64) -> Writer {
        let (chunks, received) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
        let task = match &self.place {
            Place::Disk(disk) => disk.write(id, received),
            Place::Database(store) => database::write(store.clone(), id, received),
        };
        Writer {
            chunks,
            task,
            bytes: 0,
            limit,
        }
    }

    /// The bytes of the file `id`, whose size is `bytes`, streamed in chunks; an error ends the
    /// stream when they do not add up to that size.
    pub fn read(&self, id: FileId, bytes: u64) -> mpsc::Receiver<io::Result<Bytes>> {
        match &self.place {
            Place::Disk(disk) => disk.read(id, bytes),
            Place::Database(store) => database::read(store.clone(), id, bytes),
        }
    }

    /// The lines of the file `id` (of size `bytes`) from line `first` on (counted from 0), each
    /// with its number and without its line ending; blank lines are skipped but counted.
    pub fn lines(
        &self,
        id: FileId,
        bytes: u64,
        first: u64,
    ) -> mpsc::Receiver<io::Result<(u64, Bytes)>> {
        let mut chunks = self.read(id, bytes);
        let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
        tokio::spawn(async move {
            let mut cutter = LineCutter::default();
            let mut lines = Vec::new();
            loop {
                let ended = match chunks.recv().await {
                    Some(Ok(chunk)) => {
                        cutter.cut(&chunk, &mut lines);
                        false
                    }
                    Some(Err(error)) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                    None => {
                        lines.extend(std::mem::take(&mut cutter).end());
                        true
                    }
                };
                for (number, line) in lines.drain(..) {
                    if number >= first && sender.send(Ok((number, line))).await.is_err() {
                        return;
                    }
                }
                if ended {
                    return;
                }
            }
        });
        receiver
    }

    /// Removes the file `id`'s bytes; a file already gone is no error.
    pub async fn remove(&self, id: FileId) -> io::Result<()> {
        match &self.place {
            Place::Disk(disk) => disk.remove(id).await,
            Place::Database(store) => store.delete_file_chunks(id).await.map_err(io::Error::other),
        }
    }

    /// The spool of batch `batch`, to be published as the files `output` and `errors`.
    pub fn spool(&self, batch: BatchId, output: FileId, errors: FileId) -> Spool {
        Spool {
            contents: self.clone(),
            output: (batch, "output", output),
            errors: (batch, "errors", errors),
        }
    }

    /// The size and digest of the file `id`, read whole.
    pub async fn measure(&self, id: FileId, bytes: u64) -> io::Result<Written> {
        let mut chunks = self.read(id, bytes);
        let mut measure = Measure::default();
        while let Some(chunk) = chunks.recv().await {
            measure.add(&chunk?);
        }
        Ok(measure.written())
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
            // The writing task stopped: its error says why.
            return Err(self.failure().await);
        }
        Ok(())
    }

    /// Ends the file: durable and in place once this returns.
    pub async fn finish(self) -> Result<Written, WriteError> {
        let Writer { chunks, task, .. } = self;
        let _ = chunks.send(Chunk::Done).await;
        drop(chunks);
        Ok(task.await.map_err(io::Error::other)??)
    }

    /// Gives the file up: what was written is removed before this returns.
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

/// A file's size and SHA-256 as its bytes go by.
#[derive(Default)]
struct Measure {
    hasher: Sha256,
    bytes: u64,
}

impl Measure {
    fn add(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
    }

    fn written(self) -> Written {
        Written {
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

/// The error of a file whose bytes do not add up to its recorded size.
fn not_whole(id: FileId, found: u64, bytes: u64) -> io::Error {
    io::Error::other(format!(
        "the contents of {id} hold {found} bytes where {bytes} were stored (deleted meanwhile?)"
    ))
}

/// Cuts a stream of chunks into lines, numbered from 0, without their line endings or trailing
/// blanks; blank lines are counted but not given. A line within one chunk is a slice of it, not
/// a copy.
#[derive(Debug, Default)]
struct LineCutter {
    /// The start of a line the chunks so far did not end.
    pending: Vec<u8>,
    number: u64,
}

impl LineCutter {
    /// Adds the lines `chunk` ends to `lines`.
    fn cut(&mut self, chunk: &Bytes, lines: &mut Vec<(u64, Bytes)>) {
        let mut start = 0;
        while let Some(at) = chunk[start..].iter().position(|&b| b == b'\n') {
            let end = start + at;
            let line = if self.pending.is_empty() {
                chunk.slice(start..end)
            } else {
                self.pending.extend_from_slice(&chunk[start..end]);
                Bytes::from(std::mem::take(&mut self.pending))
            };
            self.push(line, lines);
            start = end + 1;
        }
        self.pending.extend_from_slice(&chunk[start..]);
    }

    /// The last line, when the stream did not end with a line ending.
    fn end(mut self) -> Option<(u64, Bytes)> {
        let mut lines = Vec::new();
        let last = Bytes::from(std::mem::take(&mut self.pending));
        self.push(last, &mut lines);
        lines.pop()
    }

    fn push(&mut self, line: Bytes, lines: &mut Vec<(u64, Bytes)>) {
        let number = self.number;
        self.number += 1;
        let kept = line.trim_ascii_end().len();
        if kept > 0 {
            lines.push((number, line.slice(..kept)));
        }
    }
}

/// A batch's two result files while it runs — its output and its errors — appended to in
/// chunks, each chunk durable before the progress that counts it is committed; published under
/// their file ids when the batch ends. Every call names the progress last committed, whose
/// lengths the spool's files are brought to or go on from.
#[derive(Debug, Clone)]
pub struct Spool {
    contents: Contents,
    output: SpoolFile,
    errors: SpoolFile,
}

/// One result file of a spool: its batch, which of the two it is, and the id it is published
/// under.
type SpoolFile = (BatchId, &'static str, FileId);

impl Spool {
    /// Prepares the spool to go on from `committed`: what was appended after the last commit
    /// (by a run a restart interrupted) is cut off, since those lines run again.
    pub async fn resume(&self, committed: &Progress) -> io::Result<()> {
        self.resume_file(self.output, committed.output_bytes)
            .await?;
        self.resume_file(self.errors, committed.error_bytes).await
    }

    /// Appends a chunk of results to both files, after the lengths `committed` holds; durable
    /// when this returns.
    pub async fn append(
        &self,
        committed: &Progress,
        output: Vec<u8>,
        errors: Vec<u8>,
    ) -> io::Result<()> {
        self.append_file(self.output, committed.output_bytes, output)
            .await?;
        self.append_file(self.errors, committed.error_bytes, errors)
            .await
    }

    /// Puts the output and error files in place under their ids, as long as `committed` says;
    /// each's size and digest, `None` for an error file left empty (no error file is published
    /// then). Idempotent: after a restart that interrupted it, files already in place are
    /// measured again.
    pub async fn publish(&self, committed: &Progress) -> io::Result<(Written, Option<Written>)> {
        let output = self.publish_file(self.output, committed.output_bytes);
        let errors = self.publish_file(self.errors, committed.error_bytes);
        let (output, errors) = (output.await?, errors.await?);
        Ok((output, Some(errors).filter(|w| w.bytes > 0)))
    }

    async fn resume_file(&self, file: SpoolFile, len: u64) -> io::Result<()> {
        match &self.contents.place {
            Place::Disk(disk) => disk.resume(file, len).await,
            Place::Database(store) => database::resume(store, file.2, len).await,
        }
    }

    async fn append_file(&self, file: SpoolFile, at: u64, bytes: Vec<u8>) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match &self.contents.place {
            Place::Disk(disk) => disk.append(file, bytes).await,
            Place::Database(store) => database::append(store, file.2, at, &bytes).await,
        }
    }

    async fn publish_file(&self, file: SpoolFile, len: u64) -> io::Result<Written> {
        if let Place::Disk(disk) = &self.contents.place {
            disk.place(file).await?;
        }
        self.contents.measure(file.2, len).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(chunks: &[&str]) -> Vec<(u64, String)> {
        let mut cutter = LineCutter::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            cutter.cut(&Bytes::copy_from_slice(chunk.as_bytes()), &mut lines);
        }
        lines.extend(cutter.end());
        lines
            .into_iter()
            .map(|(n, line)| (n, String::from_utf8(line.to_vec()).unwrap_or_default()))
            .collect()
    }

    #[test]
    fn lines_are_cut_across_chunks_numbered_with_blanks_counted() {
        let expected = vec![
            (0, "{\"a\": 1}".to_owned()),
            (2, "{\"b\": 2}".to_owned()),
            (3, "last".to_owned()),
        ];
        assert_eq!(cut(&["{\"a\": 1}\r\n\n{\"b\": 2}\nlast"]), expected);
        assert_eq!(
            cut(&["{\"a\"", ": 1}\r", "\n", "\n{\"b\": 2}\nla", "st"]),
            expected
        );
        assert_eq!(
            cut(&["{\"a\": 1}\r\n", "\n{\"b\"", ": 2}\n", "last\n"]),
            expected
        );
        assert_eq!(cut(&[]), vec![]);
        assert_eq!(cut(&["\n", "  \n"]), vec![]);
    }
}
