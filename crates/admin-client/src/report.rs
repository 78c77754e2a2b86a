//! `fabrique report …`: reports read through the admin API, printed as the API writes them.

use std::fmt;

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::request::{Request, entity_query};
use crate::{CliError, call};

/// Reports read through the admin API, printed as the API writes them.
#[derive(Args)]
pub struct ReportCli {
    /// Base URL of the Fabrique server.
    #[arg(
        long,
        global = true,
        env = "FABRIQUE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API key allowed to read reports: a group administrator's, or an entity
    /// administrator's or auditor's for their entity.
    #[arg(
        long,
        global = true,
        env = "FABRIQUE_ADMIN_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    #[command(subcommand)]
    pub command: ReportCommand,
}

impl fmt::Debug for ReportCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportCli")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("command", &self.command)
            .finish()
    }
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
    let text = call(&cli.url, cli.key.as_deref(), request).await?;
    if *format == ReportFormat::Csv {
        return Ok(text);
    }
    let value: Value = serde_json::from_str(&text).map_err(|_| CliError::Unexpected {
        status: StatusCode::OK,
        body: text.clone(),
    })?;
    Ok(serde_json::to_string_pretty(&value).unwrap_or(text))
}
