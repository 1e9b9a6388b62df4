-- Rating judges (docs/design.md §3, flow 5): a judge template may score one answer on one of a
-- rating project's criteria (`protocol = 'rating'`, placeholders {question} and {answer}, the
-- score read as the last [[N]] in the output). Each score is stored once per judge, template,
-- response of an item and criterion, and a parsed one also as an `llm_judge` rating.

alter table judge_template
    drop constraint judge_template_protocol_check,
    add constraint judge_template_protocol_check check (protocol in ('pairwise', 'rating')),
    drop constraint judge_template_parse_rule_check,
    add constraint judge_template_parse_rule_check check (
        (protocol = 'pairwise' and parse_rule = 'last-bracket-verdict')
        or (protocol = 'rating' and parse_rule = 'last-bracket-score')),
    drop constraint judge_template_body_check,
    add constraint judge_template_body_check check (
        length(body) between 1 and 20000
        and strpos(body, '{question}') > 0
        and case protocol
            when 'pairwise' then strpos(body, '{answer_a}') > 0 and strpos(body, '{answer_b}') > 0
            else strpos(body, '{answer}') > 0
        end);

create table judge_score (
    judge_score_id bigint generated always as identity primary key,
    judge_job_id bigint,
    judge_model_id bigint not null,
    template_id bigint not null,
    item_id bigint not null,
    response_id bigint not null,
    criterion text not null,
    -- The score on the criterion's scale, or null when the output names none within it
    -- (stored and counted as unparsable).
    score integer,
    raw_output text,
    judge_config jsonb not null default '{}',
    latency_ms integer,
    prompt_tokens integer,
    completion_tokens integer,
    attempts integer not null default 1,
    -- The `llm_judge` rating this score was recorded as (none for an unparsable one).
    rating_id bigint,
    created_at timestamptz not null default now(),
    constraint judge_score_judge_job_id_fkey foreign key (judge_job_id)
        references judge_job (judge_job_id) on delete set null,
    constraint judge_score_judge_model_id_fkey foreign key (judge_model_id)
        references model (model_id) on delete cascade,
    constraint judge_score_template_id_fkey foreign key (template_id)
        references judge_template (template_id),
    constraint judge_score_item_response_fkey foreign key (item_id, response_id)
        references item_response (item_id, response_id) on delete cascade,
    constraint judge_score_rating_id_fkey foreign key (rating_id)
        references rating (rating_id) on delete set null,
    constraint judge_score_once_key
        unique (judge_model_id, template_id, item_id, response_id, criterion),
    constraint judge_score_score_check check (score is null or score between 0 and 100)
);
create index judge_score_item_idx on judge_score (item_id);
