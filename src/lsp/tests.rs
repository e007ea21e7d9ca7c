//! The server driven the way an editor drives it: JSON-RPC frames (`Content-Length` header and
//! JSON body) written by a test client, read by lsp-server, answered by [`serve`] on a thread.

use super::{serve, ServerOptions};
use lsp_server::{Connection, Message};
use serde_json::{json, Value};
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

const MAIN: &str = r#"import "std/systemd"
import "./lib.sflow"
inventory {
  defaults { user = "ops" }
  host bastion.fra1 { address = "203.0.113.10" }
  host web01.example.com { dc = "fra1"  jump = bastion.fra1 }
  host web02.example.com { dc = "ams1" }
  group web_servers = [web01.example.com, web02.example.com]
}
workflow w {
  window web_servers = "Sun 01:00-03:00 UTC"
  task check on web_servers {
    run = "systemctl is-active nginx"
    allow_failure = true
  }
  task restart_it on web_servers after check when check.failed { use = restart("nginx") }
  task hello on web_servers after restart_it { use = greet() }
}
"#;

const LIB: &str = "# Says hello.\ntemplate greet() {\n  run = \"echo hi\"\n}\n";

struct Client {
    conn: Connection,
    server: Option<std::thread::JoinHandle<bool>>,
    next_id: i64,
    /// Notifications that arrived while waiting for a response.
    pending: Vec<Value>,
}

/// A JSON-RPC message through the wire format: serialised with its `Content-Length` frame,
/// then read back by lsp-server's own reader.
fn through_wire(msg: Value) -> Message {
    let body = msg.to_string();
    let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
    let mut reader = BufReader::new(frame.as_bytes());
    match Message::read(&mut reader) {
        Ok(Some(m)) => m,
        other => panic!("the frame did not parse: {other:?}"),
    }
}

/// A message the server sent, as the JSON an editor would receive.
fn to_json(msg: &Message) -> Value {
    let mut out = Vec::new();
    if let Err(e) = msg.clone().write(&mut out) {
        panic!("write: {e}");
    }
    let text = String::from_utf8_lossy(&out);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

impl Client {
    fn start() -> Client {
        let (server_side, client_side) = Connection::memory();
        // A fixed clock: 2026-01-05 is a Monday, so the next Sunday window is 2026-01-11.
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
            .map(|d| d.to_utc())
            .ok();
        let server =
            std::thread::spawn(move || serve(&server_side, &ServerOptions { now }).is_ok());
        let mut c = Client {
            conn: client_side,
            server: Some(server),
            next_id: 0,
            pending: Vec::new(),
        };
        let init = c.request("initialize", json!({ "capabilities": {} }));
        assert_eq!(init["result"]["capabilities"]["hoverProvider"], json!(true));
        assert_eq!(
            init["result"]["capabilities"]["documentFormattingProvider"],
            json!(true)
        );
        assert_eq!(init["result"]["serverInfo"]["name"], json!("sflow"));
        c.notify("initialized", json!({}));
        c
    }

    fn recv(&mut self) -> Value {
        match self.conn.receiver.recv_timeout(Duration::from_secs(20)) {
            Ok(m) => to_json(&m),
            Err(e) => panic!("no message from the server: {e}"),
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let _ = self.conn.sender.send(through_wire(msg));
        loop {
            let m = self.recv();
            if m["id"] == json!(id) {
                return m;
            }
            self.pending.push(m);
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        let msg = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        let _ = self.conn.sender.send(through_wire(msg));
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let is_it = |m: &Value| {
            m["method"] == json!("textDocument/publishDiagnostics")
                && m["params"]["uri"] == json!(uri)
        };
        if let Some(i) = self.pending.iter().position(is_it) {
            let m = self.pending.remove(i);
            return m["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        loop {
            let m = self.recv();
            if is_it(&m) {
                return m["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
            self.pending.push(m);
        }
    }

    fn open(&mut self, uri: &str, text: &str) {
        let doc = json!({ "uri": uri, "languageId": "sflow", "version": 1, "text": text });
        self.notify("textDocument/didOpen", json!({ "textDocument": doc }));
    }

    fn change(&mut self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version },
                    "contentChanges": [{ "text": text }] }),
        );
    }

    fn at(&mut self, method: &str, uri: &str, pos: (u32, u32)) -> Value {
        let params = json!({ "textDocument": { "uri": uri },
                             "position": { "line": pos.0, "character": pos.1 } });
        self.request(method, params)["result"].clone()
    }

    fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null);
        self.notify("exit", Value::Null);
        let ok = self.server.take().map(|h| h.join().unwrap_or(false));
        assert_eq!(ok, Some(true), "the server did not end cleanly");
    }
}

