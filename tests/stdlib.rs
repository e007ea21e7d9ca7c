//! The stdlib templates (`std/apt`, `std/dnf`, `std/systemd`, `std/files`, `std/facts`) run
//! through the checker, the planner and the engine over the in-process SSH fleet with
//! scripted outputs. Each test asserts the exact command lines the fleet received (template
//! arguments shell-quoted, sudo wrapping included) and the run's results. Where the outcome
//! depends on the script's own logic (the health-check loop of `restart`, the atomic write
//! and rollback of `file_write`, the facts format), the very script the fleet received is
//! also run by `sh` on this machine, against stub commands or a temporary directory.

use sflow::check::{check_file, CheckOptions, MemoryFs};
use sflow::engine::from_plan::RunChoices;
use sflow::engine::result::TaskResult;
use sflow::engine::transport_runner::TransportRunner;
use sflow::engine::{execute, HostState, RunOptions, RunResult, RunSpec, RunStatus, TaskState};
use sflow::span::SourceMap;
use sflow::testing::{Fleet, Reply, Request};
use sflow::transport::ssh::SshTransport;
use sflow::transport::Transport;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// POSIX single quoting, as the fleet must receive a sudo'd script.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command line of a script run with `sudo = true`.
fn sudo(script: &str) -> String {
    format!("sudo -n -- sh -c {}", sq(script))
}

/// Checks `import "MODULE"` + an inventory of the fleet (group `fleet`) + `workflow t { BODY }`,
/// lowers it and runs it over the fleet; every host answers with `respond`.
async fn run(
    hosts: usize,
    module: &str,
    body: &str,
    respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> (Fleet, RunResult) {
    let fleet = match Fleet::builder().hosts(hosts).respond(respond).start().await {
        Ok(f) => f,
        Err(e) => panic!("fleet: {e}"),
    };
    let mut src = format!("import \"{module}\"\ninventory {{\n");
    for h in fleet.hosts() {
        src.push_str(&format!(
            "  host {} {{ address = \"{}\"  port = {}  user = \"sflow\" }}\n",
            h.name,
            h.addr.ip(),
            h.addr.port()
        ));
    }
    let names: Vec<&str> = fleet.hosts().iter().map(|h| h.name.as_str()).collect();
    src.push_str(&format!(
        "  group fleet = [{}]\n}}\nworkflow t {{\n{body}\n}}\n",
        names.join(", ")
    ));
    let path = PathBuf::from("stdlib_test.sflow");
    let fs = MemoryFs([(path.clone(), src.clone())].into_iter().collect());
    let mut sources = SourceMap::new();
    let program = match check_file(&mut sources, &path, &fs, &CheckOptions::default()) {
        Ok(o) if o.errors() == 0 => match o.program {
            Some(p) => p,
            None => panic!("no program"),
        },
        Ok(o) => panic!("does not check: {:#?}\n{src}", o.diagnostics),
        Err(e) => panic!("{e}"),
    };
    let plan = match sflow::plan::lower(&program, None, &[]) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let transport: Arc<dyn Transport> = match SshTransport::new(fleet.ssh_options()) {
        Ok(t) => Arc::new(t),
        Err(e) => panic!("{e}"),
    };
    let runner = Arc::new(TransportRunner::new(&plan, transport.clone()));
    let spec = RunSpec::from_plan(&plan, RunChoices::default());
    let result = execute(spec, runner, RunOptions::default()).await;
    transport.close().await;
    (fleet, result)
}

fn commands_on(fleet: &Fleet, i: usize) -> Vec<String> {
    fleet
        .commands_on(i)
        .into_iter()
        .map(|r| r.command)
        .collect()
}

fn task<'r>(result: &'r RunResult, host: &str, name: &str) -> &'r TaskResult {
    match result
        .hosts
        .get(host)
        .and_then(|h| h.tasks.iter().find(|t| t.task == name))
    {
        Some(t) => t,
        None => panic!("no result for {name} on {host}: {result:#?}"),
    }
}

