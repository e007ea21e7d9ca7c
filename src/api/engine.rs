//! [`Engine`]: checks, plans and runs an API-built workflow the way `sflow run` does. Input:
//! an [`Inventory`], an [`SshAuth`] and a [`Workflow`]; output: the checked `Program`, the
//! `Plan`, or the [`RunResult`] of executing it over SSH.

use super::{source, HostKeyPolicy, Inventory, RunResult, Threshold, Workflow};
use crate::check::{check_file, CheckOptions, MemoryFs};
use crate::diagnostic::{render::render_human, Diagnostic};
use crate::engine::from_plan::RunChoices;
use crate::engine::transport_runner::TransportRunner;
use crate::engine::{execute, Clock, RealClock, RunOptions, RunSpec};
use crate::plan::{Plan, PlanError};
use crate::program::Program;
use crate::span::SourceMap;
use crate::transport::ssh::SshOptions;
use crate::transport::{Transport, TransportError, Transports};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The name the generated source is checked under (it shows in diagnostics).
const SOURCE_NAME: &str = "api.sflow";

/// Why an API call could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A value cannot be written in the language without changing the program's shape (a
    /// name with a space, a target with a brace).
    #[error("{what} `{value}` cannot be written in a workflow: {why}")]
    Unrepresentable {
        /// What the value is (`task name`, `task target`...).
        what: String,
        /// The value.
        value: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A required part was never given.
    #[error("{what} needs {missing}")]
    Incomplete {
        /// The incomplete item.
        what: String,
        /// What it lacks.
        missing: &'static str,
    },
    /// The checker found errors: the same diagnostics the workflow would get as a file.
    #[error(
        "the workflow does not check ({} error(s)):\n{rendered}",
        count_errors(diagnostics)
    )]
    Check {
        /// Every diagnostic, sorted by position in `text`.
        diagnostics: Vec<Diagnostic>,
        /// The `.sflow` text that was checked.
        text: String,
        /// The diagnostics rendered as `sflow check` prints them (no colour).
        rendered: String,
    },
    /// Lowering the program to a plan failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The SSH transport could not be set up (unreadable key or known_hosts file).
    #[error("cannot set up ssh: {0}")]
    Transport(#[from] TransportError),
}

fn count_errors(diags: &[Diagnostic]) -> usize {
    diags
        .iter()
        .filter(|d| d.severity() == crate::diagnostic::Severity::Error)
        .count()
}

/// How the engine authenticates: the SSH agent, key files, or both (agent first).
///
/// ```
/// use sflow::api::SshAuth;
/// let auth = SshAuth::from_agent().with_keyfile("deploy_ed25519");
/// # let _ = auth;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshAuth {
    use_agent: bool,
    keyfiles: Vec<PathBuf>,
}

impl SshAuth {
    /// The SSH agent at `SSH_AUTH_SOCK`.
    pub fn from_agent() -> Self {
        SshAuth {
            use_agent: true,
            keyfiles: Vec::new(),
        }
    }

    /// An unencrypted private key file (an encrypted key must be loaded into the agent: the
    /// library never prompts).
    pub fn from_keyfile(path: impl Into<PathBuf>) -> Self {
        SshAuth {
            use_agent: false,
            keyfiles: vec![path.into()],
        }
    }

    /// Also tries this key file, after the agent and the files given before.
    #[must_use]
    pub fn with_keyfile(mut self, path: impl Into<PathBuf>) -> Self {
        self.keyfiles.push(path.into());
        self
    }
}

/// A checked program with the source it was checked from.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The typed, resolved program (the same value `sflow check` builds).
    pub program: Program,
    /// Warnings (a program with errors is an [`ApiError::Check`] instead).
    pub warnings: Vec<Diagnostic>,
    /// The `.sflow` text that was checked.
    pub source: String,
}

/// Runs workflows on an inventory with one way of authenticating.
///
/// Host keys are verified against `~/.ssh/known_hosts` by default, strictly: an unknown or
/// changed key refuses the host ([`Engine::known_hosts`], [`Engine::host_key_policy`]).
///
/// ```no_run
/// use sflow::api::{Engine, HostKeyPolicy, Inventory, SshAuth, Workflow};
/// # async fn demo(inventory: Inventory, workflow: Workflow) -> Result<(), sflow::api::ApiError> {
/// let result = Engine::new(inventory, SshAuth::from_keyfile("/etc/sflow/id_ed25519"))
///     .known_hosts("/etc/sflow/known_hosts")
///     .host_key_policy(HostKeyPolicy::Strict)
///     .execute(&workflow)
///     .await?;
/// assert!(result.failed_servers.is_empty());
/// # Ok(())
/// # }
/// ```
pub struct Engine {
    inventory: Inventory,
    auth: SshAuth,
    known_hosts: Vec<PathBuf>,
    policy: HostKeyPolicy,
    ssh_config: Option<Option<PathBuf>>,
    ignore_windows: Option<String>,
    wait: bool,
    failure_budget: Option<Threshold>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("inventory", &self.inventory)
            .field("auth", &self.auth)
            .field("known_hosts", &self.known_hosts)
            .field("policy", &self.policy)
            .field("ignore_windows", &self.ignore_windows)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `inventory` that authenticates with `auth`; the real clock; the user's
    /// `~/.ssh/known_hosts` and `~/.ssh/config`.
    pub fn new(inventory: Inventory, auth: SshAuth) -> Self {
        Engine {
            inventory,
            auth,
            known_hosts: Vec::new(),
            policy: HostKeyPolicy::Strict,
            ssh_config: None,
            ignore_windows: None,
            wait: false,
            failure_budget: None,
            clock: Arc::new(RealClock),
        }
    }

