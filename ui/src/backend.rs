//! The UI's one door to the outside: requests go out through a [`Backend`], replies and streamed
//! updates come back on a later frame. The request and reply types are the shell's contract,
//! declared once in [`atb_protocol::rpc`]; the desktop implements the trait over Tauri's IPC
//! (`web.rs`), tests over the real shell or (feature `testing`) a fake.

pub use atb_protocol::rpc::{ErrorKind, ErrorReply, Reply, Request, RequestKind};

/// A request that failed: which kind it was, and the shell's typed error.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub request: RequestKind,
    pub error: ErrorReply,
}

/// What a backend hands the UI: a reply (or streamed message), or a failed request.
pub type Received = Result<Reply, Failure>;

/// The engine as the UI sees it. Nothing blocks: `send` returns at once and the answer arrives
/// through `poll` on a later frame; implementations ask the context for a repaint when it does.
pub trait Backend {
    fn send(&mut self, request: Request, ctx: &egui::Context);
    /// Replies and updates that arrived since the last call, oldest first.
    fn poll(&mut self) -> Vec<Received>;
}
