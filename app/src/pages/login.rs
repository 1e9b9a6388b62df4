//! Staff login. A plain HTML form that also works before the page hydrates.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::AuthActions;

/// The login form.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = expect_context::<AuthActions>().login;
    let query = use_query_map();
    let next = move || {
        query
            .read()
            .get("next")
            .unwrap_or_else(|| "/admin".to_owned())
    };
    let error = move || {
        login
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    view! {
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
