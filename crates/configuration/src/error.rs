//! Configuration errors: each one names the file and the key it is about, and all of them are
//! reported together so that one edit-and-retry cycle fixes every mistake at once.

use std::fmt;

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or other origin) the configuration came from, as given to `Config::from_toml`.
    /// Not named `source`, which would read as `std::error::Error::source`.
    pub file: String,
    /// Where in the file: a key path such as `models[2].fallbacks[0]`, or `line 3, column 7` for a
    /// TOML syntax error. Empty when the problem is the file as a whole (for example unreadable).
    pub key: String,
    /// What is wrong, in one line. Never contains the value of a credential.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

/// Every problem found in the configuration, in file order as far as it can be known: TOML syntax
/// and type errors first, then the rules checked on the typed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    /// One error per line, `<source>: <key path>: <message>`, without a trailing newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl std::error::Error for ConfigErrors {}

/// Gathers errors during parsing and validation, so no check ever has to stop at the first problem.
pub(crate) struct Collector {
    file: String,
    errors: Vec<ConfigError>,
}

impl Collector {
    pub(crate) fn new(file: &str) -> Self {
        Collector {
            file: file.to_owned(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        // One error per line is the output contract; a multi-line message from a dependency would
        // break it, so its lines are joined.
        let message: String = message.into();
        let message = message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        self.errors.push(ConfigError {
            file: self.file.clone(),
            key: key.into(),
            message,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_errors(self) -> ConfigErrors {
        ConfigErrors(self.errors)
    }
}