/// Line and UTF-16 column of the `nth` (1-based) occurrence of `needle` in `text`, plus
/// `delta` characters.
fn pos(text: &str, needle: &str, nth: usize, delta: u32) -> (u32, u32) {
    let mut at = None;
    let mut from = 0;
    for _ in 0..nth {
        let i = text[from..].find(needle).map(|i| i + from);
        at = i;
        from = i.map_or(text.len(), |i| i + 1);
    }
    let Some(at) = at else {
        panic!("`{needle}` #{nth} not in the text")
    };
    let line = text[..at].matches('\n').count();
    let col = text[..at].rfind('\n').map_or(at, |nl| at - nl - 1);
    (
        u32::try_from(line).unwrap_or(0),
        u32::try_from(col).unwrap_or(0) + delta,
    )
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(files: &[(&str, &str)]) -> Project {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("temp dir: {e}"),
        };
        for (name, text) in files {
            if let Err(e) = std::fs::write(dir.path().join(name), text) {
                panic!("{name}: {e}");
            }
        }
        Project { dir }
    }

    fn uri(&self, name: &str) -> String {
        super::text::uri_of(&self.dir.path().join(name))
            .map(|u| u.as_str().to_string())
            .unwrap_or_default()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn hover_text(v: &Value) -> String {
    v["contents"]["value"].as_str().unwrap_or("").to_string()
}

#[test]
fn diagnostics_on_open_and_change_match_sflow_check() {
    let p = Project::new(&[("lib.sflow", LIB)]);
    let uri = p.uri("main.sflow");
    let mut c = Client::start();
    c.open(&uri, MAIN);
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());

    // A typo in a target: E0009 at the name, with the checker's help.
    let broken = MAIN.replace("task hello on web_servers", "task hello on web_server");
    c.change(&uri, 2, &broken);
    let d = c.diagnostics(&uri);
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!(d[0]["code"], json!("E0009"));
    assert_eq!(d[1]["code"], json!("W0002"));
    assert_eq!(d[1]["severity"], json!(2));
    assert_eq!(d[0]["severity"], json!(1));
    assert_eq!(d[0]["source"], json!("sflow"));
    let (line, col) = pos(&broken, "web_server after", 1, 0);
    assert_eq!(
        d[0]["range"]["start"],
        json!({ "line": line, "character": col })
    );
    assert_eq!(
        d[0]["range"]["end"],
        json!({ "line": line, "character": col + 10 })
    );
    assert!(d[0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("did you mean `web_servers`?"));

    // The same codes and spans as the checker gives `sflow check`.
    let mut sources = crate::span::SourceMap::new();
    let id = sources.add(crate::span::SourceFile::new(
        "main.sflow",
        Some(p.path().join("main.sflow")),
        broken.clone(),
    ));
    let out = crate::check::check_loaded(
        &mut sources,
        id,
        &crate::check::Disk,
        &crate::check::CheckOptions::default(),
    );
    let from_check: Vec<(String, Value)> = out
        .diagnostics
        .iter()
        .map(|x| {
            let (start, _) = sources.span_lines(x.span);
            let at = json!({ "line": start.line - 1, "character": start.column - 1 });
            (x.code.as_str().to_string(), at)
        })
        .collect();
    let from_lsp: Vec<(String, Value)> = d
        .iter()
        .map(|x| {
            (
                x["code"].as_str().unwrap_or("").to_string(),
                x["range"]["start"].clone(),
            )
        })
        .collect();
    assert_eq!(from_lsp, from_check);

    c.change(&uri, 3, MAIN);
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());
    c.shutdown();
}

#[test]
fn diagnostics_in_an_inventory_file_are_published_for_it() {
    let main = "inventory \"hosts.ini\"\nworkflow w {\n  task a on web { run = \"uptime\" }\n}\n";
    let p = Project::new(&[("hosts.ini", "[web]\nw1 port\n")]);
    let (uri, ini) = (p.uri("main.sflow"), p.uri("hosts.ini"));
    let mut c = Client::start();
    c.open(&uri, main);
    let d = c.diagnostics(&ini);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["code"], json!("E0032"));
    assert_eq!(d[0]["range"]["start"], json!({ "line": 1, "character": 3 }));
    let in_main: Vec<Value> = c
        .diagnostics(&uri)
        .iter()
        .map(|d| d["code"].clone())
        .collect();
    // A broken inventory is not reported again as a missing one.
    assert_eq!(in_main, Vec::<Value>::new());

    // The inventory is fixed on disk: the editor's file watcher tells the server, which
    // checks again and clears both files.
    if let Err(e) = std::fs::write(p.path().join("hosts.ini"), "[web]\nw1 dc=fra1\n") {
        panic!("{e}");
    }
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": ini, "type": 2 }] }),
    );
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());
    assert_eq!(c.diagnostics(&ini), Vec::<Value>::new());
    c.shutdown();
}

