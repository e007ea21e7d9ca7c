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
                &[
                    "apt_update",
                    "apt_upgrade",
                    "apt_install",
                    "apt_hold",
                    "apt_unhold",
                ],
            ),
            (
                "std/dnf",
                &["dnf_upgrade", "dnf_install", "dnf_hold", "dnf_unhold"],
            ),
            ("std/systemd", &["restart", "reload", "is_active"]),
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

    /// A workflow that uses every template, with and without its optional arguments.
    const USES: &str = r#"
import "std/apt"
import "std/dnf"
import "std/systemd"
import "std/files"
import "std/facts"
inventory { host h1 {} group g = [h1] }
workflow every_template {
  task a1 on g { use = apt_update() }
  task a2 on g { use = apt_upgrade() }
  task a3 on g { use = apt_upgrade("openssl libssl3") }
  task a4 on g { use = apt_install("nginx") }
  task a5 on g { use = apt_install("openssl", "3.0.15-1~deb12u1") }
  task a6 on g { use = apt_hold("openssl") }
  task a7 on g { use = apt_unhold("openssl") }
  task d1 on g { use = dnf_upgrade() }
  task d2 on g { use = dnf_install("openssl", "3.0.7-27.el9") }
  task d3 on g { use = dnf_hold("openssl") }
  task d4 on g { use = dnf_unhold("openssl") }
  task s1 on g { use = restart("nginx") }
  task s2 on g { use = restart("nginx", "curl -fsS http://localhost/health", 60) }
  task s3 on g { use = reload("nginx") }
  task s4 on g { use = is_active("nginx") }
  task f1 on g { use = file_write("/etc/motd", "maintained by sflow\n") }
  task f2 on g { use = file_write("/etc/app.conf", "x = 1\n", "0600") }
  task g1 on g {
    use = facts_gather()
    capture = facts
  }
  task g2 on g after g1 when facts contains "reboot_required=yes" { run = "reboot" }
}
"#;

    #[test]
    fn every_template_passes_check() {
        use crate::check::{check_loaded, CheckOptions, MemoryFs};
        use crate::span::{SourceFile, SourceMap};
        let mut sources = SourceMap::new();
        let id = sources.add(SourceFile::new("uses.sflow", None, USES));
        let out = check_loaded(
            &mut sources,
            id,
            &MemoryFs::default(),
            &CheckOptions::default(),
        );
        let messages: Vec<String> = out
            .diagnostics
            .iter()
            .map(|d| {
                format!(
                    "{} {} at {:?}",
                    d.code.as_str(),
                    d.message,
                    sources.span_lines(d.span)
                )
            })
            .collect();
        assert!(messages.is_empty(), "{messages:#?}");
        let program = out.program.map(|p| p.workflows[0].tasks.len());
        assert_eq!(program, Some(19));
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
