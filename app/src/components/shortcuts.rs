//! Keyboard shortcuts shared by the voting pages.

/// Whether a key press belongs to the page's shortcuts: not typed into a text field, and not
/// part of a browser or system combination (Ctrl, Cmd, Alt).
#[must_use]
pub fn is_shortcut(e: &leptos::ev::KeyboardEvent) -> bool {
    let typing = e
        .target()
        .and_then(|t| leptos::wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Element>(t).ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "TEXTAREA" | "INPUT" | "SELECT"));
    !(typing || e.ctrl_key() || e.meta_key() || e.alt_key())
}

/// The verdict a key stands for: 1/← left, 2/→ right, 3/↑ tie, 4/↓ both bad.
#[must_use]
pub fn choice_for_key(key: &str) -> Option<&'static str> {
    match key {
        "1" | "ArrowLeft" => Some("left"),
        "2" | "ArrowRight" => Some("right"),
        "3" | "ArrowUp" => Some("tie"),
        "4" | "ArrowDown" => Some("both_bad"),
        _ => None,
    }
}
