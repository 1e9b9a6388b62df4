-- The training queue (DESIGN.md §3.4): progress and cancellation for the run page, the output
-- folder, and how often a run was claimed (a run resumed after its worker died is claimed again).
alter table training_run
    add column step integer not null default 0,
    add column total_steps integer,
    add column cancel_requested boolean not null default false,
    add column output_dir text,
    add column attempts integer not null default 0,
    add constraint training_run_step_check check (step >= 0),
    add constraint training_run_total_steps_check check (total_steps is null or total_steps >= 0);
create index training_run_heartbeat_idx on training_run (heartbeat_at) where status = 'running';
