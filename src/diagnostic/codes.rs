//! The registry of diagnostic codes: each code's severity, title and long explanation with an
//! example, printed by `sflow explain CODE`. Codes are stable: never renumber, only add.

use super::Severity;

macro_rules! codes {
    ($( $variant:ident = $sev:ident, $title:literal, $explain:literal; )*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $title]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed: `E0001`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => stringify!($variant),)* }
            }

            /// Its severity.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// A one-line title.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            /// The long explanation, with an example.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$variant => $explain,)* }
            }
        }
    };
}

/// The code named `name` (`E0001`, case-insensitive).
pub fn lookup(name: &str) -> Option<Code> {
    Code::ALL
        .iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
}

codes! {
    E0001 = Error, "syntax error",
"The parser met something the grammar does not allow at this place.

    task build on web {
      run = \"make\" ]      # `]` cannot appear here
    }

The label shows what was expected. The parser skips to the next item (`task`, `window`,
`workflow`, ...) and goes on, so one mistake gives one error.";

    E0002 = Error, "unclosed block",
"A `{` is never closed: the parser reached a new item or the end of the file first.

    task a on web {
      run = \"a\"
    task b on web { ... }   # the `}` of task `a` is missing

Add the missing `}` where the block ends.";

    E0003 = Error, "missing `=`",
"Attributes are written `name = value`; the `=` was forgotten.

    task a on web {
      timeout 10m        # write: timeout = 10m
    }";

    E0004 = Error, "unknown keyword",
"A word at the start of an item is not a keyword of the language, often a misspelling.

    workflow w {
      tsak a on web { run = \"a\" }   # did you mean `task`?
    }";

    E0005 = Error, "invalid string",
"A string literal has an unknown escape or a malformed `${...}` interpolation.

Strings know the escapes `\\\" \\\\ \\n \\t \\$`; `${name}` or `${raw name}` inserts a value,
where name is a param, a capture, `host.ATTR` or `TASK.FIELD`. Write `\\$` for a literal `$`
followed by `{`, or use a raw string `r\"...\"` for regular expressions.

    run = \"echo ${}\"      # empty interpolation";

    E0006 = Error, "invalid number",
"An integer, percentage or duration is out of range or malformed.

    timeout = 99999999999999999999s
    max_failures = 150%     # a percentage is at most 100%";

    E0007 = Error, "file not found",
"An `import` or `inventory \"FILE\"` names a file that cannot be read, or a `std/` module that
does not exist. Relative paths are relative to the file that names them.

    import \"std/apt\"
    inventory \"hosts.sflow\"";

    E0008 = Error, "missing or repeated inventory",
"A workflow targets hosts but no inventory was given (inline, `inventory \"FILE\"` or
`--inventory FILE`), or the files declare more than one inventory.

    inventory { host web01 {} }
    inventory \"hosts.sflow\"     # a second inventory";

    E0009 = Error, "unknown name",
"A name does not refer to anything declared: a group or host (in a target), a task (in `after`,
`verify`, `before`), a capture, a param or a template. Names are resolved as a group first,
then a host.

    group web = [web01]
    task a on wbe { run = \"x\" }   # did you mean `web`?";

    E0010 = Error, "duplicate name",
"Two tasks, hosts, groups, waves, captures, params, secrets, verify blocks, templates or
workflows have the same name.

    task a on web { run = \"x\" }
    task a on web { run = \"y\" }   # `a` again";

    E0011 = Error, "dependency cycle",
"Tasks depend on each other in a circle through `after`, so none of them can start. Every
task of the cycle is labelled.

    task a on web after b { run = \"a\" }
    task b on web after a { run = \"b\" }";

    E0012 = Error, "unknown attribute",
"An attribute name is not one this block knows.

    task a on web {
      run = \"x\"
      timout = 5m     # did you mean `timeout`?
    }";

    E0013 = Error, "wrong attribute type",
"An attribute got a value of the wrong type: a duration (`30s`, `1h30m`), an int, a percentage
(`10%`), a bool, a string, a target, a task name, a regex (`r\"...\"`).

    task a on web {
      run = \"x\"
      timeout = 10     # a duration is expected: 10m
    }";

    E0014 = Error, "missing attribute",
"A required attribute is absent: a task needs `run` or `use`, `approve` and `notify` need
`command`.

    task a on web { sudo = true }   # no `run`";

    E0015 = Error, "invalid value",
"A value has the right type but is not one of the allowed values or is out of range.

    windows { on_expire = \"stop\" }     # \"finish\", \"abort\" or \"rollback\"
    rollout { max_failures = 120% }";

    E0016 = Error, "invalid window spec",
"A window spec string is malformed: `DAYS HH:MM-HH:MM [TZ]`, alternatives joined by ` | `,
DAYS is `Mon`..`Sun`, a range `Mon-Fri`, a list `Sat,Sun`, `daily` or a date `2026-12-06`;
TZ is an IANA zone such as `Europe/Berlin` (default UTC); `\"always\"` is always open. The label
points at the bad part of the string.

    window web = \"Sun 25:00-03:00 UTC\"   # hour 25";

    E0017 = Error, "host not covered by a window",
"The workflow declares windows, and a host that a task targets is covered by none of them, so
it could never run.

    window web = \"Sun 01:00-03:00\"
    task a on db { run = \"x\" }     # db hosts have no window";

    E0018 = Error, "host in no wave",
"A rollout lists waves, and a host that a task targets is in none of them, so it would never
run.

    rollout {
      wave canary = [web01]
      wave rest = web except web01    # db hosts missing
    }";

    E0019 = Error, "host in two waves",
"A host appears in more than one wave. Each host runs in exactly one wave.

    rollout {
      wave canary = [web01]
      wave rest = web        # web01 again
    }";

    E0020 = Error, "empty wave",
"A wave holds no targeted host, so it would do nothing (often a wrong group or an `except`
removing everything). With `waves = [...] of TARGET`, a size giving no new host makes an empty
wave too.

    wave canary = web except web";

    E0021 = Error, "invalid wave sizes",
"`waves = [...] of TARGET` takes cumulative sizes: counts or percentages, strictly increasing,
the last one covering the whole target (usually `100%`).

    waves = [10%, 5%, 100%] of all    # 5% after 10%";

    E0022 = Error, "condition refers to a task that may not have run",
"A `when` condition may only use tasks guaranteed to have run before on the same host: its
ancestors through `after`, which also target the host.

    task a on web { run = \"x\" }
    task b on web when a.ok { run = \"y\" }    # write: task b on web after a when a.ok";

    E0023 = Error, "condition type mismatch",
"The two sides of a comparison have different types, an ordering is used on strings or bools,
or a condition is not a bool. Captures and stdout are strings: use `.int` to compare numbers.

    when disk_pct > 90          # write: disk_pct.int > 90";

    E0024 = Error, "invalid regex",
"A regular expression does not compile (Rust `regex` syntax). The label points inside the
string.

    match = r\"ii\\s+(openssl\"     # unclosed group";

    E0025 = Error, "regex lacks a capture group",
"An `expect` `match` regex compares capture group 1 of before and after, but the regex has no
group.

    expect pkgs { match = r\"openssl \\S+\"  change = \"version_increase\" }
    # write: r\"openssl (\\S+)\"";

    E0026 = Error, "verify `after` may run before `before`",
"A verify block's `before` task must run before its `after` task on every host where both
apply: `after` must depend (through `after`) on `before`.

    task a on web { run = \"x\" }
    task b on web { run = \"y\" }      # b does not come after a
    verify v { before = b  after = a  capture c = \"date\" }";

    E0027 = Error, "task can never fit its window",
"A task's `estimate` (plus the `cutoff`) is longer than every occurrence of the window of a host
it targets, so it could never start.

    window db = \"Sun 03:00-04:00\"
    task big on db { run = \"x\"  estimate = 2h }";

    E0028 = Error, "credential in a literal",
"A string literal looks like a password, token or private key. Credentials never appear in a
workflow or an inventory: declare a `secret` and feed it through `stdin = NAME`.

    env = { DB_PASSWORD = \"hunter2\" }
    # write: secret db_pw = env(\"DB_PASSWORD\")  and  stdin = db_pw";

    E0029 = Error, "wrong template arguments",
"A template use passes more arguments than the template has parameters, omits one without a
default, or passes a value of the wrong type.

    template apt(pkg: string) { run = \"apt-get install -y ${pkg}\" }
    task a on web { use = apt() }      # `pkg` missing";

    E0030 = Error, "secret on a command line",
"A secret is interpolated into a command or an environment value: it would show in process
lists, journals and logs. Secrets reach commands only through stdin.

    secret pw = prompt(\"password\")
    task a on db { run = \"login ${pw}\" }    # write: run = \"login\"  stdin = pw";

    E0031 = Error, "unknown workflow",
"`--workflow NAME` names a workflow that the files do not declare.

    sflow check deploy.sflow --workflow deploy_al";

    E0032 = Error, "invalid inventory",
"An Ansible inventory (INI, YAML, or the JSON a dynamic inventory prints for `--list`) cannot
be read: a syntax error, a value of the wrong shape, a bad host pattern, a group that is its
own child, or a connection variable sflow cannot use. The error points into the inventory.

    [web]
    web[3:1].example.com          # a range must go upwards: web[1:3]
    [web:vars]
    ansible_port=ssh              # a port is a number

A failing `inventory command(\"...\")` is reported here too, with its exit status and the end
of its error output.";

    W0001 = Warning, "limit above max_servers",
"A `parallel` per-group limit (or a `per ATTR` limit) is higher than `max_servers`, so it can
never be reached.

    parallel { max_servers = 5  per_group = 10 }";

    W0002 = Warning, "task targets no host",
"A task's target resolves to no host (a filter or `except` removes them all, or a glob matches
nothing), so it never runs.

    task a on web where os == \"plan9\" { run = \"x\" }";

    W0003 = Warning, "capture never read",
"A task keeps its output with `capture = NAME`, but no condition or interpolation reads it.

    task a on web { run = \"df\"  capture = disk }   # `disk` unused";

    W0004 = Warning, "inventory entry ignored",
"Ansible accepts something in an inventory that sflow cannot use, and skips it: a key of a
YAML group other than `hosts`, `vars` and `children`, a host reached by a connection other
than ssh or local (`ansible_connection=winrm`), a name that is both a host and a group.

    all:
      hostz:            # a typo of `hosts`: Ansible warns and skips it too
        web1:";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "duplicate {s}");
            assert_eq!(s.len(), 5);
            let expect = if s.starts_with('E') {
                Severity::Error
            } else {
                Severity::Warning
            };
            assert_eq!(c.severity(), expect, "{s}");
            assert!(!c.explanation().is_empty());
        }
        assert_eq!(lookup("e0009"), Some(Code::E0009));
        assert_eq!(lookup("E9999"), None);
    }
}
