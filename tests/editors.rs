//! The `sflow` binary as editors and admins use it: `sflow lsp` over real stdio with
//! JSON-RPC frames, and `sflow inventory` on an Ansible inventory.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn frame(v: &Value) -> Vec<u8> {
    let body = v.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Reads one `Content-Length` framed JSON message.
fn read_frame(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            len = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

#[test]
fn lsp_over_stdio_publishes_the_checker_diagnostics() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("no temp dir") };
    let path = dir.path().join("main.sflow");
    let uri = format!("file://{}", path.display());
    let text = "inventory { host a {} }\nworkflow w {\n  task t on b { run = \"x\" }\n}\n";
    let mut child = match Command::new(env!("CARGO_BIN_EXE_sflow"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("spawn: {e}"),
    };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        panic!("no pipes")
    };
    let mut out = BufReader::new(stdout);
    let doc = json!({ "uri": uri, "languageId": "sflow", "version": 1, "text": text });
    for msg in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": doc}}),
    ] {
        let _ = stdin.write_all(&frame(&msg));
    }
    let _ = stdin.flush();
    let init = read_frame(&mut out).unwrap_or(Value::Null);
    assert_eq!(init["id"], json!(1));
    assert_eq!(
        init["result"]["capabilities"]["definitionProvider"],
        json!(true)
    );
    let diags = read_frame(&mut out).unwrap_or(Value::Null);
    assert_eq!(diags["method"], json!("textDocument/publishDiagnostics"));
    assert_eq!(diags["params"]["diagnostics"][0]["code"], json!("E0009"));
    assert_eq!(
        diags["params"]["diagnostics"][0]["range"]["start"],
        json!({"line": 2, "character": 12})
    );
    for msg in [
        json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}),
        json!({"jsonrpc": "2.0", "method": "exit"}),
    ] {
        let _ = stdin.write_all(&frame(&msg));
    }
    drop(stdin);
    let shutdown = read_frame(&mut out).unwrap_or(Value::Null);
    assert_eq!(shutdown["id"], json!(2));
    let status = child.wait().map(|s| s.success());
    assert_eq!(status.ok(), Some(true));
}

#[test]
fn inventory_prints_an_ansible_inventory() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("no temp dir") };
    let ini = dir.path().join("hosts.ini");
    let _ = std::fs::write(
        &ini,
        "gw ansible_host=203.0.113.1\n[web]\nweb[1:2] dc=fra1 ansible_ssh_common_args='-o ProxyJump=gw'\n",
    );
    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_sflow"))
            .args(["inventory", "--format", format])
            .arg(&ini)
            .output()
            .map(|o| {
                (
                    o.status.code(),
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                )
            })
            .unwrap_or((None, String::new()))
    };
    let (code, text) = run("text");
    assert_eq!(code, Some(0));
    assert_eq!(
        text,
        "hosts (3):\n  gw  203.0.113.1:22  [ungrouped]\n  web1  web1:22  jump=gw  dc=fra1  [web]\n  web2  web2:22  jump=gw  dc=fra1  [web]\ngroups (2):\n  ungrouped: gw\n  web: web1, web2\n"
    );
    let (code, json) = run("json");
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    assert_eq!(v["groups"]["web"], json!(["web1", "web2"]));
    assert_eq!(v["hosts"][1]["jump"], json!("gw"));

    let _ = std::fs::write(&ini, "[web]\nweb1 dc\n");
    let out = Command::new(env!("CARGO_BIN_EXE_sflow"))
        .args(["inventory"])
        .arg(&ini)
        .env("NO_COLOR", "1")
        .output();
    let (code, stderr) = out
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap_or((None, String::new()));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("E0032") && stderr.contains("hosts.ini:2:6"),
        "{stderr}"
    );
}
