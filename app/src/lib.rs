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
use leptos_router::{SsrMode, path};

use crate::components::header::Header;
use crate::pages::admin::AdminPage;
use crate::pages::data::DataPage;
use crate::pages::leaderboard::LeaderboardPage;
use crate::pages::login::LoginPage;
use crate::pages::policies::{LineagePage, PoliciesPage};
use crate::pages::quality::QualityPage;
use crate::pages::training::{RunPage, TrainingPage};
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
                <HydrationScripts options islands=true/>
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
    let user: UserResource = Resource::new(|| (), |()| auth::get_current_user());
    provide_context(user);
    view! {
        <Title text="Verdict"/>
        <Router>
            <Header/>
            <main class="page">
                <Routes fallback=NotFound>
                    // Pages render on the server; only their interactive parts (islands)
                    // hydrate. The pairwise comparison's and the arena's islands are in the first
                    // download, the others are split out and fetched when a page that has one is
                    // visited
                    // (components/island.rs, README "Page weight").
                    <Route path=path!("") view=HomePage/>
                    <Route path=path!("/arena") view=ArenaPage/>
                    // Async SSR: binding a new annotator sets the session cookie, which must be
                    // known before the response headers leave.
                    <Route path=path!("/annotate") view=AnnotatePage ssr=SsrMode::Async/>
                    <Route path=path!("/annotate/:project") view=ComparePage ssr=SsrMode::Async/>
                    <Route path=path!("/leaderboard") view=LeaderboardPage/>
                    <Route path=path!("/data") view=DataPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage/>
                    // Async SSR so that a refused server check can still set the 403 status.
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/training") view=TrainingPage ssr=SsrMode::Async/>
                    <Route path=path!("/quality/:project") view=QualityPage ssr=SsrMode::Async/>
                    <Route path=path!("/training/:id") view=RunPage ssr=SsrMode::Async/>
                    <Route path=path!("/policies") view=PoliciesPage ssr=SsrMode::Async/>
                    <Route path=path!("/policies/:id") view=LineagePage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The session user, loaded once per page by [`App`].
pub type UserResource = Resource<Result<Option<auth::SessionUser>, error::AppError>>;

/// Browser entry point, called by Leptos' island loader before it hydrates the page's islands:
/// sends a server function's redirect to the browser (there is no client-side router), and
/// marks `<body data-hydrated>` at once where the page has no island (end-to-end tests wait for
/// it before clicking; components/island.rs marks the other pages).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let _ = server_fn::redirect::set_redirect_hook(|to: &str| {
        let _ = window().location().set_href(to);
    });
    leptos::mount::hydrate_islands();
    components::island::mark_if_none();
}
