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

/// Milliseconds since the page started (the browser's monotonic clock); 0 on the server.
#[must_use]
pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        leptos::web_sys::window()
            .and_then(|w| w.performance())
            .map_or(0.0, |p| p.now())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}
