//! Endpoint selection: least outstanding requests (weighted), passive and active health, circuit breaking.
