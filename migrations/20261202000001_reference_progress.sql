-- The reference phase of a training run (docs/design.md §3.4): before its first step a worker
-- scores the completions the run will use under the starting model; the run page shows how far
-- it got and when it started, to estimate the time left.
alter table training_run
    add column reference_done integer,
    add column reference_total integer,
    add column reference_started_at timestamptz,
    add constraint training_run_reference_check check (
        (reference_done is null and reference_total is null)
        or (reference_done >= 0 and reference_total >= reference_done));
