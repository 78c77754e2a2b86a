//! Reranking in each engine's dialect (`domain::Dialect`): the caller's request, in the shape
//! Cohere and Jina defined (`wire::rerank`), rewritten for the engine, and the engine's answer
//! turned back into that shape, so the caller cannot tell which engine served it.
//!
//! | dialect | request | answer |
//! |---|---|---|
//! | `Native` (vLLM) | as sent | as received |
//! | `HuggingFaceRerank` (TGI's family) | `query`, `texts`, `return_text` | `[{index, score, text?}]`, no usage |
//!
//! Hugging Face's rerank has no `top_n`: every text is scored, and the answer is cut here. It
//! counts no tokens either, so its answer carries no `usage` and the gateway charges its
//! estimate.

use domain::Dialect;
use serde::Deserialize;
use wire::object::RawObject;
use wire::rerank::{RerankDocument, RerankResponse, RerankResult};

/// Rewrites the rerank request `body` (the caller's shape) for an engine of `dialect`.
pub fn rerank_request(dialect: Dialect, body: &mut RawObject<'_>) -> Result<(), serde_json::Error> {
    if dialect != Dialect::HuggingFaceRerank {
        return Ok(());
    }
    let return_documents: bool = body.get_as("return_documents")?.unwrap_or(true);
    body.rename("documents", "texts");
    body.remove("return_documents");
    body.set_raw("return_text", return_documents.to_string())?;
    for dropped in ["model", "top_n"] {
        body.remove(dropped);
    }
    Ok(())
}

/// Turns an engine's rerank answer into the caller's shape. One per response.
#[derive(Debug)]
pub struct RerankAnswer {
    /// The name the engine knows the model by (a rename to the public name follows).
    model: String,
    /// How many results the caller asked for, at most.
    top_n: Option<usize>,
}

/// One result of Hugging Face's answer.
#[derive(Debug, Deserialize)]
struct Ranked {
    index: u32,
    score: f64,
    #[serde(default)]
    text: Option<String>,
}

impl RerankAnswer {
    /// The translation of answers in `dialect` to the request `body`, or `None` for the caller's
    /// own.
    pub fn new(dialect: Dialect, model: &str, body: &RawObject<'_>) -> Option<RerankAnswer> {
        if dialect != Dialect::HuggingFaceRerank {
            return None;
        }
        // Checked at the accept stage: a positive integer when present.
        let top_n = body.get_as::<u64>("top_n").ok().flatten();
        Some(RerankAnswer {
            model: model.to_owned(),
            top_n: top_n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        })
    }

    /// A whole answer in the caller's shape: most relevant first, cut to `top_n`.
    pub fn whole(&self, bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
        let mut ranked: Vec<Ranked> = serde_json::from_slice(bytes)?;
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        ranked.truncate(self.top_n.unwrap_or(usize::MAX));
        let results = ranked
            .into_iter()
            .map(|r| RerankResult {
                index: r.index,
                relevance_score: r.score,
                document: r.text.map(|text| RerankDocument { text }),
            })
            .collect();
        serde_json::to_vec(&RerankResponse {
            id: None,
            model: self.model.clone(),
            results,
            usage: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(dialect: Dialect, body: &str) -> String {
        let mut object = RawObject::parse(body.as_bytes()).unwrap();
        rerank_request(dialect, &mut object).unwrap();
        String::from_utf8(object.to_vec()).unwrap()
    }

    const REQUEST: &str = r#"{"model":"m","query":"q","documents":["a","b"],"top_n":1}"#;

    #[test]
    fn hugging_face_gets_texts_and_no_top_n() {
        assert_eq!(
            rewritten(Dialect::HuggingFaceRerank, REQUEST),
            r#"{"query":"q","texts":["a","b"],"return_text":true}"#
        );
        let without = r#"{"model":"m","query":"q","documents":["a"],"return_documents":false}"#;
        assert_eq!(
            rewritten(Dialect::HuggingFaceRerank, without),
            r#"{"query":"q","texts":["a"],"return_text":false}"#
        );
        assert_eq!(rewritten(Dialect::Native, REQUEST), REQUEST);
    }

    #[test]
    fn hugging_face_answers_are_sorted_cut_and_reshaped() {
        let request = RawObject::parse(REQUEST.as_bytes()).unwrap();
        assert!(RerankAnswer::new(Dialect::Native, "m", &request).is_none());
        let answer = RerankAnswer::new(Dialect::HuggingFaceRerank, "m", &request).unwrap();
        let engine =
            br#"[{"index":0,"score":0.25,"text":"a"},{"index":1,"score":0.75,"text":"b"}]"#;
        let out: serde_json::Value =
            serde_json::from_slice(&answer.whole(engine).unwrap()).unwrap();
        assert_eq!(
            out,
            serde_json::json!({
                "model": "m",
                "results": [{"index": 1, "relevance_score": 0.75, "document": {"text": "b"}}],
            })
        );
        assert!(answer.whole(b"{\"error\":\"no\"}").is_err());
    }
}