    /// Trusts the keys of this known_hosts file (repeatable; replaces `~/.ssh/known_hosts`).
    #[must_use]
    pub fn known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts.push(path.into());
        self
    }

    /// `Strict` (the default) refuses unknown keys; `AcceptNew` records them in the first
    /// known_hosts file. A changed key is always refused.
    #[must_use]
    pub fn host_key_policy(mut self, policy: HostKeyPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The ssh config file to read (`None`: none at all; default `~/.ssh/config`).
    #[must_use]
    pub fn ssh_config(mut self, path: Option<PathBuf>) -> Self {
        self.ssh_config = Some(path);
        self
    }

    /// Runs outside the workflow's windows; the reason is recorded in the result.
    #[must_use]
    pub fn ignore_windows(mut self, reason: impl Into<String>) -> Self {
        self.ignore_windows = Some(reason.into());
        self
    }

    /// Sleeps until the next window occurrence instead of deferring work.
    #[must_use]
    pub fn wait_for_windows(mut self) -> Self {
        self.wait = true;
        self
    }

    /// A run-wide failure budget that halts the run whatever the wave.
    #[must_use]
    pub fn failure_budget(mut self, budget: Threshold) -> Self {
        self.failure_budget = Some(budget);
        self
    }

    /// Where wall-clock time comes from (windows are judged by it); default the real clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The `.sflow` source the workflow is checked as: the inventory inline, then the
    /// workflow, in `sflow fmt` layout.
    ///
    /// # Errors
    /// [`ApiError::Unrepresentable`] or [`ApiError::Incomplete`].
    pub fn source(&self, workflow: &Workflow) -> Result<String, ApiError> {
        let text = source::render(&self.inventory, workflow)?;
        // Only text that parses is laid out; otherwise the checker reports on the raw text.
        Ok(crate::fmt::format_file(crate::span::FileId(0), &text).unwrap_or(text))
    }

    /// Checks the workflow with the language's checker.
    ///
    /// # Errors
    /// [`ApiError::Check`] with the checker's diagnostics, or a value that cannot be written.
    pub fn check(&self, workflow: &Workflow) -> Result<Checked, ApiError> {
        let text = self.source(workflow)?;
        let path = PathBuf::from(SOURCE_NAME);
        let fs = MemoryFs([(path.clone(), text.clone())].into_iter().collect());
        let mut sources = SourceMap::new();
        let opts = CheckOptions {
            now: self.clock.now(),
            ..CheckOptions::default()
        };
        // MemoryFs holds the one file read here; a read error cannot happen, but is still
        // reported rather than unwrapped.
        let outcome =
            check_file(&mut sources, &path, &fs, &opts).map_err(|e| ApiError::Incomplete {
                what: format!("the generated source ({e})"),
                missing: "to be readable",
            })?;
        match outcome.program {
            Some(program) if outcome.errors() == 0 => Ok(Checked {
                program,
                warnings: outcome.diagnostics,
                source: text,
            }),
            _ => Err(ApiError::Check {
                rendered: render_human(&outcome.diagnostics, &sources, false),
                diagnostics: outcome.diagnostics,
                text,
            }),
        }
    }

    /// Checks and lowers the workflow to the plan `sflow plan` would print.
    ///
    /// # Errors
    /// As [`Engine::check`], or [`ApiError::Plan`].
    pub fn plan(&self, workflow: &Workflow) -> Result<Plan, ApiError> {
        let checked = self.check(workflow)?;
        Ok(crate::plan::lower(
            &checked.program,
            Some(workflow.name()),
            &[],
        )?)
    }

    /// The SSH options of a run: the user's setup with this engine's authentication and
    /// host-key choices.
    pub fn ssh_options(&self) -> SshOptions {
        let mut ssh = SshOptions::user_defaults();
        ssh.use_agent = self.auth.use_agent;
        ssh.identity_files.clone_from(&self.auth.keyfiles);
        if !self.known_hosts.is_empty() {
            ssh.known_hosts_files.clone_from(&self.known_hosts);
            ssh.known_hosts_write = self.known_hosts.first().cloned();
        }
        ssh.host_key_policy = self.policy;
        if let Some(config) = &self.ssh_config {
            ssh.ssh_config.clone_from(config);
        }
        ssh
    }

    /// Checks, plans and runs the workflow: waves, windows, limits, verification and
    /// rollback exactly as `sflow run --yes` (without its journal and progress output).
    ///
    /// # Errors
    /// As [`Engine::plan`], or [`ApiError::Transport`]. Failing hosts are not errors: they
    /// are in the result.
    pub async fn execute(&self, workflow: &Workflow) -> Result<RunResult, ApiError> {
        let plan = self.plan(workflow)?;
        let choices = RunChoices {
            secrets: BTreeMap::new(),
            wait: self.wait,
            ignore_windows: self.ignore_windows.clone(),
            failure_budget: self.failure_budget,
        };
        let spec = RunSpec::from_plan(&plan, choices);
        let transport: Arc<dyn Transport> = Arc::new(Transports::new(self.ssh_options())?);
        let runner = Arc::new(TransportRunner::new(&plan, transport.clone()));
        let options = RunOptions {
            clock: self.clock.clone(),
            ..RunOptions::default()
        };
        let result = execute(spec, runner, options).await;
        transport.close().await;
        Ok(result)
    }
}
