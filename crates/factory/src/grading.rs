//! Graders: what a case expects of an answer, and the score the answer gets (0 to 1) with whether
//! it passes. Most grade the answer's text alone ([`Expectation::grade`]); two need a model's help,
//! which the evaluation runner asks for through the gateway and hands back here:
//! embedding similarity ([`similarity`]: the cosine of the answer's and the reference's
//! embeddings) and model-as-judge ([`judge_messages`] to ask, [`judge_verdict`] to read the
//! judge's answer).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One expectation of a case, as written in the suite (`{"grader": "exact", "value": "…"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "grader", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// The answer, trimmed, equals `value`.
    Exact { value: String },
    /// The answer holds `value` (a string, or every string of a list).
    Contains { value: OneOrMany },
    /// The answer matches the regular expression `pattern` (Rust `regex` syntax).
    Regex { pattern: String },
    /// The answer is JSON that satisfies `schema`.
    JsonSchema { schema: Value },
    /// The answer (or its JSON `field`) is a number within `tolerance` of `value`.
    Numeric {
        value: f64,
        #[serde(default)]
        tolerance: f64,
        #[serde(default)]
        field: Option<String>,
    },
    /// The answer is a JSON object; each field of `value` is compared (numbers within
    /// `tolerance`); the score is the share of fields that match, and all must match to pass.
    Fields {
        value: serde_json::Map<String, Value>,
        #[serde(default)]
        tolerance: f64,
    },
    /// The answer's embedding is at least `threshold` (cosine) from the embedding of `value`,
    /// both computed by the embedding `model` (a configured model, called through the gateway).
    Similarity {
        value: String,
        threshold: f64,
        model: String,
    },
    /// The judge `model` (a configured chat model, called through the gateway: a governed call)
    /// scores the answer against `rubric`, 0 to 1; it passes at `threshold`.
    Judge {
        rubric: String,
        threshold: f64,
        model: String,
    },
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The graders, by the name reports and thresholds use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraderKind {
    Exact,
    Contains,
    Regex,
    JsonSchema,
    Numeric,
    Fields,
    Similarity,
    Judge,
}

impl GraderKind {
    pub const ALL: [GraderKind; 8] = [
        GraderKind::Exact,
        GraderKind::Contains,
        GraderKind::Regex,
        GraderKind::JsonSchema,
        GraderKind::Numeric,
        GraderKind::Fields,
        GraderKind::Similarity,
        GraderKind::Judge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GraderKind::Exact => "exact",
            GraderKind::Contains => "contains",
            GraderKind::Regex => "regex",
            GraderKind::JsonSchema => "json_schema",
            GraderKind::Numeric => "numeric",
            GraderKind::Fields => "fields",
            GraderKind::Similarity => "similarity",
            GraderKind::Judge => "judge",
        }
    }

    pub fn parse(name: &str) -> Option<GraderKind> {
        GraderKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// How an answer fared against one expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub grader: GraderKind,
    /// 0 to 1.
    pub score: f64,
    pub passed: bool,
    /// Why, briefly, when it did not pass.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub detail: String,
}

impl Grade {
    fn new(grader: GraderKind, passed: bool, detail: impl Into<String>) -> Grade {
        Grade {
            grader,
            score: if passed { 1.0 } else { 0.0 },
            passed,
            detail: if passed { String::new() } else { detail.into() },
        }
    }

    /// The grade of an answer that never came (the call failed): zero, with the reason.
    pub fn failed(grader: GraderKind, reason: impl Into<String>) -> Grade {
        Grade::new(grader, false, reason)
    }
}

/// What an expectation needs besides the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Help<'a> {
    /// Nothing: graded from the text.
    None,
    /// The embeddings of the answer and of this reference text, by this model.
    Embeddings {
        reference: &'a str,
        threshold: f64,
        model: &'a str,
    },
    /// A judge's verdict on the answer, under this rubric, by this model.
    Judge {
        rubric: &'a str,
        threshold: f64,
        model: &'a str,
    },
}

impl Expectation {
    pub fn kind(&self) -> GraderKind {
        match self {
            Expectation::Exact { .. } => GraderKind::Exact,
            Expectation::Contains { .. } => GraderKind::Contains,
            Expectation::Regex { .. } => GraderKind::Regex,
            Expectation::JsonSchema { .. } => GraderKind::JsonSchema,
            Expectation::Numeric { .. } => GraderKind::Numeric,
            Expectation::Fields { .. } => GraderKind::Fields,
            Expectation::Similarity { .. } => GraderKind::Similarity,
            Expectation::Judge { .. } => GraderKind::Judge,
        }
    }

