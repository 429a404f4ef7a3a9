//! The page's parts, one component each.

mod experiment_panel;
mod figures;
mod progress;
mod summary;

pub use experiment_panel::ExperimentPanel;
pub use figures::Figures;
pub use progress::ProgressView;
pub use summary::Summary;

pub(crate) fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_else(|| "—".into())
}
