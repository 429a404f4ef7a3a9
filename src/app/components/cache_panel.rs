//! What the browser keeps for offline use: model pieces per file and their size; free it.

use yew::prelude::*;

use crate::presets::human_bytes;
use crate::web::hub::{cached_files, clear_cache, CachedFile};

#[derive(Properties, PartialEq)]
pub struct Props {
    /// Changes after every run, so the panel refreshes.
    pub generation: u64,
}

#[function_component(CachePanel)]
pub fn cache_panel(props: &Props) -> Html {
    let files = use_state(|| None::<Result<Vec<CachedFile>, String>>);
    let refresh = {
        let files = files.clone();
        Callback::from(move |_: ()| {
            let files = files.clone();
            yew::platform::spawn_local(async move { files.set(Some(cached_files().await.map_err(|e| e.to_string()))) });
        })
    };
    {
        let refresh = refresh.clone();
        use_effect_with(props.generation, move |_| {
            refresh.emit(());
            || ()
        });
    }
    let on_clear = {
        let (files, refresh) = (files.clone(), refresh.clone());
        Callback::from(move |_| {
            let (files, refresh) = (files.clone(), refresh.clone());
            yew::platform::spawn_local(async move {
                match clear_cache().await {
                    Ok(()) => refresh.emit(()),
                    Err(e) => files.set(Some(Err(e.to_string()))),
                }
            });
        })
    };
    let body = match &*files {
        None => html! { <span class="hint">{ "…" }</span> },
        Some(Err(e)) => html! { <span class="field-error">{ e }</span> },
        Some(Ok(list)) if list.is_empty() => {
            html! { <span class="hint">{ "Nothing stored yet: a run keeps what it downloads for next time and for offline use." }</span> }
        }
        Some(Ok(list)) => html! {
            <>
                <ul id="qk-cache-list">
                    { for list.iter().map(|f| html! { <li>{ format!("{} — {} in {} pieces", f.url, human_bytes(f.bytes), f.pieces) }</li> }) }
                </ul>
                <button class="secondary" id="qk-cache-clear" onclick={on_clear}>
                    { format!("Free {}", human_bytes(list.iter().map(|f| f.bytes).sum())) }
                </button>
            </>
        },
    };
    html! {
        <details class="panel cache-panel">
            <summary>{ "Stored in this browser (works offline)" }</summary>
            { body }
        </details>
    }
}
