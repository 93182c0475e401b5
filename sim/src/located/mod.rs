//! Located errors: every one names the file, the line and column, the
//! field, and what would be accepted. Shared by everything that reads a
//! TOML input: scenarios (their `[live]` table included), policy files, a
//! gate's thresholds.

mod index;

pub use index::TomlIndex;

use std::borrow::Cow;
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

/// Printed as `file:line:col: `field`: message`, with the control
/// characters of each part escaped (see [`escape_controls`]): field names and
/// messages quote the input, and a terminal would act on escape codes in it.
impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: `{}`: {}",
            escape_controls(&self.file),
            self.line,
            self.column,
            escape_controls(&self.field),
            escape_controls(&self.message)
        )
    }
}

impl LocatedError {
    /// An error the `toml` parser reported at byte `offset` of the text
    /// `index` was built from. The message is never empty (`toml` gives an
    /// empty one for a key whose value is cut off by the end of the file),
    /// and an error at the end of the text says the file ends there: a
    /// truncated file is the usual cause.
    pub fn at_offset(
        file: &str,
        index: &TomlIndex,
        offset: usize,
        field: impl Into<String>,
        message: &str,
    ) -> LocatedError {
        let (line, column) = index.line_col(offset);
        let message = message.trim();
        let message = match (message.is_empty(), index.at_end(offset)) {
            (true, true) => "the file ends where a value is expected: is it cut short?".to_string(),
            (true, false) => "this is not valid TOML".to_string(),
            (false, true) => format!("{message}; the file ends here: is it cut short?"),
            (false, false) => message.to_string(),
        };
        LocatedError {
            file: file.to_string(),
            line,
            column,
            field: field.into(),
            message,
        }
    }
}

/// `s` with every control character but newline and tab (ESC, CR, BEL, DEL,
/// C1 codes…) and every bidirectional override written as a Rust escape
/// (`\u{1b}`), so that text
/// quoted from an input file cannot move the cursor, recolour or clear the
/// terminal, or reorder what is shown (issue 15). Other characters,
/// non-ASCII letters included, are kept.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

impl std::error::Error for LocatedError {}

/// An input that parses and validates but describes a model that cannot be
/// right (a fault selector that matches no host, shares that do not sum to
/// 1, a policy that cannot finish within the run): the run goes ahead, and
/// the CLI prints it as `warning: file:line:col: `field`: message`
/// (`--deny-warnings` makes it fatal). Located like a [`LocatedError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning(pub LocatedError);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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

    pub(crate) fn warn(&self, field: &str, message: impl Into<String>) -> Warning {
        Warning(self.err(field, message))
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
