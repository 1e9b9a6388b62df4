//! Verdict's user interface: the Leptos app, rendered on the server and hydrated in the browser.
//!
//! One file per page under `pages/`; server functions sit next to the page that uses them and
//! stay thin: they get the state and the user, call one `service` function and return
//! (docs/architecture.md).

// Leptos' statically typed views nest deeply; the leaderboard's exceeds the default limit when
// the release wasm is compiled.
#![recursion_limit = "256"]

pub mod auth;
pub mod components;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod state;
pub mod url;

/// The wire types live in the `api` crate; the pages read them under these names.
pub use api::{error, leaderboard, quality, training};
/// Model text as safe HTML (server side).
#[cfg(feature = "ssr")]
pub use service::markdown;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, SsrMode, path};

use crate::components::header::Header;
use crate::pages::lazy::{
    Admin, Data, Leaderboard, Lineage, Login, Policies, Quality, Run, Training,
};
use crate::pages::{annotate::AnnotatePage, arena::ArenaPage, compare::ComparePage};
use crate::pages::{home::HomePage, not_found::NotFound};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                // `/pkg/verdict.<hash>.css` with hashed names (server/src/http/assets.rs).
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Sets the page's `Content-Security-Policy`: scripts only from this origin or inline with this
/// response's nonce (Leptos puts it on its hydration and streaming scripts), WebAssembly
/// allowed, no plugins, no framing, forms and fetches to this origin only. Inline `style`
/// attributes (progress bars, shaded cells) are allowed.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let nonce = leptos::nonce::use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    );
    if let (Some(res), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&policy),
    ) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The app: header and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Logging in or out refetches the session user, so the header follows client-side navigation.
    let actions = AuthActions {
        login: ServerAction::new(),
        logout: ServerAction::new(),
        first_admin: ServerAction::new(),
    };
    provide_context(actions);
    let user: UserResource = Resource::new(
        move || {
            (
                actions.login.version().get(),
                actions.logout.version().get(),
                actions.first_admin.version().get(),
            )
        },
        |_| auth::get_current_user(),
    );
    provide_context(user);
    view! {
        <Title text="Verdict"/>
        <Router>
            <Header/>
            <main class="page">
                <Routes fallback=NotFound>
                    // The annotator's pages are in the first download; the others are split
                    // out and fetched when first visited (pages/lazy.rs, README "Page weight").
                    <Route path=path!("") view=HomePage/>
                    <Route path=path!("/arena") view=ArenaPage/>
                    // Async SSR: binding a new annotator sets the session cookie, which must be
                    // known before the response headers leave.
                    <Route path=path!("/annotate") view=AnnotatePage ssr=SsrMode::Async/>
                    <Route path=path!("/annotate/:project") view=ComparePage ssr=SsrMode::Async/>
                    <Route path=path!("/leaderboard") view={Lazy::<Leaderboard>::new()}/>
                    <Route path=path!("/data") view={Lazy::<Data>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/login") view={Lazy::<Login>::new()}/>
                    // Async SSR so that a refused server check can still set the 403 status.
                    <Route path=path!("/admin") view={Lazy::<Admin>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/training") view={Lazy::<Training>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/quality/:project") view={Lazy::<Quality>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/training/:id") view={Lazy::<Run>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/policies") view={Lazy::<Policies>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/policies/:id") view={Lazy::<Lineage>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The login and logout actions, shared by the header, the login page and the user resource.
#[derive(Clone, Copy)]
pub struct AuthActions {
    /// Submitted by the login form.
    pub login: ServerAction<auth::Login>,
    /// Submitted by the header's "Log out" button.
    pub logout: ServerAction<auth::Logout>,
    /// Submitted by the login page's "Create the first admin" form.
    pub first_admin: ServerAction<auth::CreateFirstAdmin>,
}

/// The session user, loaded once per page by [`App`].
pub type UserResource = Resource<Result<Option<auth::SessionUser>, error::AppError>>;

/// Browser entry point: hydrates the server-rendered page, loading the split-out code of a lazy
/// route first where the page is one, then marks `<body data-hydrated>` (end-to-end tests wait
/// for it before clicking).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        let owner =
            leptos::mount::hydrate_from_async(document().body().expect("a <body>"), App).await;
        owner.forget();
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
