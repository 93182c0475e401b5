//! YAML documents as trees whose every node knows its line and column, built
//! from `yaml-rust2`'s parser events (each event carries a marker).
//!
//! Scalars stay text with their style (a quoted `"20"` is a string, a plain
//! `20` a number), as Kubernetes decodes them; aliases are expanded to a copy
//! of their anchor's node. Only what manifests need is here: maps with
//! string keys, sequences, scalars.

use shakedown_sim::located::LocatedError;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text as written; `plain` when unquoted (so it may be a number, a
    /// boolean or null).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order; keys are scalars.
    Map(Vec<(String, Pos, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v)
    }

    /// The entries of a map (none for anything else).
    pub fn entries(&self) -> &[(String, Pos, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(s) => s,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    pub fn is_seq(&self) -> bool {
        matches!(self.value, Value::Seq(_))
    }

    /// A scalar's text (quoted or not).
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A plain scalar that reads as an integer (YAML 1.2 core schema).
    pub fn int(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar { text, plain: true } => text.parse().ok(),
            _ => None,
        }
    }

    pub fn float(&self) -> Option<f64> {
        match &self.value {
            Value::Scalar { text, plain: true } => {
                text.parse().ok().filter(|v: &f64| v.is_finite())
            }
            _ => None,
        }
    }

    /// A plain boolean as Kubernetes reads one: `sigs.k8s.io/yaml` decodes
    /// YAML 1.1, where `yes`/`no`/`on`/`off`/`y`/`n` are booleans too.
    pub fn bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y"
                | "Y" => Some(true),
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
                | "N" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The source text of a scalar, or a short description of a collection
    /// (for the comments `import` writes).
    pub fn show(&self) -> String {
        match &self.value {
            Value::Scalar { text, .. } => {
                let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                if one_line.chars().count() > 60 {
                    format!("{}…", one_line.chars().take(60).collect::<String>())
                } else {
                    one_line
                }
            }
            Value::Seq(s) => format!("[{} items]", s.len()),
            Value::Map(m) if m.is_empty() => "{}".into(),
            Value::Map(m)
                if m.len() <= 2
                    && m.iter()
                        .all(|(_, _, v)| matches!(v.value, Value::Scalar { .. })) =>
            {
                let kv: Vec<String> = m
                    .iter()
                    .map(|(k, _, v)| format!("{k}: {}", v.show()))
                    .collect();
                format!("{{{}}}", kv.join(", "))
            }
            Value::Map(_) => "{…}".into(),
        }
    }
}

/// One document of a file.
#[derive(Clone, Debug)]
pub struct Doc {
    pub root: Node,
}

/// An open collection: the node, for a map the key waiting for its value,
/// and its anchor id (0: none).
type Open = (Node, Option<(String, Pos)>, usize);

struct Builder {
    docs: Vec<Doc>,
    stack: Vec<Open>,
    anchors: Vec<(usize, Node)>,
    error: Option<(Pos, String)>,
}

fn pos(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.docs.push(Doc { root: node }),
            Some((parent, pending, _)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => match pending.take() {
                    None => match &node.value {
                        Value::Scalar { text, .. } => *pending = Some((text.clone(), node.pos)),
                        _ => {
                            if self.error.is_none() {
                                self.error = Some((
                                    node.pos,
                                    "a map key must be a scalar (a name), not a map or a list"
                                        .into(),
                                ));
                            }
                            *pending = Some((String::new(), node.pos));
                        }
                    },
                    Some((k, kpos)) => {
                        if entries.iter().any(|(x, _, _)| *x == k) && self.error.is_none() {
                            self.error =
                                Some((kpos, format!("key `{k}` appears twice in this map")));
                        }
                        entries.push((k, kpos, node));
                    }
                },
                Value::Scalar { .. } => unreachable!("scalars are never open"),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push_value(
                    Node {
                        pos: p,
                        value: Value::Scalar { text, plain },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    pos: p,
                    value: Value::Seq(vec![]),
                },
                None,
                anchor,
            )),
            Event::MappingStart(anchor, _) => self.stack.push((
                Node {
                    pos: p,
                    value: Value::Map(vec![]),
                },
                None,
                anchor,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, _, anchor) = self.stack.pop().expect("balanced events");
                self.push_value(node, anchor);
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone());
                match node {
                    Some(mut n) => {
                        n.pos = p;
                        self.push_value(n, 0);
                    }
                    None => {
                        if self.error.is_none() {
                            self.error = Some((p, "an alias to an unknown anchor".into()));
                        }
                    }
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parses every document of `text` (empty documents are dropped). A syntax
/// error is located at its line and column.
pub fn parse(file: &str, text: &str) -> Result<Vec<Doc>, LocatedError> {
    let mut b = Builder {
        docs: vec![],
        stack: vec![],
        anchors: vec![],
        error: None,
    };
    let err = |p: Pos, message: String| LocatedError {
        file: file.to_string(),
        line: p.line,
        column: p.col,
        field: "(file)".into(),
        message,
    };
    Parser::new_from_str(text)
        .load(&mut b, true)
        .map_err(|e| err(pos(e.marker()), format!("not valid YAML: {}", e.info())))?;
    if let Some((p, m)) = b.error {
        return Err(err(p, m));
    }
    Ok(b.docs.into_iter().filter(|d| !d.root.is_null()).collect())
}

/// Whether `text` looks like YAML rather than TOML: a `.yaml`/`.yml` name,
/// or an `apiVersion:`/`kind:` key at the start of a line.
pub fn looks_like_yaml(name: &str, text: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        return true;
    }
    if lower.ends_with(".toml") {
        return false;
    }
    text.lines()
        .any(|l| l.starts_with("apiVersion:") || l.starts_with("kind:") || l.trim_end() == "---")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_line_and_column() {
        let docs = parse(
            "r.yaml",
            "kind: Rollout\nspec:\n  steps:\n  - setWeight: 20\n  - pause: {duration: 40s}\n---\nkind: Service\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        let steps = docs[0].root.get("spec").unwrap().get("steps").unwrap();
        let w = steps.items()[0].get("setWeight").unwrap();
        assert_eq!((w.pos.line, w.pos.col, w.int()), (4, 16, Some(20)));
        let p = steps.items()[1].get("pause").unwrap();
        assert_eq!(p.get("duration").unwrap().str(), Some("40s"));
        assert_eq!(docs[1].root.get("kind").unwrap().str(), Some("Service"));
    }

    #[test]
    fn quoted_numbers_are_strings_and_aliases_expand() {
        let docs = parse(
            "a.yaml",
            "a: \"20\"\nb: &x {c: 1}\nd: *x\ne: no\nf: \"no\"\n",
        )
        .unwrap();
        let r = &docs[0].root;
        assert_eq!(r.get("e").unwrap().bool(), Some(false));
        assert_eq!(r.get("f").unwrap().bool(), None);
        assert_eq!(r.get("a").unwrap().int(), None);
        assert_eq!(r.get("d").unwrap().get("c").unwrap().int(), Some(1));
    }

    #[test]
    fn syntax_and_duplicate_keys_are_located() {
        let e = parse("a.yaml", "a: 1\nb: [1, 2\n").unwrap_err();
        assert_eq!(e.file, "a.yaml");
        assert!(e.message.starts_with("not valid YAML"), "{e}");
        let e = parse("a.yaml", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1), "{e}");
    }
}
