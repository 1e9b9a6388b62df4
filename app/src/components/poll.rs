//! Polling a resource while what it shows can still change (a training run, judge jobs): the
//! page asks again every `every` while `active` says so, and stops when it is left.

use leptos::prelude::*;

/// Bumps `tick` every `every` while `active()` is true; the caller's resource tracks `tick`.
/// The interval is cleared when the component that set it up goes away.
pub fn poll_while(
    tick: RwSignal<u64>,
    every: std::time::Duration,
    active: impl Fn() -> bool + Clone + 'static,
) {
    Effect::new(move |_| {
        let active = active.clone();
        let handle = set_interval_with_handle(
            move || {
                if active() {
                    tick.update(|t| *t += 1);
                }
            },
            every,
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    });
}
