//! What the browser keeps for offline use: model pieces per file and their size; free it.

use wasm_bindgen_futures::JsFuture;
use yew::prelude::*;

use crate::presets::human_bytes;
use crate::web::stored::{cached_files, clear_cache, free_file, CachedFile};

#[derive(Properties, PartialEq)]
pub struct Props {
    /// Changes after every run, so the panel refreshes.
    pub generation: u64,
}

/// Usage and quota of this site's storage, and whether the browser keeps it under pressure.
async fn storage_line(ask_persist: bool) -> Option<String> {
    let window = web_sys::window()?;
    if !window.is_secure_context() {
        return Some(format!(
            "This page is not a secure context ({}), so the browser gives it no storage: models download on every visit and nothing works offline. Serve the lab over https, or open it at localhost.",
            window.location().origin().unwrap_or_default()
        ));
    }
    // Unchecked in web-sys: undefined where the browser has no StorageManager (WebKitGTK).
    if !crate::web::fetch::has_object(&window.navigator(), "storage") {
        return None;
    }
    let storage = window.navigator().storage();
    let persisted = if ask_persist {
        // Asked once something is stored: the browser then does not evict it under pressure.
        JsFuture::from(storage.persist().ok()?).await.ok()?.as_bool()
    } else {
        JsFuture::from(storage.persisted().ok()?).await.ok()?.as_bool()
    };
    let estimate = JsFuture::from(storage.estimate().ok()?).await.ok()?;
    let num = |k: &str| js_sys::Reflect::get(&estimate, &k.into()).ok()?.as_f64();
    let (usage, quota) = (num("usage")?, num("quota")?);
    Some(format!(
        "This site uses {} of {} the browser allows it{}.",
        human_bytes(usage as u64),
        human_bytes(quota as u64),
        match persisted {
            Some(true) => "; stored models are kept (persistent storage)",
            _ => "; the browser may evict stored models when space runs low",
        }
    ))
}

/// One file at one revision; a versioned one can be freed alone (an old version of a model).
fn entry(f: &CachedFile, on_free: &Callback<CachedFile>) -> Html {
    let text = format!("{} — {} in {} pieces", f.url, human_bytes(f.bytes), f.pieces);
    match &f.revision {
        Some(rev) => {
            let short: String = rev.chars().take(12).collect();
            let file = f.clone();
            html! {
                <li data-revision={rev.clone()}>{ format!("{text} (revision {short})") }{ " " }
                    <button class="secondary qk-cache-free" onclick={on_free.reform(move |_| file.clone())}>{ "Free" }</button>
                </li>
            }
        }
        None => html! { <li>{ text }</li> },
    }
}

#[function_component(CachePanel)]
pub fn cache_panel(props: &Props) -> Html {
    let files = use_state(|| None::<Result<Vec<CachedFile>, String>>);
    let packed = use_state(|| None::<(u64, usize)>);
    let storage = use_state(|| None::<String>);
    let refresh = {
        let (files, packed) = (files.clone(), packed.clone());
        Callback::from(move |_: ()| {
            let (files, packed) = (files.clone(), packed.clone());
            yew::platform::spawn_local(async move {
                files.set(Some(cached_files().await.map_err(|e| e.to_string())));
                packed.set(crate::web::packed_store::usage().await);
            });
        })
    };
    {
        let (refresh, storage) = (refresh.clone(), storage.clone());
        use_effect_with(props.generation, move |generation| {
            refresh.emit(());
            let ask_persist = *generation != 0;
            yew::platform::spawn_local(async move { storage.set(storage_line(ask_persist).await) });
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
    let on_free = {
        let (files, refresh) = (files.clone(), refresh.clone());
        Callback::from(move |file: CachedFile| {
            let (files, refresh) = (files.clone(), refresh.clone());
            yew::platform::spawn_local(async move {
                match free_file(&file).await {
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
                    { for list.iter().map(|f| entry(f, &on_free)) }
                </ul>
                <button class="secondary" id="qk-cache-clear" onclick={on_clear}>
                    { format!("Free {}", human_bytes(list.iter().map(|f| f.bytes).sum::<u64>() + packed.map_or(0, |(b, _)| b))) }
                </button>
            </>
        },
    };
    html! {
        <details class="panel cache-panel">
            <summary>{ "Stored in this browser (works offline)" }</summary>
            { body }
            if let Some((bytes, n)) = *packed {
                <p class="hint" id="qk-packed">{ format!(
                    "Also kept: the weights as the workers hold them, already packed ({} in {n} files), so a reload skips packing. Freed with the rest.",
                    human_bytes(bytes)
                ) }</p>
            }
            if let Some(line) = &*storage { <p class="hint" id="qk-storage">{ line }</p> }
        </details>
    }
}
