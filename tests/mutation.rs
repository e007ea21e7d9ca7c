//! Property test of the whole front end against broken input: the examples mutated token by
//! token (deleted, duplicated, swapped with the next one, or replaced by another token of the
//! file). Parse + check must never panic, must report an error whenever it hands back no
//! program, every diagnostic must point inside its file on character boundaries and render;
//! and whenever a mutant still parses, the formatter must be idempotent on it and keep its AST.

use proptest::prelude::*;
use sflow::check::{check_loaded, CheckOptions, MemoryFs};
use sflow::diagnostic::render;
use sflow::span::{FileId, SourceFile, SourceMap};
use std::collections::HashMap;
use std::path::PathBuf;

const EXAMPLES: [&str; 5] = [
    "os_patching",
    "db_failover_maintenance",
    "emergency_openssl",
    "ntp_standard",
    "web_triage",
];

fn read(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Byte ranges of the tokens of `src`.
fn token_ranges(src: &str) -> Vec<(usize, usize)> {
    let base = src.as_ptr() as usize;
    sflow::fmt::lex::lex(src)
        .iter()
        .map(|t| {
            let s = t.text.as_ptr() as usize - base;
            (s, s + t.text.len())
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    SwapNext(usize),
    Replace(usize, usize),
}

fn apply(src: &str, m: &Mutation) -> String {
    let toks = token_ranges(src);
    if toks.len() < 2 {
        return src.to_owned();
    }
    let n = toks.len();
    let text = |k: usize| &src[toks[k % n].0..toks[k % n].1];
    let mut out = String::with_capacity(src.len() + 64);
    match *m {
        Mutation::Delete(k) => {
            let (s, e) = toks[k % n];
            out.push_str(&src[..s]);
            out.push_str(&src[e..]);
        }
        Mutation::Duplicate(k) => {
            let (_, e) = toks[k % n];
            out.push_str(&src[..e]);
            out.push(' ');
            out.push_str(text(k));
            out.push_str(&src[e..]);
        }
        Mutation::SwapNext(k) => {
            let k = k % (n - 1);
            let (s1, e1) = toks[k];
            let (s2, e2) = toks[k + 1];
            out.push_str(&src[..s1]);
            out.push_str(&src[s2..e2]);
            out.push_str(&src[e1..s2]);
            out.push_str(&src[s1..e1]);
            out.push_str(&src[e2..]);
        }
        Mutation::Replace(k, by) => {
            let (s, e) = toks[k % n];
            out.push_str(&src[..s]);
            out.push_str(text(by));
            out.push_str(&src[e..]);
        }
    }
    out
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        any::<usize>().prop_map(Mutation::SwapNext),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Replace(a, b)),
    ]
}

fn check_mutant(src: &str) {
    let main = PathBuf::from("ex/main.sflow");
    let fs = MemoryFs(HashMap::from([
        (main.clone(), src.to_owned()),
        (PathBuf::from("ex/inventory.sflow"), read("inventory.sflow")),
    ]));
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new("ex/main.sflow", Some(main), src));
    let opts = CheckOptions {
        now: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
        ..CheckOptions::default()
    };
    let out = check_loaded(&mut sources, id, &fs, &opts);
    assert!(
        out.program.is_some() || out.errors() > 0,
        "no program and no error for:\n{src}"
    );
    for d in &out.diagnostics {
        for span in std::iter::once(d.span).chain(d.related.iter().map(|l| l.span)) {
            let text = &sources.get(span.file).text;
            let (s, e) = (span.start as usize, span.end as usize);
            assert!(
                s <= e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e),
                "diagnostic {d:?} outside its file:\n{src}"
            );
        }
    }
    let rendered = render::render_human(&out.diagnostics, &sources, false);
    assert_eq!(out.diagnostics.is_empty(), rendered.is_empty());

    let (ast, syntax) = sflow::syntax::parse(FileId(0), src);
    if syntax.is_empty() {
        let once = sflow::fmt::format(src);
        assert_eq!(
            once,
            sflow::fmt::format(&once),
            "fmt not idempotent on:\n{src}"
        );
        let (again, diags) = sflow::syntax::parse(FileId(0), &once);
        assert!(diags.is_empty(), "formatted mutant does not parse:\n{once}");
        assert_eq!(
            shape(&ast.items),
            shape(&again.items),
            "fmt changed:\n{src}"
        );
    }
}

/// The AST as text with spans blanked out.
fn shape(items: &[sflow::ast::Item]) -> String {
    let re = regex::Regex::new(r"Span \{ file: FileId\(\d+\), start: \d+, end: \d+ \}")
        .unwrap_or_else(|e| panic!("{e}"));
    re.replace_all(&format!("{items:?}"), "_").into_owned()
}

/// 150 cases by default (a few seconds); `SFLOW_MUTATION_CASES=N` for a longer hunt.
fn cases() -> u32 {
    std::env::var("SFLOW_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_examples_get_diagnostics_not_panics(
        which in 0..EXAMPLES.len(),
        muts in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut src = read(&format!("{}.sflow", EXAMPLES[which]));
        for m in &muts {
            src = apply(&src, m);
        }
        check_mutant(&src);
    }
}
