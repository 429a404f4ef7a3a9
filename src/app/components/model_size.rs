//! A custom folder's size: its config and weight header, read before any run (a few KB), and
//! what this experiment would download of it.

use std::rc::Rc;

use crate::analysis::report::ExtendedOptions;
use crate::experiment::Experiment;
use crate::model::plan::Header;
use crate::model::Gpt2Config;
use crate::page::TokenizerRef;
use crate::presets::human_bytes;
use crate::run::Prepared;
use crate::web::engine::ModelFiles;
use crate::web::hub::{fetch_cached, remote_header};
use crate::web::params::absolute_url;

/// What a download plan needs: the experiment, the options and the tokenizer.
#[derive(Clone, PartialEq)]
pub struct Plan {
    pub experiment: Experiment,
    pub options: Option<ExtendedOptions>,
    pub tokenizer: Option<TokenizerRef>,
}

/// A folder being read, or what it holds, or why it cannot be read.
#[derive(Clone)]
pub enum Checked {
    Reading,
    Found(Rc<(Gpt2Config, Option<Header>)>),
    Failed(String),
}

impl PartialEq for Checked {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Checked::Reading, Checked::Reading) => true,
            (Checked::Found(a), Checked::Found(b)) => Rc::ptr_eq(a, b),
            (Checked::Failed(a), Checked::Failed(b)) => a == b,
            _ => false,
        }
    }
}

pub async fn check_folder(base: String) -> Checked {
    let files = ModelFiles::in_folder(&absolute_url(&base), None);
    let config = match fetch_cached(&files.config, None)
        .await
        .map_err(|e| e.to_string())
        .and_then(|(bytes, _)| Gpt2Config::from_json(&bytes).map_err(|e| format!("config.json: {e}")))
    {
        Ok(c) => c,
        Err(e) => return Checked::Failed(e),
    };
    match remote_header(&files.weights).await {
        Ok(header) => Checked::Found(Rc::new((config, header))),
        Err(e) => Checked::Failed(e.to_string()),
    }
}

/// The line the picker shows for a check (planning the download: call it when the check or the
/// plan changes, not on every render).
pub fn checked_text(checked: &Checked, plan: &Plan) -> String {
    match checked {
        Checked::Reading => "reading config.json and the weights' header…".to_string(),
        Checked::Found(found) => size_text(plan, &found.0, found.1.as_ref()),
        Checked::Failed(e) => format!("cannot read this folder: {e}"),
    }
}

/// What a checked folder holds and what this run would download of it.
fn size_text(plan: &Plan, config: &Gpt2Config, header: Option<&Header>) -> String {
    let shape = format!("{} layers, {} heads, width {}", config.n_layer, config.n_head, config.n_embd);
    let Some(header) = header else {
        return format!("{shape}; the server ignores Range requests, so the whole model.safetensors is downloaded");
    };
    let file = header.file_len();
    let needed = plan.tokenizer.as_ref().map(|t| {
        Prepared::new(&plan.experiment, plan.options.as_ref(), config.clone(), &*t.0).and_then(|p| p.needed_bytes(header))
    });
    match needed {
        Some(Ok(n)) => format!(
            "model.safetensors {} ({shape}); this run downloads ≈ {} ({:.1} %), once",
            human_bytes(file),
            human_bytes(n),
            100.0 * n as f64 / file.max(1) as f64
        ),
        Some(Err(e)) => format!("model.safetensors {} ({shape}); {e}", human_bytes(file)),
        None => format!("model.safetensors {} ({shape})", human_bytes(file)),
    }
}
