//! The browser shell under the page and the engine: page parameters, HTTP downloads with
//! progress and the Cache Storage of model pieces (fetch, hub), the engine worker's run host
//! (engine) and its second worker (peer), file downloads and canvas images for the figures.
//! wasm32 only; everything it hands the core is plain data.

pub mod canvas_image;
pub mod cors;
pub mod download;
pub mod engine;
pub mod engine_bridge;
pub mod fault;
pub mod fetch;
mod first_load;
pub mod hub;
pub mod packed_store;
pub mod params;
pub mod peer;
pub mod revision;
pub mod stored;
mod web_host;
