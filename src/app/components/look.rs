//! The viewer's look for the figures: a colour scale (viridis, or cividis for colour-blind
//! viewers) and a dark theme for a dim room. In the header, or on the presenter's screen.

use yew::prelude::*;

use super::value;
use crate::plots::{ColourScale, Look, Theme};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub look: Look,
    pub on_look: Callback<Look>,
}

#[function_component(LookControls)]
pub fn look_controls(props: &Props) -> Html {
    let look = props.look;
    let on_scale = props.on_look.reform(move |e: Event| Look {
        scale: ColourScale::parse(&value(&e)).unwrap_or_default(),
        ..look
    });
    let dark = look.theme == Theme::Dark;
    let on_theme = props.on_look.reform(move |_| Look {
        theme: if dark { Theme::Light } else { Theme::Dark },
        ..look
    });
    html! {
        <span class="look-controls">
            <label for="qk-colour-scale">{ "Colours" }</label>
            <select id="qk-colour-scale" onchange={on_scale}>
                { for ColourScale::ALL.iter().map(|&c| html! {
                    <option value={c.name()} selected={c == look.scale}>{ scale_label(c) }</option>
                }) }
            </select>
            <button class="secondary" id="qk-theme" aria-pressed={dark.to_string()} onclick={on_theme}>{ "Dark theme" }</button>
        </span>
    }
}

fn scale_label(c: ColourScale) -> &'static str {
    match c {
        ColourScale::Viridis => "viridis (the lecture's)",
        ColourScale::Cividis => "cividis (colour-blind safe)",
    }
}
