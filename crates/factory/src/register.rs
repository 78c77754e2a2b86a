//! The AI Act register: one row per use case — every AI system in use, its risk class, owners,
//! entities, impact assessment and the names of the documents attached to it, models, status and
//! last evaluation — as JSON or as CSV whose cells a spreadsheet never runs as formulas.

use serde::Serialize;

use crate::registry::{UseCase, Version, VersionState};

/// One row of the register.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub slug: String,
    pub name: String,
    pub purpose: String,
    pub owner_entity: String,
    pub owners: String,
    pub entities: String,
    pub risk_class: String,
    pub impact_assessment: String,
    /// The names of the documents attached to the use case, oldest first, joined by `; `.
    pub documents: String,
    /// The most advanced state among the versions (`retired` when the use case is).
    pub status: String,
    /// The models of its deployed versions, else of its newest version.
    pub models: String,
    /// The newest finished evaluation: `run id, pass rate` (empty when none).
    pub last_evaluation: String,
    pub source: String,
}

/// The use case's status: the most advanced state of its versions, `draft` without any.
pub fn status(use_case: &UseCase, versions: &[Version]) -> VersionState {
    if use_case.retired {
        return VersionState::Retired;
    }
    versions
        .iter()
        .map(|v| v.state)
        .filter(|s| *s != VersionState::Retired)
        .max()
        .unwrap_or(VersionState::Draft)
}

/// The register row of a use case with the names of its attached `documents`.
pub fn row(
    use_case: &UseCase,
    versions: &[Version],
    documents: &[String],
    last_evaluation: Option<String>,
) -> Row {
    let deployed: Vec<&str> = versions
        .iter()
        .filter(|v| v.state == VersionState::Deployed)
        .map(|v| v.spec.model.as_str())
        .collect();
    let models = if deployed.is_empty() {
        versions
            .last()
            .map(|v| v.spec.model.clone())
            .unwrap_or_default()
    } else {
        let mut models = deployed;
        models.sort_unstable();
        models.dedup();
        models.join(" ")
    };
    Row {
        slug: use_case.slug.clone(),
        name: use_case.name.clone(),
        purpose: use_case.purpose.clone(),
        owner_entity: use_case
            .owner_entity
            .clone()
            .unwrap_or_else(|| "group".to_owned()),
        owners: use_case.owners.join(" "),
        entities: use_case.allowed.describe(),
        risk_class: use_case.risk.as_str().to_owned(),
        impact_assessment: use_case.impact.as_str().to_owned(),
        documents: documents.join("; "),
        status: status(use_case, versions).as_str().to_owned(),
        models,
        last_evaluation: last_evaluation.unwrap_or_default(),
        source: use_case.source.clone(),
    }
}

const HEADER: [&str; 13] = [
    "slug",
    "name",
    "purpose",
    "owner_entity",
    "owners",
    "entities",
    "risk_class",
    "impact_assessment",
    "documents",
    "status",
    "models",
    "last_evaluation",
    "source",
];

/// The register as CSV (RFC 4180, CRLF line ends), every cell formula-safe.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::new();
    push_line(&mut out, HEADER.iter().copied());
    for r in rows {
        push_line(
            &mut out,
            [
                r.slug.as_str(),
                &r.name,
                &r.purpose,
                &r.owner_entity,
                &r.owners,
                &r.entities,
                &r.risk_class,
                &r.impact_assessment,
                &r.documents,
                &r.status,
                &r.models,
                &r.last_evaluation,
                &r.source,
            ],
        );
    }
    out
}

fn push_line<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&reports::csv::cell(cell));
    }
    out.push_str("\r\n");
}
