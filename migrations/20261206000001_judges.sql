-- LLM judges (docs/design.md §3, flow 5): versioned judge templates, judge jobs queued and run by
-- workers like training runs, and each verdict a judge gave on one item in one display order.
-- When an item has the verdicts its job asks for, one vote with source 'llm_judge' is recorded
-- for it (its `import_key` names the judge, template and item, so it is never recorded twice).

create table judge_template (
    template_id bigint generated always as identity primary key,
    name text not null,
    version integer not null,
    protocol text not null default 'pairwise',
    -- The prompt, with {question}, {answer_a} and {answer_b} where the item's text goes.
    body text not null,
    -- How the verdict is read from the judge's output: the last [[A]], [[B]], [[C]] (tie) or
    -- [[D]] (both bad) in it.
    parse_rule text not null default 'last-bracket-verdict',
    -- Lowercase hex SHA-256 of the body: what a verdict was given under, whatever the name.
    sha256 text not null,
    created_at timestamptz not null default now(),
    constraint judge_template_name_version_key unique (name, version),
    constraint judge_template_name_sha256_key unique (name, sha256),
    constraint judge_template_name_check check (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    constraint judge_template_protocol_check check (protocol in ('pairwise')),
    constraint judge_template_parse_rule_check check (parse_rule in ('last-bracket-verdict')),
    constraint judge_template_body_check check (
        length(body) between 1 and 20000
        and strpos(body, '{question}') > 0
        and strpos(body, '{answer_a}') > 0
        and strpos(body, '{answer_b}') > 0)
);

create table judge_job (
    judge_job_id bigint generated always as identity primary key,
    project_id bigint not null,
    judge_model_id bigint not null,
    template_id bigint not null,
    -- Judge every item in both display orders (A/B, then B/A), or only as imported.
    both_orders boolean not null default true,
    -- What a swap-inconsistent item (A wins in one order, B in the other) counts as.
    inconsistent_as text not null default 'tie',
    -- At most this many items judged by this job (cost guard), and tokens per answer.
    max_items integer,
    max_tokens integer not null default 1024,
    -- Requests to the judge at once.
    concurrency integer not null default 4,
    status text not null default 'queued',
    worker_id text,
    heartbeat_at timestamptz,
    cancel_requested boolean not null default false,
    attempts integer not null default 0,
    error text,
    created_by bigint,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    constraint judge_job_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade,
    constraint judge_job_judge_model_id_fkey foreign key (judge_model_id)
        references model (model_id) on delete cascade,
    constraint judge_job_template_id_fkey foreign key (template_id)
        references judge_template (template_id),
    constraint judge_job_created_by_fkey foreign key (created_by)
        references app_user (user_id) on delete set null,
    constraint judge_job_status_check
        check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
    constraint judge_job_inconsistent_as_check check (inconsistent_as in ('tie', 'drop')),
    constraint judge_job_max_items_check check (max_items is null or max_items > 0),
    constraint judge_job_max_tokens_check check (max_tokens between 16 and 32768),
    constraint judge_job_concurrency_check check (concurrency between 1 and 64)
);
create index judge_job_queue_idx on judge_job (created_at) where status = 'queued';
create index judge_job_heartbeat_idx on judge_job (heartbeat_at) where status = 'running';

create table judge_verdict (
    judge_verdict_id bigint generated always as identity primary key,
    judge_job_id bigint,
    judge_model_id bigint not null,
    template_id bigint not null,
    item_id bigint not null,
    -- False: the item's first response was shown as A; true: as B.
    swapped boolean not null,
    -- The winner in the item's order ('a': its first response), or 'unparsable' when the output
    -- names no verdict (a judge that never answers leaves no row: the item is judged again).
    verdict text not null,
    raw_output text,
    -- The judge's configuration as it was asked (remote model, temperature, max tokens).
    judge_config jsonb not null default '{}',
    latency_ms integer,
    prompt_tokens integer,
    completion_tokens integer,
    attempts integer not null default 1,
    created_at timestamptz not null default now(),
    constraint judge_verdict_judge_job_id_fkey foreign key (judge_job_id)
        references judge_job (judge_job_id) on delete set null,
    constraint judge_verdict_judge_model_id_fkey foreign key (judge_model_id)
        references model (model_id) on delete cascade,
    constraint judge_verdict_template_id_fkey foreign key (template_id)
        references judge_template (template_id),
    constraint judge_verdict_item_id_fkey foreign key (item_id)
        references item (item_id) on delete cascade,
    constraint judge_verdict_once_key unique (judge_model_id, template_id, item_id, swapped),
    constraint judge_verdict_verdict_check
        check (verdict in ('a', 'b', 'tie', 'both_bad', 'unparsable'))
);
create index judge_verdict_item_idx on judge_verdict (item_id);
