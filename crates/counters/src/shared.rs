//! [`Shared`]: the connection to Redis, the admission by one script, the fallback to this
//! replica's share while Redis cannot be reached, and the memory of scopes refused until later.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use admission::{
    Admission, Calendar, Consumption, Limits, Refusal, Refused, Request, Scope, ScopeRules,
};
use configuration::RedisConfig;
use domain::UnixMillis;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use telemetry::Metrics;
use tokio::sync::mpsc;

use crate::script::{self, Keys, Mode, Scripts};
use crate::writer::{self, Write};
use crate::{Admitted, Denied, Ticket, by_request_rate};

/// Settlements and counts waiting for Redis, at most: past it, they are dropped and counted.
const QUEUE: usize = 65_536;

/// The replicas' shared counters, as one replica sees them.
pub struct Shared {
    pub(crate) connection: ConnectionManager,
    pub(crate) scripts: Scripts,
    pub(crate) keys: Keys,
    timeout: Duration,
    replicas: u32,
    /// This replica's share of every rate limit, counted here while Redis cannot be reached.
    fallback: Admission,
    /// Scopes Redis refused for their request rate, and until when.
    pub(crate) refused: Mutex<HashMap<Scope, UnixMillis>>,
    writes: mpsc::Sender<Write>,
    reachable: AtomicBool,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("keys", &self.keys)
            .field("replicas", &self.replicas)
            .finish_non_exhaustive()
    }
}

/// A shared admission's ticket: the rules it was charged under, and what.
#[derive(Debug)]
pub struct SharedTicket {
    rules: Vec<ScopeRules>,
    estimate: Consumption,
}

/// The `[redis]` URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the `[redis]` URL cannot be used: {0}")]
pub struct InvalidRedisUrl(redis::RedisError);

