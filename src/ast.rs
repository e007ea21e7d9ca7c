//! The syntax tree of one `.sflow` file, as written (no resolution), every node with its
//! [`Span`]. Built by [`crate::syntax`], consumed by [`crate::check`] and the formatter.
//!
//! Generic `key = value` attributes stay generic here ([`Attr`]): their names and types are
//! the checker's business, so that a misspelt attribute gets a "did you mean" instead of a
//! parse error.

use crate::span::{FileId, Span};
use std::time::Duration;

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The text of the name (a host name may contain `.` and `-`).
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// The file in the source map.
    pub file: FileId,
    /// Top-level items, in source order (items with syntax errors are left out).
    pub items: Vec<Item>,
    /// Every comment of the file in source order, for the formatter.
    pub comments: Vec<Comment>,
}

/// A `# ...` comment (span covers the `#` to the end of the line, newline excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Where the comment is.
    pub span: Span,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `import "std/apt"` or `import "./common.sflow"`.
    Import(Import),
    /// `inventory { ... }`, `inventory "hosts.sflow"` or `inventory command("...")`.
    Inventory(InventoryDecl),
    /// `workflow NAME { ... }`.
    Workflow(Workflow),
    /// `template NAME(params) { attributes }`.
    Template(Template),
}

/// `import "PATH"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The path as written (no interpolation allowed).
    pub path: StrLit,
    /// The whole item.
    pub span: Span,
}

/// An inventory item.
#[derive(Debug, Clone, PartialEq)]
pub enum InventoryDecl {
    /// `inventory { ... }`.
    Inline(InventoryBlock),
    /// `inventory "FILE"`: a path relative to the declaring file.
    File {
        /// The path.
        path: StrLit,
        /// The whole item.
        span: Span,
    },
    /// `inventory command("...")`: a dynamic inventory (Ansible protocol).
    Command {
        /// The command line.
        command: StrLit,
        /// The whole item.
        span: Span,
    },
}

/// The body of `inventory { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryBlock {
    /// Members in source order.
    pub members: Vec<InventoryMember>,
    /// The whole block, keyword included.
    pub span: Span,
}

/// One entry of an inventory block.
#[derive(Debug, Clone, PartialEq)]
pub enum InventoryMember {
    /// `defaults { attrs }`: attributes every host gets unless it sets them.
    Defaults {
        /// The attributes.
        attrs: Vec<Attr>,
        /// The whole entry.
        span: Span,
    },
    /// `host NAME { attrs }` (the block is optional).
    Host {
        /// The host name.
        name: Ident,
        /// Its attributes.
        attrs: Vec<Attr>,
        /// The whole entry.
        span: Span,
    },
    /// `group NAME = TARGET`.
    Group {
        /// The group name.
        name: Ident,
        /// Its members.
        target: Target,
        /// The whole entry.
        span: Span,
    },
}

/// `key = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    /// The attribute name.
    pub key: Ident,
    /// Its value.
    pub value: Value,
    /// The whole attribute.
    pub span: Span,
}

/// A value on the right of `=`.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What kind of value.
    pub kind: ValueKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A string of any form.
    Str(StrLit),
    /// `42`.
    Int(u64),
    /// `10%` (the number before `%`; the checker bounds it).
    Percent(u64),
    /// `1h30m`.
    Duration(Duration),
    /// `true` / `false`.
    Bool(bool),
    /// `[a, b]`.
    List(Vec<Value>),
    /// `{ k = v ... }`.
    Map(Vec<Attr>),
    /// A bare name: a task, group, host, capture or template.
    Name(Ident),
    /// `NAME(args)`: `prompt("...")`, `env("...")`, `command("...")`, or a template use.
    Call {
        /// The function or template.
        name: Ident,
        /// Positional arguments.
        args: Vec<Value>,
    },
    /// A target expression using `except`, `where` or `all` (bare names and lists stay
    /// [`ValueKind::Name`] / [`ValueKind::List`]; the checker reads them as targets when the
    /// attribute wants one).
    Target(Target),
}

/// The three string forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrForm {
    /// `"..."`: escapes and interpolation.
    Plain,
    /// `r"..."` / `r#"..."#`: verbatim.
    Raw,
    /// `"""..."""`: escapes and interpolation, common indentation removed.
    Triple,
}

