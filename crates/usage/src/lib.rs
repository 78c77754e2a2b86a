//! Usage records: built on the request path, written to the store in batches off it.
