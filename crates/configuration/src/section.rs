//! One module per section of the file (Vector's uniform component layout): the typed struct, whose
//! field docs are the user documentation, the raw struct as written, the defaults and `validate`.

pub(crate) mod admission;
pub(crate) mod audit;
pub(crate) mod authorization;
pub(crate) mod batches;
pub(crate) mod cache;
pub(crate) mod classifications;
pub(crate) mod endpoints;
pub(crate) mod entities;
pub(crate) mod libraries;
pub(crate) mod models;
pub(crate) mod oidc;
pub(crate) mod policy;
pub(crate) mod redis;
pub(crate) mod retention;
pub(crate) mod routing;
pub(crate) mod scheduling;
pub(crate) mod scim;
pub(crate) mod seats;
pub(crate) mod server;
pub(crate) mod sessions;
pub(crate) mod simulator;
pub(crate) mod telemetry;
pub(crate) mod use_cases;
