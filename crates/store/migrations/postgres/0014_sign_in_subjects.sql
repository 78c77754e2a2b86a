-- The identity provider's account each user is bound to: the `iss` and `sub` of their tokens,
-- recorded at their first sign-in (or when sign-in creates them). One account is one user, and a
-- user has one account per issuer: a token of another subject never signs in as the user, however
-- the user is named. A deleted user's rows are removed with the deletion, so a person provisioned
-- again is bound again. The same SQL in both dialects.
CREATE TABLE user_subjects (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject),
    UNIQUE (user_id, issuer)
);
