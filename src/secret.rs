//! Secrets of a workflow (`secret NAME = prompt(..) | env(..) | command(..)`): resolves them into
//! memory-only [`Secret`] values (zeroized on drop, printed as `***`) and masks every occurrence
//! of their values in text with a [`Redactor`] before it reaches output, journal, audit or events.

use std::fmt;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use zeroize::{Zeroize as _, Zeroizing};

/// What replaces a secret value wherever it would appear.
pub const MASK: &str = "***";

/// A secret value held in memory only.
///
/// It is deliberately neither `Clone` nor serde-serialisable, and its `Debug` and `Display`
/// print [`MASK`]: the only way to read the value is [`Secret::expose`], which makes every use
/// visible in review. The bytes are overwritten with zeros when the value is dropped.
pub struct Secret {
    name: String,
    value: Zeroizing<String>,
}

impl Secret {
    /// Wraps a value already in memory; `name` is the workflow's name for it.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Zeroizing::new(value.into()),
        }
    }

    /// The name the workflow gave the secret (not sensitive).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value: pass it to a command's stdin or to sudo, never to a command line or a log.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}: {MASK})", self.name)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Where a secret's value comes from, as the contract's `secret` declaration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `prompt("text")`: asked on the terminal without echo.
    Prompt(String),
    /// `env("VAR")`: the controller's environment variable.
    Env(String),
    /// `command("pass show x")`: stdout of a local shell command, without its final newline.
    Command(String),
}

/// Why a secret could not be resolved. Messages never contain the value.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SecretError {
    /// The secret is asked for with `prompt(..)` and the process has no terminal to ask on.
    #[error("secret `{name}` is read from a prompt and there is no terminal to prompt on")]
    #[diagnostic(
        code(sflow::secret::no_terminal),
        help("run on a terminal, or declare it with env(\"VAR\") or command(\"...\")")
    )]
    NoTerminal {
        /// The secret's name.
        name: String,
    },
    /// The prompt needs a terminal and none could be read.
    #[error("cannot prompt for secret `{name}`: {source}")]
    #[diagnostic(
        code(sflow::secret::prompt),
        help("run on a terminal, or give the secret with env(..) or command(..)")
    )]
    Prompt {
        /// The secret's name.
        name: String,
        /// The terminal error.
        source: std::io::Error,
    },
    /// The environment variable is unset or not UTF-8.
    #[error("secret `{name}`: environment variable `{var}` is not set")]
    #[diagnostic(code(sflow::secret::env))]
    Env {
        /// The secret's name.
        name: String,
        /// The variable asked for.
        var: String,
    },
    /// The command could not be started or did not succeed.
    #[error("secret `{name}`: command failed: {reason}")]
    #[diagnostic(code(sflow::secret::command))]
    Command {
        /// The secret's name.
        name: String,
        /// What went wrong (exit status or IO error), never the output.
        reason: String,
    },
    /// The value resolved to the empty string, which would mask nothing and authenticate nothing.
    #[error("secret `{name}` is empty")]
    #[diagnostic(code(sflow::secret::empty))]
    Empty {
        /// The secret's name.
        name: String,
    },
}

/// Resolves one secret declaration into its value.
pub fn resolve(name: &str, source: &SecretSource) -> Result<Secret, SecretError> {
    let value = match source {
        SecretSource::Prompt(text) => {
            // rpassword reads from the controlling terminal with echo off; without one it
            // would fail with a bare OS error, so say plainly what is missing.
            if !has_terminal() {
                return Err(SecretError::NoTerminal {
                    name: name.to_owned(),
                });
            }
            Zeroizing::new(rpassword::prompt_password(text).map_err(|source| {
                SecretError::Prompt {
                    name: name.to_owned(),
                    source,
                }
            })?)
        }
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(v) => Zeroizing::new(v),
            Err(_) => {
                return Err(SecretError::Env {
                    name: name.to_owned(),
                    var: var.clone(),
                })
            }
        },
        SecretSource::Command(cmd) => run_secret_command(name, cmd)?,
    };
    if value.is_empty() {
        return Err(SecretError::Empty {
            name: name.to_owned(),
        });
    }
    Ok(Secret {
        name: name.to_owned(),
        value,
    })
}

/// Whether a controlling terminal can be opened to prompt on (what rpassword reads from).
pub fn has_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