/// Runs `script` with `sh` here, in `dir`, with `bin` first on the PATH.
fn sh_here(script: &str, dir: &Path, bin: Option<&Path>) -> std::process::Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(script).current_dir(dir);
    if let Some(bin) = bin {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", bin.display()));
    }
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("sh: {e}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    }
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        panic!("{}: {e}", path.display());
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

const APT_UPGRADE: &str = r#"set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ -z 'openssl libssl3' ]; then
  apt-get -y -q -o Dpkg::Options::=--force-confold upgrade
else
  apt-get -y -q -o Dpkg::Options::=--force-confold install --only-upgrade openssl libssl3
fi
"#;

const APT_INSTALL: &str = r#"set -eu
export DEBIAN_FRONTEND=noninteractive
mkdir -p /var/lib/sflow
for p in openssl; do
  dpkg-query -W -f='${Version}' "$p" 2>/dev/null > "/var/lib/sflow/apt-previous-$p" || true
done
apt-get update -q
if [ -z '3.0.15-1~deb12u1' ]; then
  apt-get -y -q -o Dpkg::Options::=--force-confold install openssl
else
  apt-get -y -q --allow-downgrades -o Dpkg::Options::=--force-confold install openssl='3.0.15-1~deb12u1'
fi
"#;

const APT_INSTALL_ROLLBACK: &str = r#"set -eu
export DEBIAN_FRONTEND=noninteractive
for p in openssl; do
  old=$(cat "/var/lib/sflow/apt-previous-$p" 2>/dev/null || true)
  if [ -n "$old" ]; then
    apt-get -y -q --allow-downgrades install "$p=$old"
  else
    apt-get -y -q remove "$p"
  fi
done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apt_upgrade_install_pinned_hold_then_roll_back_newest_first() {
    let body = r#"
  task upgrade on fleet { use = apt_upgrade("openssl libssl3") }
  task pin on fleet after upgrade { use = apt_install("openssl", "3.0.15-1~deb12u1") }
  task hold on fleet after pin { use = apt_hold("openssl") }
  task smoke on fleet after hold { run = "openssl version" }
  rollout {
    wave everyone = fleet
    auto_rollback = true
  }"#;
    let (fleet, result) = run(1, "std/apt", body, |r| {
        if r.command.starts_with("sudo -n -- sh -c ") {
            Reply::ok("")
        } else {
            Reply::fail(1, "openssl: error while loading shared libraries\n")
        }
    })
    .await;
    assert_eq!(
        commands_on(&fleet, 0),
        [
            sudo(APT_UPGRADE),
            sudo(APT_INSTALL),
            sudo("apt-mark hold openssl"),
            "openssl version".to_string(),
            // Rollback: newest change first; the upgrade has no rollback.
            sudo("apt-mark unhold openssl"),
            sudo(APT_INSTALL_ROLLBACK),
        ]
    );
    assert_eq!(result.status, RunStatus::Halted, "{result:#?}");
    assert_eq!(result.rolled_back_servers, ["host-000"]);
    assert_eq!(result.hosts["host-000"].state, HostState::RolledBack);
    assert_eq!(
        result.hosts["host-000"].rollbacks,
        [("hold".to_string(), true), ("pin".to_string(), true)]
    );
    assert_eq!(task(&result, "host-000", "smoke").state, TaskState::Failed);
}

const DNF_INSTALL: &str = r#"set -eu
old=$(rpm -q --qf '%{VERSION}-%{RELEASE}' openssl 2>/dev/null || true)
case "$old" in *"not installed"*) old="" ;; esac
mkdir -p /var/lib/sflow
printf '%s' "$old" > /var/lib/sflow/dnf-previous-openssl
if [ -z 1:3.0.7-27.el9 ]; then
  dnf -y -q install openssl
else
  dnf -y -q install --allowerasing openssl-1:3.0.7-27.el9 ||
    dnf -y -q downgrade openssl-1:3.0.7-27.el9
fi
"#;

