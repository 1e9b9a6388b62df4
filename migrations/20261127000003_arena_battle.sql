-- Open-arena battles: an annotator's prompt, two sampled models generating, and, once both
-- answers are complete, an item and an assignment in the arena project so that the vote takes
-- the same path as any pairwise vote. A battle whose generation failed never gets an item, so
-- it is never counted.
create table arena_battle (
    battle_id bigint generated always as identity primary key,
    project_id bigint not null,
    user_id bigint not null,
    prompt_id bigint not null,
    model_a_id bigint not null,
    model_b_id bigint not null,
    -- True when model A's answer is shown on the left.
    a_is_left boolean not null,
    status text not null default 'generating',
    -- Set when a server starts generating, so that two tabs never generate the same battle.
    started_at timestamptz,
    error text,
    item_id bigint,
    assignment_id bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint arena_battle_project_id_fkey foreign key (project_id)
        references project (project_id) on delete cascade,
    constraint arena_battle_user_id_fkey foreign key (user_id)
        references app_user (user_id) on delete cascade,
    constraint arena_battle_prompt_id_fkey foreign key (prompt_id)
        references prompt (prompt_id) on delete cascade,
    constraint arena_battle_model_a_id_fkey foreign key (model_a_id) references model (model_id),
    constraint arena_battle_model_b_id_fkey foreign key (model_b_id) references model (model_id),
    constraint arena_battle_item_id_fkey foreign key (item_id)
        references item (item_id) on delete set null,
    constraint arena_battle_assignment_id_fkey foreign key (assignment_id)
        references assignment (assignment_id) on delete set null,
    constraint arena_battle_status_check
        check (status in ('generating', 'ready', 'failed')),
    constraint arena_battle_distinct_models_check check (model_a_id <> model_b_id)
);
create index arena_battle_user_idx on arena_battle (user_id, created_at);
