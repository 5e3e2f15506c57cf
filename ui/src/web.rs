//! The wasm entry point and the backend that talks to the Tauri shell: each request becomes one
//! `invoke` of a shell command; fetch and training progress arrive on a Tauri `Channel` passed to
//! the command. Live updates ask for a repaint at most a few times a second.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use atb_protocol::desktop::RunUpdate;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::app::AtbApp;
use crate::backend::{Backend, Reply, Request};
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
export function atbInvoke(cmd, args) {
  return Promise.resolve()
    .then(() => tauriCore().invoke(cmd, JSON.parse(args)))
    .then((r) => JSON.stringify(r === undefined ? null : r));
}
export function atbInvokeStreaming(cmd, args, onMessage) {
  return Promise.resolve()
    .then(() => {
      const core = tauriCore();
      const channel = new core.Channel();
      channel.onmessage = (m) => onMessage(JSON.stringify(m));
      const a = JSON.parse(args);
      a.channel = channel;
      return core.invoke(cmd, a);
    })
    .then((r) => JSON.stringify(r === undefined ? null : r));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = atbInvoke)]
    fn atb_invoke(cmd: &str, args: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = atbInvokeStreaming)]
    fn atb_invoke_streaming(
        cmd: &str,
        args: &str,
        on_message: &Closure<dyn FnMut(String)>,
    ) -> js_sys::Promise;
}

#[derive(Clone, Copy)]
enum Stream {
    Fetch,
    Run,
}

/// Talks to the `atb-desktop` shell.
#[derive(Default)]
pub struct TauriBackend {
    inbox: Rc<RefCell<Vec<Reply>>>,
    /// Set when a streamed update has asked for a repaint that no frame has polled yet: the
    /// updates that follow ride on that repaint instead of each asking again.
    stream_repaint_pending: Rc<Cell<bool>>,
    /// The listener of the current run's channel: kept alive while that run streams, replaced by
    /// the next run's.
    run_listener: Option<Closure<dyn FnMut(String)>>,
}

fn route(r: &Request) -> (&'static str, Value, Option<Stream>) {
    match r {
        Request::AppInfo => ("app_info", json!({}), None),
        Request::DataOverview => ("data_overview", json!({}), None),
        Request::Candles(s) => ("candles", json!({ "request": s }), None),
        Request::Fetch(s) => ("fetch", json!({ "request": s }), Some(Stream::Fetch)),
        Request::Train(t) => ("start_training", json!({ "request": t }), Some(Stream::Run)),
        Request::AttachRun => ("attach_run", json!({}), Some(Stream::Run)),
        Request::CancelRun => ("cancel_training", json!({}), None),
        Request::ListModels => ("list_models", json!({}), None),
        Request::ModelDetail(v) => ("model_detail", json!({ "version": v }), None),
        Request::Predictions(v) => ("test_predictions", json!({ "version": v }), None),
        Request::Attention(v) => ("attention_map", json!({ "version": v }), None),
        Request::ExportOnnx(v) => ("export_onnx", json!({ "version": v }), None),
        Request::Promote { version, alias } => (
            "promote",
            json!({ "version": version, "alias": alias }),
            None,
        ),
        Request::Delete(v) => ("delete_model", json!({ "version": v }), None),
    }
}

fn read<T: DeserializeOwned>(request: &Request, json: &str) -> Result<T, Reply> {
    serde_json::from_str(json).map_err(|e| Reply::Failed {
        request: request.name(),
        message: format!("the shell's answer could not be read ({e}); rebuild atb-desktop so the UI and the shell match"),
    })
}

fn answer(request: &Request, json: &str) -> Result<Reply, Reply> {
    Ok(match request {
        Request::AppInfo => Reply::AppInfo(read(request, json)?),
        Request::DataOverview => Reply::DataOverview(read(request, json)?),
        Request::Candles(_) => Reply::Candles(read(request, json)?),
        Request::Fetch(_) => Reply::Fetched(read(request, json)?),
        Request::Train(_) => Reply::RunSnapshot(Some(read(request, json)?)),
        Request::AttachRun => Reply::RunSnapshot(read(request, json)?),
        Request::CancelRun => Reply::CancelRequested,
        Request::ListModels => Reply::Models(read(request, json)?),
        Request::ModelDetail(_) => Reply::Detail(Box::new(read(request, json)?)),
        Request::Predictions(_) => Reply::Predictions(read(request, json)?),
        Request::Attention(_) => Reply::Attention(read(request, json)?),
        Request::ExportOnnx(_) => Reply::Exported(read(request, json)?),
        Request::Promote { .. } => Reply::Promoted(read(request, json)?),
        Request::Delete(_) => Reply::Deleted(read(request, json)?),
    })
}

fn js_message(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

impl Backend for TauriBackend {
    fn send(&mut self, request: Request, ctx: &egui::Context) {
        let (cmd, args, stream) = route(&request);
        let args = args.to_string();
        let promise = match stream {
            None => atb_invoke(cmd, &args),
            Some(kind) => {
                let inbox = Rc::clone(&self.inbox);
                let repaint = ctx.clone();
                let repaint_pending = Rc::clone(&self.stream_repaint_pending);
                let name = request.name();
                let listener = Closure::<dyn FnMut(String)>::new(move |json: String| {
                    let reply = match kind {
                        Stream::Fetch => serde_json::from_str(&json).map(Reply::FetchProgress),
                        Stream::Run => serde_json::from_str::<RunUpdate>(&json).map(Reply::Run),
                    };
                    inbox
                        .borrow_mut()
                        .push(reply.unwrap_or_else(|e| Reply::Failed {
                            request: name,
                            message: format!("an update could not be read ({e})"),
                        }));
                    if !repaint_pending.replace(true) {
                        repaint.request_repaint_after(STREAM_REPAINT);
                    }
                });
                let promise = atb_invoke_streaming(cmd, &args, &listener);
                match kind {
                    Stream::Run => self.run_listener = Some(listener),
                    // A fetch streams only while its command runs: the future below owns it.
                    Stream::Fetch => {
                        let owned = listener;
                        let inbox = Rc::clone(&self.inbox);
                        let ctx = ctx.clone();
                        spawn_local(async move {
                            let result = JsFuture::from(promise).await;
                            drop(owned);
                            finish(&request, result, &inbox, &ctx);
                        });
                        return;
                    }
                }
                promise
            }
        };
        let inbox = Rc::clone(&self.inbox);
        let ctx = ctx.clone();
        spawn_local(async move {
            let result = JsFuture::from(promise).await;
            finish(&request, result, &inbox, &ctx);
        });
    }

    fn poll(&mut self) -> Vec<Reply> {
        self.stream_repaint_pending.set(false);
        std::mem::take(&mut *self.inbox.borrow_mut())
    }
}

fn finish(
    request: &Request,
    result: Result<JsValue, JsValue>,
    inbox: &RefCell<Vec<Reply>>,
    ctx: &egui::Context,
) {
    let reply = match result {
        Ok(v) => answer(request, &v.as_string().unwrap_or_default()).unwrap_or_else(|e| e),
        Err(e) => Reply::Failed {
            request: request.name(),
            message: js_message(&e),
        },
    };
    inbox.borrow_mut().push(reply);
    ctx.request_repaint();
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
