-- One-time sign-in links an administrator mints for a user (`POST /admin/v1/users/{user}/login-link`):
-- only the SHA-256 of the link's token is kept, with its user, its expiry and when it was used. A
-- link signs in once: consuming it is one UPDATE that only an unused, unexpired row matches. The
-- same SQL in both dialects.
CREATE TABLE login_links (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
