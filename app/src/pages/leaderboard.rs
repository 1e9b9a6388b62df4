//! The leaderboard page.

use leptos::prelude::*;

use crate::pages::home::get_overview;

/// The leaderboard page: ratings appear once judgements exist.
#[component]
pub fn LeaderboardPage() -> impl IntoView {
    let overview = Resource::new(|| (), |()| get_overview());
    view! {
        <h1>"Leaderboard"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                overview.await.ok().map(|o| view! {
                    <p class="card">{format!("{} judgements recorded so far.", o.judgements)}</p>
                })
            })}
        </Suspense>
    }
}
