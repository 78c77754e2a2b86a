//! Throughput of `Detector::all().scan` on typical French business prose, single-threaded.
//!
//! Generates the corpus in memory (contracts, invoices, meetings, with the amounts, dates and
//! references such prose is full of, and personal data sprinkled at a realistic low density),
//! then scans it whole a few times and prints the best run in MB/s (10^6 bytes per second) and
//! the spans found per type. Run through `bench/policy-scan.sh`.
//!
//! Usage: `scan_bench [SIZE_MB] [RUNS]` (defaults 200 and 3).

use std::fmt::Write as _;
use std::time::Instant;

use policy::{Detector, PiiType};

fn main() -> Result<(), std::fmt::Error> {
    let mut args = std::env::args().skip(1);
    let size_mb: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);

    let started = Instant::now();
    let corpus = generate(size_mb * 1_000_000)?;
    println!(
        "corpus: {:.1} MB of prose generated in {:.1} s",
        corpus.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let detector = Detector::all();
    let mut best = f64::INFINITY;
    let mut spans = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        spans = detector.scan(&corpus);
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "run {run}: {:.3} s, {:.0} MB/s",
            seconds,
            corpus.len() as f64 / 1e6 / seconds
        );
        best = best.min(seconds);
    }
    println!(
        "best: {:.0} MB/s over {:.1} MB, one thread, all detectors",
        corpus.len() as f64 / 1e6 / best,
        corpus.len() as f64 / 1e6
    );
    let mut line = format!("spans: {}", spans.len());
    for kind in PiiType::ALL {
        let count = spans.iter().filter(|span| span.kind == kind).count();
        write!(line, ", {kind} {count}")?;
    }
    println!("{line}");
    Ok(())
}

/// xorshift64*: a deterministic corpus, the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const COMPANIES: [&str; 8] = [
    "Solutions Numériques SAS",
    "Bâtiments de l'Ouest SA",
    "Conseil & Stratégie SARL",
    "Logistique Rhône-Alpes",
    "Imprimerie Moderne",
    "Services Financiers du Centre",
    "Énergies Renouvelables Atlantique",
    "Cabinet Martin & Associés",
];
const ENTITIES: [&str; 5] = [
    "Crédit Régional",
    "Assurances Mutuelles",
    "Épargne Patrimoine",
    "Banque des Territoires",
    "Financement Immobilier",
];
const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const FIRST_NAMES: [&str; 8] = [
    "Jean",
    "Marie",
    "Pierre",
    "Sophie",
    "Nicolas",
    "Isabelle",
    "François",
    "Céline",
];
const LAST_NAMES: [&str; 8] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
];
const DOMAINS: [&str; 4] = [
    "groupe-exemple.fr",
    "filiale.exemple.com",
    "fournisseur.fr",
    "cabinet-conseil.eu",
];
/// Valid IBANs and SIRETs (checked by the crate's tests), so the spans count is meaningful.
const IBANS: [&str; 3] = [
    "FR76 3000 6000 0112 3456 7890 189",
    "FR1420041010050500013M02606",
    "DE89 3704 0044 0532 0130 00",
];
const SIRETS: [&str; 3] = ["732 829 320 00074", "55208131766522", "443 061 841 00047"];

/// Appends sentences until the corpus reaches `target` bytes, in paragraphs of a few sentences.
fn generate(target: usize) -> Result<String, std::fmt::Error> {
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let mut text = String::with_capacity(target + 1024);
    let mut in_paragraph = 0;
    while text.len() < target {
        sentence(&mut rng, &mut text)?;
        in_paragraph += 1;
        if in_paragraph == 5 {
            text.push('\n');
            in_paragraph = 0;
        } else {
            text.push(' ');
        }
    }
    Ok(text)
}

fn sentence(rng: &mut Rng, out: &mut String) -> Result<(), std::fmt::Error> {
    let day = 1 + rng.below(28);
    let month = 1 + rng.below(12);
    let year = 2020 + rng.below(6);
    // About one sentence in thirty carries personal data.
    match rng.below(60) {
        0 => write!(
            out,
            "Pour toute question, contactez {} {} au 0{} {:02} {:02} {:02} {:02} ou à l'adresse {}.{}@{}.",
            rng.pick(&FIRST_NAMES),
            rng.pick(&LAST_NAMES),
            1 + rng.below(9),
            rng.below(100),
            rng.below(100),
            rng.below(100),
            rng.below(100),
            rng.pick(&FIRST_NAMES).to_lowercase(),
            rng.pick(&LAST_NAMES).to_lowercase(),
            rng.pick(&DOMAINS),
        ),
        1 => write!(
            out,
            "Le règlement sera effectué par virement sur le compte {} (BIC BNPAFRPPXXX) à réception de la facture.",
            rng.pick(&IBANS)
        ),
        2 => write!(
            out,
            "Fournisseur : {}, SIRET {}, représenté par son directeur général.",
            rng.pick(&COMPANIES),
            rng.pick(&SIRETS)
        ),
        3 => write!(
            out,
            "L'accès au serveur 10.{}.{}.{} a été ouvert pour l'équipe projet jusqu'au {day}/{month:02}/{year}.",
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        ),
        4..=10 => write!(
            out,
            "Le contrat de prestation n° CP-{year}-{:05} a été signé le {day:02}/{month:02}/{year} entre la société {} et notre filiale {}.",
            rng.below(100_000),
            rng.pick(&COMPANIES),
            rng.pick(&ENTITIES)
        ),
        11..=18 => write!(
            out,
            "La facture F{year}-{:06} d'un montant de {} {:03},{:02} € HT, soit {} {:03},{:02} € TTC, est payable à {} jours fin de mois.",
            rng.below(1_000_000),
            1 + rng.below(99),
            rng.below(1000),
            rng.below(100),
            1 + rng.below(99),
            rng.below(1000),
            rng.below(100),
            rng.pick(&["30", "45", "60"])
        ),
        19..=25 => write!(
            out,
            "Lors de la réunion du comité de direction du {day} {} {year}, les participants ont validé le budget prévisionnel de {}\u{a0}{:03}\u{a0}{:03} € pour l'exercice suivant.",
            MONTHS[(month - 1) as usize],
            1 + rng.below(20),
            rng.below(1000),
            rng.below(1000)
        ),
        26..=31 => write!(
            out,
            "Le prochain point d'étape est prévu le {day} {} à {}h{:02} en salle {} ; l'ordre du jour sera envoyé par courriel aux participants.",
            MONTHS[(month - 1) as usize],
            8 + rng.below(10),
            rng.below(4) * 15,
            100 + rng.below(400)
        ),
        32..=37 => write!(
            out,
            "Conformément à l'article L. 441-10 du code de commerce, tout retard de paiement entraîne des pénalités au taux de {},{:02} % et une indemnité forfaitaire de 40 €.",
            1 + rng.below(12),
            rng.below(100)
        ),
        38..=44 => out.write_str(
            "Les échanges avec le fournisseur portent sur la révision annuelle des prix, l'indexation sur l'indice Syntec et les conditions de résiliation anticipée du marché.",
        ),
        45..=51 => write!(
            out,
            "Le bon de commande BC-{:07} relatif à la maintenance du parc informatique ({} postes) doit être validé par le responsable des achats avant le {day} {}.",
            rng.below(10_000_000),
            10 + rng.below(500),
            MONTHS[(month - 1) as usize]
        ),
        _ => out.write_str(
            "Après examen du dossier, la direction financière confirme que les garanties présentées sont suffisantes et que le financement peut être accordé aux conditions habituelles.",
        ),
    }
}
