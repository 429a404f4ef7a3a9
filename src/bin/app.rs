//! The page's entry point (built by Trunk for wasm32).

#[cfg(target_arch = "wasm32")]
fn main() {
    qk_lens::app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The app runs in the browser: build and serve it with `scripts/serve.sh` (Trunk).");
    std::process::exit(2);
}
