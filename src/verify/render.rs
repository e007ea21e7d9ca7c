//! Report rendering: takes a [`FleetReport`], returns it as plain text for terminals,
//! as markdown for change tickets and reviews, or as JSON for machines.

use std::fmt;

use super::drift::DriftReport;
use super::expect::{CaptureOutcome, Sample, Verdict};
use super::report::{FleetReport, HostAction, HostReport, Summary, VerifyReport};

impl FleetReport {
    /// Plain text: the summary, then each host and capture, then drift.
    pub fn render_human(&self) -> String {
        Human(self).to_string()
    }

    /// Markdown: summary tables, a section per host, diffs in fenced `diff` blocks.
    pub fn render_markdown(&self) -> String {
        Markdown(self).to_string()
    }

    /// Pretty-printed JSON of the whole report (full before/after texts included).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{} hosts: {} as expected, {} unexpected change, {} mismatch, {} drifted, {} not compared",
        s.hosts, s.as_expected, s.unexpected_change, s.mismatch, s.drifted, s.not_compared
    )
}

fn count_hosts(n: usize) -> String {
    if n == 1 {
        "1 host".to_string()
    } else {
        format!("{n} hosts")
    }
}

fn action_word(a: HostAction) -> &'static str {
    match a {
        HostAction::None => "ok",
        HostAction::Warn => "warn",
        HostAction::Fail => "fail",
        HostAction::Rollback => "rollback",
    }
}

/// A sample in one line: short outputs verbatim, longer ones by their size.
fn sample_brief(s: &Sample) -> String {
    match s {
        Sample::Output(t) => {
            let t = t.trim_end();
            match t.lines().count() {
                0 => "(empty)".to_string(),
                1 => format!("`{t}`"),
                n => format!("{n} lines"),
            }
        }
        Sample::Failed(why) => format!("failed: {why}"),
        Sample::Missing => "not taken".to_string(),
    }
}

fn value(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

fn indent(f: &mut fmt::Formatter<'_>, text: &str, by: &str) -> fmt::Result {
    for line in text.lines() {
        writeln!(f, "{by}{line}")?;
    }
    Ok(())
}

struct Human<'a>(&'a FleetReport);

impl fmt::Display for Human<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        writeln!(f, "verification: {}", summary_line(&r.summary))?;
        for block in &r.blocks {
            human_block(f, block)?;
        }
        Ok(())
    }
}

fn human_block(f: &mut fmt::Formatter<'_>, b: &VerifyReport) -> fmt::Result {
    writeln!(f)?;
    writeln!(f, "verify {}: {}", b.name, summary_line(&b.summary))?;
    for h in &b.hosts {
        human_host(f, h)?;
    }
    for d in &b.drift {
        human_drift(f, d)?;
    }
    Ok(())
}

fn human_host(f: &mut fmt::Formatter<'_>, h: &HostReport) -> fmt::Result {
    writeln!(f, "  {} [{}]", h.host, action_word(h.action))?;
    for c in &h.captures {
        human_capture(f, c)?;
    }
    if !h.drifted.is_empty() {
        writeln!(f, "    drifted: {}", h.drifted.join(", "))?;
    }
    Ok(())
}

fn human_capture(f: &mut fmt::Formatter<'_>, c: &CaptureOutcome) -> fmt::Result {
    writeln!(f, "    {}: {}", c.capture, c.verdict.as_str())?;
    writeln!(f, "      before: {}", sample_brief(&c.before))?;
    writeln!(f, "      after:  {}", sample_brief(&c.after))?;
    if let Some(pairing) = c.pairing {
        let scheme = c
            .scheme
            .map(|s| format!(", {s} versions"))
            .unwrap_or_default();
        writeln!(f, "      values ({}{scheme}):", pairing.as_str())?;
        for p in &c.pairs {
            let mark = if p.ok { "ok " } else { "bad" };
            let key = if p.key.is_empty() { "value" } else { &p.key };
            let (before, after) = (value(&p.before), value(&p.after));
            writeln!(f, "        {mark} {key}: {before} -> {after}")?;
        }
    }
    for reason in &c.reasons {
        writeln!(f, "      why: {reason}")?;
    }
    if let Some(diff) = &c.diff {
        writeln!(f, "      diff:")?;
        indent(f, diff, "        ")?;
    }
    Ok(())
}

fn human_drift(f: &mut fmt::Formatter<'_>, d: &DriftReport) -> fmt::Result {
    let Some(base) = &d.baseline else {
        return writeln!(f, "  drift of {}: no host has a value", d.capture);
    };
    let tie = if d.tied {
        " (tie, chosen by host order)"
    } else {
        ""
    };
    let (n, hosts) = (count_hosts(base.hosts.len()), base.hosts.join(", "));
    writeln!(f, "  drift of {}: baseline on {n}{tie}: {hosts}", d.capture)?;
    for o in &d.outliers {
        let (n, hosts) = (count_hosts(o.hosts.len()), o.hosts.join(", "));
        writeln!(f, "    outlier on {n}: {hosts}")?;
        indent(f, o.diff.as_deref().unwrap_or_default(), "      ")?;
    }
    if !d.missing.is_empty() {
        writeln!(f, "    no value: {}", d.missing.join(", "))?;
    }
    Ok(())
}

