//! The standard library: `.sflow` modules of templates embedded in the binary, looked up by
//! their import path (`import "std/apt"`). Input: a module path; output: its source text.

/// Every stdlib module: import path and source.
pub const MODULES: &[(&str, &str)] = &[
    ("std/apt", include_str!("../stdlib/apt.sflow")),
    ("std/dnf", include_str!("../stdlib/dnf.sflow")),
    ("std/systemd", include_str!("../stdlib/systemd.sflow")),
    ("std/files", include_str!("../stdlib/files.sflow")),
    ("std/facts", include_str!("../stdlib/facts.sflow")),
];

/// The source of the stdlib module imported as `path` (`"std/apt"`), if there is one.
pub fn source(path: &str) -> Option<&'static str> {
    MODULES.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

/// Whether an import path names the stdlib (`std/...`) rather than a file.
pub fn is_std_path(path: &str) -> bool {
    path.starts_with("std/")
}

/// The doc comment of an item: the `#` comment lines directly above byte `item_start` of
/// `src` (no blank line between), without their `#` and one following space.
pub fn doc_comment(src: &str, item_start: usize) -> Option<String> {
    let before = src.get(..item_start)?;
    let mut lines: Vec<&str> = Vec::new();
    // The text before the item on its own line must be blank for the comment to belong to it.
    let mut rest = before.trim_end_matches([' ', '\t']);
    rest = rest.strip_suffix('\n').unwrap_or(rest);
    for line in rest.rsplit('\n') {
        let t = line.trim();
        match t.strip_prefix('#') {
            Some(text) => lines.push(text.strip_prefix(' ').unwrap_or(text)),
            None => break,
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join("\n").trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Item;
    use crate::span::FileId;

    fn templates(src: &str) -> Vec<(String, Option<String>)> {
        let (file, diags) = crate::syntax::parse(FileId(0), src);
        assert!(diags.is_empty(), "syntax errors: {diags:#?}");
        file.items
            .iter()
            .filter_map(|i| match i {
                Item::Template(t) => {
                    Some((t.name.name.clone(), doc_comment(src, t.span.start as usize)))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_module_parses_and_documents_its_templates() {
        let expected: &[(&str, &[&str])] = &[
            (
                "std/apt",
                &["apt_upgrade", "apt_install", "apt_hold", "apt_unhold"],
            ),
            ("std/dnf", &["dnf_upgrade", "dnf_install", "dnf_hold"]),
            ("std/systemd", &["systemd_restart", "systemd_reload"]),
            ("std/files", &["file_write"]),
            ("std/facts", &["facts_gather"]),
        ];
        assert_eq!(MODULES.len(), expected.len());
        for (path, names) in expected {
            let src = source(path).unwrap_or_default();
            let found = templates(src);
            let found_names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(&found_names, names, "{path}");
            for (name, doc) in &found {
                let doc = doc.as_deref().unwrap_or_default();
                assert!(
                    doc.len() > 20,
                    "{path}: template {name} lacks a doc comment"
                );
            }
        }
    }

    #[test]
    fn lookup() {
        assert!(source("std/apt").is_some());
        assert!(source("std/zypper").is_none());
        assert!(is_std_path("std/apt") && !is_std_path("./std/apt.sflow"));
    }

    #[test]
    fn doc_comment_stops_at_blank_lines_and_code() {
        let src = "# file header\n\n# first\n#second\ntemplate t() {}\n";
        let at = src.find("template").unwrap_or(0);
        assert_eq!(doc_comment(src, at).as_deref(), Some("first\nsecond"));
        let src = "x = 1\ntemplate t() {}\n";
        assert_eq!(doc_comment(src, 6), None);
    }
}
