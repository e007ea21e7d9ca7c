//! Renders [`Diagnostic`]s: to miette's graphical report (human output of `sflow check`) and
//! to the JSON document of `sflow check --format json`. Input: diagnostics and the
//! [`SourceMap`] they point into; output: text or a `serde_json::Value`.

use super::{Diagnostic, Severity};
use crate::span::{SourceMap, Span};
use miette::{LabeledSpan, NamedSource};
use std::fmt;

/// A diagnostic bundled with its source text, ready for miette.
#[derive(Debug)]
pub struct Rendered {
    message: String,
    code: &'static str,
    severity: Severity,
    help: Option<String>,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

fn source_of(map: &SourceMap, span: Span) -> NamedSource<String> {
    let f = map.get(span.file);
    NamedSource::new(&f.name, f.text.clone())
}

fn labeled(span: Span, text: Option<String>, primary: bool) -> LabeledSpan {
    let l = LabeledSpan::new(text, span.start as usize, span.len());
    if primary {
        LabeledSpan::new_primary_with_span(l.label().map(str::to_owned), *l.inner())
    } else {
        l
    }
}

/// Bundles `d` with its source for miette. Related labels in another file become related
/// diagnostics with that file's source.
pub fn to_miette(d: &Diagnostic, map: &SourceMap) -> Rendered {
    let mut labels = vec![labeled(d.span, d.label.clone(), true)];
    let mut related = Vec::new();
    for r in &d.related {
        if r.span.file == d.span.file {
            labels.push(labeled(r.span, Some(r.message.clone()), false));
        } else {
            related.push(Rendered {
                message: r.message.clone(),
                code: d.code.as_str(),
                severity: Severity::Warning,
                help: None,
                source: source_of(map, r.span),
                labels: vec![labeled(r.span, Some(r.message.clone()), true)],
                related: Vec::new(),
            });
        }
    }
    Rendered {
        message: d.message.clone(),
        code: d.code.as_str(),
        severity: d.severity(),
        help: d.help.clone(),
        source: source_of(map, d.span),
        labels,
        related,
    }
}

/// Renders every diagnostic as miette's graphical report, separated by blank lines.
/// `color = false` gives stable plain text (used by the UI tests).
pub fn render_human(diags: &[Diagnostic], map: &SourceMap, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        let r = to_miette(d, map);
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!(
                "{}[{}]: {}\n",
                d.severity().as_str(),
                d.code.as_str(),
                d.message
            ));
        }
        out.push('\n');
    }
    out
}

/// The JSON document of `sflow check --format json`.
pub fn to_json(files: &[String], diags: &[Diagnostic], map: &SourceMap) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let (start, end) = map.span_lines(d.span);
            let mut labels = Vec::new();
            if let Some(l) = &d.label {
                labels.push(serde_json::json!({
                    "message": l, "file": map.get(d.span.file).name,
                    "line": start.line, "column": start.column,
                }));
            }
            for r in &d.related {
                let (s, _) = map.span_lines(r.span);
                labels.push(serde_json::json!({
                    "message": r.message, "file": map.get(r.span.file).name,
                    "line": s.line, "column": s.column,
                }));
            }
            serde_json::json!({
                "severity": d.severity().as_str(),
                "code": d.code.as_str(),
                "message": d.message,
                "file": map.get(d.span.file).name,
                "line": start.line,
                "column": start.column,
                "end_line": end.line,
                "end_column": end.column,
                "labels": labels,
                "help": d.help,
            })
        })
        .collect();
    let errors = diags
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    serde_json::json!({
        "files": files,
        "diagnostics": items,
        "errors": errors,
        "warnings": diags.len() - errors,
    })
}
