//! The spill journal of one kind of record: JSON lines appended to segment files under the data
//! directory, `<kind>-<first number>.jsonl`, each line `{"seq":N,"record":{…}}`. A record is in the
//! journal before anyone waiting on the sink hears it is, and its segment is deleted once the store
//! holds every record of it. At start, what the store's mark (`store::Store::journal_mark`) does
//! not cover is read back, in order, and written again: records are numbered, and a batch commits
//! with its mark, so nothing is stored twice. Each journal directory has its own mark, named by
//! the kind and an id the directory keeps (`journal-id`), since replicas share the database.
//!
//! Bounded: past `max_bytes` of segments the journal takes nothing more (the writer counts those
//! records lost). The journal is written with `write(2)` as records arrive (a `kill -9` does not
//! lose what the kernel has) and `fsync`ed off the runtime before each batch is sent to the store
//! (so a power loss loses at most the records of one flush interval).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The name of a journal's mark in the store, and whether the journal got its id just now.
pub(crate) struct MarkName {
    pub mark: String,
    pub new: bool,
}

/// The file holding a journal directory's id, made once.
const ID_FILE: &str = "journal-id";

/// `kind`'s mark name for the journal in `dir`: the kind and the directory's own id, made at its
/// first use. Replicas sharing a database each journal under their own data directory; with one
/// mark per kind, a restarted replica read a mark the others had moved past its own records, and
/// skipped them.
pub(crate) fn mark_name(dir: &Path, kind: &str) -> io::Result<MarkName> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(ID_FILE);
    let (id, new) = match fs::read_to_string(&path) {
        Ok(id) => (id.trim().to_owned(), false),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let partial = dir.join(format!("{ID_FILE}.partial"));
            fs::write(&partial, &id)?;
            File::open(&partial)?.sync_all()?;
            fs::rename(&partial, &path)?;
            (id, true)
        }
        Err(error) => return Err(error),
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let shown = path.display();
        return Err(io::Error::other(format!(
            "{shown} does not hold a journal id"
        )));
    }
    Ok(MarkName {
        mark: format!("{kind}@{id}"),
        new,
    })
}

/// Where a kind's journal lives and how large it may grow.
#[derive(Debug, Clone)]
pub struct JournalSettings {
    /// The directory of the segments; created (mode 0700) when missing.
    pub dir: PathBuf,
    /// The most bytes the segments may hold together.
    pub max_bytes: u64,
}

/// A segment grows to about this size before the next record starts another.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Serialize)]
struct LineOut<'a, R> {
    seq: u64,
    record: &'a R,
}

#[derive(Deserialize)]
struct LineIn<R> {
    seq: u64,
    record: R,
}

struct Segment {
    path: PathBuf,
    last: u64,
    bytes: u64,
}

/// What an append did with the records handed to it.
pub(crate) enum Appended {
    /// All in the journal.
    Written,
    /// Over the bound: none written.
    Full,
    /// The write failed: none (or part of a line, which replay skips) written.
    Failed(io::Error),
}

/// A journal opened at start: the journal, the records to write again, the highest number seen.
pub(crate) struct Opened<R> {
    pub journal: Journal<R>,
    pub replay: Vec<(u64, R)>,
    pub last: u64,
}

pub(crate) struct Journal<R> {
    settings: JournalSettings,
    kind: &'static str,
    /// The name of this journal's mark in the store.
    mark: Arc<str>,
    /// Oldest first; the last one is `current`'s when a file is open.
    segments: VecDeque<Segment>,
    current: Option<File>,
    bytes: u64,
    line: Vec<u8>,
    encode: fn(&mut Vec<u8>, u64, &R) -> serde_json::Result<()>,
}

impl<R: Serialize + DeserializeOwned> Journal<R> {
    /// Opens `kind`'s journal and reads back, in order, the records numbered above `mark`; returns
    /// them with the highest number seen (at least `mark`).
    pub(crate) fn open(
        settings: JournalSettings,
        kind: &'static str,
        mark_name: String,
        mark: u64,
    ) -> io::Result<Opened<R>> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&settings.dir)?;
        let mut paths: Vec<PathBuf> = fs::read_dir(&settings.dir)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| is_segment(path, kind))
            .collect();
        paths.sort();
        let mut journal = Journal {
            settings,
            kind,
            mark: mark_name.into(),
            segments: VecDeque::new(),
            current: None,
            bytes: 0,
            line: Vec::new(),
            encode: |out, seq, record| serde_json::to_writer(out, &LineOut { seq, record }),
        };
        let mut replay = Vec::new();
        let mut last = mark;
        for path in paths {
            let bytes = fs::metadata(&path)?.len();
            let segment_last = read_segment(&path, kind, mark, &mut replay)?;
            last = last.max(segment_last);
            journal.bytes += bytes;
            journal.segments.push_back(Segment {
                path,
                last: segment_last,
                bytes,
            });
        }
        // Segments the store holds whole (a stop between a commit and their deletion) go now.
        journal.retire(mark);
        if !replay.is_empty() {
            tracing::warn!(
                kind,
                records = replay.len(),
                "records journaled before the last stop are written to the store again"
            );
        }
        Ok(Opened {
            journal,
            replay,
            last,
        })
    }
}

