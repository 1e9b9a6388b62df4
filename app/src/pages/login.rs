//! Staff login, and the first admin's account while none exists. Plain HTML forms that also
//! work before the page hydrates.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The login form; while no admin exists, also the form that creates the first one with the
/// one-time token `verdict serve` prints in its log.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = query
        .read_untracked()
        .get("next")
        .unwrap_or_else(|| "/admin".to_owned());
    // The link in the log (`/login?setup=…`) fills the token in.
    let token = query.read_untracked().get("setup").unwrap_or_default();
    view! { <LoginIsland next token/> }
}

/// The forms, showing a refused login or token in place (a lazy island; a success's redirect
/// loads the next page). `next` is where a login goes, `token` the setup token from the URL.
#[island(lazy)]
fn LoginIsland(next: String, token: String) -> impl IntoView {
    crate::components::island::hydrated();
    let token = StoredValue::new(token);
    let login = ServerAction::<crate::auth::Login>::new();
    let error = move || {
        login
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    let needed = Resource::new(|| (), |()| crate::auth::first_admin_needed());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let token = token.get_value();
                matches!(needed.await, Ok(true)).then(|| view! { <FirstAdmin token/> })
            })}
        </Suspense>
        <section class="card narrow">
            <h1>"Log in"</h1>
            <p class="muted">"For researchers and admins. Annotators need no account."</p>
            <ActionForm action=login>
                <input type="hidden" name="next" value=next/>
                <label>"Username" <input type="text" name="username" autocomplete="username" required/></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required/></label>
                <button type="submit" class="button primary">"Log in"</button>
            </ActionForm>
            {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

/// Creates the first admin (shown only while there is none).
#[component]
fn FirstAdmin(token: String) -> impl IntoView {
    let action = ServerAction::<crate::auth::CreateFirstAdmin>::new();
    let error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    view! {
        <section class="card narrow" aria-labelledby="first-admin">
            <h1 id="first-admin">"Create the first admin"</h1>
            <p class="muted">"There is no admin yet. "<code>"verdict serve"</code>" printed a one-time setup token in its log (the line that starts with “no admin yet”); it works once, for a day."</p>
            <ActionForm action=action attr:aria-label="Create the first admin">
                <label>"Setup token" <input type="text" name="token" value=token autocomplete="off" required/></label>
                <label>"Admin username" <input type="text" name="username" autocomplete="username" required/></label>
                <label>"Admin password" <input type="password" name="password" autocomplete="new-password" minlength="8" required/></label>
                <button type="submit" class="button primary">"Create the admin"</button>
            </ActionForm>
            {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}
