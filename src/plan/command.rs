//! Commands and conditions as the plan holds them: params already substituted, the remaining
//! interpolation sites (host attributes, captures, task outcomes) left for the engine, and the
//! one shell-quoting rule both the plan and the engine use.

use crate::ast::CmpOp;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Duration;

/// A command (or env value) of the plan: literal text and the sites the engine fills in on each
/// host at run time. Params are already substituted (as text) when the plan is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Command {
    /// Literal text and sites in order.
    pub parts: Vec<Part>,
}

/// A piece of a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Part {
    /// Literal text, as the shell will see it.
    Text(String),
    /// A value inserted at run time.
    Site {
        /// What is inserted.
        site: Site,
        /// Insert as is; otherwise shell-quoted with [`shell_quote`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        raw: bool,
    },
}

/// A run-time value read by a command or a condition on the current host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Site {
    /// `host.ATTR` (every inventory attribute, known ones included).
    HostAttr(String),
    /// `host.name`.
    HostName,
    /// A named capture: the stdout of this task (index into [`super::Plan::tasks`]) on the host.
    Capture(u32),
    /// `TASK.FIELD` of this task (index into [`super::Plan::tasks`]) on the host.
    Task(u32, Field),
}

/// Fields of a task's outcome on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Succeeded (bool).
    Ok,
    /// Failed (bool).
    Failed,
    /// Skipped (bool).
    Skipped,
    /// Exit status (int).
    Exit,
    /// Standard output (string).
    Stdout,
    /// Standard error (string).
    Stderr,
}

impl Field {
    /// The name as written in source.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Ok => "ok",
            Field::Failed => "failed",
            Field::Skipped => "skipped",
            Field::Exit => "exit",
            Field::Stdout => "stdout",
            Field::Stderr => "stderr",
        }
    }
}

/// A constant of a condition or a param value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// Text.
    String(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Duration.
    Duration(#[serde(with = "super::duration")] Duration),
    /// Percentage 0–100.
    Percent(u8),
}

impl Value {
    /// The value as text, the way it is interpolated into a command.
    pub fn to_text(&self) -> String {
        match self {
            Value::String(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Duration(d) => super::duration::format(*d),
            Value::Percent(p) => format!("{p}%"),
        }
    }
}

/// Comparison operators of conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

impl From<CmpOp> for Op {
    fn from(op: CmpOp) -> Self {
        match op {
            CmpOp::Eq => Op::Eq,
            CmpOp::Ne => Op::Ne,
            CmpOp::Lt => Op::Lt,
            CmpOp::Le => Op::Le,
            CmpOp::Gt => Op::Gt,
            CmpOp::Ge => Op::Ge,
        }
    }
}

/// A `when` condition, params substituted by their values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cond {
    /// A constant.
    Lit(Value),
    /// A run-time value.
    Site(Site),
    /// `.int`: the string parsed as an integer after trimming (not a number: the task fails).
    ToInt(Box<Cond>),
    /// `a OP b`.
    Cmp(Op, Box<Cond>, Box<Cond>),
    /// `a =~ r"regex"`.
    Match(Box<Cond>, String),
    /// `a contains b`.
    Contains(Box<Cond>, Box<Cond>),
    /// `a and b`.
    And(Box<Cond>, Box<Cond>),
    /// `a or b`.
    Or(Box<Cond>, Box<Cond>),
    /// `not a`.
    Not(Box<Cond>),
}

/// Quotes `s` for a POSIX shell: unchanged when it holds only characters no shell treats
/// specially, else in single quotes (`'` written as `'\''`). The engine quotes run-time values
/// with this same function.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b':' | b'@' | b'%' | b'+' | b'=' | b','
                )
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Names tasks by index, for showing commands and conditions as the source wrote them.
pub trait TaskNames {
    /// The name of task `index`.
    fn task_name(&self, index: u32) -> &str;
}

impl Site {
    /// The site as written in source (`host.address`, `disk_pct`, `check_nginx.failed`).
    pub fn display(&self, names: &dyn TaskNames, captures: &dyn Fn(u32) -> String) -> String {
        match self {
            Site::HostAttr(a) => format!("host.{a}"),
            Site::HostName => "host.name".into(),
            Site::Capture(t) => captures(*t),
            Site::Task(t, f) => format!("{}.{}", names.task_name(*t), f.as_str()),
        }
    }
}

impl Command {
    /// A command of literal text only.
    pub fn literal(text: impl Into<String>) -> Self {
        Command {
            parts: vec![Part::Text(text.into())],
        }
    }

    /// The command with each site written back as `${…}` (`${raw …}`).
    pub fn display(&self, names: &dyn TaskNames, captures: &dyn Fn(u32) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Site { site, raw } => {
                    let _ = write!(
                        out,
                        "${{{}{}}}",
                        if *raw { "raw " } else { "" },
                        site.display(names, captures)
                    );
                }
            }
        }
        out
    }

    /// Whether the command has no run-time site (its text is final).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }
}

impl Cond {
    /// The condition as written in source (fully parenthesised where operators nest).
    pub fn display(&self, names: &dyn TaskNames, captures: &dyn Fn(u32) -> String) -> String {
        let sub = |c: &Cond| {
            let s = c.display(names, captures);
            if matches!(c, Cond::And(..) | Cond::Or(..)) {
                format!("({s})")
            } else {
                s
            }
        };
        match self {
            Cond::Lit(Value::String(s)) => format!("{s:?}"),
            Cond::Lit(v) => v.to_text(),
            Cond::Site(site) => site.display(names, captures),
            Cond::ToInt(c) => format!("{}.int", sub(c)),
            Cond::Cmp(op, a, b) => format!("{} {} {}", sub(a), op.as_str(), sub(b)),
            Cond::Match(a, re) => format!("{} =~ r\"{re}\"", sub(a)),
            Cond::Contains(a, b) => format!("{} contains {}", sub(a), sub(b)),
            Cond::And(a, b) => format!("{} and {}", sub(a), sub(b)),
            Cond::Or(a, b) => format!("{} or {}", sub(a), sub(b)),
            Cond::Not(a) => format!("not {}", sub(a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting_leaves_plain_words_and_wraps_the_rest() {
        assert_eq!(shell_quote("3.0.15-1~deb12u1"), "'3.0.15-1~deb12u1'");
        assert_eq!(shell_quote("stable"), "stable");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("a b;rm -rf /"), "'a b;rm -rf /'");
    }
}
