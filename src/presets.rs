//! The GPT-2 sizes offered in the page, with what a user should know before downloading.

/// A GPT-2 model on the Hugging Face hub.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelPreset {
    pub repo: &'static str,
    pub label: &'static str,
    pub n_layer: usize,
    /// Size of the hub's model.safetensors (approximate; the download needs only part of it).
    pub weights_bytes: u64,
}

pub const PRESETS: &[ModelPreset] = &[
    ModelPreset {
        repo: "distilbert/distilgpt2",
        label: "distilgpt2 (82M)",
        n_layer: 6,
        weights_bytes: 353_000_000,
    },
    ModelPreset {
        repo: "openai-community/gpt2",
        label: "gpt2 (124M)",
        n_layer: 12,
        weights_bytes: 548_000_000,
    },
    ModelPreset {
        repo: "openai-community/gpt2-medium",
        label: "gpt2-medium (355M)",
        n_layer: 24,
        weights_bytes: 1_520_000_000,
    },
    ModelPreset {
        repo: "openai-community/gpt2-large",
        label: "gpt2-large (774M)",
        n_layer: 36,
        weights_bytes: 3_250_000_000,
    },
    ModelPreset {
        repo: "openai-community/gpt2-xl",
        label: "gpt2-xl (1.5B)",
        n_layer: 48,
        weights_bytes: 6_430_000_000,
    },
];

pub fn preset(repo: &str) -> Option<&'static ModelPreset> {
    PRESETS.iter().find(|p| p.repo == repo)
}

/// "1.52 GB", "548 MB": sizes as a person reads them.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.0} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.0} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}
