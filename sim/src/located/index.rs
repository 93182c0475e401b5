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
    /// Where the value starts (`key = value` lines); `None` for headers.
    value_offset: Option<usize>,
}

/// An index of the keys in a TOML text.
#[derive(Debug)]
pub struct TomlIndex {
    entries: Vec<Entry>,
    /// Byte offset where each line starts; one entry per line (none for an
    /// empty text).
    line_starts: Vec<usize>,
    /// Byte offset where each line's text ends, before its `\n` or `\r\n`.
    line_ends: Vec<usize>,
}

impl TomlIndex {
    pub fn new(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut line_starts = Vec::new();
        let mut line_ends = Vec::new();
        let mut table = String::new();
        let mut array_counts: std::collections::BTreeMap<String, usize> = Default::default();
        let mut offset = 0;
        for (i, raw_line) in text.split_inclusive('\n').enumerate() {
            let line_no = i + 1;
            line_starts.push(offset);
            let body = raw_line.strip_suffix('\n').unwrap_or(raw_line);
            line_ends.push(offset + body.strip_suffix('\r').unwrap_or(body).len());
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
                        value_offset: None,
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
                        value_offset: None,
                    });
                }
            } else if !trimmed.starts_with('#') {
                if let Some(eq) = trimmed.find('=') {
                    let key = trimmed[..eq].trim().trim_matches('"');
                    if !key.is_empty() && !key.contains(char::is_whitespace) {
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
                            value_offset: Some(offset + indent + value_start),
                        });
                    }
                }
            }
            offset += raw_line.len();
        }
        TomlIndex {
            entries,
            line_starts,
            line_ends,
        }
    }

    /// 1-based line and (byte) column of a byte offset. The end of the text,
    /// or any offset past it, is the end of the last line: a truncated
    /// file's error points at its last line, just after its last character,
    /// never at a line the file does not have (issue 15: 88 errors pointed
    /// one line past the end).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let (Some(&last_start), Some(&last_end)) = (self.line_starts.last(), self.line_ends.last())
        else {
            return (1, 1);
        };
        if offset >= last_start.max(last_end) {
            return (self.line_starts.len(), last_end - last_start + 1);
        }
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        (line + 1, offset - self.line_starts[line] + 1)
    }

    /// How many lines the text has (a last line without `\n` counts; an
    /// empty text has none).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Whether `offset` is at or past the end of the text's content (only
    /// whitespace and comments, if anything, follow it).
    pub fn at_end(&self, offset: usize) -> bool {
        self.line_ends.last().is_none_or(|&end| offset >= end)
    }

    /// The dotted path of the table whose contents start at `offset`: a
    /// `[table]` header there, or an inline table value `key = { … }` that
    /// starts there; `None` for the top level (the document).
    pub fn table_at(&self, offset: usize) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| match e.value_offset {
                None => e.offset == offset,
                Some(v) => v == offset,
            })
            .map(|e| e.path.as_str())
    }

    /// The first `key = value` under `table` (`""`: anywhere) whose value
    /// starts at an offset `pred` accepts: its path and that offset.
    pub fn find_value(&self, table: &str, pred: impl Fn(usize) -> bool) -> Option<(&str, usize)> {
        self.entries.iter().find_map(|e| {
            let v = e.value_offset?;
            let inside = table.is_empty()
                || e.path
                    .strip_prefix(table)
                    .is_some_and(|rest| rest.starts_with('.'));
            (inside && pred(v)).then_some((e.path.as_str(), v))
        })
    }

    /// Whether the value written at `offset` of `text` is a TOML date-time
    /// (`1979-05-27`, `07:32:00`, `1979-05-27T07:32:00Z`): serde sees one as
    /// a table with a private key, and says so in its messages.
    pub fn is_datetime_at(text: &str, offset: usize) -> bool {
        let v = text.get(offset..).unwrap_or("").as_bytes();
        let digits = |n: usize| v.len() > n && v[..n].iter().all(u8::is_ascii_digit);
        (digits(4) && v[4] == b'-') || (digits(2) && v[2] == b':')
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

    /// Line and column of the key `path` itself (not of its value, nor of
    /// a table above it), if it is written.
    pub fn locate_key(&self, path: &str) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .find(|e| e.path == path)
            .map(|e| self.line_col(e.offset))
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

    // issue 15 item 8: the end of a file ending in `\n` was located on a
    // line after the last one.
    #[test]
    fn the_end_of_the_text_is_on_its_last_line() {
        let idx = TomlIndex::new(TEXT);
        assert_eq!(idx.line_count(), 14);
        assert_eq!(idx.line_col(TEXT.len()), (14, 17));
        assert_eq!(idx.line_col(TEXT.len() + 5), (14, 17));
        assert!(idx.at_end(TEXT.len() - 1) && !idx.at_end(TEXT.len() - 2));
        let idx = TomlIndex::new("a = 1\r\nb =");
        assert_eq!(idx.line_col(10), (2, 4));
        assert_eq!(idx.line_col(5), (1, 6));
        let idx = TomlIndex::new("");
        assert_eq!((idx.line_count(), idx.line_col(0)), (0, (1, 1)));
    }

    #[test]
    fn tables_are_found_where_their_contents_start() {
        let idx = TomlIndex::new(TEXT);
        assert_eq!(idx.table_at(TEXT.find("[fleet]").unwrap()), Some("fleet"));
        let second = TEXT.rfind("[[fleet.roles]]").unwrap();
        assert_eq!(idx.table_at(second), Some("fleet.roles[1]"));
        let text = "x = 1\nd = { a = 1 }\n";
        let idx = TomlIndex::new(text);
        assert_eq!(idx.table_at(text.find('{').unwrap()), Some("d"));
        assert_eq!(idx.table_at(0), None);
        assert!(TomlIndex::is_datetime_at("t = 1979-05-27", 4));
        assert!(TomlIndex::is_datetime_at("07:32:00", 0));
        assert!(!TomlIndex::is_datetime_at("t = 1979", 4));
    }
}
