-- Verdict schema v1 (DESIGN.md §2).
-- Singular table names, `<table>_id` keys, named constraints so the application can map a
-- violation to a clear 4xx error by its name. `user` is a reserved word, hence `app_user`.

-- People. Staff (researchers, admins) log in with a password; annotators may be anonymous,
-- bound to a browser session, and carry an external id (e.g. a Prolific PID) and cohorts.
create table app_user (
    user_id bigint generated always as identity primary key,
    role text not null,
    username text,
    password_hash text,
    external_id text,
    cohorts text[] not null default '{}',
    is_anonymous boolean not null default false,
    -- Excluded annotators' judgements are left out of leaderboards and exports (reversible).
    excluded boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint app_user_role_check check (role in ('annotator', 'researcher', 'admin')),
    constraint app_user_username_key unique (username),
    constraint app_user_username_format_check
        check (username is null or username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    constraint app_user_staff_password_check
        check (role = 'annotator' or (username is not null and password_hash is not null)),
    constraint app_user_external_id_key unique (external_id)
);

-- Login attempts, for rate limiting across every server instance sharing this database.
create table login_attempt (
    login_attempt_id bigint generated always as identity primary key,
    username text not null,
    client_ip text,
    succeeded boolean not null,
    created_at timestamptz not null default now()
);
create index login_attempt_username_idx on login_attempt (username, created_at);
create index login_attempt_client_ip_idx on login_attempt (client_ip, created_at);

-- Sessions, in the exact shape tower-sessions-sqlx-store's PostgresStore reads and writes.
create schema if not exists tower_sessions;
create table if not exists tower_sessions.session (
    id text primary key not null,
    data bytea not null,
    expiry_date timestamptz not null
);

-- Contestants.
create table model (
    model_id bigint generated always as identity primary key,
    name text not null,
    kind text not null,
    -- Kind-specific settings: a local folder, an OpenAI-compatible endpoint and the name of the
    -- environment variable holding its key (never the key itself).
    config jsonb not null default '{}',
    parent_model_id bigint,
    training_run_id bigint,
    enabled boolean not null default true,
    sampling_weight double precision not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint model_name_key unique (name),
    constraint model_kind_check check (kind in ('dataset', 'local', 'openai')),
    constraint model_sampling_weight_check check (sampling_weight >= 0),
    constraint model_parent_model_id_fkey foreign key (parent_model_id)
        references model (model_id) on delete set null
);

-- A user turn or a whole conversation.
create table prompt (
    prompt_id bigint generated always as identity primary key,
    text text not null,
    conversation jsonb,
    category text,
    tags text[] not null default '{}',
    source text not null default 'import',
    -- Hash of the content, so that re-importing the same file does not duplicate prompts.
    content_hash text not null,
    created_at timestamptz not null default now(),
    constraint prompt_content_hash_key unique (content_hash),
    constraint prompt_source_check check (source in ('import', 'annotator', 'admin'))
);

create table response (
    response_id bigint generated always as identity primary key,
    prompt_id bigint not null,
    model_id bigint not null,
    text text not null,
    -- Tokens, latency and style counts (DESIGN.md §5.5).
    metadata jsonb not null default '{}',
    -- Hash of the text: a model may answer the same prompt more than once (datasets do), but
    -- re-importing the same answer must not duplicate it.
    content_hash text not null,
    created_at timestamptz not null default now(),
    constraint response_prompt_id_fkey foreign key (prompt_id)
        references prompt (prompt_id) on delete cascade,
    constraint response_model_id_fkey foreign key (model_id)
        references model (model_id) on delete restrict,
    constraint response_prompt_model_content_key unique (prompt_id, model_id, content_hash)
);

create table project (
    project_id bigint generated always as identity primary key,
    name text not null,
    protocol text not null,
    is_arena boolean not null default false,
    guidelines text not null default '',
    guidelines_version integer not null default 1,
    overlap_target integer not null default 3,
    rationale_mode text not null default 'optional',
    strength_scale text not null default 'off',
    -- Protocol settings: rating criteria and scale, ranking options, quality-control thresholds.
    config jsonb not null default '{}',
    assignment_ttl_seconds integer not null default 1800,
    created_by bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint project_name_key unique (name),
    constraint project_protocol_check check (protocol in ('pairwise', 'rating', 'ranking')),
    constraint project_guidelines_version_check check (guidelines_version >= 1),
    constraint project_overlap_target_check check (overlap_target between 1 and 1000),
    constraint project_rationale_mode_check
        check (rationale_mode in ('off', 'optional', 'required')),
    constraint project_strength_scale_check check (strength_scale in ('off', 'slight_clear')),
    constraint project_assignment_ttl_check check (assignment_ttl_seconds between 10 and 604800),
    constraint project_created_by_fkey foreign key (created_by)
        references app_user (user_id) on delete set null
);

-- Every version of a project's guidelines, so a judgement's guideline version can be read back.
create table guideline_version (
    project_id bigint not null,
    version integer not null,
    text text not null,
    created_at timestamptz not null default now(),
    constraint guideline_version_pkey primary key (project_id, version),
    constraint guideline_version_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade
);

create table item (
    item_id bigint generated always as identity primary key,
    project_id bigint not null,
    prompt_id bigint not null,
    -- Key from the imported file (e.g. PandaLM's idx), for idempotent re-imports.
    external_key text,
    is_gold boolean not null default false,
    gold_answer jsonb,
    created_at timestamptz not null default now(),
    constraint item_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade,
    constraint item_prompt_id_fkey foreign key (prompt_id)
        references prompt (prompt_id) on delete restrict,
    constraint item_project_external_key_key unique (project_id, external_key),
    constraint item_gold_check check (not is_gold or gold_answer is not null)
);

-- The candidate responses of an item, in their canonical order.
create table item_response (
    item_id bigint not null,
    response_id bigint not null,
    position integer not null,
    constraint item_response_pkey primary key (item_id, response_id),
    constraint item_response_position_key unique (item_id, position),
    constraint item_response_item_id_fkey foreign key (item_id)
        references item (item_id) on delete cascade,
    constraint item_response_response_id_fkey foreign key (response_id)
        references response (response_id) on delete restrict,
    constraint item_response_position_check check (position >= 0)
);

create table assignment (
    assignment_id bigint generated always as identity primary key,
    item_id bigint not null,
    user_id bigint not null,
    -- Response ids in the order shown: left/right for a pair, the initial list for a ranking.
    display_order bigint[] not null,
    status text not null default 'issued',
    issued_at timestamptz not null default now(),
    expires_at timestamptz not null,
    completed_at timestamptz,
    constraint assignment_item_id_fkey foreign key (item_id)
        references item (item_id) on delete cascade,
    constraint assignment_user_id_fkey foreign key (user_id)
        references app_user (user_id) on delete cascade,
    -- One annotator never gets the same item twice.
    constraint assignment_item_user_key unique (item_id, user_id),
    constraint assignment_status_check
        check (status in ('issued', 'completed', 'skipped', 'expired')),
    constraint assignment_expiry_check check (expires_at > issued_at),
    constraint assignment_completed_check
        check ((status = 'completed') = (completed_at is not null))
);
create index assignment_user_status_idx on assignment (user_id, status);

-- Pairwise judgements. Imported battle logs have no assignment and may have no response text.
create table vote (
    vote_id bigint generated always as identity primary key,
    project_id bigint,
    item_id bigint,
    assignment_id bigint,
    annotator_id bigint,
    source text not null default 'human',
    model_a_id bigint not null,
    model_b_id bigint not null,
    response_a_id bigint,
    response_b_id bigint,
    winner text not null,
    strength text,
    rationale text,
    time_to_vote_ms integer,
    -- True when response A was displayed on the left.
    a_was_left boolean,
    guideline_version integer,
    import_key text,
    created_at timestamptz not null default now(),
    constraint vote_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade,
    constraint vote_item_id_fkey foreign key (item_id) references item (item_id) on delete cascade,
    constraint vote_assignment_id_fkey foreign key (assignment_id)
        references assignment (assignment_id) on delete cascade,
    constraint vote_annotator_id_fkey foreign key (annotator_id)
        references app_user (user_id) on delete set null,
    constraint vote_model_a_id_fkey foreign key (model_a_id) references model (model_id),
    constraint vote_model_b_id_fkey foreign key (model_b_id) references model (model_id),
    constraint vote_response_a_id_fkey foreign key (response_a_id)
        references response (response_id),
    constraint vote_response_b_id_fkey foreign key (response_b_id)
        references response (response_id),
    constraint vote_assignment_id_key unique (assignment_id),
    constraint vote_import_key_key unique (import_key),
    constraint vote_source_check check (source in ('human', 'llm_judge', 'import')),
    constraint vote_winner_check check (winner in ('a', 'b', 'tie', 'both_bad')),
    constraint vote_strength_check check (strength is null or strength in ('slight', 'clear')),
    constraint vote_distinct_models_check check (model_a_id <> model_b_id),
    constraint vote_time_check check (time_to_vote_ms is null or time_to_vote_ms >= 0)
);
create index vote_project_idx on vote (project_id, created_at);

-- Ratings: one row per response and criterion; `score` is null exactly when marked N/A.
create table rating (
    rating_id bigint generated always as identity primary key,
    project_id bigint not null,
    item_id bigint not null,
    assignment_id bigint,
    annotator_id bigint,
    source text not null default 'human',
    response_id bigint not null,
    criterion text not null,
    score integer,
    not_applicable boolean not null default false,
    rationale text,
    time_ms integer,
    guideline_version integer,
    created_at timestamptz not null default now(),
    constraint rating_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade,
    constraint rating_item_id_fkey foreign key (item_id) references item (item_id) on delete cascade,
    constraint rating_assignment_id_fkey foreign key (assignment_id)
        references assignment (assignment_id) on delete cascade,
    constraint rating_annotator_id_fkey foreign key (annotator_id)
        references app_user (user_id) on delete set null,
    constraint rating_response_id_fkey foreign key (response_id)
        references response (response_id),
    constraint rating_assignment_response_criterion_key
        unique (assignment_id, response_id, criterion),
    constraint rating_source_check check (source in ('human', 'llm_judge', 'import')),
    constraint rating_score_check check (score is null or score between 0 and 100),
    constraint rating_not_applicable_check check ((score is null) = not_applicable),
    constraint rating_time_check check (time_ms is null or time_ms >= 0)
);

-- Rankings: `tie_groups` is a JSON array of arrays of response ids, best group first.
create table ranking (
    ranking_id bigint generated always as identity primary key,
    project_id bigint not null,
    item_id bigint not null,
    assignment_id bigint,
    annotator_id bigint,
    source text not null default 'human',
    tie_groups jsonb not null default '[]',
    not_rankable boolean not null default false,
    rationale text,
    time_ms integer,
    guideline_version integer,
    created_at timestamptz not null default now(),
    constraint ranking_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade,
    constraint ranking_item_id_fkey foreign key (item_id) references item (item_id) on delete cascade,
    constraint ranking_assignment_id_fkey foreign key (assignment_id)
        references assignment (assignment_id) on delete cascade,
    constraint ranking_annotator_id_fkey foreign key (annotator_id)
        references app_user (user_id) on delete set null,
    constraint ranking_assignment_id_key unique (assignment_id),
    constraint ranking_source_check check (source in ('human', 'llm_judge', 'import')),
    constraint ranking_tie_groups_check check (jsonb_typeof(tie_groups) = 'array'),
    constraint ranking_order_check
        check (not_rankable or jsonb_array_length(tie_groups) > 0),
    constraint ranking_time_check check (time_ms is null or time_ms >= 0)
);

create table training_run (
    training_run_id bigint generated always as identity primary key,
    launched_by bigint,
    base_model_id bigint not null,
    -- The exact judgement ids used, frozen at launch so that the run is reproducible.
    snapshot jsonb not null default '{}',
    config jsonb not null default '{}',
    status text not null default 'queued',
    error text,
    worker_id text,
    heartbeat_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    output_model_id bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint training_run_launched_by_fkey foreign key (launched_by)
        references app_user (user_id) on delete set null,
    constraint training_run_base_model_id_fkey foreign key (base_model_id)
        references model (model_id),
    constraint training_run_output_model_id_fkey foreign key (output_model_id)
        references model (model_id) on delete set null,
    constraint training_run_status_check
        check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled'))
);
create index training_run_status_idx on training_run (status, created_at);

create table training_metric (
    training_run_id bigint not null,
    step integer not null,
    metrics jsonb not null,
    created_at timestamptz not null default now(),
    constraint training_metric_pkey primary key (training_run_id, step),
    constraint training_metric_training_run_id_fkey foreign key (training_run_id)
        references training_run (training_run_id) on delete cascade,
    constraint training_metric_step_check check (step >= 0)
);

alter table model add constraint model_training_run_id_fkey foreign key (training_run_id)
    references training_run (training_run_id) on delete set null;
