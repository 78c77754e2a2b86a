//! Documents attached to use cases, on both backends: bytes read back exactly, listings without
//! them, every read narrowed to the use case named, changes audited with the change.

use domain::{AuditAction, UseCaseDocumentId, now_millis};
use factory::canary::CanaryRule;
use factory::{Allowed, ImpactAssessment, RiskClass, Thresholds, UseCase};
use store::{Store, StoreError, StoredUseCaseDocument};

use crate::audit;

fn use_case(slug: &str) -> UseCase {
    UseCase {
        slug: slug.into(),
        name: "Invoice reader".into(),
        purpose: "Reads invoices.".into(),
        owner_entity: Some("acme".into()),
        owners: Vec::new(),
        allowed: Allowed::Only(vec!["acme".into()]),
        classification: None,
        risk: RiskClass::High,
        impact: ImpactAssessment::InProgress,
        impact_documents: Vec::new(),
        priority: None,
        thresholds: Thresholds::default(),
        canary: CanaryRule::default(),
        policy: None,
        source: factory::registry::API_SOURCE.into(),
        retired: false,
        created_at: now_millis(),
    }
}

fn document(use_case: &str, filename: &str, content: &[u8], at: i64) -> StoredUseCaseDocument {
    StoredUseCaseDocument {
        id: UseCaseDocumentId::generate(),
        use_case: use_case.into(),
        filename: filename.into(),
        media_type: "application/pdf".into(),
        bytes: content.len() as u64,
        sha256: "ab".repeat(32),
        uploaded_by: "key_test".into(),
        uploaded_at: at,
    }
}

pub(crate) async fn use_case_documents_round_trip_narrowed_to_their_use_case(store: &Store) {
    let acme = store
        .create_entity("acme", "Acme", &audit(AuditAction::EntityCreate))
        .await
        .unwrap();
    for slug in ["invoices", "memos"] {
        store
            .create_use_case(
                &use_case(slug),
                Some(acme.id),
                &audit(AuditAction::UseCaseCreate),
            )
            .await
            .unwrap();
    }
    // Every byte value, so no encoding on the way can pass unnoticed.
    let assessment: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let first = document("invoices", "dpia.pdf", &assessment, 1_000);
    let second = document("invoices", "model card.md", b"# card\n", 2_000);
    let added = audit(AuditAction::UseCaseDocumentAdd);
    store
        .add_use_case_document(&second, b"# card\n", &added)
        .await
        .unwrap();
    store
        .add_use_case_document(&first, &assessment, &added)
        .await
        .unwrap();

    // Listed oldest first, without their bytes.
    assert_eq!(
        store.use_case_documents("invoices").await.unwrap(),
        [first.clone(), second.clone()]
    );
    assert_eq!(store.use_case_documents("memos").await.unwrap(), []);
    assert_eq!(
        store.use_case_document("invoices", first.id).await.unwrap(),
        Some((first.clone(), assessment.clone()))
    );
    // Another use case's document reads as absent.
    assert_eq!(
        store.use_case_document("memos", first.id).await.unwrap(),
        None
    );
    let names = store.use_case_document_names().await.unwrap();
    assert_eq!(names.len(), 1);
    assert_eq!(names["invoices"], ["dpia.pdf", "model card.md"]);

    // A use case that does not exist gets nothing, and no event.
    let stray = document("nope", "x.pdf", b"x", 3_000);
    let err = store
        .add_use_case_document(&stray, b"x", &added)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("nope")),
        "{err:?}"
    );

    // Deleted only through its own use case.
    let deleted = audit(AuditAction::UseCaseDocumentDelete);
    assert_eq!(
        store
            .delete_use_case_document("memos", first.id, &deleted)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .delete_use_case_document("invoices", first.id, &deleted)
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.use_case_documents("invoices").await.unwrap(),
        [second]
    );
    assert_eq!(
        store.use_case_document("invoices", first.id).await.unwrap(),
        None
    );

    let events = store.list_audit(100).await.unwrap();
    let count = |action: AuditAction| events.iter().filter(|(_, e)| e.action == action).count();
    assert_eq!(count(AuditAction::UseCaseDocumentAdd), 2);
    assert_eq!(count(AuditAction::UseCaseDocumentDelete), 1);
}
