//! Finding where a field lives in a scenario file, and which field a byte
//! offset belongs to.
//!
//! `toml` reports a byte span for syntax and type errors, and validation knows
//! the dotted path of the field it rejects (`policy.max_surge`,
//! `fleet.roles[1].hosts`). A small line scanner maps between the two so every
//! error can say `file:line:col` *and* the field's name. It understands what
//! scenario files use: `[table]`, `[[array.of.tables]]` and `key = value`
//! lines (inline tables count as their key's line).

/// One `key = value` line or table header, with its dotted path.
#[derive(Debug)]
struct Entry {
    path: String,
    line: usize,
    col: usize,
    offset: usize,
}

/// An index of the keys in a TOML text.
#[derive(Debug)]
pub struct TomlIndex {
    entries: Vec<Entry>,
    line_starts: Vec<usize>,
}

impl TomlIndex {
    pub fn new(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut line_starts = vec![0];
        let mut table = String::new();
        let mut array_counts: std::collections::BTreeMap<String, usize> = Default::default();
        let mut offset = 0;
        for (i, raw_line) in text.split_inclusive('\n').enumerate() {
            let line_no = i + 1;
            let trimmed = raw_line.trim_start();
            let indent = raw_line.len() - trimmed.len();
            if let Some(rest) = trimmed.strip_prefix("[[") {
                if let Some(end) = rest.find("]]") {
                    let name = rest[..end].trim().to_string();
                    let n = array_counts.entry(name.clone()).or_insert(0);
                    table = format!("{name}[{n}]");
                    *n += 1;
                    entries.push(Entry {
                        path: table.clone(),
                        line: line_no,
                        col: indent + 1,
                        offset: offset + indent,
                    });
                }
            } else if let Some(rest) = trimmed.strip_prefix('[') {
                if let Some(end) = rest.find(']') {
                    table = rest[..end].trim().to_string();
                    // A sub-table of an array-of-tables element: `[fleet.roles.x]`
                    // after `[[fleet.roles]]` belongs to the last element.
                    for (name, n) in &array_counts {
                        if let Some(tail) = table.strip_prefix(&format!("{name}.")) {
                            table = format!("{name}[{}].{tail}", n - 1);
                            break;
                        }
                    }
                    entries.push(Entry {
                        path: table.clone(),
                        line: line_no,
                        col: indent + 1,
                        offset: offset + indent,
                    });
                }
            } else if !trimmed.starts_with('#') {
                if let Some(eq) = trimmed.find('=') {
                    let key = trimmed[..eq].trim().trim_matches('"');
                    if !key.is_empty() && !key.contains(' ') {
                        let value_start = eq
                            + 1
                            + (trimmed[eq + 1..].len() - trimmed[eq + 1..].trim_start().len());
                        let path = if table.is_empty() {
                            key.to_string()
                        } else {
                            format!("{table}.{key}")
                        };
                        entries.push(Entry {
                            path,
                            line: line_no,
                            col: indent + value_start + 1,
                            offset: offset + indent,
                        });
                    }
                }
            }
            offset += raw_line.len();
            line_starts.push(offset);
        }
        TomlIndex {
            entries,
            line_starts,
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        (line + 1, offset - self.line_starts[line] + 1)
    }

    /// Where a dotted field path is written: the value of its key, or else the
    /// closest enclosing table (for a missing field), or line 1.
    pub fn locate(&self, path: &str) -> (usize, usize) {
        let mut p = path;
        loop {
            if let Some(e) = self.entries.iter().find(|e| e.path == p) {
                return (e.line, e.col);
            }
            // Strip the last segment (`.key` or `[n]`).
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return (1, 1),
            }
        }
    }

    /// The field path whose line contains `offset`, if any.
    pub fn field_at(&self, offset: usize) -> Option<&str> {
        let (line, _) = self.line_col(offset);
        self.entries
            .iter()
            .rev()
            .find(|e| e.line == line || (e.offset <= offset && e.line <= line))
            .map(|e| e.path.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n\n[fleet]\ndetection_delay = \"30s\"\n\n[[fleet.roles]]\nname = \"a\"\nhosts = 3\n\n[[fleet.roles]]\nname = \"b\"\n  hosts = 4\n[policy]\nkind = \"rolling\"\n";

    #[test]
    fn locates_paths_and_offsets() {
        let idx = TomlIndex::new(TEXT);
        assert_eq!(idx.locate("name"), (1, 8));
        assert_eq!(idx.locate("fleet.roles[1].hosts"), (12, 11));
        assert_eq!(idx.locate("fleet.roles[0].zones"), (6, 1));
        assert_eq!(idx.locate("policy.max_surge"), (13, 1));
        let off = TEXT.find("hosts = 4").unwrap();
        assert_eq!(idx.field_at(off), Some("fleet.roles[1].hosts"));
        assert_eq!(idx.line_col(off), (12, 3));
    }
}
