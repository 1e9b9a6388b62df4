//! Islands: the parts of a page that hydrate.
//!
//! Every page renders on the server; the browser's build holds only the code of the
//! interactive parts, each an `#[island]`, whose props travel in the page as JSON. The
//! annotators' first pages, the pairwise comparison and the arena's battle, and the home page's
//! shortcuts toggle are in the main wasm file, which every page loads. The others are
//! `#[island(lazy)]`: built with `cargo leptos build --split`, each goes to its own chunk (with
//! chunks of code it shares with other lazy islands), fetched when a page that shows it loads:
//! the rating and ranking forms, and the researchers' and admins' islands (README "Page
//! weight"). A lazy island's code arrives in many small files (24 for the battle when it was
//! one), each paying its own response headers: an island every annotator meets is cheaper in
//! the main wasm.
//!
//! In the browser an island sees no context from outside it (no router, no session user): what
//! it needs comes as props, and a link or a server function's redirect loads a new page. Links
//! and forms outside islands are plain HTML and work without JavaScript.
//!
//! An island's data travels with the page when its resources are made as the island starts
//! (Leptos numbers them in the same order on both sides); make resources there, not inside a
//! `Suspense`'s children. A `Suspense` or `Transition` nested in another's children is numbered
//! in the browser but not on the server, so an island that has one comes last on its page.
//!
//! In island code, branches are `Either`/`EitherOf3`, not `into_any()`: a type-erased view keeps
//! a function pointer to every way of rendering its type, the async hydration that only lazy
//! routes use among them, so the wasm holds that code for every view so erased. Dropping
//! `into_any()` from the comparison and the battle took 8 KB off the main wasm and 23 KB off
//! the battle's code, then split out (brotli; README "Page weight").
//!
//! End-to-end tests wait for `<body data-hydrated>` before clicking: each island calls
//! [`hydrated`], and the last one on the page to hydrate sets it.

#[cfg(feature = "hydrate")]
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "hydrate")]
static HYDRATED: AtomicUsize = AtomicUsize::new(0);

/// Counts the calling island as hydrated once its view is live in the browser (nothing happens
/// on the server); when every island on the page is, marks `<body data-hydrated>`.
pub fn hydrated() {
    #[cfg(feature = "hydrate")]
    leptos::prelude::Effect::new(|| {
        let done = HYDRATED.fetch_add(1, Ordering::Relaxed) + 1;
        if done >= islands_on_page() {
            mark();
        }
    });
}

/// Marks `<body data-hydrated>` at once where the page has no island.
#[cfg(feature = "hydrate")]
pub fn mark_if_none() {
    if islands_on_page() == 0 {
        mark();
    }
}

#[cfg(feature = "hydrate")]
fn islands_on_page() -> usize {
    leptos::prelude::document()
        .query_selector_all("leptos-island")
        .map_or(0, |l| l.length() as usize)
}

#[cfg(feature = "hydrate")]
fn mark() {
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
