//! `fabrique plan`: the capacity planner (the `capacity` crate) on a scenario file, its report
//! printed, and with `--out` written as `report.md` and SVG charts.

use std::path::Path;

use anyhow::Context as _;

/// Plans the scenario at `path`, prints the report, and writes its files under `out` if given.
pub fn run(path: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the scenario {}", path.display()))?;
    let plan = capacity::Plan::from_text(&text)
        .with_context(|| format!("in the scenario {}", path.display()))?;
    if let Some(out) = out {
        std::fs::create_dir_all(out)
            .with_context(|| format!("creating the report's directory {}", out.display()))?;
        for file in plan.files() {
            let to = out.join(&file.name);
            std::fs::write(&to, file.content)
                .with_context(|| format!("writing {}", to.display()))?;
        }
    }
    crate::output::print_lines(&plan.text())
}
