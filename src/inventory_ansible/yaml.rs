//! Ansible's YAML inventory format (`all: {hosts, vars, children}` nested to any depth),
//! read through yaml-rust2's event parser so that every key and value keeps its position.

use super::build::{Builder, Var};
use super::error::InventoryErrorKind;
use std::collections::HashMap;
use std::ops::Range;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML value with the byte range it was written at.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Scalar {
        text: String,
        plain: bool,
        span: Range<usize>,
    },
    Seq {
        items: Vec<Node>,
        span: Range<usize>,
    },
    Map {
        entries: Vec<(Node, Node)>,
        span: Range<usize>,
    },
}

impl Node {
    fn span(&self) -> Range<usize> {
        match self {
            Node::Scalar { span, .. } | Node::Seq { span, .. } | Node::Map { span, .. } => {
                span.clone()
            }
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, plain: true, .. }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value as an attribute string: scalars as written, collections as JSON.
    fn to_text(&self) -> String {
        match self {
            Node::Scalar { .. } if self.is_null() => String::new(),
            Node::Scalar { text, .. } => text.clone(),
            _ => self.to_json().to_string(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Node::Scalar { .. } if self.is_null() => serde_json::Value::Null,
            Node::Scalar { text, .. } => serde_json::Value::String(text.clone()),
            Node::Seq { items, .. } => items.iter().map(Node::to_json).collect(),
            Node::Map { entries, .. } => entries
                .iter()
                .map(|(k, v)| (k.to_text(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// Builds [`Node`]s from parser events.
struct Loader<'t> {
    text: &'t str,
    /// Byte offset of each char index, because yaml-rust2 markers count chars.
    char_bytes: Option<Vec<usize>>,
    stack: Vec<(Node, usize, Option<Node>)>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
}

impl Loader<'_> {
    fn byte(&self, m: &Marker) -> usize {
        match &self.char_bytes {
            Some(t) => t.get(m.index()).copied().unwrap_or(self.text.len()),
            None => m.index().min(self.text.len()),
        }
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some((Node::Seq { items, .. }, _, _)) => items.push(node),
            Some((Node::Map { entries, .. }, _, pending)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => *pending = Some(node),
            },
            _ => self.docs.push(node),
        }
    }
}

impl MarkedEventReceiver for Loader<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = self.byte(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let len = if quoted { text.len() + 2 } else { text.len() };
                let end = (at + len).min(self.text.len());
                let node = Node::Scalar {
                    text,
                    plain: !quoted,
                    span: at..end.max(at),
                };
                self.push_value(node, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                let node = Node::Seq {
                    items: Vec::new(),
                    span: at..at,
                };
                self.stack.push((node, anchor, None));
            }
            Event::MappingStart(anchor, _) => {
                let node = Node::Map {
                    entries: Vec::new(),
                    span: at..at,
                };
                self.stack.push((node, anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((mut node, anchor, _)) = self.stack.pop() {
                    if let Node::Seq { span, .. } | Node::Map { span, .. } = &mut node {
                        span.end = at.max(span.start);
                    }
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node::Scalar {
                    text: String::new(),
                    plain: true,
                    span: at..at,
                });
                self.push_value(node, 0);
            }
            _ => {}
        }
    }
}

/// Parses YAML `text` into its first document (`None` for an empty stream).
pub(super) fn load(text: &str) -> Result<Option<Node>, (Range<usize>, String)> {
    let char_bytes = (!text.is_ascii()).then(|| {
        let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        v.push(text.len());
        v
    });
    let mut loader = Loader {
        text,
        char_bytes,
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut loader, false) {
        let at = loader.byte(e.marker());
        return Err((at..at, e.info().to_string()));
    }
    Ok(loader.docs.into_iter().next())
}

/// Reads a YAML inventory `text` into `b`.
pub(super) fn read(text: &str, b: &mut Builder<'_>) {
    let root = match load(text) {
        Ok(Some(root)) => root,
        Ok(None) => return,
        Err((span, msg)) => {
            b.error(Some(span), InventoryErrorKind::Syntax(msg));
            return;
        }
    };
    if root.is_null() {
        return;
    }
    let Node::Map { entries, .. } = &root else {
        b.error(
            Some(root.span()),
            shape("the inventory", "a mapping of groups"),
        );
        return;
    };
    for (key, value) in entries {
        if let Some(name) = scalar_key(b, key) {
            group(b, &name, key.span(), value);
        }
    }
}

fn shape(what: &str, expected: &'static str) -> InventoryErrorKind {
    InventoryErrorKind::WrongShape {
        what: what.to_string(),
        expected,
    }
}

fn scalar_key(b: &mut Builder<'_>, key: &Node) -> Option<String> {
    match key {
        Node::Scalar { text, .. } => Some(text.clone()),
        _ => {
            b.error(Some(key.span()), shape("a key", "a plain name"));
            None
        }
    }
}

fn group(b: &mut Builder<'_>, name: &str, span: Range<usize>, node: &Node) -> usize {
    let g = b.group(name, Some(span));
    if node.is_null() {
        return g;
    }
    let Node::Map { entries, .. } = node else {
        let what = format!("group `{name}`");
        b.error(
            Some(node.span()),
            shape(&what, "a mapping with `hosts`, `vars` or `children`"),
        );
        return g;
    };
    for (key, value) in entries {
        let Some(k) = scalar_key(b, key) else {
            continue;
        };
        match k.as_str() {
            "hosts" => hosts(b, g, name, value),
            "vars" => {
                for (var, val) in vars(b, &format!("`vars` of group `{name}`"), value) {
                    b.group_var(g, &var, val);
                }
            }
            "children" => {
                if value.is_null() {
                    continue;
                }
                let Node::Map { entries, .. } = value else {
                    let what = format!("`children` of group `{name}`");
                    b.error(Some(value.span()), shape(&what, "a mapping of groups"));
                    continue;
                };
                for (ck, cv) in entries {
                    if let Some(cname) = scalar_key(b, ck) {
                        let c = group(b, &cname, ck.span(), cv);
                        b.add_child(g, c, Some(ck.span()));
                    }
                }
            }
            _ => b.warn(Some(key.span()), InventoryErrorKind::UnexpectedGroupKey(k)),
        }
    }
    g
}

fn hosts(b: &mut Builder<'_>, g: usize, group_name: &str, node: &Node) {
    if node.is_null() {
        return;
    }
    let Node::Map { entries, .. } = node else {
        let what = format!("`hosts` of group `{group_name}`");
        b.error(
            Some(node.span()),
            shape(&what, "a mapping of host names (`name:` per line)"),
        );
        return;
    };
    for (key, value) in entries {
        let Some(pattern) = scalar_key(b, key) else {
            continue;
        };
        let hs = b.add_hosts(&pattern, Some(key.span()), g);
        for (var, val) in vars(b, &format!("vars of host `{pattern}`"), value) {
            for &h in &hs {
                b.host_var(h, &var, val.clone());
            }
        }
    }
}

fn vars(b: &mut Builder<'_>, what: &str, node: &Node) -> Vec<(String, Var)> {
    if node.is_null() {
        return Vec::new();
    }
    let Node::Map { entries, .. } = node else {
        b.error(Some(node.span()), shape(what, "a mapping of variables"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        if let Some(k) = scalar_key(b, key) {
            let span = key.span().start..value.span().end.max(key.span().end);
            out.push((
                k,
                Var {
                    value: value.to_text(),
                    span: Some(span),
                },
            ));
        }
    }
    out
}
