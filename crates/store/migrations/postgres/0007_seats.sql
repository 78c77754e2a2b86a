-- Seats, postgres dialect. Kept column for column identical to ../sqlite/0007_seats.sql.
--
-- The group's pool (one row; size NULL = unlimited), the seats each entity has reserved, and the
-- seats users hold: a user holds at most one (the primary key). A user's last authenticated request
-- is flushed here in batches by the seat writer, never on the request path.
CREATE TABLE seat_pool (
    id          BIGINT PRIMARY KEY,
    size        BIGINT,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE seat_reservations (
    entity_id   TEXT PRIMARY KEY REFERENCES entities (id),
    reserved    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE seats (
    user_id     TEXT PRIMARY KEY REFERENCES users (id),
    entity_id   TEXT NOT NULL REFERENCES entities (id),
    assigned_at BIGINT NOT NULL
);
CREATE INDEX seats_entity ON seats (entity_id);

ALTER TABLE users ADD COLUMN last_active_at BIGINT;
