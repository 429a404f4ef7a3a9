//! The page's parts, one component each.

mod cache_panel;
mod controls;
mod editor;
mod figures;
mod model_picker;
mod options;
mod progress;
mod summary;

pub use cache_panel::CachePanel;
pub use controls::Controls;
pub use editor::Editor;
pub use figures::Figures;
pub use model_picker::ModelPicker;
pub use options::OptionsPanel;
pub use progress::ProgressView;
pub use summary::Summary;

pub(crate) fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_else(|| "—".into())
}

/// Props of the views of one result: equal when they show the same run (a new run is a new Rc),
/// so a view is not redrawn for nothing.
#[derive(yew::Properties, Clone)]
pub struct ResultProps {
    pub result: std::rc::Rc<crate::result::RunResult>,
}

impl PartialEq for ResultProps {
    fn eq(&self, other: &Self) -> bool {
        std::rc::Rc::ptr_eq(&self.result, &other.result)
    }
}
