//! Located errors: every one names the file, the line and column, the
//! field, and what would be accepted. Shared by everything that reads a
//! TOML input: scenarios (their `[live]` table included), policy files, a
//! gate's thresholds.

mod index;

pub use index::TomlIndex;

use std::fmt;

/// An input file that cannot be used (a scenario, a policy file, a gate's
/// thresholds): always fatal for that file, nothing is run and nothing is
/// written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocatedError {
    /// The file name as the caller gave it (the sim crate reads no files).
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending field, e.g. `policy.max_surge`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: `{}`: {}",
            self.file, self.line, self.column, self.field, self.message
        )
    }
}

impl std::error::Error for LocatedError {}

/// Collects validation errors against the file's index.
pub(crate) struct Checker<'a> {
    pub(crate) file: &'a str,
    pub(crate) index: TomlIndex,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(file: &'a str, text: &str) -> Self {
        Checker {
            file,
            index: TomlIndex::new(text),
        }
    }

    pub(crate) fn err(&self, field: &str, message: impl Into<String>) -> LocatedError {
        let (line, column) = self.index.locate(field);
        LocatedError {
            file: self.file.to_string(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn positive(&self, field: &str, v: f64) -> Result<f64, LocatedError> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(field, format!("must be a positive number, got {v}")))
        }
    }

    pub(crate) fn fraction(&self, field: &str, v: f64) -> Result<f64, LocatedError> {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(field, format!("must be between 0 and 1, got {v}")))
        }
    }

    pub(crate) fn hour(&self, field: &str, v: f64) -> Result<f64, LocatedError> {
        if (0.0..24.0).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(field, format!("must be an hour in [0, 24), got {v}")))
        }
    }
}
