//! In-memory index of API keys to principals: the hot path's authentication, no database on the request path.
