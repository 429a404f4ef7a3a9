//! The browser's side of fetching: page parameters and HTTP downloads with progress.
//! wasm32 only; everything it returns is plain data for the core.

pub mod download;
pub mod engine;
pub mod fetch;
pub mod hub;
pub mod params;
