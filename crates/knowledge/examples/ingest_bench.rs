//! What a library's ingestion costs per page of documents, on one thread: the crate's own
//! readers ([`knowledge::extract`]), structure-aware chunking ([`knowledge::chunks`]) and the
//! index ([`Index::add`], one commit a document, as ingestion does). Embeddings are excluded
//! (they are the GPU's work): each chunk is indexed with one fixed vector of `DIMENSIONS`, so
//! storing vectors is counted, computing them is not; so are the store's writes and the data
//! policy's personal-data actions. Run through `INGEST=1 bash bench/libraries.sh`.
//!
//! The corpus is made here, before any timing, by the crates that write the formats (`lopdf`,
//! `docx-rs`): documents of `PAGES_PER_DOCUMENT` pages, `PAGES` pages in all for each format,
//! every page the same shape — a heading, four paragraphs of six lines of about 80 characters
//! and a table of a header and five rows of three cells (about 2,300 characters, a dense page of
//! a report). A PDF page is a page of the file (each line shown by its own operator, as writers
//! do); a DOCX page ends with a page break, since a DOCX's pages are only known once laid out.
//!
//! Printed for each format: pages a second (one core: pin it, the script does), pages a second
//! of reading and chunking alone, documents, chunks, and where the time went (reading,
//! chunking, indexing). Usage:
//! `ingest_bench [PAGES] [PAGES_PER_DOCUMENT] [DIMENSIONS]` (defaults 300, 10 and 384).

use std::time::{Duration, Instant};

use knowledge::{Index, IndexedChunk, Kind, chunks, extract, samples};

const WORDS: [&str; 24] = [
    "le",
    "rapport",
    "annuel",
    "indique",
    "que",
    "pour",
    "cette",
    "periode",
    "selon",
    "les",
    "comptes",
    "publies",
    "au",
    "registre",
    "du",
    "commerce",
    "la",
    "societe",
    "a",
    "engage",
    "des",
    "depenses",
    "nouvelles",
    "contrats",
];
const PARAGRAPHS: usize = 4;
const LINES: usize = 6;
const LINE_CHARS: usize = 80;
const ROWS: usize = 5;

type Failure = Box<dyn std::error::Error>;

/// One page's text: a heading, paragraphs of lines, table rows (the first the header).
struct Page {
    heading: String,
    paragraphs: Vec<Vec<String>>,
    rows: Vec<[String; 3]>,
}

/// Where one format's time went.
#[derive(Default)]
struct Spent {
    reading: Duration,
    chunking: Duration,
    indexing: Duration,
    chunks: usize,
    pages_read: usize,
}

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (pages, per_document, dimensions) = (arg(300), arg(10).max(1), arg(384));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let documents: Vec<Vec<Page>> = (0..pages.div_ceil(per_document))
        .map(|d| {
            let count = per_document.min(pages - d * per_document);
            (0..count)
                .map(|p| page(&mut rng, d * per_document + p))
                .collect()
        })
        .collect();
    println!(
        "{pages} pages a format in documents of {per_document}, one thread, embeddings excluded"
    );
    println!(
        "format  pages/s  read+chunked pages/s  documents  chunks  reading  chunking  indexing"
    );
    for kind in [Kind::Pdf, Kind::Docx] {
        let files = documents
            .iter()
            .map(|d| write(kind, d))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = tempfile::tempdir()?;
        let index = Index::open(dir.path())?;
        let started = Instant::now();
        let spent = ingest(&index, kind, &files, dimensions)?;
        // A PDF's reader counts the pages it read: they must be the pages written.
        if kind == Kind::Pdf && spent.pages_read != pages {
            return Err(format!("{} PDF pages read of {pages} written", spent.pages_read).into());
        }
        let elapsed = started.elapsed().as_secs_f64();
        let share = |d: Duration| format!("{:.0} %", 100.0 * d.as_secs_f64() / elapsed);
        println!(
            "{:<6}  {:>7.1}  {:>20.0}  {:>9}  {:>6}  {:>7}  {:>8}  {:>8}",
            kind.as_str(),
            pages as f64 / elapsed,
            pages as f64 / (spent.reading + spent.chunking).as_secs_f64(),
            files.len(),
            spent.chunks,
            share(spent.reading),
            share(spent.chunking),
            share(spent.indexing),
        );
    }
    Ok(())
}

