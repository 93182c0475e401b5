//! Writing a run's outputs as one set: everything is rendered in memory
//! first, then the whole set is written into a staging directory beside the
//! target (`.NAME.PID.new`, same parent, so renames stay on one filesystem)
//! and swapped in with renames. Readers see the old set or the new set,
//! never a mix of the two, and never a half-written file.
//!
//! ```text
//!   parent/.out.PID.new   <- every file written and synced here
//!   parent/out            -> parent/.out.PID.old   (only if out exists)
//!   parent/.out.PID.new   -> parent/out
//!   parent/.out.PID.old   removed
//! ```
//!
//! The window: between the two renames `out` does not exist (a reader finds
//! no set rather than a mixed one). A kill inside that window leaves the old
//! set in `.out.PID.old` and the new one in `.out.PID.new`, beside `out`, not
//! in it. A failure before the swap (a file that cannot be created, a full
//! disk) removes the staging directory and leaves the old set untouched.
//!
//! [`write_atomic`] replaces the set: files of an earlier set that the new
//! one does not contain are gone afterwards. Because that deletes, it only
//! replaces a directory that holds nothing but files shakedown writes
//! (see [`is_output_name`]); anything else is refused. [`update_atomic`] adds
//! to or overwrites files of an existing set (the `gate` and `report`
//! commands) and carries every other entry over (hard-linked, or copied where
//! links are not possible).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One rendered file. Its name may contain `/` to place it in a
/// subdirectory of the set.
pub struct Output {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Output {
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Output {
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

/// Whether a file name is one shakedown writes (the extensions of every
/// output, and the `.NAME.PID.tmp` files earlier versions left behind).
pub fn is_output_name(name: &str) -> bool {
    const EXTENSIONS: [&str; 6] = [".json", ".csv", ".md", ".html", ".xml", ".hdr"];
    EXTENSIONS.iter().any(|e| name.ends_with(e))
        || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Writes the set into `dir` (created with its parents), replacing whatever
/// set `dir` held. Refuses (`AlreadyExists`) to replace a directory holding
/// entries shakedown does not write, so a mistyped `--out` never deletes
/// the user's files.
pub fn write_atomic(dir: &Path, outputs: &[Output]) -> io::Result<()> {
    swap_in(dir, outputs, false)
}

/// Writes the set into `dir`, keeping the entries of `dir` the set does not
/// overwrite; the result still appears in one swap.
pub fn update_atomic(dir: &Path, outputs: &[Output]) -> io::Result<()> {
    swap_in(dir, outputs, true)
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The parent directory and the final name of `dir`, resolving `.` and `..`.
fn split(dir: &Path) -> io::Result<(PathBuf, String)> {
    let resolved;
    let dir = if dir.file_name().is_none() {
        resolved = fs::canonicalize(dir).map_err(|e| named(dir, e))?;
        &resolved
    } else {
        dir
    };
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: not a directory name shakedown can write to",
                    dir.display()
                ),
            )
        })?
        .to_string();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

fn swap_in(dir: &Path, outputs: &[Output], keep_others: bool) -> io::Result<()> {
    let (parent, name) = split(dir)?;
    fs::create_dir_all(&parent).map_err(|e| named(&parent, e))?;
    let target = parent.join(&name);
    let exists = match fs::metadata(&target) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a directory", target.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(named(&target, e)),
    };
    if exists && !keep_others {
        check_replaceable(&target, outputs)?;
    }
    let pid = std::process::id();
    let staged = parent.join(format!(".{name}.{pid}.new"));
    let old = parent.join(format!(".{name}.{pid}.old"));
    if staged.exists() {
        fs::remove_dir_all(&staged).map_err(|e| named(&staged, e))?;
    }
    let result = stage(&staged, &target, exists && keep_others, outputs);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staged);
        return Err(e);
    }
    if exists {
        if let Err(e) = fs::rename(&target, &old) {
            let _ = fs::remove_dir_all(&staged);
            return Err(named(&target, e));
        }
        if let Err(e) = fs::rename(&staged, &target) {
            let _ = fs::rename(&old, &target);
            let _ = fs::remove_dir_all(&staged);
            return Err(named(&target, e));
        }
        sync_dir(&parent);
        fs::remove_dir_all(&old).map_err(|e| named(&old, e))?;
    } else {
        if let Err(e) = fs::rename(&staged, &target) {
            let _ = fs::remove_dir_all(&staged);
            return Err(named(&target, e));
        }
        sync_dir(&parent);
    }
    Ok(())
}

