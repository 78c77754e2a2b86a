//! Each dialect's request and answers, against the shapes the engines document.

use super::*;

fn rewritten(dialect: Dialect, body: &str) -> serde_json::Value {
    let mut object = RawObject::parse(body.as_bytes()).unwrap();
    fim_request(dialect, &mut object, &FimTemplate::default()).unwrap();
    serde_json::from_slice(&object.to_vec()).unwrap()
}

const REQUEST: &str = r#"{"model":"m","prompt":"def f(","suffix":"):","max_tokens":8,"random_seed":3,"min_tokens":1,"stream":true,"stream_options":{"include_usage":true}}"#;

#[test]
fn each_engine_gets_fim_in_its_own_fields() {
    let prompt = rewritten(Dialect::FimPrompt, REQUEST);
    assert_eq!(prompt["prompt"], "[SUFFIX]):[PREFIX]def f(");
    assert!(prompt.get("suffix").is_none() && prompt.get("min_tokens").is_none());
    assert_eq!(prompt["seed"], 3);

    let suffix = rewritten(Dialect::CompletionSuffix, REQUEST);
    assert_eq!(
        (&suffix["prompt"], &suffix["suffix"]),
        (&"def f(".into(), &"):".into())
    );

    let infill = rewritten(Dialect::LlamaInfill, REQUEST);
    assert_eq!(infill["input_prefix"], "def f(");
    assert_eq!(infill["input_suffix"], "):");
    assert_eq!(infill["n_predict"], 8);
    assert!(infill.get("prompt").is_none() && infill.get("stream_options").is_none());

    let ollama = rewritten(
        Dialect::OllamaGenerate,
        r#"{"model":"m","prompt":"a","suffix":"b","max_tokens":8,"random_seed":3}"#,
    );
    assert_eq!(ollama["stream"], false, "Ollama streams unless told not to");
    assert_eq!(
        ollama["options"],
        serde_json::json!({"num_predict": 8, "seed": 3})
    );
    assert_eq!(
        (&ollama["prompt"], &ollama["suffix"]),
        (&"a".into(), &"b".into())
    );

    let native = rewritten(Dialect::Native, REQUEST);
    assert_eq!(
        native,
        serde_json::from_str::<serde_json::Value>(REQUEST).unwrap()
    );
}

fn whole(dialect: Dialect, answer: &str) -> serde_json::Value {
    let fim = FimAnswer::new(dialect, "m").unwrap();
    serde_json::from_slice(&fim.whole(answer.as_bytes()).unwrap()).unwrap()
}

#[test]
fn whole_answers_become_mistral_completions_with_usage() {
    let answers = [
        (
            Dialect::FimPrompt,
            r#"{"id":"c","object":"text_completion","model":"m","choices":[{"index":0,"text":"x)","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        ),
        (
            Dialect::LlamaInfill,
            r#"{"content":"x)","stop":true,"stop_type":"limit","tokens_evaluated":5,"tokens_predicted":2}"#,
        ),
        (
            Dialect::OllamaGenerate,
            r#"{"model":"m","response":"x)","done":true,"done_reason":"length","prompt_eval_count":5,"eval_count":2}"#,
        ),
    ];
    for (dialect, answer) in answers {
        let completion = whole(dialect, answer);
        assert_eq!(completion["object"], "chat.completion", "{dialect:?}");
        assert_eq!(completion["choices"][0]["message"]["content"], "x)");
        assert_eq!(completion["choices"][0]["finish_reason"], "length");
        assert_eq!(completion["usage"]["prompt_tokens"], 5);
        assert_eq!(completion["usage"]["completion_tokens"], 2);
    }
}

/// The stream's events' data, fed in pieces cut at every `cut` bytes.
fn streamed(dialect: Dialect, stream: &str, cut: usize) -> Vec<String> {
    let mut fim = FimAnswer::new(dialect, "m").unwrap();
    let mut out = Vec::new();
    for piece in stream.as_bytes().chunks(cut) {
        out.extend(fim.stream(piece));
    }
    let (events, _) = wire::sse::split_events(&out);
    events
        .iter()
        .filter_map(|e| wire::sse::data_of(e))
        .map(|d| String::from_utf8(d).unwrap())
        .collect()
}

fn text_of(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            let chunk: serde_json::Value = serde_json::from_str(e).unwrap();
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn streams_become_mistral_chunks_ended_by_usage_and_done_however_they_are_cut() {
    let streams = [
        (
            Dialect::FimPrompt,
            "data: {\"choices\":[{\"index\":0,\"text\":\"x\",\"finish_reason\":null}]}\n\n\
             data: {\"choices\":[{\"index\":0,\"text\":\")\",\"finish_reason\":\"stop\"}]}\n\n\
             data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n\
             data: [DONE]\n\n",
        ),
        (
            Dialect::LlamaInfill,
            "data: {\"content\":\"x\",\"stop\":false}\n\n\
             data: {\"content\":\")\",\"stop\":false}\n\n\
             data: {\"content\":\"\",\"stop\":true,\"stop_type\":\"eos\",\"tokens_evaluated\":5,\"tokens_predicted\":2}\n\n",
        ),
        (
            Dialect::OllamaGenerate,
            "{\"response\":\"x\",\"done\":false}\n{\"response\":\")\",\"done\":false}\n\
             {\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":5,\"eval_count\":2}\n",
        ),
    ];
    for (dialect, stream) in streams {
        for cut in [1, 7, stream.len()] {
            let events = streamed(dialect, stream, cut);
            assert_eq!(text_of(&events), "x)", "{dialect:?} cut at {cut}");
            assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
            let usage: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
            assert_eq!(usage["usage"]["completion_tokens"], 2, "{dialect:?}");
            assert!(events[0].contains("\"role\":\"assistant\""));
        }
    }
}