#[test]
fn hover_shows_hosts_tasks_windows_and_templates() {
    let p = Project::new(&[("lib.sflow", LIB)]);
    let uri = p.uri("main.sflow");
    let mut c = Client::start();
    c.open(&uri, MAIN);
    let _ = c.diagnostics(&uri);

    // A host: its attributes and groups.
    let h = hover_text(&c.at(
        "textDocument/hover",
        &uri,
        pos(MAIN, "web01.example.com", 2, 3),
    ));
    assert!(h.contains("host `web01.example.com`"), "{h}");
    assert!(
        h.contains("- user: `ops`") && h.contains("- jump: `bastion.fra1`"),
        "{h}"
    );
    assert!(
        h.contains("- dc: `fra1`") && h.contains("groups: `web_servers`"),
        "{h}"
    );

    // A group: its members.
    let g = hover_text(&c.at("textDocument/hover", &uri, pos(MAIN, "web_servers", 3, 2)));
    assert!(g.contains("group `web_servers`: 2 hosts"), "{g}");

    // A task: targets, dependencies, hosts and dependents.
    let t = hover_text(&c.at("textDocument/hover", &uri, pos(MAIN, "restart_it", 1, 1)));
    assert!(
        t.contains("task restart_it on web_servers after check when check.failed"),
        "{t}"
    );
    assert!(
        t.contains("runs on 2 hosts: `web01.example.com`, `web02.example.com`"),
        "{t}"
    );
    assert!(t.contains("needed by `hello`"), "{t}");

    // A window: its next occurrences from the server's clock.
    let w = hover_text(&c.at("textDocument/hover", &uri, pos(MAIN, "Sun 01:00", 1, 2)));
    assert!(
        w.contains("- Sun 2026-01-11 01:00 → Sun 2026-01-11 03:00 UTC"),
        "{w}"
    );
    assert!(w.contains("- Sun 2026-01-18 01:00"), "{w}");

    // A stdlib template: signature and doc comment.
    let r = hover_text(&c.at("textDocument/hover", &uri, pos(MAIN, "restart(", 1, 2)));
    assert!(
        r.contains("template restart(unit: string, health: string = \"\""),
        "{r}"
    );
    assert!(
        r.contains("from `std/systemd`") && r.contains("wait up to `wait_seconds`"),
        "{r}"
    );

    // Nothing under the cursor: a null result.
    assert_eq!(c.at("textDocument/hover", &uri, (0, 0)), Value::Null);
    c.shutdown();
}

#[test]
fn go_to_definition_of_tasks_groups_hosts_and_templates() {
    let ini = "[web]\nw1 dc=fra1\nw2 dc=ams1\n";
    let main = "import \"./lib.sflow\"\ninventory \"hosts.ini\"\nworkflow w {\n  task a on web { use = greet() }\n  task b on w2 after a { run = \"x\" }\n}\n";
    let p = Project::new(&[("lib.sflow", LIB), ("hosts.ini", ini)]);
    let (uri, lib, hosts) = (p.uri("main.sflow"), p.uri("lib.sflow"), p.uri("hosts.ini"));
    let mut c = Client::start();
    c.open(&uri, main);
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());

    let task = c.at("textDocument/definition", &uri, pos(main, "after a", 1, 6));
    assert_eq!(task["uri"], json!(uri));
    let (l, col) = pos(main, "a on web", 1, 0);
    assert_eq!(
        task["range"]["start"],
        json!({ "line": l, "character": col })
    );

    let group = c.at("textDocument/definition", &uri, pos(main, "web {", 1, 1));
    assert_eq!(group["uri"], json!(hosts));
    assert_eq!(
        group["range"]["start"],
        json!({ "line": 0, "character": 1 })
    );
    let host = c.at("textDocument/definition", &uri, pos(main, "w2 after", 1, 0));
    assert_eq!(host["uri"], json!(hosts));
    assert_eq!(host["range"]["start"], json!({ "line": 2, "character": 0 }));

    let tmpl = c.at("textDocument/definition", &uri, pos(main, "greet", 1, 1));
    assert_eq!(tmpl["uri"], json!(lib));
    assert_eq!(tmpl["range"]["start"], json!({ "line": 1, "character": 9 }));

    let import = c.at("textDocument/definition", &uri, pos(main, "./lib", 1, 2));
    assert_eq!(import["uri"], json!(lib));
    c.shutdown();
}

