//! Section `[server]`: how Fabrique listens, where it keeps its data, and the limits that protect
//! the listener.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::Collector;
use crate::rules::{Env, at_least_one, credential};

/// Section `[server]`: how Fabrique listens and where it keeps its data.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// Key `listen`: the socket address to serve on, as `ip:port` (`[::1]:8080` for IPv6; host names
    /// are not accepted). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Key `data_dir`: the directory for local state; the SQLite database lives here unless
    /// `database_url` says otherwise. Default `./fabrique-data`. Must not be empty.
    pub data_dir: PathBuf,
    /// Key `database_url`: optional; a `postgres://`, `postgresql://` or `sqlite:` URL. Default: a
    /// SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// Key `max_body_bytes`: the largest request body accepted, in bytes, at least 1. Default 4 MiB
    /// (4194304).
    pub max_body_bytes: usize,
    /// Key `request_timeout_secs`: the total time one inference request may take, streaming included,
    /// in seconds, at least 1. Default 600.
    pub request_timeout: Duration,
    /// Key `max_connections`: the most client connections served at once, 1 to 1,000,000. Default
    /// 10000. Past it the listener stops accepting: new connections wait in the kernel's backlog
    /// until one closes, so a flood of sockets cannot exhaust file descriptors or tasks. The
    /// process's open-file limit (`ulimit -n`, systemd `LimitNOFILE`) must be above it, with room
    /// for the database and backend connections.
    pub max_connections: usize,
    /// Key `header_read_timeout_secs`: how long a connection may go without sending a complete
    /// request head, in seconds, 1 to 86400. Default 15. It runs from the moment the connection
    /// opens and again from the end of each response, so it is also the idle timeout of keep-alive
    /// connections: a client that trickles header bytes (slowloris) or keeps a socket open without
    /// asking anything is disconnected when it runs out. Keep clients' pooled-connection expiry
    /// below it.
    pub header_read_timeout: Duration,
    /// Key `body_read_timeout_secs`: the time a request body has to arrive whole, counted from the
    /// end of its head, in seconds, 1 to 86400. Default 60. A body still incomplete then is answered
    /// `408 request_timeout` and its connection closed, so slow bodies cannot pin memory.
    pub body_read_timeout: Duration,
    /// Key `metrics_token_env`: optional, the *name* of an environment variable holding the bearer
    /// token that `GET /metrics` and the detail of `GET /readyz` then require
    /// (`Authorization: Bearer <token>`; Prometheus: `authorization: {credentials_file: …}`).
    /// Without the token `/readyz` still answers whether the server is ready, without the
    /// endpoints' names and circuits. Absent: both are open to anyone who reaches the port, and
    /// show every entity's slug, token and cost counters; keep that port inside the operations
    /// network then. The variable must be set when the configuration is loaded. Here: the resolved
    /// value, which `Debug` redacts.
    pub metrics_token: Option<String>,
    /// Key `journal_max_bytes`: the most bytes the spill journals of usage records and of
    /// request-path audit events may each hold under `data_dir/journal/`, at least 1. Default
    /// 64 MiB (67108864), about 100,000 records. The journals hold what the database has not
    /// taken yet: they stay small while it answers and grow during an outage; past the bound,
    /// records are lost and counted (`fabrique_usage_records_dropped_total`,
    /// `fabrique_audit_events_dropped_total`, reason `journal_full`).
    pub journal_max_bytes: u64,
    /// Key `admin_key_ttl_hours`: how long the bootstrap administrator's key (`FABRIQUE_ADMIN_KEY`)
    /// works after it is first stored, in hours, 1 to 8760. Default 24. Starting with another
    /// secret replaces it at any time.
    pub admin_key_ttl: Duration,
    /// Key `allow_weak_admin_key`: accept a `FABRIQUE_ADMIN_KEY` shorter than 32 characters, for
    /// trials only. Default `false`.
    pub allow_weak_admin_key: bool,
    /// Key `drain_timeout_secs`: how long a stopping server (`SIGTERM`) lets requests in flight,
    /// streams included, finish, in seconds, 0 to 86400. Default 30. From the signal on,
    /// `/readyz` answers `503` and every new request `503 draining`, so the load balancer sends
    /// traffic to the other replicas; a request still running at the deadline is cut (and
    /// metered as cut). Keep it below the orchestrator's grace period (Kubernetes'
    /// `terminationGracePeriodSeconds`, 30 by default) with room for the final flush.
    pub drain_timeout: Duration,
    /// Key `http2`: also serve HTTP/2 with prior knowledge (h2c, cleartext) on the same port,
    /// told from HTTP/1.1 by the connection's first bytes. Default `true`. A load balancer or a
    /// sidecar that speaks HTTP/2 to its backends (Envoy, Istio) then carries many requests,
    /// streams included, on a few connections: a replica holds about one file descriptor per open
    /// stream (its backend's connection) instead of two. The limits apply alike: one connection
    /// slot per connection (`max_connections`), each request's body within
    /// `body_read_timeout_secs`, draining on `SIGTERM`. The connection's preface must arrive within
    /// `header_read_timeout_secs`; an idle HTTP/2 connection stays open (it is a proxy's pool),
    /// pinged every `header_read_timeout_secs` and closed when its peer stops answering.
    pub http2: bool,
    /// Key `http2_max_concurrent_streams`: the most requests one HTTP/2 connection carries at once,
    /// 1 to 100,000. Default 1000. A client past it waits for one of its streams to end (it is told
    /// the limit in the connection's settings); requests on a replica are bounded by
    /// `max_connections` times this.
    pub http2_max_concurrent_streams: u32,
}

