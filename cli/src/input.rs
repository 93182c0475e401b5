//! Reading the user's input files: a scenario (and the files it names),
//! with errors the user must fix ([`BadInput`], exit code 2).

use anyhow::Result;
use shakedown_sim::{Scenario, ScenarioError};
use std::fmt;
use std::path::Path;

/// Input the user must fix (exit code 2). Its message is already located.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

pub fn load(path: &Path) -> Result<Scenario> {
    Ok(load_with_text(path)?.0)
}

/// The scenario and its text (to locate errors in sections validated later).
pub fn load_with_text(path: &Path) -> Result<(Scenario, String)> {
    let text = read_text(path, "scenario")?;
    Ok((parse_scenario(&text, path)?, text))
}

/// Reads a text input (a scenario, policy file, thresholds, samples) as
/// UTF-8. Invalid UTF-8 is located: `file:line:byte` (issue 15: it was
/// reported without a location).
pub fn read_text(path: &Path, what: &str) -> Result<String, BadInput> {
    let bytes = std::fs::read(path)
        .map_err(|e| BadInput(format!("{}: cannot read {what}: {e}", path.display())))?;
    utf8(bytes).map_err(|e| BadInput(format!("{}:{}:{}: {}", path.display(), e.line, e.byte, e)))
}

/// Where a text stops being UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub struct NotUtf8 {
    /// 1-based line of the first invalid byte.
    pub line: usize,
    /// 1-based byte of that line (bytes, not characters: the line is not
    /// text from there on).
    pub byte: usize,
    /// The first byte of the invalid sequence.
    pub value: u8,
}

impl fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not UTF-8: invalid byte 0x{:02x} at line {}, byte {}; save the file as UTF-8",
            self.value, self.line, self.byte
        )
    }
}

/// Decodes `bytes` as UTF-8, or says at which line and byte it fails.
pub fn utf8(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        NotUtf8 {
            line: 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count(),
            byte: at - line_start + 1,
            value: bytes[at],
        }
    })
}

/// The largest replay file read (64 MiB: about two million `time_s,rps`
/// points, years of per-minute data).
pub const MAX_REPLAY_BYTES: u64 = 64 << 20;

/// Reads a regular file of at most `limit` bytes as UTF-8. Anything else is
/// refused before it is opened: a FIFO would block forever and a device such
/// as `/dev/urandom` would be read until memory runs out (issue 15).
pub fn read_regular(path: &Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (a FIFO, device or directory is not read)".into());
    }
    let too_big = |n: u64| format!("{n} bytes, more than the limit of {limit} bytes");
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    utf8(bytes).map_err(|e| e.to_string())
}

/// Parses scenario text as the file at `path`; files it references (a
/// traffic replay CSV) are read relative to the scenario's folder, falling
/// back to the working directory, and only if they are regular files under
/// [`MAX_REPLAY_BYTES`].
pub fn parse_at(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let loader = move |rel: &str| -> Result<String, String> {
        let beside = dir.join(rel);
        let p = if beside.exists() {
            beside
        } else {
            Path::new(rel).to_path_buf()
        };
        read_regular(&p, MAX_REPLAY_BYTES)
            .map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    Scenario::parse_with(text, &path.display().to_string(), &loader)
}

/// [`parse_at`], its error one the user must fix (exit 2).
pub fn parse_scenario(text: &str, path: &Path) -> Result<Scenario> {
    parse_at(text, path).map_err(|e| BadInput(e.to_string()).into())
}

/// Writes a command's output set into `--out` as one set (see
/// [`shakedown_reports::write_atomic`]); a failure names the path and is the user's to
/// fix (exit 2).
pub fn write_out(dir: &Path, outputs: &[shakedown_reports::Output]) -> Result<()> {
    shakedown_reports::write_atomic(dir, outputs).map_err(|e| out_error(dir, e))
}

/// Adds files to an existing output set (`gate`, `report`), keeping the rest.
pub fn update_out(dir: &Path, outputs: &[shakedown_reports::Output]) -> Result<()> {
    shakedown_reports::update_atomic(dir, outputs).map_err(|e| out_error(dir, e))
}

fn out_error(dir: &Path, e: std::io::Error) -> anyhow::Error {
    BadInput(format!(
        "--out {}: cannot write the outputs: {e}",
        dir.display()
    ))
    .into()
}

/// Prints each warning as `warning: FILE:LINE:COL: `field`: message` on
/// stderr; with `deny`, any warning is bad input (exit 2).
pub fn report_warnings(warnings: &[shakedown_sim::located::Warning], deny: bool) -> Result<()> {
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if deny && !warnings.is_empty() {
        return Err(BadInput(format!(
            "{} warning{} and --deny-warnings",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        ))
        .into());
    }
    Ok(())
}

/// A scenario's warnings, read from the file it was loaded from.
pub fn scenario_warnings(
    sc: &Scenario,
    text: &str,
    path: &Path,
) -> Vec<shakedown_sim::located::Warning> {
    sc.warnings(text, &path.display().to_string())
}
