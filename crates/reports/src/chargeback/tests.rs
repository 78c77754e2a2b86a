//! The chargeback report: entities sum their lines, shares are of the pool.

use super::*;

fn totals(requests: u64, cost_micros: u64) -> UsageTotals {
    UsageTotals {
        requests,
        input_tokens: requests * 10,
        output_tokens: requests * 3,
        cost_micros,
        errors: 0,
        cache_hits: requests,
    }
}

fn line(entity: &str, team: Option<&str>, model: &str, cost_micros: u64) -> ChargebackLine {
    ChargebackLine {
        entity_id: Some(format!("ent_{entity}")),
        entity: Some(entity.to_owned()),
        team_id: team.map(|t| format!("team_{t}")),
        team: team.map(str::to_owned),
        model: model.to_owned(),
        use_case: None,
        totals: totals(1, cost_micros),
    }
}

fn period() -> Period {
    Period {
        month: "2026-11".into(),
        time_zone: "Europe/Paris".into(),
        from: "2026-11-01T00:00:00+01:00".into(),
        to: "2026-12-01T00:00:00+01:00".into(),
    }
}

#[test]
fn entities_sum_their_lines_and_shares_are_of_the_pool() {
    let lines = vec![
        line("beta", None, "mistral-small", 100_000),
        line("acme", Some("risk, \"quant\""), "mistral-large", 100_000),
        line("acme", Some("kyc"), "mistral-small", 100_000),
    ];
    let report = Chargeback::build(period(), totals(3, 300_000), lines);
    assert_eq!(report.entities[0].entity.as_deref(), Some("acme"));
    assert_eq!(report.entities[0].figures.cost_micros, 200_000);
    assert_eq!(report.entities[0].figures.share_of_pool, "0.666667");
    assert_eq!(report.entities[0].lines[0].team.as_deref(), Some("kyc"));
    assert_eq!(report.entities[1].figures.share_of_pool, "0.333333");
    assert_eq!(report.total.cost, "0.300000");
    assert_eq!(report.total.share_of_pool, "1.000000");

    let csv = report.to_csv();
    let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 1 + 3 + 2 + 1);
    assert_eq!(
        rows[2],
        "line,acme,ent_acme,\"risk, \"\"quant\"\"\",\"team_risk, \"\"quant\"\"\",mistral-large,,1,10,3,100000,0.100000,0.333333,1"
    );
    assert_eq!(
        rows[3],
        "entity,acme,ent_acme,,,,,2,20,6,200000,0.200000,0.666667,2"
    );
    assert_eq!(rows[6], "total,,,,,,,3,30,9,300000,0.300000,1.000000,3");
}
