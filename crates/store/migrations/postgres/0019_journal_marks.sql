-- The spill journal's mark per record kind (`usage`, `audit`): every journaled record numbered at
-- or below it is stored, advanced in the transaction that stores the batch, so a replay after a
-- crash skips what already reached the database.
CREATE TABLE journal_marks (
    kind TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);
