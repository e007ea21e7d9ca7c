//! `sflow lsp`: a language server on stdio (lsp-server + lsp-types). Input: JSON-RPC
//! messages from the editor; output: diagnostics on open and change (the checker's, with the
//! same codes and spans as `sflow check`), hover, go to definition, completion and
//! whole-document formatting (the formatter of `sflow fmt`).

mod analysis;
mod features;
mod text;

#[cfg(test)]
mod tests;

use analysis::Analysis;
use chrono::{DateTime, Utc};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use std::collections::{BTreeSet, HashMap};
use text::{path_of, LineIndex};

/// Why the server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    /// The client broke the protocol (or went away during the handshake).
    #[error("lsp protocol error: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    /// Reading or writing stdio failed.
    #[error("lsp io error: {0}")]
    Io(#[from] std::io::Error),
    /// The initialize parameters could not be read.
    #[error("invalid initialize parameters: {0}")]
    Params(#[from] serde_json::Error),
}

/// Options of a server run.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The instant window hovers and window fitting count from (`None`: the clock).
    pub now: Option<DateTime<Utc>>,
}

/// Runs the server on stdin/stdout until the client says `exit`.
///
/// # Errors
/// A protocol or IO failure.
pub fn run_stdio() -> Result<(), LspError> {
    let (conn, io) = Connection::stdio();
    serve(&conn, &ServerOptions::default())?;
    drop(conn);
    io.join()?;
    Ok(())
}

/// What the server can do.
pub fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(
            lsp::TextDocumentSyncKind::FULL,
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec![".".into(), " ".into(), ",".into(), "[".into()]),
            ..lsp::CompletionOptions::default()
        }),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        ..lsp::ServerCapabilities::default()
    }
}

struct Doc {
    analysis: Analysis,
    /// The program of the last version without errors: hovers and completion keep working
    /// while the user types something broken.
    good: Option<crate::program::Program>,
    /// Files this document last published diagnostics for (to clear them later).
    published: BTreeSet<String>,
}

struct Server<'c> {
    conn: &'c Connection,
    opts: ServerOptions,
    docs: HashMap<String, Doc>,
}

/// Runs the initialize handshake and the main loop on `conn` until `exit`.
///
/// # Errors
/// A protocol failure.
pub fn serve(conn: &Connection, opts: &ServerOptions) -> Result<(), LspError> {
    let init = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "sflow", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, _params) = conn.initialize_start()?;
    conn.initialize_finish(id, init)?;
    let mut server = Server {
        conn,
        opts: opts.clone(),
        docs: HashMap::new(),
    };
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                if conn.handle_shutdown(&req)? {
                    return Ok(());
                }
                server.request(req);
            }
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => {}
        }
    }
    Ok(())
}