/// Reads, chunks and indexes each file as ingestion does: one commit a document.
fn ingest(
    index: &Index,
    kind: Kind,
    files: &[Vec<u8>],
    dimensions: usize,
) -> Result<Spent, Failure> {
    let vector = vec![1.0 / (dimensions.max(1) as f32).sqrt(); dimensions];
    let mut spent = Spent::default();
    for (number, bytes) in files.iter().enumerate() {
        let started = Instant::now();
        let extracted = extract(kind, bytes)?;
        spent.pages_read += extracted.pages as usize;
        let read = Instant::now();
        let pieces = chunks(&extracted);
        let chunked = Instant::now();
        let document = format!("{}-{number}", kind.as_str());
        let indexed: Vec<IndexedChunk> = pieces
            .into_iter()
            .map(|chunk| IndexedChunk {
                id: format!("{document}:{}", chunk.ordinal),
                library: "bench".to_owned(),
                document: document.clone(),
                title: format!("{document}.{}", kind.as_str()),
                page: chunk.page,
                readers: vec!["group:bench".to_owned()],
                text: chunk.text,
                vector: vector.clone(),
            })
            .collect();
        spent.chunks += indexed.len();
        index.add(&indexed)?;
        spent.reading += read - started;
        spent.chunking += chunked - read;
        spent.indexing += chunked.elapsed();
    }
    Ok(spent)
}

fn page(rng: &mut Rng, number: usize) -> Page {
    let heading = format!("Section {} {}", number + 1, sentence(rng, 30));
    let paragraphs = (0..PARAGRAPHS)
        .map(|_| (0..LINES).map(|_| sentence(rng, LINE_CHARS)).collect())
        .collect();
    let mut rows = vec![["Poste".to_owned(), "Montant".to_owned(), "Note".to_owned()]];
    for _ in 0..ROWS {
        let amount = rng.below(100_000).to_string();
        rows.push([sentence(rng, 20), amount, sentence(rng, 30)]);
    }
    Page {
        heading,
        paragraphs,
        rows,
    }
}

/// Words until about `chars` characters, ended by a full stop.
fn sentence(rng: &mut Rng, chars: usize) -> String {
    let mut text = String::new();
    while text.len() + 1 < chars {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[rng.below(WORDS.len())]);
    }
    text.push('.');
    text
}

fn write(kind: Kind, pages: &[Page]) -> Result<Vec<u8>, Failure> {
    match kind {
        Kind::Pdf => pdf(pages),
        Kind::Docx => docx(pages),
        other => Err(format!("{} is not generated", other.as_str()).into()),
    }
}

/// A PDF, a page of the file each: every line its own, a table row as `| a | b |`.
fn pdf(pages: &[Page]) -> Result<Vec<u8>, Failure> {
    let pages: Vec<Vec<String>> = pages
        .iter()
        .map(|page| {
            let mut lines = vec![format!("# {}", page.heading)];
            lines.extend(page.paragraphs.iter().flatten().cloned());
            lines.extend(page.rows.iter().map(|r| format!("| {} |", r.join(" | "))));
            lines
        })
        .collect();
    Ok(samples::pdf_of_pages(&pages)?)
}

/// A DOCX: each page a `Heading1`, its paragraphs and a table, ended by a page break.
fn docx(pages: &[Page]) -> Result<Vec<u8>, Failure> {
    use docx_rs::{BreakType, Docx, Paragraph, Run, Table, TableCell, TableRow};
    let text = |t: &str| Paragraph::new().add_run(Run::new().add_text(t));
    let mut docx = Docx::new();
    for page in pages {
        docx = docx.add_paragraph(text(&page.heading).style("Heading1"));
        for paragraph in &page.paragraphs {
            docx = docx.add_paragraph(text(&paragraph.join(" ")));
        }
        let rows = page
            .rows
            .iter()
            .map(|row| {
                TableRow::new(
                    row.iter()
                        .map(|c| TableCell::new().add_paragraph(text(c)))
                        .collect(),
                )
            })
            .collect();
        docx = docx
            .add_table(Table::new(rows))
            .add_paragraph(Paragraph::new().add_run(Run::new().add_break(BreakType::Page)));
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    docx.build().pack(&mut bytes)?;
    Ok(bytes.into_inner())
}

/// A small deterministic generator (xorshift), so every run reads the same corpus.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}