struct Markdown<'a>(&'a FleetReport);

/// A code fence longer than any backtick run in `text`, so host output cannot close it.
fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn code_block(f: &mut fmt::Formatter<'_>, lang: &str, text: &str) -> fmt::Result {
    let fence = fence(text);
    writeln!(f, "{fence}{lang}")?;
    f.write_str(text)?;
    if !text.ends_with('\n') {
        writeln!(f)?;
    }
    writeln!(f, "{fence}")
}

/// Escapes a table cell: pipes would end the cell, newlines the row.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn summary_table(f: &mut fmt::Formatter<'_>, s: &Summary) -> fmt::Result {
    let head = "| hosts | as expected | unexpected change | mismatch | drifted | not compared |";
    writeln!(f, "{head}")?;
    writeln!(f, "|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        f,
        "| {} | {} | {} | {} | {} | {} |",
        s.hosts, s.as_expected, s.unexpected_change, s.mismatch, s.drifted, s.not_compared
    )
}

impl fmt::Display for Markdown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        writeln!(f, "# Verification")?;
        writeln!(f)?;
        summary_table(f, &r.summary)?;
        for b in &r.blocks {
            markdown_block(f, b)?;
        }
        Ok(())
    }
}

fn markdown_block(f: &mut fmt::Formatter<'_>, b: &VerifyReport) -> fmt::Result {
    writeln!(f)?;
    writeln!(f, "## verify `{}`", b.name)?;
    writeln!(f)?;
    summary_table(f, &b.summary)?;
    for h in &b.hosts {
        writeln!(f)?;
        writeln!(f, "### {} ({})", h.host, action_word(h.action))?;
        if !h.drifted.is_empty() {
            writeln!(f)?;
            writeln!(f, "Drifted on: {}", h.drifted.join(", "))?;
        }
        for c in &h.captures {
            markdown_capture(f, c)?;
        }
    }
    for d in &b.drift {
        markdown_drift(f, d)?;
    }
    Ok(())
}

fn markdown_sample(f: &mut fmt::Formatter<'_>, side: &str, s: &Sample) -> fmt::Result {
    match s {
        Sample::Output(t) if t.trim_end().lines().count() > 1 => {
            writeln!(f, "<details><summary>{side}</summary>")?;
            writeln!(f)?;
            code_block(f, "text", t)?;
            writeln!(f)?;
            writeln!(f, "</details>")?;
            writeln!(f)
        }
        other => writeln!(f, "- {side}: {}", cell(&sample_brief(other))),
    }
}

fn markdown_capture(f: &mut fmt::Formatter<'_>, c: &CaptureOutcome) -> fmt::Result {
    writeln!(f)?;
    writeln!(f, "#### `{}`: {}", c.capture, c.verdict.as_str())?;
    writeln!(f)?;
    markdown_sample(f, "before", &c.before)?;
    markdown_sample(f, "after", &c.after)?;
    if !c.pairs.is_empty() {
        writeln!(f)?;
        writeln!(f, "| value | before | after | ok |")?;
        writeln!(f, "|---|---|---|---|")?;
        for p in &c.pairs {
            let key = if p.key.is_empty() { "value" } else { &p.key };
            let (before, after) = (cell(value(&p.before)), cell(value(&p.after)));
            let ok = if p.ok { "yes" } else { "**no**" };
            writeln!(f, "| {} | {before} | {after} | {ok} |", cell(key))?;
        }
    }
    if c.verdict != Verdict::AsExpected && !c.reasons.is_empty() {
        writeln!(f)?;
        for reason in &c.reasons {
            writeln!(f, "- {}", cell(reason))?;
        }
    }
    if let Some(diff) = &c.diff {
        writeln!(f)?;
        code_block(f, "diff", diff)?;
    }
    Ok(())
}

fn markdown_drift(f: &mut fmt::Formatter<'_>, d: &DriftReport) -> fmt::Result {
    writeln!(f)?;
    writeln!(f, "### Drift of `{}`", d.capture)?;
    writeln!(f)?;
    let Some(base) = &d.baseline else {
        return writeln!(f, "No host has a value.");
    };
    let tie = if d.tied {
        " (tie, chosen by host order)"
    } else {
        ""
    };
    let (n, hosts) = (count_hosts(base.hosts.len()), base.hosts.join(", "));
    writeln!(f, "Baseline on {n}{tie}: {hosts}")?;
    for o in &d.outliers {
        let (n, hosts) = (count_hosts(o.hosts.len()), o.hosts.join(", "));
        writeln!(f)?;
        writeln!(f, "Outlier on {n}: {hosts}")?;
        writeln!(f)?;
        code_block(f, "diff", o.diff.as_deref().unwrap_or_default())?;
    }
    if !d.missing.is_empty() {
        writeln!(f)?;
        writeln!(f, "No value: {}", d.missing.join(", "))?;
    }
    Ok(())
}
