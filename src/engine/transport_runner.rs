//! The engine's `Runner` over the transports: maps each plan host to a transport `HostSpec`
//! (address, port, user, jump chain, ssh or local) and each request to a `RemoteCommand`.
//!
//! Input: a `Plan`'s hosts and a `Transport`. Output: command results; transport errors become
//! connection errors (the engine retries and throttles on them).

use super::runner::{CommandOutput, CommandRequest, ConnectionError, RunFuture, Runner};
use crate::plan::{self, Plan};
use crate::transport::{self, ExitStatus, RemoteCommand, Sudo, Transport};
use std::collections::HashMap;
use std::sync::Arc;

/// Runs the engine's commands through a [`Transport`].
pub struct TransportRunner {
    transport: Arc<dyn Transport>,
    hosts: Arc<HashMap<String, transport::HostSpec>>,
}

fn host_spec(plan: &Plan, i: usize, depth: usize) -> Option<transport::HostSpec> {
    let h = plan.hosts.get(i)?;
    let mut spec = match h.transport {
        plan::Transport::Local => transport::HostSpec::local(h.name.clone()),
        plan::Transport::Ssh => transport::HostSpec::new(h.name.clone()),
    };
    spec = spec.address(h.address.clone()).port(h.port);
    if let Some(user) = &h.user {
        spec = spec.user(user.clone());
    }
    // Jump chains are short; the depth bound only guards against a cycle in a hand-made plan.
    if let (Some(j), true) = (h.jump, depth < 8) {
        if let Some(bastion) = host_spec(plan, j as usize, depth + 1) {
            // The outermost bastion comes first.
            let mut chain = bastion.jump.clone();
            let mut bastion = bastion;
            bastion.jump.clear();
            chain.push(bastion);
            spec.jump = chain;
        }
    }
    Some(spec)
}

impl TransportRunner {
    /// A runner for the hosts of `plan` over `transport`.
    pub fn new(plan: &Plan, transport: Arc<dyn Transport>) -> Self {
        let hosts = (0..plan.hosts.len())
            .filter_map(|i| host_spec(plan, i, 0).map(|s| (s.name.clone(), s)))
            .collect();
        TransportRunner {
            transport,
            hosts: Arc::new(hosts),
        }
    }

    /// The transport's view of a host, for tests and `--dry-run`.
    pub fn host(&self, name: &str) -> Option<&transport::HostSpec> {
        self.hosts.get(name)
    }
}

impl Runner for TransportRunner {
    fn run(&self, req: CommandRequest) -> RunFuture {
        let transport = self.transport.clone();
        let host = if req.local {
            Some(transport::HostSpec::local(req.host.clone()))
        } else {
            self.hosts.get(&req.host).cloned()
        };
        Box::pin(async move {
            let Some(host) = host else {
                return Err(ConnectionError {
                    host: req.host,
                    message: "unknown host".to_string(),
                });
            };
            let mut cmd = RemoteCommand::new(req.command);
            for (k, v) in req.env {
                cmd = cmd.env(k, v);
            }
            if let Some(stdin) = req.stdin {
                cmd = cmd.stdin(stdin);
            }
            if req.sudo {
                cmd = cmd.sudo(Sudo {
                    user: None,
                    password: req.sudo_password.map(transport::Secret::from),
                });
            }
            match transport.run(&host, &cmd).await {
                Ok(out) => Ok(CommandOutput {
                    exit: match out.exit {
                        ExitStatus::Code(c) => Some(c),
                        ExitStatus::Signal(_) => None,
                    },
                    stdout: out.stdout.text(),
                    stderr: out.stderr.text(),
                }),
                Err(e) => Err(ConnectionError {
                    host: req.host,
                    message: e.to_string(),
                }),
            }
        })
    }
}