    /// Checks what can be checked before any run: patterns and schemas compile, thresholds and
    /// tolerances are in range.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Expectation::Regex { pattern } => regex::Regex::new(pattern)
                .map(drop)
                .map_err(|e| format!("invalid regex: {e}")),
            Expectation::JsonSchema { schema } => crate::live::compile_schema(schema)
                .map(drop)
                .map_err(|e| format!("invalid JSON schema: {e}")),
            Expectation::Numeric { tolerance, .. } | Expectation::Fields { tolerance, .. }
                if !(tolerance.is_finite() && *tolerance >= 0.0) =>
            {
                Err("`tolerance` must be a number at least 0".to_owned())
            }
            Expectation::Similarity { threshold, .. } | Expectation::Judge { threshold, .. }
                if !(0.0..=1.0).contains(threshold) =>
            {
                Err("`threshold` must be between 0 and 1".to_owned())
            }
            _ => Ok(()),
        }
    }

    /// What grading needs besides the answer's text.
    pub fn help(&self) -> Help<'_> {
        match self {
            Expectation::Similarity {
                value,
                threshold,
                model,
            } => Help::Embeddings {
                reference: value,
                threshold: *threshold,
                model,
            },
            Expectation::Judge {
                rubric,
                threshold,
                model,
            } => Help::Judge {
                rubric,
                threshold: *threshold,
                model,
            },
            _ => Help::None,
        }
    }

    /// Grades `answer` (the model's text). For the graders that need help, see the module's
    /// functions; called on them, this fails the grade saying so.
    pub fn grade(&self, answer: &str) -> Grade {
        let kind = self.kind();
        match self {
            Expectation::Exact { value } => {
                Grade::new(kind, answer.trim() == value.trim(), "not equal")
            }
            Expectation::Contains { value } => {
                let wanted: Vec<&str> = match value {
                    OneOrMany::One(one) => vec![one.as_str()],
                    OneOrMany::Many(many) => many.iter().map(String::as_str).collect(),
                };
                let missing: Vec<&str> =
                    wanted.into_iter().filter(|w| !answer.contains(w)).collect();
                Grade::new(kind, missing.is_empty(), format!("missing {missing:?}"))
            }
            Expectation::Regex { pattern } => match regex::Regex::new(pattern) {
                Ok(re) => Grade::new(kind, re.is_match(answer), "no match"),
                Err(e) => Grade::failed(kind, format!("invalid regex: {e}")),
            },
            Expectation::JsonSchema { schema } => {
                match (parse_json(answer), crate::live::compile_schema(schema)) {
                    (Err(e), _) => Grade::failed(kind, e),
                    (_, Err(e)) => Grade::failed(kind, format!("invalid JSON schema: {e}")),
                    (Ok(value), Ok(validator)) => match validator.validate(&value) {
                        Ok(()) => Grade::new(kind, true, ""),
                        Err(e) => Grade::failed(kind, e.to_string()),
                    },
                }
            }
            Expectation::Numeric {
                value,
                tolerance,
                field,
            } => match number_in(answer, field.as_deref()) {
                Some(got) => Grade::new(
                    kind,
                    (got - value).abs() <= *tolerance,
                    format!("{got} is not within {tolerance} of {value}"),
                ),
                None => Grade::failed(kind, "no number found"),
            },
            Expectation::Fields { value, tolerance } => fields(value, *tolerance, answer),
            Expectation::Similarity { .. } | Expectation::Judge { .. } => {
                Grade::failed(kind, "needs a model's help")
            }
        }
    }
}

fn parse_json(answer: &str) -> Result<Value, String> {
    serde_json::from_str(answer.trim()).map_err(|e| format!("the answer is not JSON: {e}"))
}

/// The answer's number: the JSON field's, or the answer read as a number (a JSON number, or the
/// text trimmed).
fn number_in(answer: &str, field: Option<&str>) -> Option<f64> {
    match field {
        Some(field) => parse_json(answer).ok()?.get(field)?.as_f64(),
        None => answer.trim().parse().ok(),
    }
}

fn fields(expected: &serde_json::Map<String, Value>, tolerance: f64, answer: &str) -> Grade {
    let kind = GraderKind::Fields;
    let got = match parse_json(answer) {
        Ok(Value::Object(got)) => got,
        Ok(_) => return Grade::failed(kind, "the answer is not a JSON object"),
        Err(e) => return Grade::failed(kind, e),
    };
    let mut wrong = Vec::new();
    for (name, want) in expected {
        let same = match (got.get(name), want) {
            (Some(Value::Number(g)), Value::Number(w)) => match (g.as_f64(), w.as_f64()) {
                (Some(g), Some(w)) => (g - w).abs() <= tolerance,
                _ => false,
            },
            (Some(g), w) => g == w,
            (None, _) => false,
        };
        if !same {
            wrong.push(name.as_str());
        }
    }
    let total = expected.len().max(1);
    let score = (total - wrong.len().min(total)) as f64 / total as f64;
    Grade {
        grader: kind,
        score,
        passed: wrong.is_empty(),
        detail: if wrong.is_empty() {
            String::new()
        } else {
            format!("fields differ: {}", wrong.join(", "))
        },
    }
}

