//! The e2e tests' hook for provoking real crashes: `?fault=panic-engine` (or `panic-peer`) on a
//! page served from this machine (127.0.0.1, localhost) makes the page's first run carry the
//! fault, and the engine worker (or its second worker) then calls `panic!` at its forward pass.
//! Inert anywhere else: a shared link with `fault=` on a real host does nothing.

use crate::protocol::TestFault;

/// The fault the page's query asks for, if the page is served locally and this is its first
/// run (`run_id` 1): a later Run, after the crash, runs normally.
pub fn for_run(run_id: Option<u64>) -> Option<TestFault> {
    if run_id != Some(1) {
        return None;
    }
    let location = web_sys::window()?.location();
    let host = location.hostname().ok()?;
    if host != "127.0.0.1" && host != "localhost" {
        return None;
    }
    let search = location.search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
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
