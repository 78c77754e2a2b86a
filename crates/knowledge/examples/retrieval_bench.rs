//! Retrieval quality and cost of the embedded index on a generated corpus with known answers.
//! Run through `bench/libraries.sh`.
//!
//! The corpus: `FACTS` facts, each a passage of its own ("Pour la société Ravolen, le salaire
//! moyen est de 4120 euros.") among others about the same company (other attributes) and the
//! same attribute (other companies), with filler. Each attribute has several French synonyms;
//! a passage uses one, its question ("Quel est le salaire … de Ravolen ?") one drawn afresh, so
//! about half the questions share no attribute word with their passage — the vocabulary gap
//! full text alone cannot cross. Embeddings come from a stand-in ([`Embedder`]) that knows those
//! synonyms, as a trained model knows a language's, and weighs each word by its inverse document
//! frequency over the corpus, as a trained model gives little weight to words that say nothing:
//! it measures what fusion adds when vectors carry meaning, not any model's quality.
//!
//! Printed: recall@10 and nDCG@10 (one relevant passage per question) of hybrid search and of
//! BM25 alone; filtered recall, where the reader may read 1 % of the library and asks only about
//! that 1 %, against the same questions unfiltered; ingestion into the index (passages a second,
//! one writer thread, embeddings excluded: they are the GPU's work), in batches of 1,000 passages
//! or of 1 % of the corpus when that is more (100 commits at most); and search latency (p50,
//! p99), hybrid and BM25 alone. Usage: `retrieval_bench [FACTS] [QUESTIONS] [DIMENSIONS]`
//! (defaults 20,000, 1,000 and 384, a small sentence model's size).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use knowledge::{Index, IndexedChunk, Search, Semantic};

/// Passages per `Index::add` at least.
const BATCH: usize = 1_000;
/// Commits at most: a larger corpus is added in larger batches.
const COMMITS: usize = 100;

/// Attributes, each with its synonyms (the first is also the passage's most frequent word).
const ATTRIBUTES: [&[&str]; 12] = [
    &["salaire", "remuneration", "paie"],
    &["effectif", "personnel", "salaries"],
    &["siege", "domicile", "adresse"],
    &["dirigeant", "president", "patron"],
    &["chiffre", "revenu", "ventes"],
    &["dette", "endettement", "passif"],
    &["fondation", "creation", "naissance"],
    &["fournisseur", "prestataire", "sous-traitant"],
    &["client", "acheteur", "donneur"],
    &["loyer", "bail", "location"],
    &["assureur", "assurance", "couverture"],
    &["banque", "etablissement", "preteur"],
];
const FILLER: [&str; 16] = [
    "le", "rapport", "annuel", "indique", "que", "pour", "cette", "periode", "selon", "les",
    "comptes", "publies", "au", "registre", "du", "commerce",
];
const SYLLABLES: [&str; 16] = [
    "ra", "vo", "len", "ti", "mar", "qu", "zel", "do", "bri", "san", "ko", "vel", "na", "tor",
    "li", "gue",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (facts, questions, dimensions) = (arg(20_000), arg(1_000), arg(384));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let corpus = Corpus::generate(facts, &mut rng);
    let model = Embedder::new(&corpus.passages, dimensions);

    let dir = tempfile::tempdir()?;
    let index = Index::open(dir.path())?;
    let batch = BATCH.max(facts / COMMITS);
    let mut indexing = Duration::ZERO;
    for passages in corpus.passages.chunks(batch) {
        let embedded: Vec<IndexedChunk> = passages.iter().map(|p| model.embedded(p)).collect();
        let started = Instant::now();
        index.add(&embedded)?;
        indexing += started.elapsed();
    }
    let seconds = indexing.as_secs_f64();
    println!(
        "ingestion: {} passages in {seconds:.1} s, {:.0} passages/s ({batch} a commit, one writer thread, embeddings excluded)",
        corpus.passages.len(),
        corpus.passages.len() as f64 / seconds
    );

    let library = vec!["lib".to_owned()];
    let everyone = vec!["user:reader".to_owned(), "user:other".to_owned()];
    let reader = vec!["user:reader".to_owned()];
    let asked: Vec<Question> = (0..questions)
        .map(|_| corpus.question(rng.below(facts as u64) as usize, &model, &mut rng))
        .collect();
    let (mut hybrid, mut bm25) = (Score::default(), Score::default());
    for question in &asked {
        hybrid.add(&ask(&index, &library, &everyone, question, true)?, question);
        bm25.add(
            &ask(&index, &library, &everyone, question, false)?,
            question,
        );
    }
    println!("questions: {}, one relevant passage each", asked.len());
    println!("| search | recall@10 | nDCG@10 |\n|---|---|---|");
    println!(
        "| hybrid (BM25 + vectors, RRF) | {:.3} | {:.3} |",
        hybrid.recall(),
        hybrid.ndcg()
    );
    println!("| BM25 alone | {:.3} | {:.3} |", bm25.recall(), bm25.ndcg());

    let readable: Vec<usize> = (0..facts).filter(|f| corpus.readable(*f)).collect();
    let (mut filtered, mut unfiltered) = (Score::default(), Score::default());
    for _ in 0..questions.min(readable.len() * 4) {
        let fact = readable[rng.below(readable.len() as u64) as usize];
        let question = corpus.question(fact, &model, &mut rng);
        filtered.add(&ask(&index, &library, &reader, &question, true)?, &question);
        unfiltered.add(
            &ask(&index, &library, &everyone, &question, true)?,
            &question,
        );
    }
    println!(
        "filtered (the reader may read {} of {} passages, 1 %): recall@10 {:.3} filtered, {:.3} unfiltered, over {} questions",
        readable.len(),
        facts,
        filtered.recall(),
        unfiltered.recall(),
        filtered.asked
    );
    println!(
        "search latency over {} passages ({dimensions} dimensions): hybrid {}; BM25 alone {}",
        corpus.passages.len(),
        hybrid.latency(),
        bm25.latency()
    );
    Ok(())
}

