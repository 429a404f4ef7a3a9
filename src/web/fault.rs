//! The e2e tests' hook for provoking real crashes: `?fault=panic-engine` (or `panic-peer`) on a
//! page served from this machine (127.0.0.1, localhost) makes the page's first run (or run
//! `?fault_run=N`: a live edit with the model resident) carry the fault, and the engine worker
//! (or its second worker) then calls `panic!` at its forward pass.
//! Inert anywhere else: a shared link with `fault=` on a real host does nothing.

use crate::protocol::TestFault;

/// The fault the page's query asks for, if the page is served locally and this is the run it
/// names (`fault_run`, else the first): a later Run, after the crash, runs normally.
pub fn for_run(run_id: Option<u64>) -> Option<TestFault> {
    let location = web_sys::window()?.location();
    let host = location.hostname().ok()?;
    if host != "127.0.0.1" && host != "localhost" {
        return None;
    }
    let search = location.search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    let at = params.get("fault_run").and_then(|n| n.parse().ok()).unwrap_or(1);
    if run_id != Some(at) {
        return None;
    }
    match params.get("fault")?.as_str() {
        "panic-engine" => Some(TestFault::PanicEngine),
        "panic-peer" => Some(TestFault::PanicPeer),
        _ => None,
    }
}

/// A real Rust panic (not an error value): what a bug in the forward pass would do.
pub fn panic_now(fault: TestFault) -> ! {
    panic!("test fault {fault:?}: a panic provoked by the page's ?fault= parameter")
}
