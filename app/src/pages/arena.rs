//! The open arena: annotators write a prompt and judge two anonymous models' answers.

use leptos::prelude::*;

use crate::pages::home::get_overview;

/// The arena page. Battles need at least two generating models; until an admin registers them
/// the page says so.
#[component]
pub fn ArenaPage() -> impl IntoView {
    let overview = Resource::new(|| (), |()| get_overview());
    view! {
        <h1>"Arena"</h1>
        <p class="lede">"Ask anything; two anonymous models answer; you pick the better one."</p>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                overview.await.ok().map(|o| view! {
                    <p class="card">{format!("{} models are registered. ", o.models)}
                    "Battles open once an admin enables at least two models that generate answers."</p>
                })
            })}
        </Suspense>
    }
}
