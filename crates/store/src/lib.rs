//! Durable state on SQLite (embedded default) or PostgreSQL, one schema in both dialects.