impl fmt::Debug for ServerConfig {
    /// Written by hand so that a password in `database_url` never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_user_info),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("journal_max_bytes", &self.journal_max_bytes)
            .field("admin_key_ttl", &self.admin_key_ttl)
            .field("allow_weak_admin_key", &self.allow_weak_admin_key)
            .field("drain_timeout", &self.drain_timeout)
            .field("http2", &self.http2)
            .field(
                "http2_max_concurrent_streams",
                &self.http2_max_concurrent_streams,
            )
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://<redacted>@host/db`.
pub(crate) fn redact_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// As written; the keys are documented on [`ServerConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_connections: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub metrics_token_env: Option<String>,
    pub journal_max_bytes: Option<u64>,
    pub admin_key_ttl_hours: Option<u64>,
    pub allow_weak_admin_key: Option<bool>,
    pub drain_timeout_secs: Option<u64>,
    pub http2: Option<bool>,
    pub http2_max_concurrent_streams: Option<u64>,
}

pub(crate) const LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
pub(crate) const DATA_DIR: &str = "./fabrique-data";
pub(crate) const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
pub(crate) const REQUEST_TIMEOUT_SECS: u64 = 600;
pub(crate) const MAX_CONNECTIONS: u64 = 10_000;
/// `max_connections` ceiling: the listener waits for that many connections at shutdown in one call.
pub(crate) const MAX_CONNECTIONS_CEILING: u64 = 1_000_000;
pub(crate) const HEADER_READ_TIMEOUT_SECS: u64 = 15;
pub(crate) const BODY_READ_TIMEOUT_SECS: u64 = 60;
pub(crate) const JOURNAL_MAX_BYTES: u64 = 64 * 1024 * 1024;
pub(crate) const SECONDS_PER_DAY: u64 = 86_400;
pub(crate) const ADMIN_KEY_TTL_HOURS: u64 = 24;
pub(crate) const DRAIN_TIMEOUT_SECS: u64 = 30;
pub(crate) const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 1_000;
/// `http2_max_concurrent_streams` ceiling: past it one connection is most of a replica.
pub(crate) const HTTP2_MAX_CONCURRENT_STREAMS_CEILING: u32 = 100_000;
/// `admin_key_ttl_hours` ceiling: a year.
pub(crate) const ADMIN_KEY_TTL_CEILING_HOURS: u64 = 8_760;

