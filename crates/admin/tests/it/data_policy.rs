//! `/admin/v1/policies`: the data policy in force for an entity's callers or a use case's
//! requests, and the dry run on sample text — who may ask (an entity's readers, for their
//! entity only), what they are told, and that each answer is audited without the text.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, Server};

const POLICIES: &str = r#"
[policy.actions]
EMAIL = "redact"

[[entities]]
slug = "acme"
name = "Acme"

[entities.policy]
blocked_terms = ["Projet Orion"]

[entities.policy.actions]
IBAN = "pseudonymize"
NIR = "block"
EMAIL = "flag"

[entities.policy.output]
IBAN = "redact"

[[entities]]
slug = "globex"
name = "Globex"
"#;

const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";

/// A key for a new user of `entity` holding `role` over it (`None`: no role).
async fn key_for(server: &Server, name: &str, entity: &str, role: Option<&str>) -> String {
    let user =
        json!({"entity": entity, "user_name": name, "email": format!("{name}@example.test")});
    let (status, user) = server.post(ADMIN_KEY, "/admin/v1/users", user).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    if let Some(role) = role {
        let grant = json!({"user": name, "role": role, "entity": entity});
        let (status, body) = server.post(ADMIN_KEY, "/admin/v1/role-grants", grant).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, key) = server
        .post(ADMIN_KEY, "/admin/v1/keys", json!({"user_id": user["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["key"].as_str().unwrap().to_owned()
}

async fn server() -> Server {
    let server = Server::with_policies(POLICIES).await;
    for slug in ["acme", "globex"] {
        let entity = json!({"slug": slug, "name": slug});
        let (status, body) = server.post(ADMIN_KEY, "/admin/v1/entities", entity).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    server
}

async fn dry_run(server: &Server, key: &str, body: Value) -> (StatusCode, Value) {
    server.post(key, "/admin/v1/policies/dry-run", body).await
}

#[tokio::test]
async fn the_effective_policy_says_whose_it_is_and_what_it_does() {
    let server = server().await;
    let (status, acme) = server
        .get(ADMIN_KEY, "/admin/v1/policies/effective?entity=acme")
        .await;
    assert_eq!(status, StatusCode::OK, "{acme}");
    assert_eq!(acme["entity"], "acme");
    assert_eq!(acme["source"], "entity");
    assert_eq!(acme["policy"]["actions"]["IBAN"], "pseudonymize");
    assert_eq!(acme["policy"]["output"]["IBAN"], "redact");
    assert_eq!(acme["policy"]["blocked_terms"], json!(["Projet Orion"]));
    let (_, globex) = server
        .get(ADMIN_KEY, "/admin/v1/policies/effective?entity=globex")
        .await;
    assert_eq!(globex["source"], "group", "globex has no policy of its own");
    assert_eq!(globex["policy"]["actions"], json!({"EMAIL": "redact"}));
    let (_, group) = server.get(ADMIN_KEY, "/admin/v1/policies/effective").await;
    assert_eq!(group["entity"], Value::Null);
    assert_eq!(group["source"], "group");

    // A registered use case that tightens acme's policy applies to its requests.
    let use_case = json!({
        "slug": "kyc", "name": "KYC", "purpose": "p", "owner_entity": "acme",
        "risk_class": "minimal", "policy": {"actions": {"IBAN": "block", "NIR": "block", "EMAIL": "flag"}},
    });
    let (status, body) = server
        .post(ADMIN_KEY, "/admin/v1/use-cases", use_case)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, kyc) = server
        .get(
            ADMIN_KEY,
            "/admin/v1/policies/effective?entity=acme&use_case=kyc",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{kyc}");
    assert_eq!(kyc["source"], "registered_use_case");
    assert_eq!(kyc["policy"]["actions"]["IBAN"], "block");
    // Not open to globex's callers, nor known under another name.
    for path in [
        "/admin/v1/policies/effective?entity=globex&use_case=kyc",
        "/admin/v1/policies/effective?entity=acme&use_case=nope",
    ] {
        let (status, body) = server.get(ADMIN_KEY, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, body) = server
        .get(ADMIN_KEY, "/admin/v1/policies/effective?colour=red")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_dry_run_shows_each_value_its_span_and_what_the_model_would_receive() {
    let server = server().await;
    let text = format!("Virez sur {IBAN} et écrivez à jean@example.fr");
    let (status, run) = dry_run(&server, ADMIN_KEY, json!({"text": text, "entity": "acme"})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let findings = run["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{run}");
    let iban = &findings[0];
    assert_eq!(iban["type"], "IBAN");
    assert_eq!(iban["input"], "pseudonymize");
    assert_eq!(iban["output"], "redact");
    let (start, end) = (
        iban["start"].as_u64().unwrap(),
        iban["end"].as_u64().unwrap(),
    );
    assert_eq!(&text[start as usize..end as usize], IBAN);
    assert_eq!(iban["text"], IBAN);
    assert_eq!(findings[1]["type"], "EMAIL");
    assert_eq!(findings[1]["input"], "flag");
    assert_eq!(run["refusal"], Value::Null);
    assert_eq!(run["flagged"], true);
    assert_eq!(
        run["sent"],
        "Virez sur [IBAN_1] et écrivez à jean@example.fr"
    );

    // Refusals, in the inspect stage's order, and nothing sent.
    let blocked =
        json!({"text": "Le Projet Orion et le NIR 1 85 05 78 006 084 91", "entity": "acme"});
    let (_, run) = dry_run(&server, ADMIN_KEY, blocked).await;
    assert_eq!(run["refusal"]["code"], "blocked_term", "{run}");
    assert_eq!(run["sent"], Value::Null);
    let nir = json!({"text": "NIR 1 85 05 78 006 084 91", "entity": "acme"});
    let (_, run) = dry_run(&server, ADMIN_KEY, nir).await;
    assert_eq!(run["refusal"]["code"], "personal_data_blocked", "{run}");
    assert_eq!(run["refusal"]["detail"], "NIR");

    // Bad input is a 400 naming the problem.
    let huge = json!({"text": "a".repeat(64 * 1024 + 1), "entity": "acme"});
    let (status, body) = dry_run(&server, ADMIN_KEY, huge).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "text", "{body}");
    let (status, body) = dry_run(&server, ADMIN_KEY, json!({"entity": "acme"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Audited with the types found, never the text.
    let (_, audit) = server
        .get(ADMIN_KEY, "/admin/v1/audit?action=policy.dry_run&limit=50")
        .await;
    let events = audit["data"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{audit}");
    for event in events {
        let detail = event["detail"].to_string();
        assert!(
            !detail.contains("jean@example.fr") && !detail.contains("Orion"),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn an_entity_administrator_sees_her_entitys_policy_and_no_other() {
    let server = server().await;
    let admin = key_for(&server, "ada", "acme", Some("entity_admin")).await;
    let auditor = key_for(&server, "alan", "acme", Some("auditor")).await;
    let user = key_for(&server, "bob", "acme", None).await;
    // Her entity, by default and by name.
    for path in [
        "/admin/v1/policies/effective",
        "/admin/v1/policies/effective?entity=acme",
    ] {
        let (status, body) = server.get(&admin, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["entity"], "acme");
    }
    let sample = |entity: &str| json!({"text": "jean@example.fr", "entity": entity});
    let (status, run) = dry_run(&server, &admin, sample("acme")).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let (status, run) = dry_run(&server, &auditor, sample("acme")).await;
    assert_eq!(status, StatusCode::OK, "an auditor reads: {run}");
    // Another entity answers as an unknown one, and the refusal is audited.
    let (status, body) = server
        .get(&admin, "/admin/v1/policies/effective?entity=globex")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = dry_run(&server, &admin, sample("globex")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = dry_run(&server, &admin, sample("initech")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // A plain user reads no policy.
    let (status, body) = server.get(&user, "/admin/v1/policies/effective").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let (_, audit) = server
        .get(ADMIN_KEY, "/admin/v1/audit?action=policy&limit=100")
        .await;
    let count = |action: &str, outcome: &str| {
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(count("policy.read", "success"), 2);
    assert_eq!(count("policy.dry_run", "success"), 2);
    assert_eq!(
        count("policy.read", "denied"),
        2,
        "globex, and the plain user"
    );
    assert_eq!(
        count("policy.dry_run", "denied"),
        1,
        "globex only: initech is unknown"
    );
}

#[tokio::test]
async fn the_cli_shows_a_policy_and_dry_runs_it() {
    use admin_client::{AdminCli, AdminCommand, PoliciesCommand, PolicyTarget};
    let server = server().await;
    let cli = |command| AdminCli {
        server: admin_client::Server {
            url: server.base_url.clone(),
            key: Some(ADMIN_KEY.to_owned()),
        },
        command: AdminCommand::Policies { command },
    };
    let acme = || PolicyTarget {
        entity: Some("acme".to_owned()),
        use_case: None,
    };
    let shown = admin_client::execute(&cli(PoliciesCommand::Show(acme())))
        .await
        .unwrap();
    assert_eq!(shown["policy"]["actions"]["NIR"], "block");
    let run = admin_client::execute(&cli(PoliciesCommand::DryRun {
        target: acme(),
        text: format!("IBAN {IBAN}"),
    }))
    .await
    .unwrap();
    assert_eq!(run["sent"], "IBAN [IBAN_1]");
    let unknown = PolicyTarget {
        entity: Some("initech".to_owned()),
        use_case: None,
    };
    let error = admin_client::execute(&cli(PoliciesCommand::Show(unknown)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("initech"), "{error}");
}
