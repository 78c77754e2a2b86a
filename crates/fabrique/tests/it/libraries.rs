//! Knowledge libraries end to end, on both databases: documents made here (PDF, DOCX, XLSX, a
//! scan) uploaded, searched, and cited by a chat completion that names the library; a reader of
//! another entity refused; a confidential library refused on an uncleared endpoint; a person who
//! may read 1 % of a library finds that 1 %; an index directory lost rebuilt from the store at
//! start without embedding again; a deleted document gone from search; a document
//! added again unchanged audited, a changed one replacing it; personal data through the
//! entity's data policy before anything is stored.

use knowledge::samples;
use serde_json::{Value, json};

use crate::harness::*;

/// `gpu-onprem` may receive anything; `cloud-eu` only up to `internal`. The embedding model
/// runs on premises, so confidential documents can be embedded.
const CONFIG: &str = r#"
[routing]
health_check_interval_ms = 0

[[endpoints]]
name = "gpu-onprem"
kind = "vllm"
url = "{sim0}"
hosting = "on_premises"
clearance = "secret"

[[endpoints]]
name = "cloud-eu"
kind = "openai"
url = "{sim1}"
hosting = "eu_cloud"
clearance = "internal"

[[models]]
name = "mistral-small"
kind = "chat"
endpoints = ["cloud-eu"]

[[models]]
name = "mistral-large"
kind = "chat"
endpoints = ["gpu-onprem"]

[[models]]
name = "mistral-embed"
kind = "embeddings"
endpoints = ["gpu-onprem"]
"#;

on_both_databases!(
    documents_are_searched_and_cited_then_deleted_for_real,
    a_changed_document_replaces_its_passages_and_an_expired_one_is_purged,
);

