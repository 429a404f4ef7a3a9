//! The engine's Web Worker entry point (built by Trunk for wasm32, loaded by the page).

#[cfg(target_arch = "wasm32")]
fn main() {
    use qk_lens::web::peer;
    // The engine's second worker (the other half of the forward pass) answers the engine only.
    if peer::is_second_worker() {
        std::panic::set_hook(Box::new(|info| {
            console_error_panic_hook::hook(info);
            peer::report_failure(&info.to_string());
        }));
        peer::serve();
        return;
    }
    // A panic kills the worker: tell the page on the engine's channel, so it says so.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        qk_lens::web::engine::report_crash(&info.to_string());
    }));
    qk_lens::web::engine::serve();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The engine worker runs in the browser: it is built by Trunk with the app.");
    std::process::exit(2);
}
