//! The checked form of `verify` blocks: capture points, captures, expectations and what a
//! mismatch does (part of [`crate::program`]).

use super::{CommandTemplate, HostSet, TaskId};
use crate::span::Span;

/// How captured values may change between before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Must be equal.
    Unchanged,
    /// Must differ.
    Changed,
    /// Anything.
    Any,
    /// The extracted version must increase.
    VersionIncrease,
    /// The extracted version must decrease.
    VersionDecrease,
    /// Absent before, present after.
    Added,
    /// Present before, absent after.
    Removed,
}

impl Change {
    /// Every value with its source name.
    pub const ALL: [(&'static str, Change); 7] = [
        ("unchanged", Change::Unchanged),
        ("changed", Change::Changed),
        ("any", Change::Any),
        ("version_increase", Change::VersionIncrease),
        ("version_decrease", Change::VersionDecrease),
        ("added", Change::Added),
        ("removed", Change::Removed),
    ];
}

/// What a verification mismatch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMismatch {
    /// Fail the host.
    #[default]
    Fail,
    /// Report only.
    Warn,
    /// Fail the host and roll it back.
    Rollback,
}

/// When a verify capture is taken on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapturePoint {
    /// Before the host's first task.
    Start,
    /// After the host's last task.
    End,
    /// Before this task runs.
    Before(TaskId),
    /// After this task ran.
    After(TaskId),
}

/// A checked `verify` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Verify {
    /// Its name.
    pub name: String,
    /// When the first capture is taken (`before = TASK`, default the start).
    pub before: CapturePoint,
    /// When the second capture is taken (`after = TASK`, default the end).
    pub after: CapturePoint,
    /// Captures in order.
    pub captures: Vec<VerifyCapture>,
    /// Expectations in order (captures without one: any change is reported).
    pub expects: Vec<VerifyExpect>,
    /// What a mismatch does.
    pub on_mismatch: OnMismatch,
    /// After-values must agree across these hosts (drift detection).
    pub across: Option<HostSet>,
    /// Hosts the block applies to: the hosts of its `before`/`after` tasks, or every
    /// targeted host.
    pub hosts: HostSet,
    /// Where it was declared.
    pub span: Span,
}

/// `capture NAME = "command"`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyCapture {
    /// Its name.
    pub name: String,
    /// The command.
    pub command: CommandTemplate,
    /// Where it was declared.
    pub span: Span,
}

/// `expect NAME { match  change }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyExpect {
    /// Index into [`Verify::captures`].
    pub capture: usize,
    /// Regex whose capture group 1 is compared (whole output when absent).
    pub matcher: Option<String>,
    /// The expected change.
    pub change: Change,
    /// `equals`: every after value must be exactly this.
    pub equals: Option<String>,
    /// `contains`: every after value must contain this.
    pub contains: Option<String>,
    /// `matches`: a regex every after value must match (anywhere in it).
    pub matches: Option<String>,
    /// `versions`: the version ordering to use (`deb`, `rpm`, `semver`, `numeric`), over
    /// the host's facts.
    pub versions: Option<String>,
    /// Where it was declared.
    pub span: Span,
}
