//! What the request checks accept and refuse, and what they learn of a valid request.

use super::*;

fn run(endpoint: Endpoint, body: &str) -> Result<Checked, Invalid> {
    let object = RawObject::parse(body.as_bytes()).expect("test bodies are JSON objects");
    check(endpoint, &object)
}

fn refused(endpoint: Endpoint, body: &str) -> (String, String) {
    let invalid = run(endpoint, body).expect_err(body);
    (invalid.param.into_owned(), invalid.message)
}

const HI: &str = r#""messages":[{"role":"user","content":"hi"}]"#;

#[test]
fn a_plain_chat_request_passes_with_its_unknown_fields() {
    let body = format!(
        r#"{{"model":"mistral-small-2503",{HI},"temperature":0.2,"top_p":1,"n":2,"max_tokens":10,"stop":["\n"],"seed":-3,"tools":[{{"type":"function"}}],"vendor_option":{{"x":1}},"temperature_unit":"hot"}}"#
    );
    let checked = run(Endpoint::Chat, &body).unwrap();
    assert_eq!(
        checked,
        Checked {
            max_tokens: Some(10),
            choices: 2,
            prompt_floor: 1,
        }
    );
}

#[test]
fn each_known_field_is_refused_by_name_when_out_of_type_or_range() {
    let cases = [
        (r#""temperature":"hot""#, "temperature"),
        (r#""temperature":2.5"#, "temperature"),
        (r#""temperature":-0.1"#, "temperature"),
        (r#""top_p":1.01"#, "top_p"),
        (r#""n":0"#, "n"),
        (r#""n":129"#, "n"),
        (r#""n":1.5"#, "n"),
        (r#""best_of":1000"#, "best_of"),
        (r#""max_tokens":0"#, "max_tokens"),
        (r#""max_tokens":-5"#, "max_tokens"),
        (r#""max_completion_tokens":"many""#, "max_completion_tokens"),
        (r#""presence_penalty":3"#, "presence_penalty"),
        (r#""frequency_penalty":-2.01"#, "frequency_penalty"),
        (r#""stream":"yes""#, "stream"),
        (r#""seed":"abc""#, "seed"),
        (r#""stop":[1,2]"#, "stop"),
        (r#""logprobs":1"#, "logprobs"),
        (r#""top_logprobs":21"#, "top_logprobs"),
        (r#""max_tokens":5,"min_tokens":6"#, "min_tokens"),
    ];
    for (field, param) in cases {
        let body = format!(r#"{{"model":"m",{HI},{field}}}"#);
        assert_eq!(refused(Endpoint::Chat, &body).0, param, "{body}");
    }
    // `null` is the same as absent.
    let body = format!(r#"{{"model":"m",{HI},"temperature":null,"n":null}}"#);
    assert!(run(Endpoint::Chat, &body).is_ok());
}

#[test]
fn messages_need_a_known_role_and_content_of_a_valid_shape() {
    let cases = [
        (r#"[]"#, "messages"),
        (r#""hi""#, "messages"),
        (r#"[{"role":"user","content":"a"},"b"]"#, "messages[1]"),
        (r#"[{"role":"wizard","content":"a"}]"#, "messages[0].role"),
        (r#"[{"content":"a"}]"#, "messages[0].role"),
        (r#"[{"role":"user","content":null}]"#, "messages[0].content"),
        (r#"[{"role":"system"}]"#, "messages[0].content"),
        (r#"[{"role":"user","content":42}]"#, "messages[0].content"),
        (
            r#"[{"role":"user","content":[{"text":"a"}]}]"#,
            "messages[0].content",
        ),
        (
            r#"[{"role":"user","content":[{"type":"text","text":7}]}]"#,
            "messages[0].content",
        ),
        (
            r#"[{"role":"user","content":"a","name":5}]"#,
            "messages[0].name",
        ),
        (
            r#"[{"role":"assistant","tool_calls":{}}]"#,
            "messages[0].tool_calls",
        ),
    ];
    for (messages, param) in cases {
        let body = format!(r#"{{"model":"m","messages":{messages}}}"#);
        assert_eq!(refused(Endpoint::Chat, &body).0, param, "{body}");
    }
    let agent = r#"{"model":"m","messages":[
        {"role":"developer","content":"be brief"},
        {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"x"}}]},
        {"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"1","content":"42"}]}"#;
    assert_eq!(run(Endpoint::Chat, agent).unwrap().prompt_floor, 4);
}

#[test]
fn the_model_name_is_short_and_plain() {
    for good in [
        "mistral-small",
        "meta-llama/Llama-3.1-8B-Instruct",
        "qwen2.5:7b",
        "a@b+c",
    ] {
        assert_eq!(model_name_problem(good), None, "{good}");
    }
    let long = "m".repeat(MAX_MODEL_NAME_CHARS + 1);
    for bad in [
        "",
        "=HYPERLINK(\"x\")",
        "-cmd",
        "x\u{0}y",
        "mod el",
        "modèle",
        long.as_str(),
    ] {
        assert!(model_name_problem(bad).is_some(), "{bad}");
        let body = format!(
            r#"{{"model":{},{HI}}}"#,
            serde_json::to_string(bad).unwrap()
        );
        assert_eq!(refused(Endpoint::Chat, &body).0, "model", "{bad}");
    }
    assert_eq!(refused(Endpoint::Chat, &format!("{{{HI}}}")).0, "model");
    assert_eq!(
        refused(Endpoint::Chat, &format!(r#"{{"model":7,{HI}}}"#)).0,
        "model"
    );
}

#[test]
fn max_completion_tokens_wins_and_best_of_counts_as_choices() {
    let body = format!(
        r#"{{"model":"m",{HI},"max_tokens":100,"max_completion_tokens":7,"n":2,"best_of":5}}"#
    );
    let checked = run(Endpoint::Chat, &body).unwrap();
    assert_eq!((checked.max_tokens, checked.choices), (Some(7), 5));
}

#[test]
fn the_prompt_floor_counts_messages_and_long_texts() {
    let text = "a".repeat(160);
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"system","content":"{text}"}},{{"role":"user","content":[{{"type":"text","text":"{text}"}}]}}]}}"#
    );
    assert_eq!(
        run(Endpoint::Chat, &body).unwrap().prompt_floor,
        2 * (1 + 10)
    );
    let fim = format!(r#"{{"model":"m","prompt":"{text}","suffix":"{text}"}}"#);
    assert_eq!(run(Endpoint::Fim, &fim).unwrap().prompt_floor, 1 + 20);
}

#[test]
fn fim_needs_a_string_prompt_and_checks_sampling() {
    assert_eq!(refused(Endpoint::Fim, r#"{"model":"m"}"#).0, "prompt");
    assert_eq!(
        refused(Endpoint::Fim, r#"{"model":"m","prompt":1}"#).0,
        "prompt"
    );
    assert_eq!(
        refused(Endpoint::Fim, r#"{"model":"m","prompt":"a","suffix":[]}"#).0,
        "suffix"
    );
    assert_eq!(
        refused(Endpoint::Fim, r#"{"model":"m","prompt":"a","top_p":-1}"#).0,
        "top_p"
    );
    let ok =
        r#"{"model":"codestral","prompt":"def f(","suffix":null,"max_tokens":5,"min_tokens":1}"#;
    assert_eq!(run(Endpoint::Fim, ok).unwrap().max_tokens, Some(5));
}

#[test]
fn embeddings_take_texts_or_token_ids() {
    for input in [r#""a""#, r#"["a","b"]"#, r#"[1,2,3]"#, r#"[[1,2],[3]]"#] {
        let body = format!(r#"{{"model":"e","input":{input},"encoding_format":"base64"}}"#);
        assert!(run(Endpoint::Embeddings, &body).is_ok(), "{body}");
    }
    for input in ["[]", "null", "{}", r#"[1,"a"]"#, "[-1]", "[[]]", "[null]"] {
        let body = format!(r#"{{"model":"e","input":{input}}}"#);
        assert_eq!(refused(Endpoint::Embeddings, &body).0, "input", "{body}");
    }
    let format = r#"{"model":"e","input":"a","encoding_format":"hex"}"#;
    assert_eq!(refused(Endpoint::Embeddings, format).0, "encoding_format");
    let dims = r#"{"model":"e","input":"a","dimensions":0}"#;
    assert_eq!(refused(Endpoint::Embeddings, dims).0, "dimensions");
    let tokens = r#"{"model":"e","input":[[1,2,3,4,5],[1]]}"#;
    assert_eq!(run(Endpoint::Embeddings, tokens).unwrap().prompt_floor, 5);
}

#[test]
fn rerank_takes_a_query_and_documents_as_strings() {
    let body =
        r#"{"model":"r","query":"q","documents":["a","b"],"top_n":1,"return_documents":false}"#;
    let checked = run(Endpoint::Rerank, body).unwrap();
    assert_eq!((checked.max_tokens, checked.prompt_floor), (Some(0), 2));
    let long = format!(
        r#"{{"model":"r","query":"q","documents":["a","{}"]}}"#,
        "x".repeat(64)
    );
    assert_eq!(run(Endpoint::Rerank, &long).unwrap().prompt_floor, 6);
    for (fields, param) in [
        (r#""documents":["a"]"#, "query"),
        (r#""query":7,"documents":["a"]"#, "query"),
        (r#""query":"q""#, "documents"),
        (r#""query":"q","documents":[]"#, "documents"),
        (r#""query":"q","documents":"a""#, "documents"),
        (r#""query":"q","documents":[{"text":"a"}]"#, "documents"),
        (r#""query":"q","documents":["a"],"top_n":0"#, "top_n"),
        (
            r#""query":"q","documents":["a"],"return_documents":"yes""#,
            "return_documents",
        ),
    ] {
        let body = format!(r#"{{"model":"r",{fields}}}"#);
        assert_eq!(refused(Endpoint::Rerank, &body).0, param, "{body}");
    }
}

#[test]
fn range_refusals_say_the_range_and_the_value_given() {
    let cases = [
        (
            r#""temperature":2.5"#,
            "`temperature` must be a number between 0 and 2, not 2.5",
        ),
        (
            r#""temperature":"hot""#,
            "`temperature` must be a number between 0 and 2",
        ),
        (
            r#""n":0"#,
            "`n` must be an integer between 1 and 128, not 0",
        ),
        (
            r#""max_tokens":"x""#,
            "`max_tokens` must be an integer of at least 1",
        ),
        (
            r#""max_tokens":-5"#,
            "`max_tokens` must be an integer of at least 1, not -5",
        ),
    ];
    for (field, message) in cases {
        let body = format!(r#"{{"model":"m",{HI},{field}}}"#);
        assert_eq!(refused(Endpoint::Chat, &body).1, message, "{body}");
    }
}