const DNF_HOLD: &str = r#"set -eu
dnf versionlock --help >/dev/null 2>&1 || dnf -y -q install 'dnf-command(versionlock)'
dnf versionlock add openssl
"#;

const DNF_UPGRADE_ALL: &str = r#"set -eu
if [ -z '' ]; then
  dnf -y -q upgrade --refresh
else
  dnf -y -q upgrade --refresh 
fi
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_install_pinned_hold_and_upgrade_everything() {
    let body = r#"
  task pin on fleet { use = dnf_install("openssl", "1:3.0.7-27.el9") }
  task hold on fleet after pin { use = dnf_hold("openssl") }
  task upgrade on fleet after hold { use = dnf_upgrade() }"#;
    let (fleet, result) = run(2, "std/dnf", body, |r| {
        if r.command.starts_with("sudo -n -- sh -c ") {
            Reply::ok("Complete!\n")
        } else {
            Reply::fail(127, "not scripted\n")
        }
    })
    .await;
    let expected = [sudo(DNF_INSTALL), sudo(DNF_HOLD), sudo(DNF_UPGRADE_ALL)];
    assert_eq!(commands_on(&fleet, 0), expected);
    assert_eq!(commands_on(&fleet, 1), expected);
    assert_eq!(result.status, RunStatus::Succeeded, "{result:#?}");
    assert_eq!(result.successful_servers, ["host-000", "host-001"]);
    assert_eq!(task(&result, "host-001", "upgrade").stdout, "Complete!\n");
}

const RESTART: &str = r#"set -u
systemctl restart nginx || true
i=0
while [ "$i" -lt 2 ]; do
  if systemctl is-active --quiet nginx && { [ -z 'curl -fsS http://localhost/health' ] || sh -c 'curl -fsS http://localhost/health'; }; then
    exit 0
  fi
  i=$((i + 1))
  sleep 1
done
echo "nginx is not healthy after 2s" >&2
journalctl -u nginx -n 20 --no-pager >&2 || true
exit 1
"#;

/// Stub `systemctl`, `curl`, `sleep` and `journalctl` in `bin`: `is-active` exits
/// `active`, the health check exits `healthy`, and every sleep is logged instead of taken.
fn stubs(bin: &Path, active: u8, healthy: u8) {
    let _ = std::fs::create_dir_all(bin);
    let log = bin.join("calls");
    for (name, body) in [
        (
            "systemctl",
            format!("echo \"systemctl $*\" >> '{}'\ncase \"$1\" in is-active) exit {active} ;; esac\nexit 0\n", log.display()),
        ),
        ("curl", format!("exit {healthy}\n")),
        ("sleep", format!("echo sleep >> '{}'\n", log.display())),
        ("journalctl", "echo 'nginx.service: Failed with result exit-code'\n".to_string()),
    ] {
        let p = bin.join(name);
        write(&p, &format!("#!/bin/sh\n{body}"));
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)) {
            panic!("chmod: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_restart_fails_the_host_when_the_health_check_never_passes() {
    let body = r#"
  task restart_nginx on fleet { use = restart("nginx", "curl -fsS http://localhost/health", 2) }
  task after_it on fleet after restart_nginx { run = "echo done" }"#;
    let (fleet, result) = run(1, "std/systemd", body, |r| {
        if r.command.starts_with("sudo -n -- sh -c ") {
            Reply::fail(
                1,
                "nginx is not healthy after 2s\nnginx.service: Failed with result exit-code\n",
            )
        } else {
            Reply::ok("done\n")
        }
    })
    .await;
    assert_eq!(commands_on(&fleet, 0), [sudo(RESTART)]);
    assert_eq!(result.failed_servers, ["host-000"]);
    assert_eq!(result.hosts["host-000"].state, HostState::Failed);
    let restart = task(&result, "host-000", "restart_nginx");
    assert_eq!((restart.state, restart.exit), (TaskState::Failed, Some(1)));
    assert!(restart.stderr.contains("not healthy after 2s"));
    assert_eq!(
        task(&result, "host-000", "after_it").state,
        TaskState::Cancelled
    );

    // The same script here, against stubs: never active → two one-second waits, then exit 1
    // with the service's log on stderr.
    let dir = tempdir();
    let bin = dir.path().join("down");
    stubs(&bin, 3, 0);
    let out = sh_here(RESTART, dir.path(), Some(&bin));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "nginx is not healthy after 2s\nnginx.service: Failed with result exit-code\n"
    );
    assert_eq!(
        read(&bin.join("calls")).unwrap_or_default(),
        "systemctl restart nginx\nsystemctl is-active --quiet nginx\nsleep\n\
         systemctl is-active --quiet nginx\nsleep\n"
    );
    // Active but the health check fails: still a failure.
    let bin = dir.path().join("unhealthy");
    stubs(&bin, 0, 7);
    assert_eq!(
        sh_here(RESTART, dir.path(), Some(&bin)).status.code(),
        Some(1)
    );
    // Active and healthy: success at once, no waiting.
    let bin = dir.path().join("up");
    stubs(&bin, 0, 0);
    assert_eq!(
        sh_here(RESTART, dir.path(), Some(&bin)).status.code(),
        Some(0)
    );
    assert!(!read(&bin.join("calls"))
        .unwrap_or_default()
        .contains("sleep"));
}

