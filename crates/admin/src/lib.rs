//! The administration API under /admin/v1 and its command-line client.
