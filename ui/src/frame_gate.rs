//! Lets the page sleep while egui has nothing to paint.
//!
//! eframe's web runner asks for an animation frame on every display refresh and only then checks
//! whether anything needs painting, so an idle page still wakes WebKit 60 times a second (about
//! 3% of a core under software rendering). The gate wraps `window.requestAnimationFrame`: a frame
//! request passes to the browser only during the few frames after something that can need a paint
//! (an input event, a resize, or any egui repaint request, which the context's repaint observer
//! reports with its delay), and otherwise waits until such a wake. eframe's own bookkeeping is
//! untouched: it still decides in each frame whether to run the app and paint.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
// Frames that may pass after a wake: egui's "repaint twice" rule and eframe's present-then-run
// split need two or three frames; counting frames (not milliseconds) keeps slow software frames safe.
const FRAMES_AFTER_WAKE = 3;
// Events after which eframe may have something to paint (it listens on the canvas, the document,
// the window and its hidden text input; capture on the window sees them all first).
const WAKE_EVENTS = [
  "pointerdown", "pointerup", "pointermove", "pointercancel", "pointerleave",
  "mousedown", "mouseup", "mousemove", "mouseleave", "mouseout",
  "touchstart", "touchmove", "touchend", "touchcancel", "wheel",
  "keydown", "keyup", "input", "compositionstart", "compositionupdate", "compositionend",
  "copy", "cut", "paste", "focus", "blur", "focusin", "focusout",
  "resize", "dragover", "dragleave", "drop", "contextmenu", "afterprint",
  "hashchange",
];
let installed = false;
let framesLeft = FRAMES_AFTER_WAKE;
let nextId = 1;
const pending = new Map(); // gate id -> { callback, browserId (null while held) }
const timers = new Map(); // due time rounded to 5 ms -> timeout handle
let browserRequest = null;
let browserCancel = null;

function pass(id, entry) {
  entry.browserId = browserRequest((time) => {
    pending.delete(id);
    if (framesLeft > 0) framesLeft -= 1;
    entry.callback(time);
  });
}
function wake() {
  framesLeft = FRAMES_AFTER_WAKE;
  for (const [id, entry] of pending) {
    if (entry.browserId === null) pass(id, entry);
  }
}
function request(callback) {
  const id = nextId++;
  const entry = { callback, browserId: null };
  pending.set(id, entry);
  if (framesLeft > 0) pass(id, entry);
  return id;
}
function cancel(id) {
  // Every request since install went through the gate, so an unknown id is one that already ran
  // (handing it to the browser could cancel an unrelated frame with the same number).
  const entry = pending.get(id);
  if (entry === undefined) return;
  pending.delete(id);
  if (entry.browserId !== null) browserCancel(entry.browserId);
}
export function atbInstallFrameGate() {
  if (installed) return;
  installed = true;
  browserRequest = window.requestAnimationFrame.bind(window);
  browserCancel = window.cancelAnimationFrame.bind(window);
  window.requestAnimationFrame = request;
  window.cancelAnimationFrame = cancel;
  for (const name of WAKE_EVENTS) {
    window.addEventListener(name, wake, { capture: true, passive: true });
  }
  // visibilitychange is fired at the document; listen there rather than rely on it reaching the window.
  document.addEventListener("visibilitychange", wake, { capture: true, passive: true });
  new ResizeObserver(wake).observe(document.documentElement);
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", wake);
  }
}
export function atbWakeFramesAfter(ms) {
  if (!(ms > 0)) return wake();
  // Far-future requests (egui uses Duration::MAX for "never") would overflow setTimeout.
  if (ms > 2147483647) return;
  const due = Math.ceil((performance.now() + ms) / 5) * 5;
  if (timers.has(due)) return;
  timers.set(due, setTimeout(() => { timers.delete(due); wake(); }, ms));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = atbInstallFrameGate)]
    fn install_frame_gate();
    #[wasm_bindgen(js_name = atbWakeFramesAfter)]
    fn wake_frames_after(ms: f64);
}

/// Wraps the page's animation-frame scheduling; call before eframe starts.
pub fn install() {
    install_frame_gate();
}

/// Opens the gate for every repaint egui is asked for, after the delay it was asked for.
pub fn follow(ctx: &egui::Context) {
    ctx.set_repaint_observer(|info| wake_frames_after(info.delay.as_secs_f64() * 1000.0));
}
