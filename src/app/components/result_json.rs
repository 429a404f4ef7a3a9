//! `#qk-result`: the shown result as JSON (the CLI's), for tests and tools.

use yew::prelude::*;

use super::ResultProps as Props;

/// Its own component so the JSON is written once per result (its props compare by pointer):
/// the app renders at every keystroke and stage of a run, and the JSON of a gpt2-medium result
/// (Q and K vectors of every word) is ~1 MB, 5-20 ms to write each time.
#[function_component]
pub fn ResultJson(props: &Props) -> Html {
    html! {
        <script type="application/json" id="qk-result" data-run-id={super::run_id(&props.result)}>{ props.result.to_json() }</script>
    }
}