/// Creates a library as the group's administrator; returns its id.
async fn library(t: &TestServer, body: Value) -> String {
    let (status, created) = t.admin_post("/v1/libraries", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// Uploads `bytes` as `name` (with `query` appended) with `key`.
async fn upload(
    t: &TestServer,
    key: &str,
    id: &str,
    name: &str,
    query: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let response = t
        .http
        .post(t.url(&format!("/v1/libraries/{id}/documents?name={name}{query}")))
        .bearer_auth(key)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn search(t: &TestServer, key: &str, id: &str, query: &str, limit: u32) -> (u16, Value) {
    let path = format!("/v1/libraries/{id}/search");
    call(
        t,
        reqwest::Method::POST,
        &path,
        key,
        Some(json!({"query": query, "limit": limit})),
    )
    .await
}

async fn ask(
    t: &TestServer,
    key: &str,
    model: &str,
    libraries: &[&str],
    question: &str,
) -> (u16, Value) {
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 5,
        "fabrique": {"libraries": libraries},
    });
    call(
        t,
        reqwest::Method::POST,
        "/v1/chat/completions",
        key,
        Some(body),
    )
    .await
}

fn documents(found: &Value) -> Vec<String> {
    found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn documents_are_searched_and_cited_then_deleted_for_real(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![instant_sim(), instant_sim()], CONFIG).await
    else {
        return;
    };
    let id = library(&t, json!({
        "name": "Politiques internes", "entity": "acme", "readers": ["entity:acme"],
        "editors": ["entity:acme"], "embedding_model": "mistral-embed", "classification": "internal",
    }))
    .await;
    let pdf = samples::pdf(&[
        "Sommaire du rapport",
        "Le fournisseur Vauban livre les pieces de rechange.",
    ])
    .unwrap();
    let docx = samples::docx(
        "Bail du siège",
        "Le bail court neuf ans.",
        ["Loyer mensuel", "9 400 EUR"],
    )
    .unwrap();
    let xlsx = samples::xlsx(
        "Tarifs",
        &[&["Produit", "Prix"], &["Assurance habitation", "120"]],
    )
    .unwrap();
    let scan = samples::pdf(&["", ""]).unwrap();
    let (admin, editor) = (ADMIN_KEY, t.key.as_str());
    let (status, read) = upload(&t, editor, &id, "rapport.pdf", "", pdf).await;
    assert_eq!(status, 201, "{read}");
    assert_eq!(
        (read["pages"].as_u64(), read["scanned"].as_bool()),
        (Some(2), Some(false))
    );
    let pdf_id = read["id"].as_str().unwrap().to_owned();
    for (name, bytes) in [("bail.docx", docx), ("tarifs.xlsx", xlsx)] {
        let (status, read) = upload(&t, editor, &id, name, "", bytes).await;
        assert_eq!(status, 201, "{read}");
        assert!(read["chunks"].as_u64().unwrap() >= 1, "{read}");
    }
    let (status, read) = upload(&t, editor, &id, "scan.pdf", "", scan).await;
    assert_eq!(status, 201, "{read}");
    assert_eq!(
        (read["scanned"].as_bool(), read["chunks"].as_u64()),
        (Some(true), Some(0))
    );
    let (status, refused) = upload(&t, editor, &id, "macro.xlsm", "", b"PK".to_vec()).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (415, &json!("unsupported_document"))
    );

    // A member of the entity searches: each fact is found in its document, on its page.
    let (status, found) = search(&t, &t.key, &id, "fournisseur Vauban", 3).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["data"][0]["name"], "rapport.pdf");
    assert_eq!(found["data"][0]["page"], 2);
    let (_, found) = search(&t, &t.key, &id, "loyer mensuel", 3).await;
    assert_eq!(found["data"][0]["name"], "bail.docx", "{found}");
    let (_, found) = search(&t, &t.key, &id, "assurance habitation", 3).await;
    assert_eq!(found["data"][0]["name"], "tarifs.xlsx", "{found}");
    let (_, listed) = t
        .get_with_key(&format!("/v1/libraries/{id}/documents"), &t.key)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 4);

    // The index lost is built again from the store at the next start, vectors included:
    // nothing is embedded again but the question.
    let embedded = t.sims[0].0.stats().embeddings_requests;
    let t = t
        .restart_with(|config| {
            std::fs::remove_dir_all(config.server.data_dir.join("libraries")).unwrap();
        })
        .await;
    let (_, found) = search(&t, &t.key, &id, "loyer mensuel", 3).await;
    assert_eq!(found["data"][0]["name"], "bail.docx", "{found}");
    assert_eq!(t.sims[0].0.stats().embeddings_requests, embedded + 1);

    // A chat completion naming the library answers with its citations.
    let (status, answer) = ask(
        &t,
        &t.key,
        "mistral-large",
        &[&id],
        "Quel est le loyer mensuel ?",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let citations = answer["fabrique"]["citations"].as_array().unwrap();
    assert_eq!(citations[0]["index"], 1);
    let lease = citations
        .iter()
        .find(|c| c["name"] == "bail.docx")
        .expect("the lease is cited");
    assert_eq!(lease["page"], 1);
    assert!(
        lease["text"].as_str().unwrap().contains("9 400 EUR"),
        "{answer}"
    );
    assert!(answer["choices"][0]["message"]["content"].is_string());
    let lease_document = lease["document"].clone();

    // Deleted, the document is no longer found.
    let path = format!("/v1/libraries/{id}/documents/{pdf_id}");
    let (status, deleted) = call(&t, reqwest::Method::DELETE, &path, admin, None).await;
    assert_eq!(
        (status, &deleted["deleted"]),
        (200, &json!(true)),
        "{deleted}"
    );
    let (_, found) = search(&t, &t.key, &id, "fournisseur Vauban", 10).await;
    assert!(
        !documents(&found).contains(&"rapport.pdf".to_owned()),
        "{found}"
    );
    let (status, _) = call(&t, reqwest::Method::DELETE, &path, admin, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &t,
        reqwest::Method::DELETE,
        &format!("/v1/libraries/{id}"),
        admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = search(&t, &t.key, &id, "loyer", 3).await;
    assert_eq!(status, 404);

    // The question was audited: the library searched, the documents its passages came from.
    let (_, audit) = t.finish_with_audit().await;
    let asked = audit
        .iter()
        .find(|e| e.action == domain::AuditAction::LibraryAsk)
        .expect("a library.ask event");
    let detail: Value = serde_json::from_str(&asked.detail).unwrap();
    assert_eq!(
        (asked.target.as_str(), detail["status"].as_u64()),
        (id.as_str(), Some(200))
    );
    let documents = detail["documents"].as_array().unwrap();
    assert!(
        documents
            .iter()
            .any(|d| d["document"] == lease_document && d["page"] == 1),
        "{detail}"
    );
    assert!(
        !asked.detail.contains("loyer"),
        "never the question: {detail}"
    );
}

#[tokio::test]
async fn a_reader_of_another_entity_is_refused_and_the_refusal_audited() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], CONFIG).await;
    let id = library(
        &t,
        json!({"name": "Acme", "entity": "acme", "readers": ["entity:acme"]}),
    )
    .await;
    let (status, read) = upload(
        &t,
        ADMIN_KEY,
        &id,
        "note.md",
        "",
        b"# Note\nLe code du coffre est 4812.".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{read}");
    let (_, outsider) = t.create_user_key("globex", "gus").await;
    let (status, body) = t
        .get_with_key(&format!("/v1/libraries/{id}"), &outsider)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let (status, _) = search(&t, &outsider, &id, "coffre", 3).await;
    assert_eq!(status, 404);
    let (status, body) = ask(
        &t,
        &outsider,
        "mistral-large",
        &[&id],
        "Quel est le code du coffre ?",
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("library_not_found")),
        "{body}"
    );
    let (_, listed) = t.get_with_key("/v1/libraries", &outsider).await;
    assert_eq!(listed["data"], json!([]));
    let (status, _) = upload(&t, &t.key, &id, "more.md", "", b"# More".to_vec()).await;
    assert_eq!(
        status, 403,
        "a reader who is no editor may not add documents"
    );
    let (_, audit) = t.finish_with_audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == domain::AuditAction::LibraryRead
                && e.outcome == domain::Outcome::Denied
                && e.target == id)
    );
}

