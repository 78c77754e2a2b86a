-- Entity shares of the GPU pools set through the admin API: a weight and a guaranteed minimum
-- (millionths of the pool's capacity). Applied over the configuration's shares at start.
CREATE TABLE pool_shares (
    pool          TEXT NOT NULL,
    entity_id     TEXT NOT NULL REFERENCES entities (id),
    weight        BIGINT NOT NULL,
    min_share_ppm BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (pool, entity_id)
);