/// A string literal: literal text and interpolation sites.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    /// Which form was written.
    pub form: StrForm,
    /// Text parts and `${...}` sites, in order.
    pub parts: Vec<StrPart>,
    /// The whole literal, quotes included.
    pub span: Span,
}

/// A piece of a [`StrLit`].
#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    /// Literal text, escapes already decoded.
    Text {
        /// The decoded text.
        text: String,
        /// Where it was written.
        span: Span,
        /// Whether `text` is byte-for-byte the source under `span`, so that an offset in the
        /// text is an offset in the source (lets diagnostics point inside strings).
        verbatim: bool,
    },
    /// `${expr}` or `${raw expr}`.
    Interp {
        /// The dotted path inside.
        path: Path,
        /// `true` for `${raw ...}`: inserted as is instead of shell-quoted.
        raw: bool,
        /// The whole `${...}`.
        span: Span,
    },
}

impl StrLit {
    /// The literal text if the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                StrPart::Text { text, .. } => out.push_str(text),
                StrPart::Interp { .. } => return None,
            }
        }
        Some(out)
    }

    /// The text with interpolation sites kept as written (`${...}`), for messages.
    pub fn display_text(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                StrPart::Text { text, .. } => out.push_str(text),
                StrPart::Interp { path, raw, .. } => {
                    out.push_str("${");
                    if *raw {
                        out.push_str("raw ");
                    }
                    out.push_str(&path.dotted());
                    out.push('}');
                }
            }
        }
        out
    }

    /// The source span of bytes `range` of the text of a string without interpolation; the
    /// whole literal when the text is not verbatim source (escapes, dedent).
    pub fn span_of(&self, range: std::ops::Range<usize>) -> Span {
        match self.parts.as_slice() {
            [StrPart::Text {
                span,
                verbatim: true,
                ..
            }] => span.slice(range),
            _ => self.span,
        }
    }
}

/// A dotted name: `host.address`, `disk_pct.int`, `check_nginx.failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The segments (at least one).
    pub segments: Vec<Ident>,
    /// The whole path.
    pub span: Span,
}

impl Path {
    /// The path joined with dots.
    pub fn dotted(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// A target expression: which hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The expression.
    pub kind: TargetKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of [`Target`].
#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind {
    /// `all`: every host of the inventory.
    All,
    /// A group or host name (group first).
    Name(Ident),
    /// `"web0*"`: hosts whose name matches the glob (`*`, `?`).
    Glob(StrLit),
    /// `[a, b]`: the union.
    List(Vec<Target>),
    /// `a except b`: the difference.
    Except(Box<Target>, Box<Target>),
    /// `a where ATTR == "v"` / `!=`.
    Where {
        /// The hosts to filter.
        base: Box<Target>,
        /// The host attribute compared.
        attr: Ident,
        /// `true` for `==`, `false` for `!=`.
        equal: bool,
        /// The value compared with.
        value: StrLit,
    },
}

/// `workflow NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The workflow name.
    pub name: Ident,
    /// Members in source order.
    pub members: Vec<Member>,
    /// The whole item.
    pub span: Span,
}

/// A member of a workflow.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // few members per workflow; boxing would only add noise
pub enum Member {
    /// `key = value` (`description`, `change`).
    Attr(Attr),
    /// `param NAME: TYPE = DEFAULT`.
    Param(Param),
    /// `secret NAME = prompt(...) | env(...) | command(...)`.
    Secret {
        /// The secret's name.
        name: Ident,
        /// Its source, a call.
        source: Value,
        /// The whole member.
        span: Span,
    },
    /// `approve { ... }`, `windows { ... }`, `notify { ... }`: a keyword and attributes.
    Block(Block),
    /// `window TARGET = "SPEC"`.
    Window {
        /// The hosts the window covers.
        target: Target,
        /// The window spec string.
        spec: StrLit,
        /// The whole member.
        span: Span,
    },
    /// `parallel { ... }`.
    Parallel(Parallel),
    /// `task ...`.
    Task(Task),
    /// `rollout { ... }`.
    Rollout(Rollout),
    /// `verify NAME { ... }`.
    Verify(Verify),
}

/// `param NAME: TYPE = DEFAULT` (also template parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name.
    pub name: Ident,
    /// The type name as written (`string`, `int`, `bool`, `duration`).
    pub ty: Ident,
    /// The default value.
    pub default: Option<Value>,
    /// The whole declaration.
    pub span: Span,
}