fn run_secret_command(name: &str, cmd: &str) -> Result<Zeroizing<String>, SecretError> {
    let fail = |reason: String| SecretError::Command {
        name: name.to_owned(),
        reason,
    };
    // stdout is read into a buffer we own so that it can be zeroized; stderr goes to the
    // operator's terminal (pass/gpg prompts) and never into our memory.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut out = Zeroizing::new(Vec::new());
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_end(&mut out)
            .map_err(|e| fail(e.to_string()))?;
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    if out.ends_with(b"\n") {
        out.pop();
        if out.ends_with(b"\r") {
            out.pop();
        }
    }
    match std::str::from_utf8(&out) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => Err(fail("output is not UTF-8".to_owned())),
    }
}

/// Masks every occurrence of any known secret value in text.
///
/// Cheap to clone (the values are shared) so that every writer of output, journal, audit log,
/// reports and events holds the same one. Longer values are replaced first so that a secret
/// containing another is masked whole. Text is redacted in complete units (a whole command, a
/// whole captured output): a value split across two separately redacted chunks is not found.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<Vec<Zeroizing<String>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.values.len())
    }
}

impl Redactor {
    /// A redactor masking the values of these secrets.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut values: Vec<Zeroizing<String>> = secrets
            .into_iter()
            .filter(|s| !s.expose().is_empty())
            .map(|s| Zeroizing::new(s.expose().to_owned()))
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self {
            values: Arc::new(values),
        }
    }

    /// True when there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret value replaced by [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for v in self.values.iter() {
            if out.contains(v.as_str()) {
                let mut masked = out.replace(v.as_str(), MASK);
                std::mem::swap(&mut out, &mut masked);
                // The previous buffer held the secret: wipe it before freeing it.
                masked.zeroize();
            }
        }
        out
    }

    /// True when `text` contains a secret value (used by tests and assertions).
    pub fn leaks(&self, text: &str) -> bool {
        self.values.iter().any(|v| text.contains(v.as_str()))
    }

    /// Appends `value` to `out` as JSON with every secret redacted. A value whose serialised
    /// form cannot contain a secret is written directly; otherwise (a secret that JSON would
    /// escape, or one that appears in the text) it goes through [`Redactor::redact_json`].
    pub fn write_json<T: serde::Serialize>(
        &self,
        out: &mut Vec<u8>,
        value: &T,
    ) -> serde_json::Result<()> {
        let start = out.len();
        serde_json::to_writer(&mut *out, value)?;
        if self.is_empty() {
            return Ok(());
        }
        let line = &out[start..];
        // JSON spells a secret verbatim unless it holds a quote, a backslash or a control
        // character; such a secret cannot be searched for in the serialised text.
        let verbatim = self
            .values
            .iter()
            .all(|v| !v.chars().any(|c| c == '"' || c == '\\' || c.is_control()));
        let text = String::from_utf8_lossy(line);
        if verbatim && !self.leaks(&text) {
            return Ok(());
        }
        let mut v = serde_json::to_value(value)?;
        self.redact_json(&mut v);
        out.truncate(start);
        serde_json::to_writer(out, &v)
    }

    /// Redacts every string (keys included) inside a JSON value, in place.
    ///
    /// Values are redacted before serialisation because JSON escaping could change how a
    /// secret with quotes or backslashes is spelled in the serialised text.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) if self.leaks(s) => *s = self.redact(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    let k = if self.leaks(&k) { self.redact(&k) } else { k };
                    map.insert(k, v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-7f3a9c-s3cr3t";

    #[test]
    fn json_written_through_the_redactor_never_spells_a_secret() {
        #[derive(serde::Serialize)]
        struct Rec<'a> {
            command: &'a str,
            list: Vec<&'a str>,
        }
        let plain = Secret::new("p", CANARY);
        let quoted = Secret::new("q", "pa\"ss\\wd");
        for secrets in [vec![], vec![&plain], vec![&plain, &quoted]] {
            let r = Redactor::new(secrets.iter().copied());
            let rec = Rec {
                command: &format!("echo {CANARY} pa\"ss\\wd"),
                list: vec![CANARY, "fine"],
            };
            // Appended after what `out` held, which stays.
            let mut line = b"> ".to_vec();
            r.write_json(&mut line, &rec)
                .unwrap_or_else(|e| panic!("{e}"));
            let text = String::from_utf8(line).unwrap_or_else(|e| panic!("{e}"));
            let text = text
                .strip_prefix("> ")
                .unwrap_or_else(|| panic!("prefix lost: {text}"));
            let back: serde_json::Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
            let mut expected = serde_json::to_value(&rec).unwrap_or_else(|e| panic!("{e}"));
            r.redact_json(&mut expected);
            assert_eq!(back, expected, "{text}");
            for s in &secrets {
                assert!(!back.to_string().contains(s.expose()), "{text}");
                assert!(!text.contains(s.expose()), "{text}");
            }
        }
        // Nothing secret in the record: written directly, fields in declaration order.
        let r = Redactor::new([&plain]);
        let rec = Rec {
            command: "true",
            list: vec![],
        };
        let mut line = Vec::new();
        assert!(r.write_json(&mut line, &rec).is_ok());
        assert_eq!(
            String::from_utf8(line).ok().as_deref(),
            Some(r#"{"command":"true","list":[]}"#)
        );
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("db_password", CANARY);
        assert_eq!(format!("{s}"), "***");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(CANARY), "{dbg}");
        assert!(dbg.contains("db_password"));
        assert_eq!(s.expose(), CANARY);
    }

    #[test]
    fn redactor_masks_every_occurrence_and_longest_first() {
        let a = Secret::new("a", CANARY);
        let b = Secret::new("b", "canary");
        let r = Redactor::new([&b, &a]);
        let text = format!("x {CANARY} y {CANARY}\nz canary");
        let out = r.redact(&text);
        assert_eq!(out, "x *** y ***\nz ***");
        assert!(!r.leaks(&out));
    }

    #[test]
    fn redactor_ignores_empty_values_and_leaves_clean_text_alone() {
        let empty = Secret::new("e", "");
        let r = Redactor::new([&empty]);
        assert!(r.is_empty());
        assert_eq!(r.redact("hello"), "hello");
    }

    #[test]
    fn redact_json_masks_nested_strings_and_keys() {
        let s = Secret::new("s", "pa\"ss\\word");
        let r = Redactor::new([&s]);
        let mut v = serde_json::json!({
            "cmd": "echo pa\"ss\\word",
            "list": ["pa\"ss\\word", 3],
            "pa\"ss\\word": true
        });
        r.redact_json(&mut v);
        let text = serde_json::to_string(&v).unwrap_or_default();
        assert!(!text.contains("ss\\\\word"), "{text}");
        assert_eq!(v["cmd"], "echo ***");
        assert_eq!(v["list"][0], "***");
        assert_eq!(v["***"], true);
    }

    #[test]
    fn env_source_resolves_and_reports_missing_variable_without_value() {
        // A variable name unique to this test so parallel tests do not interfere.
        std::env::set_var("SFLOW_TEST_SECRET_ENV_1", CANARY);
        let s = resolve("x", &SecretSource::Env("SFLOW_TEST_SECRET_ENV_1".into()));
        assert_eq!(
            s.map(|s| s.expose().to_owned()).ok().as_deref(),
            Some(CANARY)
        );
        let err = resolve("x", &SecretSource::Env("SFLOW_TEST_SECRET_UNSET_9".into()));
        assert!(matches!(err, Err(SecretError::Env { .. })));
    }

    #[test]
    fn command_source_strips_one_final_newline() {
        let s = resolve("x", &SecretSource::Command(format!("printf '{CANARY}\\n'")));
        assert_eq!(
            s.map(|s| s.expose().to_owned()).ok().as_deref(),
            Some(CANARY)
        );
        let failed = resolve("x", &SecretSource::Command("exit 3".into()));
        match failed {
            Err(SecretError::Command { reason, .. }) => assert!(reason.contains('3'), "{reason}"),
            other => panic!("expected a command error, got {other:?}"),
        }
        let empty = resolve("x", &SecretSource::Command("true".into()));
        assert!(matches!(empty, Err(SecretError::Empty { .. })));
    }

    #[test]
    fn prompt_without_terminal_is_an_error_not_a_hang() {
        // Under a test harness there may be a controlling terminal; only check when there is none.
        if !has_terminal() {
            let err = resolve("x", &SecretSource::Prompt("password: ".into()));
            assert!(
                matches!(err, Err(SecretError::NoTerminal { .. })),
                "{err:?}"
            );
        }
    }
}
