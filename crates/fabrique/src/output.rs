//! What the command line writes: answers on standard output, an error as one line on standard
//! error (`error: ` and its causes, each after a colon), and a reader that went away
//! (`fabrique … | head`) told apart from a real failure, so that it ends the command quietly
//! rather than as a panic or an error.

use std::io::{self, Write as _};

/// Writes `text` to standard output, ending it with a newline if it has none.
pub fn print_lines(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Whether the command failed only because its standard output was closed by its reader.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `error: <what failed>: <why>…` on standard error. Nothing more can be done when standard error
/// itself is closed, so that is ignored.
pub fn print_error(error: &anyhow::Error) {
    let _ = writeln!(io::stderr().lock(), "error: {error:#}");
}
