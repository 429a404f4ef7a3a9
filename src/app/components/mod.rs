//! The page's parts, one component each. Each takes the values it shows and a `Callback` for
//! each change it makes (as yew's todomvc components do); none sees the whole state.

mod cache_panel;
mod category;
mod class_panel;
mod controls;
mod editor;
mod figures;
mod lecture;
mod look;
mod model_picker;
mod model_size;
mod options;
mod progress;
mod result_json;
mod summary;

use wasm_bindgen::JsCast;
use web_sys::{Event, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::Callback;

pub use cache_panel::CachePanel;
pub use class_panel::ClassPanel;
pub use controls::Controls;
pub use editor::Editor;
pub use figures::{run_id, Figures};
pub use lecture::LectureView;
pub use look::LookControls;
pub use model_picker::ModelPicker;
pub use model_size::Plan;
pub use options::OptionsPanel;
pub use progress::ProgressView;
pub use result_json::ResultJson;
pub use summary::Summary;

pub(crate) fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_else(|| "—".into())
}

/// The value of the input, text area or select an event came from.
pub(crate) fn value(e: &Event) -> String {
    let Some(target) = e.target() else { return String::new() };
    if let Some(input) = target.dyn_ref::<HtmlInputElement>() {
        input.value()
    } else if let Some(area) = target.dyn_ref::<HtmlTextAreaElement>() {
        area.value()
    } else {
        target.dyn_ref::<HtmlSelectElement>().map(|s| s.value()).unwrap_or_default()
    }
}

/// Whether the checkbox an event came from is checked.
pub(crate) fn checked(e: &Event) -> bool {
    e.target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        .is_some_and(|i| i.checked())
}

/// A callback that emits what `f` makes of an event, when it makes something (a number that
/// does not parse, say, keeps the last good one).
pub(crate) fn filter<E: 'static, T: 'static>(to: &Callback<T>, f: impl Fn(E) -> Option<T> + 'static) -> Callback<E> {
    let to = to.clone();
    Callback::from(move |e| {
        if let Some(t) = f(e) {
            to.emit(t)
        }
    })
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
