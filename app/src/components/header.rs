//! The site header: brand, navigation and the session's user.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::UserResource;

/// Header with navigation (Arena, Annotate, Leaderboard, Data, Training, Admin) and login state,
/// rendered on the server: its links and the logout form are plain HTML.
#[component]
pub fn Header() -> impl IntoView {
    let user = expect_context::<UserResource>();
    let logout = ServerAction::<crate::auth::Logout>::new();
    view! {
        <header class="site-header">
            <a class="brand" href="/">"Verdict"</a>
            <nav aria-label="Main">
                <A href="/arena">"Arena"</A>
                <A href="/annotate">"Annotate"</A>
                <A href="/leaderboard">"Leaderboard"</A>
                <A href="/data">"Data"</A>
                <A href="/training">"Training"</A>
                <A href="/admin">"Admin"</A>
            </nav>
            <div class="session">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(u)) => view! {
                                <span class="who" title=u.role.clone()>{u.label()}</span>
                                <ActionForm action=logout attr:class="inline">
                                    <button type="submit" class="link">"Log out"</button>
                                </ActionForm>
                            }.into_any(),
                            _ => view! { <a href="/login">"Log in"</a> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </header>
    }
}
