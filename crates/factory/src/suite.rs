//! Evaluation suites: JSON Lines, one case a line —
//! `{"id": "c1", "variables": {…}, "messages": […], "expect": [{"grader": …}, …]}`. `id` is
//! optional (the line number stands in), `variables` fill the template, `messages` are the
//! caller's (a case gives at least one), `expect` lists the expectations, at least one. Blank
//! lines are skipped. Every bad line is reported with its number, all at once.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::grading::Expectation;

/// One case of a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub variables: Map<String, Value>,
    pub messages: Vec<Value>,
    pub expect: Vec<Expectation>,
}

impl Case {
    /// The chat request body the case sends to `usecase/<slug>` (composed like a caller's).
    pub fn request(&self, model: &str) -> Value {
        serde_json::json!({
            "model": model,
            "messages": self.messages,
            "fabrique": {"variables": self.variables},
        })
    }

    /// The text of the case's last user message, shown to a judge as the question.
    pub fn question(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The largest suite accepted, in cases.
pub const MAX_CASES: usize = 10_000;

/// The cases of a suite's text, or every problem found, one per bad line.
pub fn parse(text: &str) -> Result<Vec<Case>, Vec<String>> {
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Case>(line) {
            Ok(mut case) => {
                if case.id.is_empty() {
                    case.id = format!("line-{number}");
                }
                if case.messages.is_empty() {
                    problems.push(format!("line {number}: `messages` must not be empty"));
                }
                if case.expect.is_empty() {
                    problems.push(format!(
                        "line {number}: `expect` must list at least one expectation"
                    ));
                }
                for problem in case.expect.iter().filter_map(|e| e.check().err()) {
                    problems.push(format!("line {number}: {problem}"));
                }
                cases.push(case);
            }
            Err(e) => problems.push(format!("line {number}: {e}")),
        }
    }
    if cases.is_empty() && problems.is_empty() {
        problems.push("the suite has no case".to_owned());
    }
    if cases.len() > MAX_CASES {
        problems.push(format!(
            "the suite has {} cases; at most {MAX_CASES}",
            cases.len()
        ));
    }
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
        problems.push(format!("case id `{}` appears twice", pair[0]));
    }
    if problems.is_empty() {
        Ok(cases)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cases_and_names_every_bad_line() {
        let good = r#"{"id":"a","messages":[{"role":"user","content":"q"}],"expect":[{"grader":"exact","value":"x"}]}

{"messages":[{"role":"user","content":"q"}],"expect":[{"grader":"contains","value":"y"}]}"#;
        let cases = parse(good).unwrap_or_default();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[1].id, "line-3");
        assert_eq!(cases[0].question(), "q");

        let bad = "{\"messages\":[],\"expect\":[]}\nnot json\n{\"messages\":[{}],\"expect\":[{\"grader\":\"regex\",\"pattern\":\"(\"}]}";
        let problems = parse(bad).err().unwrap_or_default();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("line 1: `messages`"));
        assert!(problems[2].starts_with("line 2:"));
        assert!(problems[3].starts_with("line 3: invalid regex"));
    }
}