/// Refuses to replace a directory holding anything shakedown does not write.
fn check_replaceable(target: &Path, outputs: &[Output]) -> io::Result<()> {
    let subdirs: Vec<&str> = outputs
        .iter()
        .filter_map(|o| o.name.split_once('/').map(|(d, _)| d))
        .collect();
    for entry in fs::read_dir(target).map_err(|e| named(target, e))? {
        let entry = entry.map_err(|e| named(target, e))?;
        let ty = entry.file_type().map_err(|e| named(&entry.path(), e))?;
        let file_name = entry.file_name();
        let n = file_name.to_string_lossy();
        let ours = if ty.is_dir() {
            subdirs.contains(&n.as_ref())
        } else {
            ty.is_file() && is_output_name(&n)
        };
        if !ours {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{}: exists and holds `{n}`, which shakedown did not write; \
                     writing would replace the whole directory: choose a new or empty directory",
                    target.display()
                ),
            ));
        }
    }
    Ok(())
}

fn stage(staged: &Path, target: &Path, carry: bool, outputs: &[Output]) -> io::Result<()> {
    fs::create_dir(staged).map_err(|e| named(staged, e))?;
    for o in outputs {
        let path = staged.join(&o.name);
        let shown = target.join(&o.name);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(|e| named(&shown, e))?;
        }
        let mut f = fs::File::create(&path).map_err(|e| named(&shown, e))?;
        f.write_all(&o.bytes).map_err(|e| named(&shown, e))?;
        f.sync_all().map_err(|e| named(&shown, e))?;
    }
    if carry {
        carry_over(target, staged)?;
    }
    sync_dir(staged);
    Ok(())
}

/// Links (or copies) every entry of `from` that `to` does not have yet.
fn carry_over(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from).map_err(|e| named(from, e))? {
        let entry = entry.map_err(|e| named(from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ty = entry.file_type().map_err(|e| named(&src, e))?;
        if ty.is_dir() {
            if !dst.exists() {
                fs::create_dir(&dst).map_err(|e| named(&dst, e))?;
            }
            carry_over(&src, &dst)?;
        } else if !dst.exists() && fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst).map_err(|e| named(&src, e))?;
        }
    }
    Ok(())
}

/// Makes renames in `dir` durable; best effort (not every platform can
/// open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shakedown-write-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    // issue 15 item 7: a kill between per-file renames left old and new files mixed.
    #[test]
    fn replacing_a_set_leaves_only_the_new_set_and_no_staging_dir() {
        let root = scratch("replace");
        let out = root.join("out");
        write_atomic(
            &out,
            &[
                Output::new("summary.json", "old"),
                Output::new("events.csv", "old"),
            ],
        )
        .unwrap();
        write_atomic(
            &out,
            &[
                Output::new("summary.json", "new"),
                Output::new("report.md", "new"),
            ],
        )
        .unwrap();
        assert_eq!(listing(&out), ["report.md", "summary.json"]);
        assert_eq!(fs::read_to_string(out.join("summary.json")).unwrap(), "new");
        assert_eq!(listing(&root), ["out"], "no staging or old directory left");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failure_mid_set_leaves_the_old_set_intact() {
        let root = scratch("fail");
        let out = root.join("out");
        write_atomic(
            &out,
            &[
                Output::new("summary.json", "old"),
                Output::new("report.md", "old"),
            ],
        )
        .unwrap();
        let err = write_atomic(
            &out,
            &[
                Output::new("summary.json", "new"),
                Output::new("bad\0name.csv", "new"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("out"), "{err}");
        assert_eq!(listing(&out), ["report.md", "summary.json"]);
        assert_eq!(fs::read_to_string(out.join("summary.json")).unwrap(), "old");
        assert_eq!(listing(&root), ["out"]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_directory_with_foreign_files_is_not_replaced() {
        let root = scratch("foreign");
        let out = root.join("out");
        fs::create_dir_all(out.join("photos")).unwrap();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        let err = write_atomic(&out, &[Output::new("summary.json", "x")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("shakedown did not write"), "{err}");
        assert_eq!(listing(&out), ["notes.txt", "photos"]);
        assert_eq!(listing(&root), ["out"]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn update_keeps_other_entries_and_swaps_in_once() {
        let root = scratch("update");
        let out = root.join("out");
        write_atomic(
            &out,
            &[
                Output::new("runs.csv", "rows"),
                Output::new("p/summary.json", "nested"),
            ],
        )
        .unwrap();
        update_atomic(&out, &[Output::new("gate.md", "verdict")]).unwrap();
        assert_eq!(listing(&out), ["gate.md", "p", "runs.csv"]);
        assert_eq!(fs::read_to_string(out.join("runs.csv")).unwrap(), "rows");
        assert_eq!(
            fs::read_to_string(out.join("p/summary.json")).unwrap(),
            "nested"
        );
        assert_eq!(listing(&root), ["out"]);
        fs::remove_dir_all(&root).unwrap();
    }
}