pub(crate) fn validate(raw: RawServer, env: Env<'_>, errors: &mut Collector) -> ServerConfig {
    let listen = match raw.listen {
        None => LISTEN,
        Some(text) => text.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(
                "server.listen",
                format!("`{text}` is not a socket address; write `ip:port`, e.g. `127.0.0.1:8080` or `[::]:8080`"),
            );
            LISTEN
        }),
    };
    let data_dir = raw.data_dir.unwrap_or_else(|| DATA_DIR.to_owned());
    if data_dir.trim().is_empty() {
        errors.push("server.data_dir", "must not be empty");
    }
    if let Some(url) = &raw.database_url {
        let known = ["postgres://", "postgresql://", "sqlite:"];
        if !known.iter().any(|prefix| url.starts_with(prefix)) {
            // The URL is not echoed: it may carry a database password.
            errors.push(
                "server.database_url",
                "must start with `postgres://`, `postgresql://` or `sqlite:`",
            );
        }
    }
    let max_body_bytes = at_least_one(
        raw.max_body_bytes,
        MAX_BODY_BYTES,
        "server.max_body_bytes",
        errors,
    );
    let max_body_bytes = usize::try_from(max_body_bytes).unwrap_or_else(|_| {
        errors.push("server.max_body_bytes", "is too large for this machine");
        usize::MAX
    });
    let max_connections = at_least_one(
        raw.max_connections,
        MAX_CONNECTIONS,
        "server.max_connections",
        errors,
    );
    if max_connections > MAX_CONNECTIONS_CEILING {
        errors.push(
            "server.max_connections",
            format!(
                "must be at most {}, found {max_connections}",
                MAX_CONNECTIONS_CEILING
            ),
        );
    }
    let seconds = |value, default, key, errors: &mut Collector| {
        Duration::from_secs(at_least_one(value, default, key, errors))
    };
    // A deadline is an instant: a day keeps every `now + timeout` far from overflowing.
    let seconds_within_a_day = |value: Option<u64>, default, key, errors: &mut Collector| {
        if let Some(value) = value.filter(|&v| v > SECONDS_PER_DAY) {
            errors.push(
                key,
                format!("must be at most {} (a day), found {value}", SECONDS_PER_DAY),
            );
            return Duration::from_secs(default);
        }
        seconds(value, default, key, errors)
    };
    let request_timeout = seconds(
        raw.request_timeout_secs,
        REQUEST_TIMEOUT_SECS,
        "server.request_timeout_secs",
        errors,
    );
    ServerConfig {
        listen,
        data_dir: PathBuf::from(data_dir),
        database_url: raw.database_url,
        max_body_bytes,
        request_timeout,
        max_connections: max_connections.min(MAX_CONNECTIONS_CEILING) as usize,
        header_read_timeout: seconds_within_a_day(
            raw.header_read_timeout_secs,
            HEADER_READ_TIMEOUT_SECS,
            "server.header_read_timeout_secs",
            errors,
        ),
        body_read_timeout: seconds_within_a_day(
            raw.body_read_timeout_secs,
            BODY_READ_TIMEOUT_SECS,
            "server.body_read_timeout_secs",
            errors,
        ),
        metrics_token: raw
            .metrics_token_env
            .and_then(|variable| credential(&variable, "server.metrics_token_env", env, errors)),
        journal_max_bytes: at_least_one(
            raw.journal_max_bytes,
            JOURNAL_MAX_BYTES,
            "server.journal_max_bytes",
            errors,
        ),
        admin_key_ttl: admin_key_ttl(raw.admin_key_ttl_hours, errors),
        allow_weak_admin_key: raw.allow_weak_admin_key.unwrap_or(false),
        drain_timeout: drain_timeout(raw.drain_timeout_secs, errors),
        http2: raw.http2.unwrap_or(true),
        http2_max_concurrent_streams: http2_max_concurrent_streams(
            raw.http2_max_concurrent_streams,
            errors,
        ),
    }
}

fn http2_max_concurrent_streams(streams: Option<u64>, errors: &mut Collector) -> u32 {
    let Some(streams) = streams else {
        return HTTP2_MAX_CONCURRENT_STREAMS;
    };
    match u32::try_from(streams) {
        Ok(streams @ 1..=HTTP2_MAX_CONCURRENT_STREAMS_CEILING) => streams,
        _ => {
            errors.push(
                "server.http2_max_concurrent_streams",
                format!(
                    "must be from 1 to {HTTP2_MAX_CONCURRENT_STREAMS_CEILING}, found {streams}"
                ),
            );
            HTTP2_MAX_CONCURRENT_STREAMS
        }
    }
}

fn drain_timeout(seconds: Option<u64>, errors: &mut Collector) -> Duration {
    let seconds = seconds.unwrap_or(DRAIN_TIMEOUT_SECS);
    if seconds > SECONDS_PER_DAY {
        errors.push(
            "server.drain_timeout_secs",
            format!("must be at most {SECONDS_PER_DAY} (a day), found {seconds}"),
        );
        return Duration::from_secs(DRAIN_TIMEOUT_SECS);
    }
    Duration::from_secs(seconds)
}

fn admin_key_ttl(hours: Option<u64>, errors: &mut Collector) -> Duration {
    let hours = hours.unwrap_or(ADMIN_KEY_TTL_HOURS);
    if !(1..=ADMIN_KEY_TTL_CEILING_HOURS).contains(&hours) {
        errors.push(
            "server.admin_key_ttl_hours",
            format!("must be from 1 to {ADMIN_KEY_TTL_CEILING_HOURS} (a year), found {hours}"),
        );
        return Duration::from_secs(ADMIN_KEY_TTL_HOURS * 3600);
    }
    Duration::from_secs(hours * 3600)
}