impl Shared {
    /// Prepares the connection (made at the first use, so a replica starts while Redis is down)
    /// and starts the background writer. Must run inside the Tokio runtime.
    pub fn start(
        config: &RedisConfig,
        calendar: Calendar,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Shared>, InvalidRedisUrl> {
        let client = redis::Client::open(config.url.as_str()).map_err(InvalidRedisUrl)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection =
            ConnectionManager::new_lazy_with_config(client, manager).map_err(InvalidRedisUrl)?;
        let (writes, queue) = mpsc::channel(QUEUE);
        metrics.shared_counters_up.set(1);
        let shared = Arc::new(Shared {
            connection,
            scripts: Scripts::new(),
            keys: Keys::new(&config.key_prefix),
            timeout: config.timeout,
            replicas: config.replicas,
            fallback: Admission::new(calendar),
            refused: Mutex::new(HashMap::new()),
            writes,
            reachable: AtomicBool::new(true),
            metrics,
        });
        tokio::spawn(writer::run(Arc::downgrade(&shared), queue));
        Ok(shared)
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// How many replicas `[redis] replicas` says share the counters.
    pub(crate) fn replicas(&self) -> u32 {
        self.replicas
    }

    /// Refuses the request if Redis refused one of its scopes for its request rate until after
    /// `now`: no round trip.
    pub(crate) fn refused_until(&self, scopes: &[Scope], now: UnixMillis) -> Result<(), Refused> {
        let refused = self.refused.lock();
        if refused.is_empty() {
            return Ok(());
        }
        let longest = scopes
            .iter()
            .filter_map(|s| {
                refused
                    .get(s)
                    .filter(|until| **until > now)
                    .map(|u| (s, *u))
            })
            .max_by_key(|(_, until)| *until);
        match longest {
            None => Ok(()),
            Some((scope, until)) => Err(Refused {
                refusal: Refusal::RateLimited {
                    scope: scope.clone(),
                    kind: admission::LimitKind::Requests,
                    retry_after: Duration::from_millis(until.saturating_sub(now).unsigned_abs()),
                },
                rate: Box::default(),
            }),
        }
    }

    /// Remembers that `scope` may not send another request before `until`.
    pub(crate) fn refuse_until(&self, scope: &Scope, until: UnixMillis) {
        let mut refused = self.refused.lock();
        // Bounded: expired entries go when the map grows.
        if refused.len() >= 100_000 {
            refused.retain(|_, u| *u > until.saturating_sub(60_000));
        }
        refused.insert(scope.clone(), until);
    }

    /// The admission stage through Redis: one round trip, or the fallback.
    pub(crate) async fn admit(
        &self,
        admission: &Admission,
        scopes: Vec<Scope>,
        estimate: Consumption,
        now: UnixMillis,
    ) -> Result<Admitted, Denied> {
        let rules = admission.rules(&scopes, now);
        if rules.is_empty() {
            return Ok(Admitted {
                ticket: Ticket::Shared(SharedTicket { rules, estimate }),
                rate: Default::default(),
                budget_warning: None,
                thresholds_crossed: Vec::new(),
            });
        }
        let call = script::admit_call(
            &self.scripts.admit,
            &self.keys,
            &rules,
            estimate,
            Mode::Whole,
            now,
        );
        let mut connection = self.connection.clone();
        let answered = tokio::time::timeout(self.timeout, call.invoke_async(&mut connection)).await;
        let numbers: Vec<i64> = match answered {
            Ok(Ok(numbers)) => numbers,
            Ok(Err(error)) => return self.unreachable(&error, scopes, &rules, estimate, now),
            Err(_) => return self.unreachable(&"no answer in time", scopes, &rules, estimate, now),
        };
        self.reached();
        let answer = match script::read_answer(&numbers, &rules, estimate) {
            Ok(answer) if answer.admitted || answer.refusal.is_some() => answer,
            _ => {
                let error = script::Malformed(numbers.len());
                return self.unreachable(&error, scopes, &rules, estimate, now);
            }
        };
        if let Some(refused) = answer.refused() {
            if by_request_rate(&refused.refusal) {
                if let Refusal::RateLimited { retry_after, .. } = &refused.refusal {
                    let wait = i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX);
                    self.refuse_until(refused.refusal.scope(), now.saturating_add(wait));
                }
            } else {
                // Refused for its tokens or a budget, the request still counts.
                self.record_count(admission, &scopes, now);
            }
            return Err(Denied::Refused(refused));
        }
        Ok(Admitted {
            rate: answer.headers(),
            budget_warning: answer.warning,
            thresholds_crossed: answer.crossed,
            ticket: Ticket::Shared(SharedTicket { rules, estimate }),
        })
    }

    /// Redis did not answer: hard budgets fail closed, rate limits fall back to this replica's
    /// share of them.
    fn unreachable(
        &self,
        error: &dyn std::fmt::Display,
        scopes: Vec<Scope>,
        rules: &[ScopeRules],
        estimate: Consumption,
        now: UnixMillis,
    ) -> Result<Admitted, Denied> {
        self.failed(error);
        if rules.iter().any(|r| !r.budgets.is_empty()) {
            return Err(Denied::Unavailable);
        }
        for rule in rules {
            let share = self.share(rule.limits);
            if self.fallback.limits(&rule.scope) != share {
                // Valid: a share of a valid limit.
                self.fallback.set_limit(rule.scope.clone(), share).ok();
            }
        }
        let request = Request {
            scopes,
            estimate,
            counted: false,
        };
        self.fallback
            .check_and_charge(request, now)
            .map(|admitted| admitted.map_ticket(Ticket::Fallback))
            .map_err(Denied::Refused)
    }

    /// This replica's share of `limits`: each divided by the replicas, rounded up.
    fn share(&self, limits: Limits) -> Limits {
        let replicas = self.replicas.max(1);
        Limits {
            requests_per_minute: limits.requests_per_minute.map(|l| l.div_ceil(replicas)),
            tokens_per_minute: limits
                .tokens_per_minute
                .map(|l| l.div_ceil(u64::from(replicas))),
        }
    }

    /// Queues a settlement, with the budgets' periods in force at `now` (for the real amount).
    pub(crate) fn settle(
        &self,
        admission: &Admission,
        ticket: SharedTicket,
        actual: Consumption,
        now: UnixMillis,
    ) {
        if ticket.rules.is_empty() {
            return;
        }
        let scopes: Vec<Scope> = ticket.rules.iter().map(|r| r.scope.clone()).collect();
        self.queue(Write::Settle {
            current: admission.rules(&scopes, now),
            admitted: ticket.rules,
            estimate: ticket.estimate,
            actual,
            now,
        });
    }

    pub(crate) fn settle_fallback(
        &self,
        ticket: admission::Ticket,
        actual: Consumption,
        now: UnixMillis,
    ) {
        self.fallback.settle(ticket, actual, now);
    }

    /// Queues the count of a request that left before admission (see `Counted::Owed`).
    pub(crate) fn record_count(&self, admission: &Admission, scopes: &[Scope], now: UnixMillis) {
        let rules: Vec<ScopeRules> = admission
            .rules(scopes, now)
            .into_iter()
            .filter(|r| r.limits.requests_per_minute.is_some())
            .collect();
        if !rules.is_empty() {
            self.queue(Write::Count { rules, now });
        }
    }

    /// Waits until every settlement and count queued so far is written to Redis (at shutdown,
    /// and in tests).
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.writes.send(Write::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    fn queue(&self, write: Write) {
        if self.writes.try_send(write).is_err() {
            self.metrics.shared_counters_failures.inc();
            tracing::warn!("a shared counter's write was dropped: the queue for Redis is full");
        }
    }

    /// A round trip failed: the metric always, the log line when Redis was reachable until now.
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) {
        self.metrics.shared_counters_failures.inc();
        if self.reachable.swap(false, Ordering::AcqRel) {
            self.metrics.shared_counters_up.set(0);
            tracing::error!(
                %error,
                replicas = self.replicas,
                "Redis cannot be reached: requests under a hard budget are refused, rate limits fall back to this replica's share of them"
            );
        }
    }

    /// A round trip succeeded: logged when it ends an outage.
    pub(crate) fn reached(&self) {
        if !self.reachable.swap(true, Ordering::AcqRel) {
            self.metrics.shared_counters_up.set(1);
            tracing::info!("Redis reached again: limits and budgets are shared again");
        }
    }
}
