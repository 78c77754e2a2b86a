//! `fabrique report …`: reports read through the admin API, printed as the API writes them.

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::request::{Request, entity_query};
use crate::{CliError, Server, call};

/// Reports read through the admin API, printed as the API writes them.
#[derive(Debug, Args)]
pub struct ReportCli {
    #[command(flatten)]
    pub server: Server,
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The monthly chargeback: per entity, then per team, model and use case.
    Chargeback {
        /// The month, `YYYY-MM`, in the group's time zone.
        #[arg(long)]
        month: String,
        /// Only this entity (slug); entity administrators get their own entity anyway.
        #[arg(long)]
        entity: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: ReportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Json,
    Csv,
}

/// Runs one report and returns its text: CSV as the server wrote it, JSON pretty-printed.
pub async fn report(cli: &ReportCli) -> Result<String, CliError> {
    let ReportCommand::Chargeback {
        month,
        entity,
        format,
    } = &cli.command;
    let mut query = vec![("month", month.clone())];
    query.extend(entity_query(entity));
    if *format == ReportFormat::Csv {
        query.push(("format", "csv".to_owned()));
    }
    let request = Request::to(Method::GET, "/admin/v1/reports/chargeback").with_query(query);
    let text = call(&cli.server, request).await?;
    if *format == ReportFormat::Csv {
        return Ok(text);
    }
    let value: Value = serde_json::from_str(&text).map_err(|_| CliError::Unexpected {
        status: StatusCode::OK,
        body: text.clone(),
    })?;
    Ok(serde_json::to_string_pretty(&value).unwrap_or(text))
}