/// `MAIN` with `extra` lines added at the end of its workflow.
fn in_workflow(extra: &str) -> String {
    let body = MAIN.trim_end().strip_suffix('}').unwrap_or(MAIN);
    format!("{body}{extra}}}\n")
}

fn labels(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["label"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

#[test]
fn completion_in_on_after_wave_when_and_use() {
    let p = Project::new(&[("lib.sflow", LIB)]);
    let uri = p.uri("main.sflow");
    let mut c = Client::start();
    c.open(&uri, MAIN);
    let _ = c.diagnostics(&uri);

    // While typing a new task: the program of the last good version still answers.
    let typing = in_workflow("  task new on \n");
    c.change(&uri, 2, &typing);
    let _ = c.diagnostics(&uri);
    let on = labels(&c.at(
        "textDocument/completion",
        &uri,
        pos(&typing, "task new on ", 1, 12),
    ));
    assert_eq!(
        on,
        vec![
            "all",
            "bastion.fra1",
            "web01.example.com",
            "web02.example.com",
            "web_servers"
        ]
    );

    let typing = in_workflow("  task new on web_servers after \n");
    c.change(&uri, 3, &typing);
    let after = labels(&c.at(
        "textDocument/completion",
        &uri,
        pos(&typing, "after \n", 1, 6),
    ));
    assert_eq!(after, vec!["check", "hello", "restart_it"]);

    let typing = in_workflow("  rollout {\n    wave first = \n  }\n");
    c.change(&uri, 4, &typing);
    let wave = labels(&c.at(
        "textDocument/completion",
        &uri,
        pos(&typing, "first = ", 1, 8),
    ));
    assert!(wave.contains(&"web_servers".to_string()) && wave.contains(&"all".to_string()));

    let typing = MAIN.replace("when check.failed", "when check.");
    c.change(&uri, 5, &typing);
    let fields = labels(&c.at(
        "textDocument/completion",
        &uri,
        pos(&typing, "check.", 1, 6),
    ));
    assert_eq!(
        fields,
        vec!["exit", "failed", "ok", "skipped", "stderr", "stdout"]
    );

    let typing = MAIN.replace("when check.failed", "when ");
    c.change(&uri, 6, &typing);
    let when = labels(&c.at("textDocument/completion", &uri, pos(&typing, "when ", 1, 5)));
    assert!(
        when.contains(&"check".to_string()) && when.contains(&"host".to_string()),
        "{when:?}"
    );
    assert!(
        !when.contains(&"restart_it".to_string()),
        "the task itself is not offered"
    );

    let typing = MAIN.replace("use = greet()", "use = ");
    c.change(&uri, 7, &typing);
    let uses = labels(&c.at(
        "textDocument/completion",
        &uri,
        pos(&typing, "use =  }", 1, 6),
    ));
    assert!(
        uses.contains(&"greet".to_string()) && uses.contains(&"restart".to_string()),
        "{uses:?}"
    );
    c.shutdown();
}

#[test]
fn unknown_requests_get_method_not_found() {
    let mut c = Client::start();
    let r = c.request("textDocument/rename", json!({}));
    assert_eq!(r["error"]["code"], json!(-32601));
    c.shutdown();
}

#[test]
fn formatting_is_one_whole_document_edit_as_sflow_fmt_writes_it() {
    let messy = include_str!("../../tests/fmt/messy.sflow");
    let expected = include_str!("../../tests/fmt/messy.expected.sflow");
    let mut c = Client::start();
    let uri = "file:///tmp/messy.sflow";
    c.open(uri, messy);
    let fmt = |c: &mut Client| {
        let params = json!({ "textDocument": { "uri": uri },
                             "options": { "tabSize": 2, "insertSpaces": true } });
        c.request("textDocument/formatting", params)["result"].clone()
    };
    let edits = fmt(&mut c);
    let last_line = u32::try_from(messy.matches('\n').count()).unwrap_or(0);
    let last_col = messy.rsplit('\n').next().map_or(0, str::len);
    assert_eq!(
        edits,
        json!([{
            "range": { "start": { "line": 0, "character": 0 },
                       "end": { "line": last_line, "character": last_col } },
            "newText": expected,
        }])
    );

    // Already formatted: nothing to change.
    c.change(uri, 2, expected);
    assert_eq!(fmt(&mut c), json!([]));

    // A syntax error: the document is left alone rather than rewritten around the error.
    let broken = messy.replacen('{', "{ task {", 1);
    assert!(crate::fmt::format_file(crate::span::FileId(0), &broken).is_err());
    c.change(uri, 3, &broken);
    assert_eq!(fmt(&mut c), json!([]));
    c.shutdown();
}
