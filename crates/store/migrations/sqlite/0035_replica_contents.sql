-- Files' contents in the database (`[batches] file_contents = "database"`), so that every replica
-- reads every file whichever replica it was uploaded through: each file's bytes in rows of at most
-- 1 MiB, keyed by the file and the position of their first byte, written and read one row at a
-- time (never a whole file in memory). A file's rows are deleted in the transaction that deletes
-- the file. A batch's output and error files are appended to here while it runs, under their ids,
-- before their `files` rows exist. No foreign key: an upload's rows are written before its file's
-- row, which is stored only once they are whole. `written_at` dates rows whose file never came.
CREATE TABLE file_chunks (
    file_id    TEXT NOT NULL,
    first_byte BIGINT NOT NULL,
    bytes      BLOB NOT NULL,
    written_at BIGINT NOT NULL,
    PRIMARY KEY (file_id, first_byte)
);

-- Knowledge libraries shared by replicas: each chunk keeps its embedding beside its text (f32
-- little-endian; NULL when none was made), so that an index lost is built again from the store
-- without embedding anything again. (PostgreSQL's migration also adds the change notices.)
ALTER TABLE library_chunks ADD COLUMN vector BLOB;
