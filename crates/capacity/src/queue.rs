//! The queueing model of a GPU pool: its sequences are the servers of an M/M/c queue (Poisson
//! arrivals, c servers, one line), so the chance that a request waits is Erlang's C formula and
//! the wait of those that do is exponential. Service times are not exponential (lengths are
//! log-normal), so the wait is stretched by the Allen–Cunneen factor (1 + c²ₛ) / 2, c²ₛ the
//! squared coefficient of variation of service times; with exponential service it is 1 and the
//! model is exact M/M/c. The time to first token is a fixed part, the wait, and the prefill of
//! the request's own prompt, whose distribution is a mixture of log-normals.

use crate::lengths::{LogNormal, normal_density};

/// Erlang's C formula: the probability that an arrival waits in an M/M/c queue with `servers`
/// servers and offered `load` (λ / μ, in Erlangs). 1 when the queue is unstable (load ≥ servers).
pub fn erlang_c(servers: u64, load: f64) -> f64 {
    if load <= 0.0 {
        return 0.0;
    }
    let c = servers as f64;
    if load >= c {
        return 1.0;
    }
    // Erlang B by its recursion, stable for any number of servers, then C from B.
    let mut b = 1.0;
    for k in 1..=servers {
        b = load * b / (k as f64 + load * b);
    }
    c * b / (c - load * (1.0 - b))
}

/// A pool's queue at one arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Queue {
    /// Sequences of the whole pool: the servers.
    pub servers: u64,
    /// Requests a second.
    pub arrivals: f64,
    /// Mean time a request holds a sequence, seconds.
    pub service_secs: f64,
    /// Squared coefficient of variation of service times (1 for exponential).
    pub service_scv: f64,
}

impl Queue {
    /// Offered load in Erlangs: sequences busy on average.
    pub fn load(&self) -> f64 {
        self.arrivals * self.service_secs
    }

    pub fn utilization(&self) -> f64 {
        self.load() / self.servers as f64
    }

    pub fn is_stable(&self) -> bool {
        self.load() < self.servers as f64
    }

    pub fn wait_probability(&self) -> f64 {
        erlang_c(self.servers, self.load())
    }

    /// The rate of the exponential tail of waits, per second; 0 when unstable.
    pub fn wait_decay(&self) -> f64 {
        let spare = self.servers as f64 / self.service_secs - self.arrivals;
        (spare / allen_cunneen(self.service_scv)).max(0.0)
    }

    /// Mean wait over all requests, seconds (infinite when unstable).
    pub fn mean_wait(&self) -> f64 {
        match self.is_stable() {
            true => self.wait_probability() / self.wait_decay(),
            false => f64::INFINITY,
        }
    }

    /// P(wait > t).
    pub fn wait_tail(&self, t: f64) -> f64 {
        match self.is_stable() {
            true => self.wait_probability() * (-self.wait_decay() * t.max(0.0)).exp(),
            false => 1.0,
        }
    }
}

/// (1 + c²ₛ) / 2: how much longer waits are than M/M/c's for service times this variable
/// (arrivals Poisson, so their c²ₐ is 1).
fn allen_cunneen(service_scv: f64) -> f64 {
    (1.0 + service_scv) / 2.0
}

/// The time to first token: `fixed_secs` + wait + prefill, the prefill a mixture of log-normals
/// (seconds) weighted by their share of arrivals.
#[derive(Debug, Clone)]
pub struct FirstToken {
    pub queue: Queue,
    pub fixed_secs: f64,
    pub prefill: Vec<(f64, LogNormal)>,
    /// The queue's wait probability and tail decay, computed once (Erlang C costs a loop over
    /// the servers).
    waits: Option<(f64, f64)>,
}

impl FirstToken {
    pub fn new(queue: Queue, fixed_secs: f64, prefill: Vec<(f64, LogNormal)>) -> FirstToken {
        let waits = queue
            .is_stable()
            .then(|| (queue.wait_probability(), queue.wait_decay()));
        FirstToken {
            queue,
            fixed_secs,
            prefill,
            waits,
        }
    }

    /// P(wait > t), from the figures computed once.
    fn wait_tail(&self, t: f64) -> f64 {
        match self.waits {
            Some((probability, decay)) => probability * (-decay * t.max(0.0)).exp(),
            None => 1.0,
        }
    }

    /// P(time to first token > t).
    pub fn survival(&self, t: f64) -> f64 {
        let s = t - self.fixed_secs;
        if s <= 0.0 {
            return 1.0;
        }
        let total: f64 = self.prefill.iter().map(|(w, _)| w).sum();
        let mixed: f64 = self
            .prefill
            .iter()
            .map(|(weight, prefill)| weight * self.component_survival(*prefill, s))
            .sum();
        (mixed / total).clamp(0.0, 1.0)
    }

    /// P(W + X > s) for one prefill component X, W the wait: P(X > s) + E[P(W > s − X); X ≤ s].
    fn component_survival(&self, x: LogNormal, s: f64) -> f64 {
        if x.sigma == 0.0 {
            let fixed = x.mu.exp();
            return match fixed > s {
                true => 1.0,
                false => self.wait_tail(s - fixed),
            };
        }
        // Over z = (ln X − μ) / σ, a standard normal, up to X = s: Simpson's rule.
        const FROM: f64 = -8.0;
        const STEPS: usize = 128;
        let upto = (s.ln() - x.mu) / x.sigma;
        let mut waited = 0.0;
        if upto > FROM {
            let h = (upto - FROM) / STEPS as f64;
            for i in 0..=STEPS {
                let z = FROM + h * i as f64;
                let weight = match i {
                    0 => 1.0,
                    i if i == STEPS => 1.0,
                    i if i % 2 == 1 => 4.0,
                    _ => 2.0,
                };
                let prefill = (x.mu + x.sigma * z).exp();
                waited += weight * self.wait_tail(s - prefill) * normal_density(z);
            }
            waited *= h / 3.0;
        }
        x.survival(s) + waited
    }