fn file_write_scripts(path: &str, content: &str) -> (String, String) {
    let p = sq(path);
    let run = format!(
        r#"set -eu
dir=$(dirname {p})
if [ -e {p} ]; then
  cp -p {p} {p}.sflow-bak
else
  rm -f {p}.sflow-bak
  : > {p}.sflow-new
fi
tmp=$(mktemp "$dir/.sflow.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s' {c} > "$tmp"
chmod 0640 "$tmp"
if [ -e {p} ]; then chown --reference={p} "$tmp" 2>/dev/null || true; fi
mv -f "$tmp" {p}
trap - EXIT
"#,
        c = sq(content)
    );
    let rollback = format!(
        r#"set -eu
if [ -e {p}.sflow-bak ]; then
  mv -f {p}.sflow-bak {p}
elif [ -e {p}.sflow-new ]; then
  rm -f {p} {p}.sflow-new
fi
"#
    );
    (run, rollback)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_write_atomically_with_a_backup_and_roll_back() {
    let dir = tempdir();
    // A space and a quote in the path and content: both must reach the shell as one word.
    let target = dir.path().join("motd file");
    let target_s = target.display().to_string();
    let content = "maintained by sflow\nit's $HOME, not expanded\n";
    let body = format!(
        r#"
  task motd on fleet {{ use = file_write("{target_s}", "maintained by sflow\nit's \$HOME, not expanded\n", "0640") }}
  task check on fleet after motd {{ run = "grep -q sflow /etc/motd" }}
  rollout {{
    wave everyone = fleet
    auto_rollback = true
  }}"#
    );
    let (fleet, result) = run(1, "std/files", &body, |r| {
        if r.command.starts_with("sudo -n -- sh -c ") {
            Reply::ok("")
        } else {
            Reply::fail(1, "")
        }
    })
    .await;
    let (write_script, rollback_script) = file_write_scripts(&target_s, content);
    assert_eq!(
        commands_on(&fleet, 0),
        [
            sudo(&write_script),
            "grep -q sflow /etc/motd".to_string(),
            sudo(&rollback_script),
        ]
    );
    assert_eq!(result.status, RunStatus::Halted);
    assert_eq!(result.rolled_back_servers, ["host-000"]);
    assert_eq!(
        result.hosts["host-000"].rollbacks,
        [("motd".to_string(), true)]
    );

    // The same scripts here. An existing file: replaced, backed up, then restored.
    write(&target, "old motd\n");
    let bak = dir.path().join("motd file.sflow-bak");
    assert!(sh_here(&write_script, dir.path(), None).status.success());
    assert_eq!(read(&target).as_deref(), Some(content));
    assert_eq!(read(&bak).as_deref(), Some("old motd\n"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o640));
    }
    assert!(sh_here(&rollback_script, dir.path(), None).status.success());
    assert_eq!(read(&target).as_deref(), Some("old motd\n"));
    assert!(!bak.exists());
    // No file before: created, then removed by the rollback, leaving nothing behind.
    if let Err(e) = std::fs::remove_file(&target) {
        panic!("{e}");
    }
    assert!(sh_here(&write_script, dir.path(), None).status.success());
    assert_eq!(read(&target).as_deref(), Some(content));
    assert!(sh_here(&rollback_script, dir.path(), None).status.success());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

const FACTS: &str = r#"set -u
. /etc/os-release 2>/dev/null || true
echo "os=${ID:-unknown}"
echo "os_version=${VERSION_ID:-unknown}"
case " ${ID:-} ${ID_LIKE:-} " in
  *" debian "*|*" ubuntu "*) family=debian ;;
  *" rhel "*|*" fedora "*|*" centos "*) family=rhel ;;
  *) family=unknown ;;
