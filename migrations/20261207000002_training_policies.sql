-- Training policies (docs/design.md §3, flow 6): votes trigger DPO rounds. A policy launches a
-- run from its champion when enough new qualifying votes came in; the child battles the
-- champion in the arena and a promotion gate decides whether it becomes the next champion.

create table training_policy (
    policy_id bigint generated always as identity primary key,
    name text not null,
    -- Whose votes count: this project's (its arena, for the on-policy loop).
    project_id bigint not null,
    -- The model the next round trains from: the first base, then each promoted child.
    champion_model_id bigint not null,
    -- A round starts when at least this many new qualifying votes came in since the last one,
    min_new_votes integer not null default 100,
    -- or, with at least one, when this many minutes passed since the last round (null: never).
    every_minutes integer,
    -- Rounds started per UTC day at most.
    daily_cap integer not null default 4,
    -- The gate: decided head-to-head battles before any decision, and the most it waits for.
    gate_min_battles integer not null default 30,
    gate_max_battles integer not null default 200,
    -- What each round's run is: vote sources, pair policy, training settings (a launch request
    -- without its base model and projects, which the policy supplies).
    launch jsonb not null default '{}',
    paused boolean not null default false,
    -- Votes with a larger id are new to the policy.
    last_vote_id bigint not null default 0,
    last_round_at timestamptz,
    -- Why the last attempt to start a round did not (cleared when one starts).
    last_error text,
    created_by bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint training_policy_name_key unique (name),
    constraint training_policy_name_check check (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    constraint training_policy_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade,
    constraint training_policy_champion_model_id_fkey foreign key (champion_model_id)
        references model (model_id) on delete restrict,
    constraint training_policy_created_by_fkey foreign key (created_by)
        references app_user (user_id) on delete set null,
    constraint training_policy_min_new_votes_check check (min_new_votes between 1 and 1000000),
    constraint training_policy_every_minutes_check
        check (every_minutes is null or every_minutes between 1 and 525600),
    constraint training_policy_daily_cap_check check (daily_cap between 1 and 1000),
    constraint training_policy_gate_check
        check (gate_min_battles between 1 and 100000 and gate_max_battles >= gate_min_battles
               and gate_max_battles <= 1000000)
);

-- One round of a policy: the run it started, its parent (the champion then), the child it
-- produced and the gate's decision with its numbers.
create table policy_round (
    round_id bigint generated always as identity primary key,
    policy_id bigint not null,
    round integer not null,
    training_run_id bigint not null,
    parent_model_id bigint not null,
    child_model_id bigint,
    -- training → gating → promoted | retired; failed when the run did not produce a model.
    status text not null default 'training',
    -- New votes that started it, and the last of them.
    votes integer not null,
    last_vote_id bigint not null,
    -- The head-to-head record of the child against its parent (from the child's side).
    wins integer not null default 0,
    losses integer not null default 0,
    ties integer not null default 0,
    win_lower double precision,
    win_upper double precision,
    decision text,
    decided_at timestamptz,
    created_at timestamptz not null default now(),
    constraint policy_round_policy_id_fkey foreign key (policy_id)
        references training_policy (policy_id) on delete cascade,
    constraint policy_round_training_run_id_fkey foreign key (training_run_id)
        references training_run (training_run_id) on delete cascade,
    constraint policy_round_parent_model_id_fkey foreign key (parent_model_id)
        references model (model_id) on delete restrict,
    constraint policy_round_child_model_id_fkey foreign key (child_model_id)
        references model (model_id) on delete set null,
    constraint policy_round_policy_round_key unique (policy_id, round),
    constraint policy_round_training_run_id_key unique (training_run_id),
    constraint policy_round_status_check
        check (status in ('training', 'gating', 'promoted', 'retired', 'failed'))
);
-- At most one open round per policy, whatever the workers do.
create unique index policy_round_open_idx on policy_round (policy_id)
    where status in ('training', 'gating');
