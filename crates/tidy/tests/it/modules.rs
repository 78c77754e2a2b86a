//! No import circle among the modules of the crates listed in [`ACYCLIC`]: each module of such a
//! crate (a file or folder under `src/`, its submodules counted as itself) uses only modules that
//! do not use it back, directly or through others, so the crate reads bottom up.
//!
//! A module's uses are the `crate::<module>` paths in its files, the items of a `use crate::{…}`
//! group, and, in a file right under `src/`, `super::<module>`. `lib.rs`, which declares and
//! re-exports them all, and test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::{files_with, report, text};

/// The crates held free of import circles. The request path must stay readable top to bottom;
/// add a crate once its circles are broken.
const ACYCLIC: [&str; 1] = ["gateway"];

#[test]
fn the_modules_of_the_request_path_import_no_circle() {
    let mut problems = Vec::new();
    for krate in ACYCLIC {
        let graph = module_graph(krate);
        for circle in circles(&graph) {
            let names: Vec<&str> = circle.iter().map(String::as_str).collect();
            problems.push(format!(
                "crates/{krate}: the modules {} use each other; move what they share into a module \
                 below them",
                names.join(", ")
            ));
        }
    }
    report("import circles", &problems);
}

/// Each module of `crates/<krate>/src` and the modules it uses.
fn module_graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new("crates").join(krate).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files_with("rs") {
        let Ok(relative) = path.strip_prefix(&src) else {
            continue;
        };
        let mut parts = relative.iter().map(|p| p.to_string_lossy());
        let Some(first) = parts.next() else {
            continue;
        };
        let module = first.trim_end_matches(".rs").to_owned();
        let nested = relative.components().count() > 1;
        if module == "lib" || module == "main" || module == "tests" || first == "bin" {
            continue;
        }
        if relative.file_stem().is_some_and(|stem| stem == "tests") {
            continue;
        }
        let uses = graph.entry(module.clone()).or_default();
        for used in used_modules(&text(&path).unwrap_or_default(), !nested) {
            if used != module {
                uses.insert(used);
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        uses.retain(|used| modules.contains(used));
    }
    graph
}

/// The first segments of the crate paths a file uses; `super::` counts only at the top level.
fn used_modules(source: &str, top_level: bool) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    let prefixes: &[&str] = if top_level {
        &["crate::", "super::"]
    } else {
        &["crate::"]
    };
    for prefix in prefixes {
        for (at, _) in code.match_indices(prefix) {
            let after = &code[at + prefix.len()..];
            if let Some(group) = after.strip_prefix('{') {
                used.extend(group_heads(group));
            } else {
                used.extend(identifier(after));
            }
        }
    }
    used
}

/// The first identifier of each item of a `{…}` group (the text after its `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                heads.extend(identifier(&group[at..]));
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> Option<String> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let name = &text[..end];
    (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_'))
        .then(|| name.to_owned())
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        circles: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, module: &'g str) {
            let index = self.index.len();
            self.index.insert(module, index);
            self.low.insert(module, index);
            self.stack.push(module);
            for used in &self.graph[module] {
                let used = used.as_str();
                if !self.index.contains_key(used) {
                    self.visit(used);
                    let low = self.low[module].min(self.low[used]);
                    self.low.insert(module, low);
                } else if self.stack.contains(&used) {
                    let low = self.low[module].min(self.index[used]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == index {
                let from = self.stack.iter().rposition(|m| *m == module).unwrap_or(0);
                let component: Vec<String> = self.stack.drain(from..).map(str::to_owned).collect();
                if component.len() > 1 {
                    self.circles.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        circles: Vec::new(),
    };
    for module in graph.keys() {
        if !walk.index.contains_key(module.as_str()) {
            walk.visit(module);
        }
    }
    walk.circles
}

#[test]
fn a_circle_is_found_and_a_chain_is_not() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph.entry((*to).to_owned()).or_default();
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
        }
        graph
    };
    assert!(circles(&graph(&[("a", "b"), ("b", "c")])).is_empty());
    let found = circles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].iter().collect::<BTreeSet<_>>().len(), 3);
    let uses = used_modules(
        "use crate::{a::X, b};\nuse crate::c::{D, e};\n// crate::f\nfn g() { super::h(); }",
        true,
    );
    assert_eq!(uses.into_iter().collect::<Vec<_>>(), ["a", "b", "c", "h"]);
}
