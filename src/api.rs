//! The Rust library API: build an inventory and a workflow in code and run them. Input:
//! [`Inventory`], [`Workflow`] and [`SshAuth`] values; output: the engine's [`RunResult`].
//!
//! There is no second semantics: a workflow built in code is rendered to `.sflow` source
//! ([`Engine::source`]) and goes through the same checker, planner and engine as
//! `sflow run`, so it gets the same diagnostics (codes, messages, help) as the file would.
//!
//! ```no_run
//! use sflow::api::{Engine, Inventory, SshAuth, Task, Workflow};
//!
//! # async fn demo() -> Result<(), sflow::api::ApiError> {
//! let mut inventory = Inventory::new();
//! inventory
//!     .add_host("web01.example.com")
//!     .add_host("web02.example.com")
//!     .add_group("web_servers", ["web01.example.com", "web02.example.com"]);
//!
//! let mut workflow = Workflow::new("restart_web");
//! workflow
//!     .add_task(Task::new("restart").on("web_servers").run("systemctl restart nginx").sudo())
//!     .add_task(
//!         Task::new("check")
//!             .on("web_servers")
//!             .run("curl -fsS http://localhost/health")
//!             .depends_on(["restart"]),
//!     );
//!
//! let result = Engine::new(inventory, SshAuth::from_agent())
//!     .execute(&workflow)
//!     .await?;
//! println!("{:?}: {} ok", result.status, result.successful_servers.len());
//! # Ok(())
//! # }
//! ```

mod engine;
mod source;
mod workflow;

#[cfg(test)]
mod tests;

pub use crate::engine::spec::Threshold;
pub use crate::engine::{RunResult, RunStatus};
pub use crate::transport::known_hosts::HostKeyPolicy;
pub use engine::{ApiError, Checked, Engine, SshAuth};
pub use workflow::{
    Change, Expect, OnExpire, OnMismatch, Parallelization, ProgressiveExecution, Task,
    Verification, Versions, WaveSize, WindowPolicy, Workflow,
};

use std::collections::BTreeMap;

/// One host of an [`Inventory`]: its name and the attributes the language knows (`address`,
/// `port`, `user`, `jump`) plus free string attributes for `where`, `when` and
/// `${host.ATTR}`.
///
/// ```
/// use sflow::api::Host;
/// let web = Host::new("web01.example.com").address("10.0.1.11").attr("dc", "fra1");
/// assert_eq!(web.name(), "web01.example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    name: String,
    address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    jump: Option<String>,
    attributes: BTreeMap<String, String>,
}

impl Host {
    /// A host with the inventory's defaults (address: its name, port 22).
    pub fn new(name: impl Into<String>) -> Self {
        Host {
            name: name.into(),
            address: None,
            port: None,
            user: None,
            jump: None,
            attributes: BTreeMap::new(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address to connect to (a DNS name or an IP).
    #[must_use]
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The SSH port.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The remote user.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// A host (of the same inventory) to tunnel through.
    #[must_use]
    pub fn jump(mut self, host: impl Into<String>) -> Self {
        self.jump = Some(host.into());
        self
    }

    /// A free string attribute.
    #[must_use]
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

impl From<&str> for Host {
    fn from(name: &str) -> Self {
        Host::new(name)
    }
}

impl From<String> for Host {
    fn from(name: String) -> Self {
        Host::new(name)
    }
}

/// The hosts and groups a workflow runs on: the code form of an `inventory { }` block.
///
/// ```
/// use sflow::api::{Host, Inventory};
/// let mut inv = Inventory::new();
/// inv.set_default_user("ops")
///     .add_host(Host::new("db01").address("10.0.2.1"))
///     .add_host("db02")
///     .add_group("db_servers", ["db01", "db02"])
///     .add_group("fleet", ["db_servers"]);
/// assert_eq!(inv.hosts().len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    default_user: Option<String>,
    default_port: Option<u16>,
    hosts: Vec<Host>,
    groups: Vec<(String, Vec<String>)>,
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a host (a name, or a [`Host`] with attributes). A host added twice is reported by
    /// the checker like a duplicate `host` line.
    pub fn add_host(&mut self, host: impl Into<Host>) -> &mut Self {
        self.hosts.push(host.into());
        self
    }

    /// Adds a group of hosts and other groups, by name. A member that is neither becomes a
    /// host with the defaults, as in the language.
    pub fn add_group<S: Into<String>>(
        &mut self,
        name: impl Into<String>,
        members: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        self.groups
            .push((name.into(), members.into_iter().map(Into::into).collect()));
        self
    }

    /// The user of hosts that name none (`defaults { user = ... }`).
    pub fn set_default_user(&mut self, user: impl Into<String>) -> &mut Self {
        self.default_user = Some(user.into());
        self
    }

    /// The port of hosts that name none (`defaults { port = ... }`).
    pub fn set_default_port(&mut self, port: u16) -> &mut Self {
        self.default_port = Some(port);
        self
    }

    /// The hosts added so far.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The groups added so far: name and members.
    pub fn groups(&self) -> &[(String, Vec<String>)] {
        &self.groups
    }
}