impl<R> Journal<R> {
    /// Appends `records` (numbered, in order) with one write.
    pub(crate) fn append(&mut self, records: &[(u64, R)]) -> Appended {
        let (Some((first, _)), Some((last, _))) = (records.first(), records.last()) else {
            return Appended::Written;
        };
        self.line.clear();
        for (seq, record) in records {
            if let Err(error) = (self.encode)(&mut self.line, *seq, record) {
                return Appended::Failed(error.into());
            }
            self.line.push(b'\n');
        }
        let size = self.line.len() as u64;
        if self.bytes + size > self.settings.max_bytes {
            return Appended::Full;
        }
        let full_segment = self
            .segments
            .back()
            .is_some_and(|s| s.bytes >= SEGMENT_BYTES);
        if full_segment {
            self.current = None;
        }
        if self.current.is_none() {
            let path = self
                .settings
                .dir
                .join(format!("{}-{first:020}.jsonl", self.kind));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path);
            match file {
                Ok(file) => self.current = Some(file),
                Err(error) => return Appended::Failed(error),
            }
            self.segments.push_back(Segment {
                path,
                last: *first,
                bytes: 0,
            });
        }
        let (Some(file), Some(segment)) = (self.current.as_mut(), self.segments.back_mut()) else {
            return Appended::Failed(io::Error::other("no open segment"));
        };
        // Counted even when the write fails part-way: the bytes may be there.
        segment.bytes += size;
        self.bytes += size;
        if let Err(error) = file.write_all(&self.line) {
            return Appended::Failed(error);
        }
        segment.last = *last;
        Appended::Written
    }

    /// Starts a new segment with the next record, so that the present ones can be deleted once
    /// the store holds them.
    pub(crate) fn rotate(&mut self) {
        self.current = None;
    }

    /// The number of the last record journaled, if any segment remains.
    /// The name of this journal's mark in the store.
    pub(crate) fn mark(&self) -> &Arc<str> {
        &self.mark
    }

    pub(crate) fn last(&self) -> Option<u64> {
        self.segments.back().map(|s| s.last)
    }

    /// Deletes the closed segments whose records the store holds (all numbered up to `through`).
    pub(crate) fn retire(&mut self, through: u64) {
        let open = usize::from(self.current.is_some());
        while self.segments.len() > open
            && let Some(segment) = self.segments.front()
            && segment.last <= through
        {
            if let Err(error) = fs::remove_file(&segment.path) {
                tracing::error!(%error, path = %segment.path.display(), "journal segment not deleted");
                return;
            }
            self.bytes = self.bytes.saturating_sub(segment.bytes);
            self.segments.pop_front();
        }
    }

    /// Flushes what was written to the disk, on a blocking thread: the writer does not wait.
    pub(crate) fn sync(&self) {
        let Some(file) = self.current.as_ref().and_then(|f| f.try_clone().ok()) else {
            return;
        };
        let kind = self.kind;
        tokio::task::spawn_blocking(move || {
            if let Err(error) = file.sync_data() {
                tracing::error!(%error, kind, "journal not flushed to disk");
            }
        });
    }
}

fn is_segment(path: &Path, kind: &str) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix(kind))
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|rest| rest.ends_with(".jsonl"))
}

/// Reads a segment's records numbered above `mark` into `replay`; returns its highest number.
/// A line that does not read (the torn end of a write, say) is skipped and logged.
fn read_segment<R: DeserializeOwned>(
    path: &Path,
    kind: &str,
    mark: u64,
    replay: &mut Vec<(u64, R)>,
) -> io::Result<u64> {
    let mut last = 0;
    for (index, line) in BufReader::new(File::open(path)?).split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<LineIn<R>>(&line) {
            Ok(LineIn { seq, record }) => {
                last = last.max(seq);
                if seq > mark {
                    replay.push((seq, record));
                }
            }
            Err(error) => tracing::error!(
                %error,
                kind,
                path = %path.display(),
                line = index + 1,
                "unreadable journal line skipped"
            ),
        }
    }
    Ok(last)
}
