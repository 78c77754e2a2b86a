//! Crate dependencies point down the layer table, read from `cargo metadata`.
//!
//! Which layer may use which is written once, in [`Layer::may_use`]. Tests and examples
//! (dev-dependencies) may use anything: the rule is about what the product is built from.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::{report, root};

/// The layers, bottom to top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// Vocabulary and leaf tools: wire types, the domain, prefix hashing, encryption.
    /// They depend on no workspace crate.
    Foundation,
    /// Configuration, storage, telemetry (whose metrics name the domain's models) and the cores
    /// built on them; they may use one another.
    Core,
    /// What callers reach over HTTP: the inference gateway, the admin API, SCIM, OIDC sign-in,
    /// the web chat, the console.
    /// None depends on another.
    Surface,
    /// Tools the binary offers beside the server: the admin API's command-line client, the
    /// workload simulator, the capacity planner. They know the surfaces only over HTTP (the
    /// planner not at all), and none depends on another.
    Tool,
    /// The `fabrique` binary, which assembles everything.
    Binary,
}

impl Layer {
    /// Whether a crate of this layer may be built from a crate of layer `other`.
    fn may_use(self, other: Layer) -> bool {
        use Layer::*;
        match self {
            Foundation => false,
            Core => matches!(other, Foundation | Core),
            Surface | Tool => matches!(other, Foundation | Core),
            Binary => other != Binary,
        }
    }
}

/// Every workspace crate's layer; a new crate fails the test until it is placed here.
const LAYERS: &[(&str, Layer)] = &[
    ("wire", Layer::Foundation),
    ("domain", Layer::Foundation),
    ("prefix", Layer::Foundation),
    ("vault", Layer::Foundation),
    ("tidy", Layer::Foundation),
    ("telemetry", Layer::Core),
    ("policy", Layer::Core),
    ("evidence", Layer::Core),
    ("configuration", Layer::Core),
    ("store", Layer::Core),
    ("identity", Layer::Core),
    ("access", Layer::Core),
    ("browser", Layer::Core),
    ("seats", Layer::Core),
    ("usage", Layer::Core),
    ("retention", Layer::Core),
    ("admission", Layer::Core),
    ("counters", Layer::Core),
    ("reports", Layer::Core),
    ("upstream", Layer::Core),
    ("routing", Layer::Core),
    ("scheduler", Layer::Core),
    ("factory", Layer::Core),
    ("knowledge", Layer::Core),
    ("sim", Layer::Core),
    ("gateway", Layer::Surface),
    ("admin", Layer::Surface),
    ("scim", Layer::Surface),
    ("oidc", Layer::Surface),
    ("web", Layer::Surface),
    ("batch", Layer::Surface),
    ("console", Layer::Surface),
    ("admin-client", Layer::Tool),
    ("simulate", Layer::Tool),
    ("capacity", Layer::Tool),
    ("fabrique", Layer::Binary),
];

/// Edges that break the table while they are being removed, as `(from, to)`. Each must go once
/// its edge is gone; the test says when.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

#[test]
fn crate_dependencies_point_down_the_layer_table() {
    let layers: BTreeMap<&str, Layer> = LAYERS.iter().copied().collect();
    let graph = workspace_graph();
    let mut problems = Vec::new();
    for name in graph.keys() {
        if !layers.contains_key(name.as_str()) {
            problems.push(format!(
                "crate `{name}` has no layer: add it to LAYERS in crates/tidy/tests/it/layers.rs"
            ));
        }
    }
    for name in layers.keys() {
        if !graph.contains_key(*name) {
            problems.push(format!(
                "LAYERS names `{name}`, which is no workspace crate"
            ));
        }
    }
    for (name, dependencies) in &graph {
        let Some(&layer) = layers.get(name.as_str()) else {
            continue;
        };
        for dependency in dependencies {
            let Some(&other) = layers.get(dependency.as_str()) else {
                continue;
            };
            let known = KNOWN_EXCEPTIONS.contains(&(name.as_str(), dependency.as_str()));
            if !layer.may_use(other) && !known {
                problems.push(format!(
                    "`{name}` ({layer:?}) depends on `{dependency}` ({other:?}): dependencies point down \
                     the layers, and no surface or tool depends on another"
                ));
            }
        }
    }
    for (name, dependency) in KNOWN_EXCEPTIONS {
        if !graph
            .get(*name)
            .is_some_and(|d| d.iter().any(|d| d == dependency))
        {
            problems.push(format!(
                "`{name}` no longer depends on `{dependency}`: remove the edge from KNOWN_EXCEPTIONS"
            ));
        }
    }
    report("crate layers", &problems);
}

/// Each workspace crate with the workspace crates it is built from (normal and build
/// dependencies, not dev-dependencies).
fn workspace_graph() -> BTreeMap<String, Vec<String>> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cargo metadata did not run: {e}"));
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("cargo metadata printed no JSON: {e}"));
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .filter_map(|package| {
            let dependencies = package["dependencies"]
                .as_array()?
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(d))
                .map(str::to_owned)
                .collect();
            Some((package["name"].as_str()?.to_owned(), dependencies))
        })
        .collect()
}
