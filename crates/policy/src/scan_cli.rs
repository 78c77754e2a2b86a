//! `fabrique policy scan`: JSON lines in, one JSON line of spans (or of error) out per input line.
//!
//! Input lines are `{"text": "…"}`, or `{"texts": ["…", "…"]}` for the parts of one message read
//! as one text (other fields are ignored); output lines are
//! `{"spans":[{"start":0,"end":5,"type":"EMAIL"}]}` with UTF-8 byte offsets (into the
//! concatenation of the parts), or `{"error":"line N: …"}` for a line that is not JSON or has
//! neither a string `text` nor a list of strings `texts`. A bad line never stops the run, so
//! output line N always answers input line N; only I/O errors do.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::Detector;

/// What a run processed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Input lines read (each got one output line).
    pub lines: u64,
    /// Lines answered with an error.
    pub errors: u64,
    /// Spans reported over all lines.
    pub spans: u64,
    /// Bytes of `text` scanned.
    pub text_bytes: u64,
}

/// Why a run stopped early: the input could not be read or the output written.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading input line {line}: {source}")]
    Read { line: u64, source: io::Error },
    #[error("writing output line {line}: {source}")]
    Write { line: u64, source: io::Error },
}

#[derive(Deserialize)]
struct InputLine {
    text: Option<String>,
    texts: Option<Vec<String>>,
}

#[derive(Serialize)]
struct OutputSpan {
    start: usize,
    end: usize,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutputLine {
    Spans { spans: Vec<OutputSpan> },
    Error { error: String },
}

/// Scans every line of `input` with every detector and writes one answer line per input line.
pub fn run(mut input: impl BufRead, mut output: impl Write) -> Result<ScanStats, ScanError> {
    let detector = Detector::all();
    let mut stats = ScanStats::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let number = stats.lines + 1;
        let read = input
            .read_until(b'\n', &mut line)
            .map_err(|source| ScanError::Read {
                line: number,
                source,
            })?;
        if read == 0 {
            break;
        }
        stats.lines = number;
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let answer = match serde_json::from_slice::<InputLine>(content) {
            Ok(InputLine {
                text: None,
                texts: None,
            }) => {
                stats.errors += 1;
                OutputLine::Error {
                    error: format!(
                        "line {number}: expected a string `text` or a list of strings `texts`"
                    ),
                }
            }
            Ok(InputLine { text, texts }) => {
                let (spans, text_bytes) = match (text, texts) {
                    (Some(text), _) => (detector.scan(&text), text.len()),
                    (None, texts) => {
                        let texts = texts.unwrap_or_default();
                        let bytes = texts.iter().map(String::len).sum();
                        (detector.scan_joined(&texts), bytes)
                    }
                };
                stats.spans += spans.len() as u64;
                stats.text_bytes += text_bytes as u64;
                OutputLine::Spans {
                    spans: spans
                        .into_iter()
                        .map(|span| OutputSpan {
                            start: span.start,
                            end: span.end,
                            kind: span.kind.as_str(),
                        })
                        .collect(),
                }
            }
            Err(error) => {
                stats.errors += 1;
                OutputLine::Error {
                    error: format!("line {number}: {error}"),
                }
            }
        };
        write_line(&mut output, &answer).map_err(|source| ScanError::Write {
            line: number,
            source,
        })?;
    }
    output.flush().map_err(|source| ScanError::Write {
        line: stats.lines,
        source,
    })?;
    Ok(stats)
}

fn write_line(output: &mut impl Write, answer: &OutputLine) -> io::Result<()> {
    serde_json::to_writer(&mut *output, answer)?;
    output.write_all(b"\n")
}