/// The generated passages (their embeddings still to make) and what each fact is.
struct Corpus {
    passages: Vec<IndexedChunk>,
    /// Per fact: its company and attribute.
    facts: Vec<(String, usize)>,
}

struct Question {
    text: String,
    vector: Vec<f32>,
    /// The passage that answers it.
    answer: String,
}

impl Corpus {
    fn generate(facts: usize, rng: &mut Rng) -> Corpus {
        // Each company has as many facts as there are attributes, so the company's name alone
        // leaves twelve candidates: the attribute decides.
        let companies = facts.div_ceil(ATTRIBUTES.len());
        let names: Vec<String> = (0..companies).map(name).collect();
        let mut passages = Vec::with_capacity(facts);
        let mut described = Vec::with_capacity(facts);
        for fact in 0..facts {
            let company = &names[fact / ATTRIBUTES.len()];
            let attribute = fact % ATTRIBUTES.len();
            let synonyms = ATTRIBUTES[attribute];
            let word = synonyms[rng.below(synonyms.len() as u64) as usize];
            let mut text = format!(
                "Pour la societe {company}, le {word} est de {} euros.",
                100 + rng.below(9_900)
            );
            for _ in 0..12 {
                text.push(' ');
                text.push_str(FILLER[rng.below(FILLER.len() as u64) as usize]);
            }
            let readers = if fact % 100 == 0 {
                "user:reader"
            } else {
                "user:other"
            };
            passages.push(IndexedChunk {
                id: format!("d{fact}:0"),
                library: "lib".to_owned(),
                document: format!("d{fact}"),
                title: format!("{company}.pdf"),
                page: 1,
                readers: vec![readers.to_owned()],
                vector: Vec::new(),
                text,
            });
            described.push((company.clone(), attribute));
        }
        Corpus {
            passages,
            facts: described,
        }
    }

    /// Whether the 1 % reader may read fact `fact`'s passage.
    fn readable(&self, fact: usize) -> bool {
        fact.is_multiple_of(100)
    }

    /// A question about `fact`, its attribute named by a synonym drawn afresh.
    fn question(&self, fact: usize, model: &Embedder, rng: &mut Rng) -> Question {
        let (company, attribute) = &self.facts[fact];
        let synonyms = ATTRIBUTES[*attribute];
        let word = synonyms[rng.below(synonyms.len() as u64) as usize];
        let text = format!("Quel est le {word} de {company} ?");
        Question {
            vector: model.embed(&text),
            text,
            answer: self.passages[fact].id.clone(),
        }
    }
}

/// A search's ranking and how long it took.
struct Asked {
    ranking: Vec<String>,
    took: Duration,
}

fn ask(
    index: &Index,
    libraries: &[String],
    tags: &[String],
    question: &Question,
    hybrid: bool,
) -> Result<Asked, knowledge::IndexError> {
    let semantic = [Semantic {
        libraries,
        vector: &question.vector,
    }];
    let started = Instant::now();
    let hits = index.search(&Search {
        libraries,
        tags,
        text: &question.text,
        semantic: if hybrid { &semantic } else { &[] },
        limit: 10,
    })?;
    Ok(Asked {
        took: started.elapsed(),
        ranking: hits.into_iter().map(|h| h.chunk).collect(),
    })
}