esac
echo "os_family=$family"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "uptime_seconds=$(cut -d. -f1 /proc/uptime 2>/dev/null || echo 0)"
if [ -e /var/run/reboot-required ] || { command -v needs-restarting >/dev/null 2>&1 && ! needs-restarting -r >/dev/null 2>&1; }; then
  echo "reboot_required=yes"
else
  echo "reboot_required=no"
fi
if command -v dpkg-query >/dev/null 2>&1; then
  echo "packages=$(dpkg-query -f '.\n' -W | wc -l)"
  echo "upgradable=$(apt list --upgradable 2>/dev/null | grep -c upgradable || true)"
elif command -v rpm >/dev/null 2>&1; then
  echo "packages=$(rpm -qa | wc -l)"
  echo "upgradable=$(dnf -q -C check-update 2>/dev/null | grep -c '^[A-Za-z0-9]' || true)"
fi
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_are_captured_and_drive_conditions() {
    let body = r#"
  task facts on fleet {
    use = facts_gather()
    capture = facts
  }
  task reboot on fleet after facts when facts contains "reboot_required=yes" {
    run = "systemctl reboot"
    sudo = true
  }"#;
    let (fleet, result) = run(2, "std/facts", body, |r| {
        let reboot = if r.host == "host-000" { "yes" } else { "no" };
        if r.command == FACTS {
            Reply::ok(format!(
                "os=debian\nos_version=12\nos_family=debian\nkernel=6.1.0-26-amd64\narch=x86_64\n\
                 uptime_seconds=86400\nreboot_required={reboot}\npackages=512\nupgradable=3\n"
            ))
        } else {
            Reply::ok("")
        }
    })
    .await;
    assert_eq!(
        commands_on(&fleet, 0),
        [FACTS.to_string(), sudo("systemctl reboot")]
    );
    assert_eq!(commands_on(&fleet, 1), [FACTS]);
    assert_eq!(result.status, RunStatus::Succeeded, "{result:#?}");
    assert_eq!(
        task(&result, "host-001", "reboot").state,
        TaskState::Skipped
    );
    assert!(task(&result, "host-000", "facts")
        .stdout
        .contains("reboot_required=yes\n"));

    // The script on this machine prints every fact as one `key=value` line.
    let dir = tempdir();
    let out = sh_here(FACTS, dir.path(), None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let facts: std::collections::BTreeMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).collect();
    for key in [
        "os",
        "os_version",
        "os_family",
        "kernel",
        "arch",
        "uptime_seconds",
        "reboot_required",
    ] {
        assert!(
            facts.get(key).is_some_and(|v| !v.is_empty()),
            "{key} in {text}"
        );
    }
    let uname = std::process::Command::new("uname").arg("-r").output();
    let kernel = uname
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(facts.get("kernel").copied(), Some(kernel.as_str()));
    assert!(matches!(facts.get("reboot_required"), Some(&"yes" | &"no")));
    assert!(facts
        .get("uptime_seconds")
        .is_some_and(|v| v.parse::<u64>().is_ok()));
}
