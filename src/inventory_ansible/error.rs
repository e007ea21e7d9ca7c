//! Errors of the Ansible inventory readers: what went wrong ([`InventoryErrorKind`], one
//! stable code each) and where ([`InventoryError`]: file, line, column and byte range).

use std::ops::Range;

/// What is wrong with an inventory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryErrorKind {
    /// The text is not valid INI, YAML or JSON.
    #[error("{0}")]
    Syntax(String),
    /// An INI section header other than `[g]`, `[g:vars]`, `[g:children]`.
    #[error("unknown section kind `:{0}`")]
    UnknownSectionKind(String),
    /// A line of a `:vars` section without `=`.
    #[error("expected `key=value` in a vars section")]
    ExpectedKeyValue,
    /// A token after the host name of an INI host line that is not `key=value`.
    #[error("expected `key=value` after the host name, found `{0}`")]
    ExpectedHostVar(String),
    /// A value has the wrong shape (a list where a mapping is needed, ...).
    #[error("{what} must be {expected}")]
    WrongShape {
        /// What was being read.
        what: String,
        /// The shape required.
        expected: &'static str,
    },
    /// An invalid host pattern (`web[01:]`, `web[3:1]`).
    #[error("invalid host pattern `{pattern}`: {reason}")]
    BadHostPattern {
        /// The pattern as written.
        pattern: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A group is, through `children`, its own descendant.
    #[error("group `{0}` is its own descendant through `children`")]
    GroupCycle(String),
    /// A connection variable with a value sflow cannot use.
    #[error("`{var}` = `{value}`: {reason}")]
    BadVar {
        /// The variable name.
        var: String,
        /// Its value.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A key of a YAML group other than `hosts`, `vars` and `children` (Ansible skips it).
    #[error("unexpected key `{0}` in a group: only `hosts`, `vars` and `children` are read")]
    UnexpectedGroupKey(String),
    /// A name that is both a host and a group, which sflow's targets cannot tell apart.
    #[error("`{0}` is both a host and a group")]
    HostIsGroup(String),
}

impl InventoryErrorKind {
    /// The stable code of this kind, as shown in messages and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            InventoryErrorKind::Syntax(_) => "inventory::syntax",
            InventoryErrorKind::UnknownSectionKind(_) => "inventory::section",
            InventoryErrorKind::ExpectedKeyValue | InventoryErrorKind::ExpectedHostVar(_) => {
                "inventory::key-value"
            }
            InventoryErrorKind::WrongShape { .. } => "inventory::shape",
            InventoryErrorKind::BadHostPattern { .. } => "inventory::host-pattern",
            InventoryErrorKind::GroupCycle(_) => "inventory::cycle",
            InventoryErrorKind::BadVar { .. } => "inventory::var",
            InventoryErrorKind::UnexpectedGroupKey(_) => "inventory::unexpected-key",
            InventoryErrorKind::HostIsGroup(_) => "inventory::host-is-group",
        }
    }

    /// How to fix it, when known.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            InventoryErrorKind::UnknownSectionKind(_) => {
                Some("sections are `[group]`, `[group:vars]` or `[group:children]`")
            }
            InventoryErrorKind::ExpectedKeyValue | InventoryErrorKind::ExpectedHostVar(_) => {
                Some("write variables as `name=value`; quote values with spaces")
            }
            InventoryErrorKind::BadHostPattern { .. } => {
                Some("a range is `[01:20]`, `[1:20:2]` or `[a:f]`, with start ≤ end")
            }
            InventoryErrorKind::HostIsGroup(_) => Some("rename the host or the group"),
            _ => None,
        }
    }
}

/// One problem in an inventory, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {kind}")]
pub struct InventoryError {
    /// The file (or `command(...)` output) it is in.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte range in the source.
    pub range: Range<usize>,
    /// What is wrong.
    pub kind: InventoryErrorKind,
}

impl InventoryError {
    /// An error at byte range `range` of `text`, which is the file called `file`.
    pub(crate) fn at(
        file: &str,
        text: &str,
        range: Range<usize>,
        kind: InventoryErrorKind,
    ) -> Self {
        let start = range.start.min(text.len());
        let before = text.get(..start).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before
            .get(line_start..)
            .map_or(1, |s| s.chars().count() + 1);
        InventoryError {
            file: file.to_string(),
            line,
            column,
            range: start..range.end.clamp(start, text.len()),
            kind,
        }
    }

    /// The stable code of its kind.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl miette::Diagnostic for InventoryError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.kind
            .help()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = miette::SourceSpan::new(self.range.start.into(), self.range.len());
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(None, span),
        )))
    }
}