    /// The time within which a share `p` of requests see their first token, seconds; `None` when
    /// the queue is unstable (waits grow without end).
    pub fn quantile(&self, p: f64) -> Option<f64> {
        if !self.queue.is_stable() {
            return None;
        }
        let tail = 1.0 - p;
        let mut high = self.fixed_secs + 0.01;
        while self.survival(high) > tail {
            high *= 2.0;
            if high > 1e9 {
                return None;
            }
        }
        let mut low = self.fixed_secs;
        for _ in 0..60 {
            let mid = (low + high) / 2.0;
            match self.survival(mid) > tail {
                true => low = mid,
                false => high = mid,
            }
        }
        Some(high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Erlang C from its textbook form, in logarithms: independent of the recursion.
    fn erlang_c_direct(c: u64, a: f64) -> f64 {
        let ln_term = |k: u64| k as f64 * a.ln() - (1..=k).map(|i| (i as f64).ln()).sum::<f64>();
        let top = (ln_term(c) + (c as f64 / (c as f64 - a)).ln()).exp();
        let below: f64 = (0..c).map(|k| ln_term(k).exp()).sum();
        top / (below + top)
    }

    #[test]
    fn erlang_c_gives_the_known_values() {
        // M/M/1: the chance to wait is the utilization.
        assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-12);
        assert!((erlang_c(1, 0.9) - 0.9).abs() < 1e-12);
        // Worked by hand: c = 2, a = 1 → 1/3; c = 3, a = 2 → 4/9.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert!((erlang_c(3, 2.0) - 4.0 / 9.0).abs() < 1e-12);
        // The textbook sum evaluated apart (Python, exact factorials): 10 servers at 8 Erlangs
        // wait 40.918 % of the time; 20 servers at 15 Erlangs, 16.043 %.
        assert!(
            (erlang_c(10, 8.0) - 0.409_180).abs() < 1e-6,
            "{}",
            erlang_c(10, 8.0)
        );
        assert!(
            (erlang_c(20, 15.0) - 0.160_429).abs() < 1e-6,
            "{}",
            erlang_c(20, 15.0)
        );
        for (c, a) in [(10, 8.0), (50, 45.0), (150, 140.0), (7, 0.3)] {
            let (r, d) = (erlang_c(c, a), erlang_c_direct(c, a));
            assert!((r - d).abs() < 1e-9, "c={c} a={a}: {r} vs {d}");
        }
        assert_eq!(erlang_c(4, 4.0), 1.0);
        assert_eq!(erlang_c(4, 0.0), 0.0);
        // Thousands of servers stay finite and sensible.
        let large = erlang_c(20_000, 19_800.0);
        assert!(large > 0.0 && large < 1.0, "{large}");
    }

    #[test]
    fn mm1_waits_are_the_textbook_ones() {
        // M/M/1 at ρ = 0.5 with a 1-s service: mean wait ρ/(μ − λ) = 1 s; P(W > t) = ρ e^{−(μ−λ)t}.
        let queue = Queue {
            servers: 1,
            arrivals: 0.5,
            service_secs: 1.0,
            service_scv: 1.0,
        };
        assert!((queue.mean_wait() - 1.0).abs() < 1e-12);
        assert!((queue.wait_tail(2.0) - 0.5 * (-1.0_f64).exp()).abs() < 1e-12);
        // Its p95 wait (no prefill, no fixed part): 0.5 e^{−t/2} = 0.05 → t = 2 ln 10.
        let first = FirstToken::new(
            queue,
            0.0,
            vec![(
                1.0,
                LogNormal {
                    mu: -20.0,
                    sigma: 0.0,
                },
            )],
        );
        let p95 = first.quantile(0.95).unwrap();
        assert!((p95 - 2.0 * 10.0_f64.ln()).abs() < 1e-6, "{p95}");
    }

    #[test]
    fn without_waiting_the_first_token_is_the_fixed_part_and_the_prefill() {
        let prefill = LogNormal {
            mu: 0.1_f64.ln(),
            sigma: 0.5,
        };
        let queue = Queue {
            servers: 1000,
            arrivals: 1.0,
            service_secs: 1.0,
            service_scv: 1.0,
        };
        let first = FirstToken::new(queue, 0.05, vec![(1.0, prefill)]);
        let p95 = first.quantile(0.95).unwrap();
        let expected = 0.05 + 0.1 * (0.5 * crate::lengths::Z95).exp();
        assert!((p95 - expected).abs() < 1e-6, "{p95} vs {expected}");
    }

    #[test]
    fn an_unstable_queue_has_no_quantile() {
        let queue = Queue {
            servers: 4,
            arrivals: 5.0,
            service_secs: 1.0,
            service_scv: 1.0,
        };
        let first = FirstToken::new(
            queue,
            0.0,
            vec![(
                1.0,
                LogNormal {
                    mu: 0.0,
                    sigma: 0.3,
                },
            )],
        );
        assert_eq!(first.quantile(0.95), None);
        assert!(first.queue.mean_wait().is_infinite());
    }
}
