//! Files' bytes in the store (`[batches] file_contents = "database"`): rows of at most
//! [`ROW_BYTES`] keyed by the file and the position of their first byte (`store::file_chunks`).
//! An upload is gathered into rows as it arrives and each row stored as soon as it is full, so
//! memory holds one row and a few chunks; it is whole once its `files` row is stored (the
//! caller's), and an upload given up deletes its rows. Reading walks the rows in order, one at a
//! time. A batch's spool is its result files' rows, appended under their ids at the committed
//! lengths: a second runner of the same batch (two replicas a moment both leading) finds the
//! row's place taken and stops, rather than writing a result twice.

use std::io;

use bytes::Bytes;
use domain::FileId;
use store::Store;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Chunk, Measure, Written, not_whole};

/// The largest row: PostgreSQL and SQLite both keep it out of line, and reading one costs one
/// round trip per MiB.
const ROW_BYTES: usize = 1024 * 1024;
/// Rows in flight between the store and a reader.
const READ_AHEAD: usize = 2;

/// The task storing the file `id` from what `received` brings; it deletes what it stored when
/// the upload fails or is given up.
pub(super) fn write(
    store: Store,
    id: FileId,
    mut received: mpsc::Receiver<Chunk>,
) -> JoinHandle<io::Result<Written>> {
    tokio::spawn(async move {
        let written = write_rows(&store, id, &mut received).await;
        match written {
            Ok(Some(written)) => Ok(written),
            Ok(None) => {
                let _ = store.delete_file_chunks(id).await;
                Err(io::Error::other("the upload ended before its end"))
            }
            Err(error) => {
                let _ = store.delete_file_chunks(id).await;
                Err(error)
            }
        }
    })
}

/// Stores what arrives in full rows; `None` when the channel closed before [`Chunk::Done`].
async fn write_rows(
    store: &Store,
    id: FileId,
    received: &mut mpsc::Receiver<Chunk>,
) -> io::Result<Option<Written>> {
    let (mut row, mut first_byte) = (Vec::with_capacity(ROW_BYTES), 0u64);
    let mut measure = Measure::default();
    while let Some(chunk) = received.recv().await {
        let chunk = match chunk {
            Chunk::Bytes(chunk) => chunk,
            Chunk::Done => {
                if !row.is_empty() {
                    stored(store.append_file_chunk(id, first_byte, &row).await)?;
                }
                return Ok(Some(measure.written()));
            }
        };
        measure.add(&chunk);
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let taken = rest.len().min(ROW_BYTES - row.len());
            row.extend_from_slice(&rest[..taken]);
            rest = &rest[taken..];
            if row.len() == ROW_BYTES {
                stored(store.append_file_chunk(id, first_byte, &row).await)?;
                first_byte += ROW_BYTES as u64;
                row.clear();
            }
        }
    }
    Ok(None)
}

/// The bytes of the file `id`, which must be `bytes` long, row by row.
pub(super) fn read(store: Store, id: FileId, bytes: u64) -> mpsc::Receiver<io::Result<Bytes>> {
    let (sender, receiver) = mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        let mut found = 0u64;
        loop {
            let row = match store.next_file_chunk(id, found).await {
                Ok(Some((first_byte, row))) if first_byte == found && !row.is_empty() => {
                    found += row.len() as u64;
                    Ok(Bytes::from(row))
                }
                Ok(None) if found == bytes => return,
                Ok(_) => Err(not_whole(id, found, bytes)),
                Err(error) => Err(io::Error::other(error)),
            };
            let failed = row.is_err();
            if sender.send(row).await.is_err() || failed {
                return;
            }
        }
    });
    receiver
}

/// Brings a spool file's rows to `len` bytes, which they must reach.
pub(super) async fn resume(store: &Store, id: FileId, len: u64) -> io::Result<()> {
    let held = stored(store.cut_file_chunks(id, len).await)?;
    if held != len {
        return Err(io::Error::other(format!(
            "the spool {id} holds {held} bytes where {len} were committed"
        )));
    }
    Ok(())
}

/// Appends `bytes` to a spool file whose rows hold `at` bytes, in rows of at most
/// [`ROW_BYTES`].
pub(super) async fn append(store: &Store, id: FileId, at: u64, bytes: &[u8]) -> io::Result<()> {
    let mut first_byte = at;
    for row in bytes.chunks(ROW_BYTES) {
        stored(store.append_file_chunk(id, first_byte, row).await)?;
        first_byte += row.len() as u64;
    }
    Ok(())
}

fn stored<T>(result: Result<T, store::StoreError>) -> io::Result<T> {
    result.map_err(io::Error::other)
}
