//! What counting one request costs the request path: the (entity, model) handles found in the
//! model's map, then a request, its tokens, cost and latency recorded. Single thread, then two
//! threads over the same pairs (contention on the read lock and the counters).
//!
//! `cargo run --release -p telemetry --example metrics_bench`

use std::sync::Arc;
use std::time::Instant;

use telemetry::Metrics;

const ROUNDS: u32 = 2_000_000;

fn count(metrics: &Metrics, entities: &[Arc<str>], rounds: u32) {
    // Resolved once, as the gateway does when it compiles the configuration.
    let models: Vec<_> = (0..4)
        .map(|i| metrics.model(&format!("model-{i}"), "chat"))
        .collect();
    for i in 0..rounds {
        let model = &models[(i % 4) as usize];
        let handles = model.entity(entities.get((i % 40) as usize));
        handles.request(200);
        handles.input_tokens.inc_by(120);
        handles.output_tokens.inc_by(64);
        handles.cost_micros.inc_by(42);
        handles.duration.observe(0.012);
        handles.time_to_first_token.observe(0.004);
    }
}

fn main() {
    let models: Vec<(String, &'static str)> =
        (0..4).map(|i| (format!("model-{i}"), "chat")).collect();
    let metrics = Arc::new(Metrics::new(&models, &[]));
    let entities: Arc<Vec<Arc<str>>> =
        Arc::new((0..40).map(|i| Arc::from(format!("entity-{i}"))).collect());
    count(&metrics, &entities, 1_000); // creates the 160 pairs

    let started = Instant::now();
    count(&metrics, &entities, ROUNDS);
    let single = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);

    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (metrics, entities) = (Arc::clone(&metrics), Arc::clone(&entities));
            std::thread::spawn(move || count(&metrics, &entities, ROUNDS))
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let two = started.elapsed().as_nanos() as f64 / f64::from(2 * ROUNDS);
    println!("one thread: {single:.0} ns per request counted (lookup + 6 updates)");
    println!("two threads: {two:.0} ns of wall time per request counted");
}
