//! Running the `sflow` binary as an operator would, in a scratch directory with no user SSH
//! configuration, agent or store/audit environment leaking in.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// What one `sflow` invocation gave.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `sflow ARGS` in `dir` (its working directory and `$HOME`), with `env` set.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sflow"));
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("SFLOW_STATE")
        .env_remove("SFLOW_AUDIT")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `sflow ARGS` in `dir` to its end.
pub fn sflow_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = command(dir, args, env)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sflow: {e}"));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `sflow ARGS` in `dir` to its end.
pub fn sflow(dir: &Path, args: &[&str]) -> Out {
    sflow_env(dir, args, &[])
}

/// Starts `sflow ARGS` in `dir` without waiting, its output discarded.
pub fn spawn(dir: &Path, args: &[&str]) -> Child {
    command(dir, args, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sflow: {e}"))
}