/// Recall@10 and nDCG@10 summed over questions with one relevant passage each, and the
/// searches' latencies.
#[derive(Default)]
struct Score {
    asked: usize,
    found: usize,
    gain: f64,
    milliseconds: Vec<f64>,
}

impl Score {
    fn add(&mut self, asked: &Asked, question: &Question) {
        self.asked += 1;
        self.milliseconds.push(asked.took.as_secs_f64() * 1000.0);
        if let Some(rank) = asked.ranking.iter().position(|id| *id == question.answer) {
            self.found += 1;
            self.gain += 1.0 / (rank as f64 + 2.0).log2();
        }
    }

    fn recall(&self) -> f64 {
        self.found as f64 / self.asked.max(1) as f64
    }

    /// With one relevant passage, the ideal DCG is 1.
    fn ndcg(&self) -> f64 {
        self.gain / self.asked.max(1) as f64
    }

    /// The latencies' p50 and p99.
    fn latency(&self) -> String {
        let mut sorted = self.milliseconds.clone();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = (sorted.len() as f64 * q) as usize;
            sorted
                .get(rank.min(sorted.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        format!("p50 {:.2} ms, p99 {:.2} ms", at(0.50), at(0.99))
    }
}

/// The stand-in embedding model: each meaning (a word, or an attribute whatever its synonym) a
/// fixed random direction, weighed by its inverse document frequency over the corpus,
/// `ln(passages / passages using it)`; the weighed directions summed and normalized. So the
/// words every passage uses ("pour", "est", the filler) weigh little or nothing, a company's name
/// much, an attribute between; a word the corpus never uses (the questions' "quel") weighs
/// nothing: no passage can be found by it.
struct Embedder {
    dimensions: usize,
    /// Each meaning's direction, times its weight.
    weighed: HashMap<String, Box<[f32]>>,
}

impl Embedder {
    fn new(passages: &[IndexedChunk], dimensions: usize) -> Embedder {
        let mut using: HashMap<String, usize> = HashMap::new();
        for passage in passages {
            let mut meanings: Vec<String> = meanings(&passage.text).collect();
            meanings.sort_unstable();
            meanings.dedup();
            for meaning in meanings {
                *using.entry(meaning).or_default() += 1;
            }
        }
        let total = passages.len() as f32;
        let weighed = using
            .into_iter()
            .map(|(meaning, count)| {
                let weight = (total / count as f32).ln();
                let mut direction = Rng(fnv(&meaning));
                let vector = (0..dimensions).map(|_| weight * direction.unit()).collect();
                (meaning, vector)
            })
            .collect();
        Embedder {
            dimensions,
            weighed,
        }
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimensions];
        for meaning in meanings(text) {
            if let Some(weighed) = self.weighed.get(&meaning) {
                vector.iter_mut().zip(weighed).for_each(|(v, w)| *v += w);
            }
        }
        let norm = vector
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(f32::EPSILON);
        vector.iter().map(|v| v / norm).collect()
    }

    /// `passage` with its embedding.
    fn embedded(&self, passage: &IndexedChunk) -> IndexedChunk {
        IndexedChunk {
            vector: self.embed(&passage.text),
            ..passage.clone()
        }
    }
}

/// The meanings of `text`'s words (three letters or more, lowercased; a synonym its attribute's
/// first word; a number is a word).
fn meanings(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| w.len() > 2)
        .map(|word| {
            let word = word.to_lowercase();
            ATTRIBUTES
                .iter()
                .find(|synonyms| synonyms.contains(&word.as_str()))
                .map_or(word, |synonyms| synonyms[0].to_owned())
        })
}

/// Company `n`'s name: `n` written in syllables (four at least), so no two companies share one.
fn name(n: usize) -> String {
    let (mut name, mut rest, mut written) = (String::new(), n, 0);
    while rest > 0 || written < 4 {
        name.push_str(SYLLABLES[rest % SYLLABLES.len()]);
        rest /= SYLLABLES.len();
        written += 1;
    }
    let mut letters = name.chars();
    letters
        .next()
        .map(|first| first.to_uppercase().chain(letters).collect())
        .unwrap_or_default()
}

/// FNV-1a: a word's seed, the same on every run.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: a deterministic corpus, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}
