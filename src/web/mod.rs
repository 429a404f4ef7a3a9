//! The browser's side of fetching: page parameters and HTTP downloads with progress.
//! wasm32 only; everything it returns is plain data for the core.

pub mod canvas_image;
pub mod download;
pub mod engine;
pub mod fetch;
pub mod hub;
pub mod params;
pub mod peer;
