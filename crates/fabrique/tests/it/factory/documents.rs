//! Documents attached to a use case, on SQLite and PostgreSQL: an engineer and an owner (a user
//! with no role, named among the use case's owners) attach them, a risk officer and an auditor
//! read them, the bytes come back exactly with their media type and name, a caller of another
//! entity finds nothing, a document past 20 MiB is refused 413, an owner deletes one, and every
//! action is in the audit trail, refusals included. The command line attaches, lists, downloads
//! and detaches through the same routes.

use domain::{Outcome, Role};
use reqwest::Method;
use serde_json::{Value, json};

use super::{SLUG, config, people};
use crate::harness::{Database, TestServer, call, instant_sim, on_both_databases};

/// `POST …/documents?filename=…` with `bytes` as the body, of `media_type`.
async fn attach(
    t: &TestServer,
    slug: &str,
    key: &str,
    filename: &str,
    media_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let response = t
        .http
        .post(t.url(&format!("/admin/v1/use-cases/{slug}/documents")))
        .query(&[("filename", filename)])
        .bearer_auth(key)
        .header("content-type", media_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET …/documents/{id}`: status, media type, disposition and bytes.
async fn download(
    t: &TestServer,
    slug: &str,
    key: &str,
    id: &str,
) -> (u16, String, String, Vec<u8>) {
    let response = t
        .http
        .get(t.url(&format!("/admin/v1/use-cases/{slug}/documents/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (media_type, disposition) = (header("content-type"), header("content-disposition"));
    let status = response.status().as_u16();
    (
        status,
        media_type,
        disposition,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn documents_are_attached_read_and_deleted_by_those_allowed(database: Database) {
    let Some(t) = TestServer::start_on(database, vec![instant_sim()], &config()).await else {
        return;
    };
    let p = people(&t).await;
    let (owner_key_id, owner) = t.create_user_key("acme", "olive").await;
    let (_, auditor) = t.create_role_key("acme", "aude", Role::Auditor, true).await;
    let (_, stranger) = t
        .create_role_key("globex", "gus", Role::FactoryEngineer, true)
        .await;
    for (slug, owners) in [(SLUG, json!(["olive"])), ("memo", json!([]))] {
        let definition = json!({
            "slug": slug, "name": "Invoice reader", "purpose": "Reads supplier invoices.",
            "owner_entity": "acme", "owners": owners, "risk_class": "high",
        });
        let created = call(
            &t,
            Method::POST,
            "/admin/v1/use-cases",
            &p.engineer,
            Some(definition),
        );
        let (status, body) = created.await;
        assert_eq!(status, 201, "{body}");
    }

    // Attached by the engineer and by the owner, who holds no role; not by reviewers.
    let assessment: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let (status, dpia) = attach(
        &t,
        SLUG,
        &p.engineer,
        "dpia v2.pdf",
        "application/pdf",
        assessment.clone(),
    )
    .await;
    assert_eq!(status, 201, "{dpia}");
    assert_eq!(
        (&dpia["filename"], &dpia["media_type"], &dpia["bytes"]),
        (
            &json!("dpia v2.pdf"),
            &json!("application/pdf"),
            &json!(300_000)
        ),
        "{dpia}"
    );
    let (status, card) = attach(
        &t,
        SLUG,
        &owner,
        "card.md",
        "text/markdown",
        b"abc".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{card}");
    assert_eq!(
        card["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(card["uploaded_by"], owner_key_id.as_str());
    for reviewer in [&p.officer, &auditor] {
        let (status, refused) = attach(
            &t,
            SLUG,
            reviewer,
            "x.pdf",
            "application/pdf",
            b"x".to_vec(),
        )
        .await;
        assert_eq!(status, 403, "{refused}");
    }
    // The owner of one use case is nobody special on another.
    let (status, _) = attach(
        &t,
        "memo",
        &owner,
        "x.pdf",
        "application/pdf",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, refused) = attach(
        &t,
        SLUG,
        &p.engineer,
        "../x.pdf",
        "application/pdf",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["param"].as_str()),
        (400, Some("filename"))
    );

    // Past 20 MiB: refused whole, nothing stored.
    let huge = vec![b'x'; factory::MAX_USE_CASE_DOCUMENT_BYTES + 1];
    let (status, refused) =
        attach(&t, SLUG, &p.engineer, "huge.pdf", "application/pdf", huge).await;
    assert_eq!(status, 413, "{refused}");
    assert_eq!(refused["error"]["code"], "document_too_large");

    // Listed, without their bytes, to reviewers and auditors.
    let listing = format!("/admin/v1/use-cases/{SLUG}/documents");
    for reader in [&p.officer, &auditor, &owner, &p.group_officer] {
        let (status, listed) = call(&t, Method::GET, &listing, reader, None).await;
        assert_eq!(status, 200, "{listed}");
        let names: Vec<&str> = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["filename"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["dpia v2.pdf", "card.md"]);
        assert!(listed["data"][0].get("content").is_none());
    }
    let dpia_id = dpia["id"].as_str().unwrap();
    let (status, media_type, disposition, bytes) = download(&t, SLUG, &auditor, dpia_id).await;
    assert_eq!((status, media_type.as_str()), (200, "application/pdf"));
    assert!(
        disposition.starts_with("attachment; filename=\"dpia v2.pdf\""),
        "{disposition}"
    );
    assert!(bytes == assessment, "the same bytes");

    // Another entity's caller finds nothing; another use case holds no such document.
    let (status, _) = call(&t, Method::GET, &listing, &stranger, None).await;
    assert_eq!(status, 404);
    assert_eq!(download(&t, SLUG, &stranger, dpia_id).await.0, 404);
    let (status, _) = attach(
        &t,
        SLUG,
        &stranger,
        "x.pdf",
        "application/pdf",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(download(&t, "memo", &p.engineer, dpia_id).await.0, 404);
    let one = format!("{listing}/{dpia_id}");
    assert_eq!(call(&t, Method::DELETE, &one, &stranger, None).await.0, 404);
    assert_eq!(
        call(&t, Method::DELETE, &one, &p.officer, None).await.0,
        403
    );

    // Deleted by its owner.
    let (status, deleted) = call(&t, Method::DELETE, &one, &owner, None).await;
    assert_eq!(
        (status, &deleted["deleted"]),
        (200, &json!(true)),
        "{deleted}"
    );
    assert_eq!(download(&t, SLUG, &p.engineer, dpia_id).await.0, 404);
    let (_, listed) = call(&t, Method::GET, &listing, &p.engineer, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let (_, events) = t.finish_with_audit().await;
    let count = |action: &str, outcome: Outcome| {
        events
            .iter()
            .filter(|e| e.action.as_str() == action && e.outcome == outcome)
            .count()
    };
    assert_eq!(count("use_case.document.add", Outcome::Success), 2);
    assert_eq!(count("use_case.document.delete", Outcome::Success), 1);
    // Four listings and one download by readers, one listing after the deletion.
    assert_eq!(count("use_case.document.read", Outcome::Success), 6);
    assert!(count("use_case.document.add", Outcome::Denied) >= 4);
    assert!(count("use_case.document.read", Outcome::Denied) >= 2);
    assert_eq!(count("use_case.document.delete", Outcome::Denied), 2);
    let added = events
        .iter()
        .find(|e| e.action.as_str() == "use_case.document.add")
        .unwrap();
    assert_eq!(added.target, format!("{SLUG}/{dpia_id}"));
    assert!(added.detail.contains("dpia v2.pdf"), "{}", added.detail);
}

on_both_databases!(documents_are_attached_read_and_deleted_by_those_allowed);

/// `fabrique usecase attach`, `documents`, `document --out` and `detach` against a server: the
/// file downloaded is the one attached, byte for byte.
#[tokio::test]
async fn the_cli_attaches_lists_downloads_and_detaches_a_document() {
    let t = TestServer::start(vec![instant_sim()], &config()).await;
    let p = people(&t).await;
    let definition = json!({
        "slug": SLUG, "name": "Invoice reader", "purpose": "Reads supplier invoices.",
        "owner_entity": "acme", "owners": ["eve"], "risk_class": "high",
    });
    let (status, body) = call(
        &t,
        Method::POST,
        "/admin/v1/use-cases",
        &p.engineer,
        Some(definition),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("Analyse d'impact.pdf");
    let assessment: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
    std::fs::write(&source, &assessment).unwrap();
    let (url, key) = (t.url(""), p.engineer.clone());
    let fabrique = |args: Vec<String>| {
        let (url, key) = (url.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_fabrique"))
                .args(["usecase", "--url", &url, "--key", &key])
                .args(args)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "{stderr}");
            String::from_utf8(output.stdout).unwrap()
        })
    };
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let attached = fabrique(vec!["attach".into(), SLUG.into(), path(&source)])
        .await
        .unwrap();
    let attached: Value = serde_json::from_str(&attached).unwrap();
    assert_eq!(
        (&attached["filename"], &attached["media_type"]),
        (&json!("Analyse d'impact.pdf"), &json!("application/pdf")),
        "{attached}"
    );
    let id = attached["id"].as_str().unwrap().to_owned();
    let listed = fabrique(vec!["documents".into(), SLUG.into()])
        .await
        .unwrap();
    assert!(listed.contains(&id), "{listed}");
    let copy = dir.path().join("copy.pdf");
    let args = vec![
        "document".into(),
        SLUG.into(),
        id.clone(),
        "--out".into(),
        path(&copy),
    ];
    let wrote = fabrique(args).await.unwrap();
    assert!(wrote.contains("wrote 50000 bytes"), "{wrote}");
    assert!(
        std::fs::read(&copy).unwrap() == assessment,
        "the same bytes"
    );
    fabrique(vec!["detach".into(), SLUG.into(), id])
        .await
        .unwrap();
    let listed: Value = serde_json::from_str(
        &fabrique(vec!["documents".into(), SLUG.into()])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(listed["data"], json!([]), "{listed}");
    t.finish().await;
}
