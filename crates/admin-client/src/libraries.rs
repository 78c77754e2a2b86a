//! `fabrique libraries …`: knowledge libraries through `/v1/libraries`. Adding documents sends
//! one request a file and says, on standard error, how far it has come and what each file gave
//! (pages, passages, a scan, what the personal-data rule did), so a long ingestion shows its
//! progress; the answers are printed as JSON.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::request::{Request, encode_path_segment};
use crate::{CliError, Server, call};

/// Knowledge libraries: create them, add documents, search them.
#[derive(Debug, Args)]
pub struct LibrariesCli {
    #[command(flatten)]
    pub server: Server,
    #[command(subcommand)]
    pub command: LibrariesCommand,
}

#[derive(Debug, Subcommand)]
pub enum LibrariesCommand {
    /// The libraries you may read.
    List,
    /// Create a library.
    Create {
        #[arg(long)]
        name: String,
        /// The owning entity's slug; without it, the group's library.
        #[arg(long)]
        entity: Option<String>,
        /// A reader: `user:<id>`, `team:<id>`, `entity:<id or slug>` (repeatable).
        #[arg(long = "reader")]
        readers: Vec<String>,
        /// An editor, who may also add and delete documents (repeatable).
        #[arg(long = "editor")]
        editors: Vec<String>,
        #[arg(long)]
        classification: Option<String>,
        /// The embedding model its passages are embedded with; without it, full text only.
        #[arg(long)]
        embedding_model: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// One library.
    Show { id: String },
    /// Delete a library, its documents and their passages.
    Delete { id: String },
    /// Add documents (PDF, DOCX, XLSX, PPTX, HTML, Markdown, TXT, EML), one after the other.
    Add {
        id: String,
        files: Vec<PathBuf>,
        /// Readers narrowing who may read these documents, comma-separated tags.
        #[arg(long)]
        readers: Option<String>,
        /// What personal data found does: flag (default), redact, refuse.
        #[arg(long)]
        personal_data: Option<String>,
    },
    /// A library's documents.
    Documents { id: String },
    /// Delete one document and its passages.
    Remove { id: String, document: String },
    /// The passages you may read that best answer a query.
    Search {
        id: String,
        query: String,
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
}

fn library_path(id: &str, rest: &str) -> String {
    format!("/v1/libraries/{}{rest}", encode_path_segment(id))
}

/// Runs the command; the JSON to print.
pub async fn libraries(cli: &LibrariesCli) -> Result<Value, CliError> {
    let request = match &cli.command {
        LibrariesCommand::Add {
            id,
            files,
            readers,
            personal_data,
        } => {
            return add(
                &cli.server,
                id,
                files,
                readers.as_deref(),
                personal_data.as_deref(),
            )
            .await;
        }
        LibrariesCommand::List => Request::to(Method::GET, "/v1/libraries"),
        LibrariesCommand::Create {
            name,
            entity,
            readers,
            editors,
            classification,
            embedding_model,
            description,
        } => Request::to(Method::POST, "/v1/libraries").with_body(json!({
            "name": name, "entity": entity, "readers": readers, "editors": editors,
            "classification": classification, "embedding_model": embedding_model,
            "description": description.clone().unwrap_or_default(),
        })),
        LibrariesCommand::Show { id } => Request::to(Method::GET, library_path(id, "")),
        LibrariesCommand::Delete { id } => Request::to(Method::DELETE, library_path(id, "")),
        LibrariesCommand::Documents { id } => {
            Request::to(Method::GET, library_path(id, "/documents"))
        }
        LibrariesCommand::Remove { id, document } => Request::to(
            Method::DELETE,
            library_path(id, &format!("/documents/{}", encode_path_segment(document))),
        ),
        LibrariesCommand::Search { id, query, limit } => {
            Request::to(Method::POST, library_path(id, "/search"))
                .with_body(json!({"query": query, "limit": limit}))
        }
    };
    json_of(call(&cli.server, request).await?)
}

fn json_of(text: String) -> Result<Value, CliError> {
    serde_json::from_str(&text).map_err(|_| CliError::Unexpected {
        status: reqwest::StatusCode::OK,
        body: text,
    })
}

/// Adds each file in turn, saying on standard error what each gave.
async fn add(
    server: &Server,
    id: &str,
    files: &[PathBuf],
    readers: Option<&str>,
    personal_data: Option<&str>,
) -> Result<Value, CliError> {
    let mut added = Vec::with_capacity(files.len());
    for (n, path) in files.iter().enumerate() {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CliError::Read {
            path: shown.clone(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| shown.clone());
        let mut query = vec![("name", name)];
        query.extend(readers.map(|r| ("readers", r.to_owned())));
        query.extend(personal_data.map(|p| ("personal_data", p.to_owned())));
        let request = Request::to(Method::POST, library_path(id, "/documents"))
            .with_query(query)
            .with_file(bytes);
        let document = json_of(call(server, request).await?)?;
        let scanned = if document["scanned"] == json!(true) {
            ", a scan without text"
        } else {
            ""
        };
        let line = format!(
            "[{}/{}] {shown}: {} pages, {} passages, personal data {}{scanned}",
            n + 1,
            files.len(),
            document["pages"],
            document["chunks"],
            document["personal_data"].as_str().unwrap_or("?"),
        );
        let _ = writeln!(std::io::stderr(), "{line}");
        added.push(document);
    }
    Ok(json!({"object": "list", "data": added}))
}