impl Server<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.opts.now.unwrap_or_else(Utc::now)
    }

    fn send(&self, msg: impl Into<Message>) {
        // A closed channel means the client is gone; the loop ends on its own then.
        let _ = self.conn.sender.send(msg.into());
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            lsp::notification::DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params) {
                    self.update(&p.text_document.uri, p.text_document.text);
                }
            }
            lsp::notification::DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params)
                {
                    // Full sync: the last change holds the whole text.
                    if let Some(c) = p.content_changes.into_iter().last() {
                        self.update(&p.text_document.uri, c.text);
                    }
                }
            }
            lsp::notification::DidChangeWatchedFiles::METHOD => {
                // An inventory or imported file changed on disk: check every open document again.
                let open: Vec<(String, String)> = self
                    .docs
                    .iter()
                    .map(|(uri, d)| (uri.clone(), d.analysis.text.clone()))
                    .collect();
                for (uri, text) in open {
                    if let Ok(uri) = uri.parse::<lsp::Uri>() {
                        self.update(&uri, text);
                    }
                }
            }
            lsp::notification::DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params) {
                    if let Some(doc) = self.docs.remove(p.text_document.uri.as_str()) {
                        for uri in doc.published {
                            self.publish_raw(&uri, Vec::new());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn update(&mut self, uri: &lsp::Uri, text: String) {
        let analysis = Analysis::new(&text, path_of(uri), self.now());
        let by_file = features::diagnostics(&analysis, uri);
        let key = uri.as_str().to_string();
        let old = self.docs.remove(&key);
        let good = analysis
            .program
            .clone()
            .or(old.as_ref().and_then(|d| d.good.clone()));
        let mut published = BTreeSet::new();
        for (file, (file_uri, diags)) in by_file {
            self.publish(&file_uri, diags);
            published.insert(file);
        }
        for stale in old.iter().flat_map(|d| d.published.difference(&published)) {
            self.publish_raw(stale, Vec::new());
        }
        self.docs.insert(
            key,
            Doc {
                analysis,
                good,
                published,
            },
        );
    }

    fn publish(&self, uri: &lsp::Uri, diagnostics: Vec<lsp::Diagnostic>) {
        let params = lsp::PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics,
            version: None,
        };
        self.send(Notification::new(
            lsp::notification::PublishDiagnostics::METHOD.to_string(),
            params,
        ));
    }

    fn publish_raw(&self, uri: &str, diagnostics: Vec<lsp::Diagnostic>) {
        if let Ok(uri) = uri.parse::<lsp::Uri>() {
            self.publish(&uri, diagnostics);
        }
    }

    fn request(&mut self, req: Request) {
        let id = req.id.clone();
        let result = match req.method.as_str() {
            lsp::request::HoverRequest::METHOD => {
                self.at::<lsp::HoverParams, _>(req, |s, p, uri, off| {
                    let _ = p;
                    let doc = s.docs.get(uri.as_str())?;
                    features::hover(&doc.analysis, doc.good.as_ref(), off, s.now())
                })
            }
            lsp::request::GotoDefinition::METHOD => {
                self.at::<lsp::GotoDefinitionParams, _>(req, |s, _, uri, off| {
                    let doc = s.docs.get(uri.as_str())?;
                    features::definition(&doc.analysis, doc.good.as_ref(), uri, off)
                        .map(lsp::GotoDefinitionResponse::Scalar)
                })
            }
            lsp::request::Completion::METHOD => {
                self.at::<lsp::CompletionParams, _>(req, |s, _, uri, off| {
                    let doc = s.docs.get(uri.as_str())?;
                    let items = features::completion(&doc.analysis, doc.good.as_ref(), off);
                    Some(lsp::CompletionResponse::Array(items))
                })
            }
            lsp::request::Formatting::METHOD => self.formatting(req),
            other => Err(Response::new_err(
                id.clone(),
                ErrorCode::MethodNotFound as i32,
                format!("unsupported request `{other}`"),
            )),
        };
        match result {
            Ok(resp) | Err(resp) => self.send(resp),
        }
    }

    /// `textDocument/formatting`: one edit replacing the whole document with what `sflow fmt`
    /// writes; no edit when it is already formatted or does not parse (a broken document is
    /// never rewritten).
    fn formatting(&self, req: Request) -> Result<Response, Response> {
        let id = req.id.clone();
        let params: lsp::DocumentFormattingParams =
            serde_json::from_value(req.params).map_err(|e| {
                Response::new_err(id.clone(), ErrorCode::InvalidParams as i32, e.to_string())
            })?;
        let edits = self
            .docs
            .get(params.text_document.uri.as_str())
            .map(|d| features::formatting(&d.analysis.text))
            .unwrap_or_default();
        Ok(Response::new_ok(id, edits))
    }

    /// Answers a request about a position in a document with `f(server, params, uri, offset)`.
    fn at<P, R>(
        &self,
        req: Request,
        f: impl Fn(&Self, &P, &lsp::Uri, usize) -> Option<R>,
    ) -> Result<Response, Response>
    where
        P: serde::de::DeserializeOwned + HasPosition,
        R: serde::Serialize,
    {
        let id: RequestId = req.id.clone();
        let params: P = serde_json::from_value(req.params).map_err(|e| {
            Response::new_err(id.clone(), ErrorCode::InvalidParams as i32, e.to_string())
        })?;
        let (uri, pos) = params.position();
        let offset = self
            .docs
            .get(uri.as_str())
            .map(|d| LineIndex::new(&d.analysis.text).offset(pos));
        let result = offset.and_then(|off| f(self, &params, &uri, off));
        Ok(Response::new_ok(id, result))
    }
}

/// Requests about one position in one document.
trait HasPosition {
    fn position(&self) -> (lsp::Uri, lsp::Position);
}

impl HasPosition for lsp::HoverParams {
    fn position(&self) -> (lsp::Uri, lsp::Position) {
        let p = &self.text_document_position_params;
        (p.text_document.uri.clone(), p.position)
    }
}

impl HasPosition for lsp::GotoDefinitionParams {
    fn position(&self) -> (lsp::Uri, lsp::Position) {
        let p = &self.text_document_position_params;
        (p.text_document.uri.clone(), p.position)
    }
}

impl HasPosition for lsp::CompletionParams {
    fn position(&self) -> (lsp::Uri, lsp::Position) {
        let p = &self.text_document_position;
        (p.text_document.uri.clone(), p.position)
    }
}