#[tokio::test]
async fn a_confidential_library_reaches_only_cleared_endpoints() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], CONFIG).await;
    let id = library(&t, json!({
        "name": "Fusions", "entity": "acme", "readers": ["entity:acme"], "editors": ["entity:acme"],
        "classification": "confidential", "embedding_model": "mistral-embed",
    }))
    .await;
    let (status, read) = upload(
        &t,
        &t.key,
        &id,
        "projet.txt",
        "",
        b"Projet Orion: rachat de Globex.".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{read}");
    let (status, body) = ask(
        &t,
        &t.key,
        "mistral-small",
        &[&id],
        "Que dit le projet Orion ?",
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("classification_not_permitted")),
        "{body}"
    );
    assert_eq!(t.requests_seen(1), 0, "the uncleared endpoint saw nothing");
    let (status, body) = ask(
        &t,
        &t.key,
        "mistral-large",
        &[&id],
        "Que dit le projet Orion ?",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_person_who_may_read_one_percent_of_a_library_finds_that_one_percent() {
    let t = TestServer::start(vec![instant_sim(), instant_sim()], CONFIG).await;
    let (rita, _, rita_key) = t.create_user_with_roles("acme", "rita", &[]).await;
    let (ed, _, ed_key) = t.create_user_with_roles("acme", "ed", &[]).await;
    let id = library(
        &t,
        json!({
            "name": "Dossiers", "entity": "acme", "readers": [format!("user:{rita}")],
            "editors": [format!("user:{ed}")], "embedding_model": "mistral-embed",
        }),
    )
    .await;
    let mut readable = Vec::new();
    for n in 0..300 {
        let readers = if n % 100 == 42 {
            format!("user:{rita}")
        } else {
            "team:legal".to_owned()
        };
        let text = format!("Dossier {n} : rapport de conformité annuel.");
        let (status, read) = upload(
            &t,
            &ed_key,
            &id,
            &format!("dossier-{n}.txt"),
            &format!("&readers={readers}"),
            text.into_bytes(),
        )
        .await;
        assert_eq!(status, 201, "{read}");
        if n % 100 == 42 {
            readable.push(format!("dossier-{n}.txt"));
        }
    }
    let (status, found) = search(&t, &rita_key, &id, "rapport de conformité", 10).await;
    assert_eq!(status, 200, "{found}");
    let mut names = documents(&found);
    names.sort();
    readable.sort();
    assert_eq!(
        names, readable,
        "every passage she may read, and none other"
    );
    let (_, listed) = t
        .get_with_key(&format!("/v1/libraries/{id}/documents"), &rita_key)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
}

async fn a_changed_document_replaces_its_passages_and_an_expired_one_is_purged(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![instant_sim(), instant_sim()], CONFIG).await
    else {
        return;
    };
    let id = library(&t, json!({
        "name": "Notes", "entity": "acme", "readers": ["entity:acme"], "editors": ["entity:acme"],
        "embedding_model": "mistral-embed", "classification": "internal", "retention_days": 30,
    }))
    .await;
    let note = |code: &str| format!("# Consignes\n\nLe code du coffre est {code}.\n").into_bytes();
    let (status, first) = upload(&t, &t.key, &id, "consignes.md", "", note("ALPHA")).await;
    assert_eq!(status, 201, "{first}");
    // The same bytes again: the same document, nothing read again.
    let (_, again) = upload(&t, &t.key, &id, "consignes.md", "", note("ALPHA")).await;
    assert_eq!(again["id"], first["id"]);
    // Changed: the new version replaces the old one's passages.
    let (status, second) = upload(&t, &t.key, &id, "consignes.md", "", note("BRAVO")).await;
    assert_eq!(status, 201, "{second}");
    assert_ne!(second["id"], first["id"]);
    let (_, found) = search(&t, &t.key, &id, "code du coffre", 10).await;
    let texts: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.contains("BRAVO")), "{found}");
    assert!(!texts.iter().any(|t| t.contains("ALPHA")), "{found}");
    let (_, listed) = t
        .get_with_key(&format!("/v1/libraries/{id}/documents"), &t.key)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");

    // Thirty days on, nothing is old enough; thirty-one days on, the document goes for real.
    let libraries = &t.server.libraries;
    let day = 86_400_000;
    let now = domain::now_millis();
    assert_eq!(
        libraries
            .purge_expired(now + 29 * day, "system")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        libraries
            .purge_expired(now + 31 * day, "system")
            .await
            .unwrap(),
        1
    );
    let (_, found) = search(&t, &t.key, &id, "code du coffre", 10).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 0, "{found}");
    let (_, audit) = t.finish_with_audit().await;
    let deletions: Vec<&domain::AuditEvent> = audit
        .iter()
        .filter(|e| e.action == domain::AuditAction::LibraryDocumentDelete)
        .collect();
    assert_eq!(
        deletions.len(),
        2,
        "the replaced version, then the expired one"
    );
    assert!(deletions[0].detail.contains("replaced_by"));
    assert!(deletions[1].detail.contains("retention"));
    let additions: Vec<&domain::AuditEvent> = audit
        .iter()
        .filter(|e| e.action == domain::AuditAction::LibraryDocumentAdd)
        .collect();
    assert_eq!(
        additions.len(),
        3,
        "the first, the same again, the changed one"
    );
    assert_eq!(additions[1].target, first["id"].as_str().unwrap());
    assert!(
        additions[1].detail.contains(r#""unchanged":true"#),
        "{:?}",
        additions[1]
    );
    assert!(!additions[2].detail.contains("unchanged"));
}

