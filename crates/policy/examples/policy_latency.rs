//! What the gateway's inspect stage adds to a request, in process: a 2 KB chat prompt without and
//! with personal data, through the same steps `gateway::inspect` and `gateway::answer` take.
//!
//! - `accept` (the baseline every request already pays): parse the body into a `RawObject`;
//! - `inspect`: read the message texts, scan them with every detector, and when something is
//!   found rewrite the strings (pseudonymize IBANs, redact emails), re-serialize the messages, and
//!   put the pseudonyms back into an answer that repeats them.
//!
//! Prints the median time per request of each step (batches of requests, many batches) and the
//! ratio of `inspect` with personal data to `inspect` without. Run through
//! `bench/policy-latency.sh`. Usage: `policy_latency [BATCHES]` (default 400).

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Instant;

use policy::{ActionTable, Detector, InputAction, PiiType, Pseudonyms, restore, rewrite};
use serde::Deserialize;
use serde_json::value::RawValue;
use wire::object::RawObject;

const BATCH: usize = 200;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
}

fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400)
        .max(1);
    let clean = body(false);
    let personal = body(true);
    println!(
        "prompt bodies: {} B without personal data, {} B with (3 IBANs, 2 emails, a phone)",
        clean.len(),
        personal.len()
    );
    let actions: ActionTable<InputAction> = [
        (PiiType::Iban, InputAction::Pseudonymize),
        (PiiType::Email, InputAction::Redact),
        (PiiType::PhoneFr, InputAction::Flag),
    ]
    .into_iter()
    .collect();
    let detector = Detector::all();

    let accept = median_micros(batches, || {
        black_box(
            RawObject::parse(black_box(&clean))
                .map(|o| o.to_vec().len())
                .ok(),
        );
    });
    let without = median_micros(batches, || {
        black_box(inspect(&detector, &actions, black_box(&clean)));
    });
    let with = median_micros(batches, || {
        black_box(inspect(&detector, &actions, black_box(&personal)));
    });
    println!("accept (parse, the baseline):        {accept:8.2} µs per request");
    println!("inspect, no personal data:           {without:8.2} µs per request");
    println!("inspect, personal data rewritten:    {with:8.2} µs per request");
    println!(
        "ratio with / without personal data:  {:8.2}×  (inspect without personal data = {:.2}× accept)",
        with / without,
        without / accept
    );
}

/// The stage's work on one body; returns the bytes that would be sent.
fn inspect(detector: &Detector, actions: &ActionTable<InputAction>, body: &[u8]) -> usize {
    let Ok(object) = RawObject::parse(body) else {
        return 0;
    };
    let messages: Vec<Message<'_>> = object.get_as("messages").ok().flatten().unwrap_or_default();
    let found: Vec<(usize, Vec<policy::Span>)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (i, detector.scan(&m.content)))
        .filter(|(_, spans)| !spans.is_empty())
        .collect();
    if found.is_empty() {
        return body.len();
    }
    let mut pseudonyms = Pseudonyms::default();
    let mut out = object.clone();
    let raw: Vec<&RawValue> = object.get_as("messages").ok().flatten().unwrap_or_default();
    let mut rebuilt: Vec<String> = raw.iter().map(|m| m.get().to_owned()).collect();
    for (i, spans) in &found {
        if let Some(text) = rewrite(&messages[*i].content, spans, actions, &mut pseudonyms)
            && let Ok(mut message) = RawObject::parse(raw[*i].get().as_bytes())
            && message.set_str("content", &text).is_ok()
        {
            rebuilt[*i] = String::from_utf8(message.to_vec()).unwrap_or_default();
        }
    }
    let _ = out.set_raw("messages", format!("[{}]", rebuilt.join(",")));
    let sent = out.to_vec();
    // The answer repeats the placeholders; the caller gets the values back.
    let answer = "Les virements [IBAN_1] et [IBAN_2] sont confirmés ; [IBAN_3] est en attente.";
    sent.len() + restore(&pseudonyms, answer).len()
}

fn median_micros(batches: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..BATCH {
        step();
    }
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..BATCH {
                step();
            }
            started.elapsed().as_secs_f64() * 1e6 / BATCH as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A chat body of about 2 KB: a system prompt and a user message of business prose.
fn body(personal_data: bool) -> Vec<u8> {
    let mut user = String::new();
    let sentences = [
        "Suite à notre réunion du 12 mars, je vous confirme les conditions du contrat de prestation.",
        "Le montant total s'élève à 45 300,00 euros hors taxes, payable à 30 jours fin de mois.",
        "Merci de vérifier les références de la facture 2024-0317 avant la clôture trimestrielle.",
        "Le comité de crédit examinera le dossier lors de sa prochaine séance, le 4 avril à 10 h.",
    ];
    let values = [
        " Virement depuis FR76 3000 6000 0112 3456 7890 189 vers DE89 3704 0044 0532 0130 00.",
        " Contact : jeanne.martin@example.fr, ou au 06 12 34 56 78, copie à compta@example.fr.",
        " Le solde reste sur FR14 2004 1010 0505 0001 3M02 606 jusqu'à nouvel ordre.",
    ];
    let mut i = 0;
    while user.len() < 1_800 {
        user.push_str(sentences[i % sentences.len()]);
        user.push(' ');
        if personal_data && i % 3 == 1 {
            user.push_str(values[(i / 3) % values.len()]);
        }
        i += 1;
    }
    serde_json::to_vec(&serde_json::json!({
        "model": "mistral-large",
        "messages": [
            {"role": "system", "content": "Tu es l'assistant du service financier. Réponds en français."},
            {"role": "user", "content": user},
        ],
        "max_tokens": 256,
    }))
    .unwrap_or_default()
}
