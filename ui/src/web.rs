//! The wasm entry point and the backend that talks to the Tauri shell: every request is one
//! `invoke` of the shell's single command ([`atb_protocol::rpc::COMMAND`]) with the request and a
//! Tauri `Channel`, on which streamed replies (fetch pages, run updates) arrive. Live updates ask
//! for a repaint at most a few times a second.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use atb_protocol::rpc::COMMAND;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::app::AtbApp;
use crate::backend::{
    Backend, ErrorKind, ErrorReply, Failure, Received, Reply, Request, RequestKind,
};
use crate::frame_gate;

/// Live chart updates are coalesced into at most four repaints a second.
const STREAM_REPAINT: Duration = Duration::from_millis(250);

#[wasm_bindgen(inline_js = r#"
function tauriCore() {
  const t = window.__TAURI__;
  if (!t || !t.core) {
    throw new Error("the Tauri bridge is missing: open this page through the atb-desktop app");
  }
  return t.core;
}
export function atbRpc(command, request, onMessage) {
  return Promise.resolve()
    .then(() => {
      const core = tauriCore();
      const channel = new core.Channel();
      channel.onmessage = (m) => onMessage(JSON.stringify(m));
      return core.invoke(command, { request: JSON.parse(request), channel });
    })
    .then(
      (r) => JSON.stringify({ ok: r }),
      (e) => JSON.stringify({ err: e instanceof Error ? e.message : e })
    );
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = atbRpc)]
    fn atb_rpc(
        command: &str,
        request: &str,
        on_message: &Closure<dyn FnMut(String)>,
    ) -> js_sys::Promise;
}

/// How an invoke ended: the shell's reply, its typed error, or (a broken bridge, a shell that
/// does not know the request) a plain message.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Ok(Reply),
    Err(ShellError),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ShellError {
    Typed(ErrorReply),
    Text(String),
    Other(serde_json::Value),
}

/// Talks to the `atb-desktop` shell.
#[derive(Default)]
pub struct TauriBackend {
    inbox: Rc<RefCell<Vec<Received>>>,
    /// Set when a streamed update has asked for a repaint that no frame has polled yet: the
    /// updates that follow ride on that repaint instead of each asking again.
    stream_repaint_pending: Rc<Cell<bool>>,
    /// The listener of the current run's channel: kept alive while that run streams, replaced by
    /// the next run's.
    run_listener: Rc<RefCell<Option<Listener>>>,
}

/// A channel's message handler, alive as long as it is held.
type Listener = Closure<dyn FnMut(String)>;

fn failure(request: RequestKind, kind: ErrorKind, message: String) -> Failure {
    Failure {
        request,
        error: ErrorReply::new(kind, message),
    }
}

/// Reads what an invoke resolved to.
fn outcome(request: RequestKind, json: &str) -> Received {
    match serde_json::from_str::<Outcome>(json) {
        Ok(Outcome::Ok(reply)) => Ok(reply),
        Ok(Outcome::Err(ShellError::Typed(error))) => Err(Failure { request, error }),
        Ok(Outcome::Err(ShellError::Text(message))) => {
            Err(failure(request, ErrorKind::Internal, message))
        }
        Ok(Outcome::Err(ShellError::Other(v))) => {
            Err(failure(request, ErrorKind::Internal, v.to_string()))
        }
        Err(e) => Err(failure(
            request,
            ErrorKind::Internal,
            format!(
                "the shell's answer could not be read ({e}); rebuild atb-desktop so the UI and the shell match"
            ),
        )),
    }
}

impl Backend for TauriBackend {
    fn send(&mut self, request: Request, ctx: &egui::Context) {
        let kind = request.kind();
        let json = match serde_json::to_string(&request) {
            Ok(j) => j,
            Err(e) => {
                self.inbox.borrow_mut().push(Err(failure(
                    kind,
                    ErrorKind::Internal,
                    format!("the request could not be written: {e}"),
                )));
                return;
            }
        };
        let inbox = Rc::clone(&self.inbox);
        let repaint = ctx.clone();
        let repaint_pending = Rc::clone(&self.stream_repaint_pending);
        let listener = Listener::new(move |json: String| {
            let received = serde_json::from_str::<Reply>(&json).map_err(|e| {
                failure(
                    kind,
                    ErrorKind::Internal,
                    format!("an update could not be read ({e})"),
                )
            });
            inbox.borrow_mut().push(received);
            if !repaint_pending.replace(true) {
                repaint.request_repaint_after(STREAM_REPAINT);
            }
        });
        let promise = atb_rpc(COMMAND, &json, &listener);
        let inbox = Rc::clone(&self.inbox);
        let run_listener = Rc::clone(&self.run_listener);
        let ctx = ctx.clone();
        spawn_local(async move {
            let received = match JsFuture::from(promise).await {
                Ok(v) => outcome(kind, &v.as_string().unwrap_or_default()),
                Err(e) => Err(failure(kind, ErrorKind::Internal, js_message(&e))),
            };
            // A run keeps streaming after its request is answered: keep its listener until the
            // next run's replaces it. Everything else streams only while its request runs.
            let streams_on = matches!(kind, RequestKind::Train | RequestKind::AttachRun)
                && matches!(received, Ok(Reply::RunSnapshot(Some(_))));
            if streams_on {
                *run_listener.borrow_mut() = Some(listener);
            } else {
                drop(listener);
            }
            inbox.borrow_mut().push(received);
            ctx.request_repaint();
        });
    }

    fn poll(&mut self) -> Vec<Received> {
        self.stream_repaint_pending.set(false);
        std::mem::take(&mut *self.inbox.borrow_mut())
    }
}

fn js_message(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Starts the app on the page's `atb_canvas`.
#[wasm_bindgen(start)]
pub fn start() {
    spawn_local(async {
        let outcome = run().await;
        if let Err(e) = outcome {
            show_startup_error(&js_message(&e));
        }
    });
}

async fn run() -> Result<(), JsValue> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let canvas = document
        .get_element_by_id("atb_canvas")
        .ok_or_else(|| JsValue::from_str("the page has no atb_canvas"))?
        .dyn_into::<web_sys::HtmlCanvasElement>()?;
    create_webgl_context(&canvas)?;
    frame_gate::install();
    eframe::WebRunner::new()
        .start(
            canvas,
            eframe::WebOptions::default(),
            Box::new(|cc| {
                frame_gate::follow(&cc.egui_ctx);
                Ok(Box::new(AtbApp::new(Box::new(TauriBackend::default()))))
            }),
        )
        .await
}

/// Creates the canvas's WebGL2 context before eframe asks for it, without multisampling: a later
/// `getContext("webgl2")` (eframe's, which passes no options) returns this same context. egui
/// anti-aliases its shapes itself, and the browser's default 4x multisampling cost about 16% of a
/// core while a run streamed under software rendering (llvmpipe), against about 5% without it.
fn create_webgl_context(canvas: &web_sys::HtmlCanvasElement) -> Result<(), JsValue> {
    let options = js_sys::Object::new();
    for (key, value) in [("antialias", false), ("depth", false), ("stencil", false)] {
        js_sys::Reflect::set(
            &options,
            &JsValue::from_str(key),
            &JsValue::from_bool(value),
        )?;
    }
    // No WebGL2 here: eframe then tries WebGL1 and reports its own error if that fails too.
    canvas.get_context_with_context_options("webgl2", &options)?;
    Ok(())
}

fn show_startup_error(message: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("atb_error"))
    {
        el.set_text_content(Some(&format!("atb could not start: {message}")));
    }
}
