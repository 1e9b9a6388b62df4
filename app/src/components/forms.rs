//! Forms handled in the browser.

/// The form a submit event came from and the `value` of the button that submitted it.
#[cfg(feature = "hydrate")]
#[must_use]
pub fn submitted(
    ev: &leptos::ev::SubmitEvent,
) -> Option<(leptos::web_sys::HtmlFormElement, Option<String>)> {
    use leptos::wasm_bindgen::JsCast;
    let form = ev
        .target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlFormElement>().ok())?;
    let button = ev.submitter().and_then(|b| b.get_attribute("value"));
    Some((form, button))
}