#[tokio::test]
async fn a_document_goes_through_its_entitys_data_policy_before_it_is_stored() {
    let config = format!(
        "{CONFIG}
[[entities]]
slug = \"acme\"
name = \"Acme\"

[entities.policy.actions]
EMAIL = \"redact\"
IBAN = \"pseudonymize\"
NIR = \"block\"
"
    );
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config).await;
    let id = library(&t, json!({
        "name": "Dossiers", "entity": "acme", "readers": ["entity:acme"], "editors": ["entity:acme"],
        "embedding_model": "mistral-embed", "classification": "internal",
    }))
    .await;
    let iban = "FR76 3000 6000 0112 3456 7890 189";
    let note = format!(
        "# Remboursement\n\nVirer le trop-perçu sur {iban} et prévenir jeanne@example.fr.\n\n\
         # Relance\n\nSans réponse, relancer le titulaire de {iban}.\n"
    );
    let (status, added) = upload(&t, &t.key, &id, "dossier.md", "", note.into_bytes()).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["personal_data"], "redacted");
    let (_, found) = search(&t, &t.key, &id, "trop-perçu relance titulaire", 10).await;
    let texts: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    let all = texts.join("\n");
    assert!(
        all.contains("Virer le trop-perçu sur [IBAN_1] et prévenir [REDACTED_EMAIL]"),
        "{all}"
    );
    assert!(
        all.contains("relancer le titulaire de [IBAN_1]"),
        "the same value, the same placeholder: {all}"
    );
    let document = added["id"].as_str().unwrap();
    let stored = t.server.store.library_chunks(document).await.unwrap();
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|c| !c.text.contains("jeanne@") && !c.text.contains("FR76")),
        "no value is stored"
    );

    // A type the entity blocks refuses the document, naming the type, and nothing is kept.
    let nir = "# Assuré\n\nNuméro de sécurité sociale : 1 85 05 78 006 084 91.\n";
    let (status, refused) = upload(&t, &t.key, &id, "assure.md", "", nir.into()).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "personal_data");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("NIR") && !message.contains("1 85"),
        "{message}"
    );
    let (_, listed) = t
        .get_with_key(&format!("/v1/libraries/{id}/documents"), &t.key)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn a_reranker_reorders_the_search_as_the_person_who_asks() {
    let config = format!(
        r#"{CONFIG}
[[models]]
name = "bge-reranker"
kind = "rerank"
endpoints = ["gpu-onprem"]

[libraries]
reranker = "bge-reranker"
"#
    );
    let t = TestServer::start(vec![instant_sim(), instant_sim()], &config).await;
    // Searched by words only: the full text's ranking is BM25's, which the rare word repeated
    // wins; the simulator's reranker scores the share of the question's words each holds.
    let id = library(
        &t,
        json!({
            "name": "Contrats", "entity": "acme", "readers": ["entity:acme"],
            "editors": ["entity:acme"], "classification": "internal",
        }),
    )
    .await;
    let texts = [
        (
            "zanzibar.txt",
            "Zanzibar, zanzibar, zanzibar et encore zanzibar.",
        ),
        ("duree.txt", "Le contrat fixe sa durée et son terme."),
        (
            "avenant.txt",
            "Un avenant au contrat peut en changer la durée.",
        ),
        (
            "renouvellement.txt",
            "Le contrat se renouvelle pour la même durée.",
        ),
    ];
    for (name, text) in texts {
        let (status, read) = upload(&t, &t.key, &id, name, "", text.into()).await;
        assert_eq!(status, 201, "{read}");
    }
    let question = "zanzibar contrat durée";
    let (status, reranked) = search(&t, &t.key, &id, question, 3).await;
    assert_eq!(status, 200, "{reranked}");
    let scores: Vec<f64> = reranked["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores, [2.0 / 3.0; 3], "the reranker's scores: {reranked}");
    assert!(
        !documents(&reranked).contains(&"zanzibar.txt".to_owned()),
        "it holds a third of the question's words: {reranked}"
    );
    assert_eq!(t.sims[0].0.stats().rerank_requests, 1);

    // An answer from the library is given from the reranked passages.
    let (status, answer) = ask(&t, &t.key, "mistral-large", &[&id], question).await;
    assert_eq!(status, 200, "{answer}");
    let cited: Vec<&str> = answer["fabrique"]["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cited.last(), Some(&"zanzibar.txt"), "{answer}");
    assert_eq!(t.sims[0].0.stats().rerank_requests, 2);

    // Without a reranker, the index's order stands: the rare word first.
    let t = t
        .restart_with(|config| config.libraries.reranker = None)
        .await;
    let (status, fused) = search(&t, &t.key, &id, question, 3).await;
    assert_eq!(status, 200, "{fused}");
    assert_eq!(documents(&fused)[0], "zanzibar.txt", "{fused}");
    assert_eq!(t.sims[0].0.stats().rerank_requests, 2, "no reranking");

    // Each reranking was metered to the person who asked, labelled with the library's level.
    let records = t.finish().await;
    let reranks: Vec<_> = records
        .iter()
        .filter(|r| r.operation == domain::Operation::Rerank)
        .collect();
    assert_eq!(reranks.len(), 2, "{records:?}");
    for record in reranks {
        assert_eq!(record.status, 200, "{record:?}");
        assert_eq!(record.model, "bge-reranker");
        assert!(
            record.key_id.is_some() && record.user_id.is_some(),
            "{record:?}"
        );
        assert_eq!(record.classification.as_deref(), Some("internal"));
        assert!(record.prompt_tokens > 0, "{record:?}");
    }
}