/// The similarity grade from the two embeddings.
pub fn similarity(threshold: f64, answer: &[f64], reference: &[f64]) -> Grade {
    let kind = GraderKind::Similarity;
    if answer.len() != reference.len() || answer.is_empty() {
        return Grade::failed(kind, "embeddings of different lengths");
    }
    let dot: f64 = answer.iter().zip(reference).map(|(a, b)| a * b).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let denominator = norm(answer) * norm(reference);
    let cosine = if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    };
    Grade {
        grader: kind,
        score: cosine.clamp(0.0, 1.0),
        passed: cosine >= threshold,
        detail: if cosine >= threshold {
            String::new()
        } else {
            format!("similarity {cosine:.3} below {threshold}")
        },
    }
}

/// The messages that ask the judge model to score `answer` to `input` under `rubric`.
pub fn judge_messages(rubric: &str, input: &str, answer: &str) -> Value {
    json!([
        {"role": "system", "content": "You grade an AI assistant's answer against a rubric. Reply with one JSON object and nothing else: {\"score\": a number from 0 to 1, \"reason\": one sentence}."},
        {"role": "user", "content": format!("Rubric:\n{rubric}\n\nQuestion:\n{input}\n\nAnswer:\n{answer}")}
    ])
}

/// The judge's grade from its answer: a JSON object with `score` (0 to 1), else the first number
/// in its text.
pub fn judge_verdict(threshold: f64, judge_answer: &str) -> Grade {
    let kind = GraderKind::Judge;
    let trimmed = judge_answer.trim();
    let from_json = serde_json::from_str::<Value>(trimmed)
        .ok()
        .and_then(|v| v.get("score").and_then(Value::as_f64));
    let score = from_json.or_else(|| {
        trimmed
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .find_map(|word| word.parse::<f64>().ok())
    });
    match score {
        Some(score) if (0.0..=1.0).contains(&score) => Grade {
            grader: kind,
            score,
            passed: score >= threshold,
            detail: if score >= threshold {
                String::new()
            } else {
                format!("judged {score} below {threshold}")
            },
        },
        _ => Grade::failed(kind, "the judge gave no score between 0 and 1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(value: Value) -> Expectation {
        serde_json::from_value(value).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn each_text_grader_passes_and_fails_as_written() {
        let cases = [
            (json!({"grader": "exact", "value": "42"}), " 42\n", true),
            (json!({"grader": "exact", "value": "42"}), "43", false),
            (
                json!({"grader": "contains", "value": ["a", "b"]}),
                "b then a",
                true,
            ),
            (json!({"grader": "contains", "value": "z"}), "abc", false),
            (
                json!({"grader": "regex", "pattern": "^FR\\d{2}"}),
                "FR76 …",
                true,
            ),
            (
                json!({"grader": "json_schema", "schema": {"type": "object", "required": ["a"]}}),
                r#"{"a":1}"#,
                true,
            ),
            (
                json!({"grader": "json_schema", "schema": {"type": "object", "required": ["a"]}}),
                r#"{"b":1}"#,
                false,
            ),
            (
                json!({"grader": "numeric", "value": 10.0, "tolerance": 0.5}),
                "10.4",
                true,
            ),
            (
                json!({"grader": "numeric", "value": 10.0, "field": "x"}),
                r#"{"x": 11}"#,
                false,
            ),
        ];
        for (expectation, answer, passes) in cases {
            let grade = expect(expectation.clone()).grade(answer);
            assert_eq!(
                grade.passed, passes,
                "{expectation} on {answer:?}: {grade:?}"
            );
        }
    }

    #[test]
    fn fields_score_the_share_that_matches() {
        let e = expect(
            json!({"grader": "fields", "value": {"a": 1, "b": "x", "c": 2.0}, "tolerance": 0.1}),
        );
        let grade = e.grade(r#"{"a": 1.05, "b": "y", "c": 2}"#);
        assert!(!grade.passed);
        assert!((grade.score - 2.0 / 3.0).abs() < 1e-9, "{grade:?}");
        assert_eq!(grade.detail, "fields differ: b");
    }

    #[test]
    fn similarity_and_judge_read_what_the_models_said() {
        assert!(similarity(0.9, &[1.0, 0.0], &[1.0, 0.1]).passed);
        assert!(!similarity(0.9, &[1.0, 0.0], &[0.0, 1.0]).passed);
        assert!(judge_verdict(0.7, r#"{"score": 0.8, "reason": "ok"}"#).passed);
        assert!(!judge_verdict(0.7, "Score: 0.5").passed);
        assert!(!judge_verdict(0.7, "great answer").passed);
    }

    #[test]
    fn bad_expectations_are_refused_before_a_run() {
        assert!(
            expect(json!({"grader": "regex", "pattern": "("}))
                .check()
                .is_err()
        );
        assert!(
            expect(json!({"grader": "judge", "rubric": "r", "threshold": 2, "model": "m"}))
                .check()
                .is_err()
        );
        assert!(serde_json::from_value::<Expectation>(json!({"grader": "psychic"})).is_err());
    }
}
