//! What one scan of a 4 KB prompt costs, for two prompts of French business prose: one of plain
//! sentences (no digit at all: the scan's fast path) and one full of dates, amounts and references
//! (every number read and rejected). Both are without personal data, as most prompts are.
//!
//! Prints the best time per scan over a few rounds. Run through `bench/policy-cost.sh`, which also
//! counts the instructions per scan under valgrind: on a shared machine that count, unlike time,
//! does not move with the load. Usage: `scan_cost [SCANS] [prose|business]` (default 20,000 scans
//! of both, best of 7 rounds; fewer scans run one round).

use std::hint::black_box;
use std::time::Instant;

use policy::Detector;

fn main() {
    let mut args = std::env::args().skip(1);
    let scans: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000)
        .max(1);
    let only = args.next().unwrap_or_default();
    let rounds = if scans < 20_000 { 1 } else { 7 };
    let detector = Detector::all();
    for (name, sentence) in [
        (
            "prose",
            "Le comité de direction a examiné le budget du troisième trimestre et demande une \
             analyse des écarts par agence, avec les hypothèses de croissance retenues. ",
        ),
        (
            "business",
            "Suite à notre réunion du 12 mars, le montant s'élève à 45 300,00 euros HT, facture \
             2024-0317, le 4 avril à 10 h. ",
        ),
    ] {
        if !only.is_empty() && only != name {
            continue;
        }
        let text = sentence.repeat(4096 / sentence.len() + 1);
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let started = Instant::now();
            for _ in 0..scans {
                black_box(detector.scan(black_box(&text)));
            }
            best = best.min(started.elapsed().as_secs_f64() / scans as f64 * 1e6);
        }
        println!("{name}: {best:.3} µs per scan of {} bytes", text.len());
    }
}