/// A keyword followed by a block of attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// `approve`, `windows` or `notify`.
    pub keyword: Ident,
    /// The attributes.
    pub attrs: Vec<Attr>,
    /// The whole member.
    pub span: Span,
}

/// `parallel { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parallel {
    /// Plain attributes (`max_servers`, `per_group`, ...).
    pub attrs: Vec<Attr>,
    /// `per ATTR = N` limits.
    pub per: Vec<PerLimit>,
    /// The whole member.
    pub span: Span,
}

/// `per ATTR = N`.
#[derive(Debug, Clone, PartialEq)]
pub struct PerLimit {
    /// The host attribute.
    pub attr: Ident,
    /// The limit.
    pub limit: Value,
    /// The whole line.
    pub span: Span,
}

/// `task NAME on TARGET after A, B when COND { attrs }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task name.
    pub name: Ident,
    /// The hosts it runs on.
    pub target: Target,
    /// Dependencies.
    pub after: Vec<Ident>,
    /// Guard.
    pub when: Option<Cond>,
    /// The body.
    pub attrs: Vec<Attr>,
    /// The whole task.
    pub span: Span,
}

/// `rollout { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Explicit waves in order.
    pub waves: Vec<Wave>,
    /// `waves = [sizes] of TARGET`.
    pub sizes: Option<WaveSizes>,
    /// Other attributes.
    pub attrs: Vec<Attr>,
    /// The whole block.
    pub span: Span,
}

/// `wave NAME = TARGET`.
#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    /// The wave name.
    pub name: Ident,
    /// Its hosts.
    pub target: Target,
    /// The whole line.
    pub span: Span,
}

/// `waves = [1, 10%, 100%] of TARGET`.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveSizes {
    /// Cumulative sizes (ints or percentages).
    pub sizes: Vec<Value>,
    /// The hosts split into waves.
    pub of: Target,
    /// The whole line.
    pub span: Span,
}

/// `verify NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verify {
    /// The verify block's name.
    pub name: Ident,
    /// `capture NAME = "command"`.
    pub captures: Vec<CaptureDecl>,
    /// `expect NAME { ... }`.
    pub expects: Vec<Expect>,
    /// Other attributes (`before`, `after`, `on_mismatch`, `across`).
    pub attrs: Vec<Attr>,
    /// The whole block.
    pub span: Span,
}

/// `capture NAME = "command"` inside `verify`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureDecl {
    /// The capture name.
    pub name: Ident,
    /// The command.
    pub command: StrLit,
    /// The whole line.
    pub span: Span,
}

/// `expect NAME { attrs }` inside `verify`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// The capture checked.
    pub name: Ident,
    /// `match`, `change`.
    pub attrs: Vec<Attr>,
    /// The whole block.
    pub span: Span,
}

/// `template NAME(p: type = default, ...) { attrs }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The template name.
    pub name: Ident,
    /// Parameters.
    pub params: Vec<Param>,
    /// Task attributes, which may use the parameters as `${p}`.
    pub attrs: Vec<Attr>,
    /// The whole item.
    pub span: Span,
}

/// A condition after `when`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    /// The expression.
    pub kind: CondKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of [`Cond`].
#[derive(Debug, Clone, PartialEq)]
pub enum CondKind {
    /// `a or b`.
    Or(Box<Cond>, Box<Cond>),
    /// `a and b`.
    And(Box<Cond>, Box<Cond>),
    /// `not a`.
    Not(Box<Cond>),
    /// `a OP b`.
    Compare {
        /// Left side.
        lhs: Operand,
        /// The operator.
        op: CmpOp,
        /// Right side.
        rhs: Operand,
    },
    /// `a =~ r"regex"`.
    Match {
        /// The string matched.
        lhs: Operand,
        /// The regex.
        regex: StrLit,
    },
    /// `a contains b`.
    Contains {
        /// The haystack.
        lhs: Operand,
        /// The needle.
        rhs: Operand,
    },
    /// A lone operand (must be a bool).
    Operand(Operand),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// An operand of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal: string, int, bool, percent or duration.
    Literal(Value),
    /// A dotted name.
    Path(Path),
}

impl Operand {
    /// Where it was written.
    pub fn span(&self) -> Span {
        match self {
            Operand::Literal(v) => v.span,
            Operand::Path(p) => p.span,
        }
    }
}
