//! What a run is doing, in the page's words: stage, bytes, speed and time left. The times come
//! with the actions (the reducer never reads a clock), so this is plain arithmetic.

use super::ModelSource;
use crate::protocol::{Progress, Stage};

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Idle,
    LoadingExperiment,
    Busy(Run),
    Failed(String),
    Cancelled,
    Done { seconds: f64 },
}

/// A run under way: the engine's current stage (None until it reports one), the download
/// progress of that stage, and when each began (ms, from the actions).
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub stage: Option<Stage>,
    pub progress: Option<Progress>,
    pub started_ms: f64,
    pub stage_started_ms: f64,
    /// When `progress` arrived.
    pub progress_ms: f64,
    /// The model the run reads (what its result came from).
    pub model: ModelSource,
}

impl Run {
    pub fn new(now_ms: f64, model: ModelSource) -> Self {
        Run {
            stage: None,
            progress: None,
            started_ms: now_ms,
            stage_started_ms: now_ms,
            progress_ms: now_ms,
            model,
        }
    }

    pub fn label(&self) -> &'static str {
        self.stage.map(Stage::label).unwrap_or("Starting the engine")
    }

    /// The fraction done (when the total is known) and the bytes, speed and time left.
    pub fn detail(&self) -> Option<(Option<f64>, String)> {
        let p = self.progress?;
        if let Some(s) = p.wait_s {
            return Some((None, format!("the hub asked us to wait {s} s (429)")));
        }
        let secs = ((self.progress_ms - self.stage_started_ms) / 1000.0).max(1e-3);
        let speed = p.done as f64 / secs;
        Some(match p.total {
            Some(t) if t > 0 => {
                let left = t.saturating_sub(p.done) as f64 / speed.max(1.0);
                let text = format!("{} of {} · {}/s · {left:.0} s left", mb(p.done), mb(t), mb(speed as u64));
                (Some(p.done as f64 / t as f64), text)
            }
            _ => (None, format!("{} · {}/s", mb(p.done), mb(speed as u64))),
        })
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
