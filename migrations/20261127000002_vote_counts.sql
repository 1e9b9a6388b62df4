-- Aggregated pairwise counts, kept current by triggers in the same transaction as each vote
-- insert or delete, so a leaderboard never rescans the votes (DESIGN.md §3.3).
-- Keyed by everything a leaderboard filters on except annotator cohorts (a cohort slice reads
-- the votes of that cohort's annotators). `shard` spreads concurrent voters over several rows
-- so that they do not queue on one row lock.

create table vote_count (
    project_id bigint not null default 0,
    category text not null default '',
    source text not null,
    day date not null,
    model_a_id bigint not null,
    model_b_id bigint not null,
    winner text not null,
    shard smallint not null,
    n bigint not null,
    constraint vote_count_pkey
        primary key (project_id, category, source, day, model_a_id, model_b_id, winner, shard),
    constraint vote_count_n_check check (n >= 0)
);

create function vote_count_apply() returns trigger language plpgsql as $$
declare
    v vote;
    delta integer;
    cat text;
begin
    if tg_op = 'INSERT' then
        v := new;
        delta := 1;
    else
        v := old;
        delta := -1;
    end if;
    select coalesce(p.category, '') into cat
    from item i join prompt p on p.prompt_id = i.prompt_id
    where i.item_id = v.item_id;
    if delta > 0 then
        insert into vote_count as c
            (project_id, category, source, day, model_a_id, model_b_id, winner, shard, n)
        values (coalesce(v.project_id, 0), coalesce(cat, ''), v.source,
                (v.created_at at time zone 'utc')::date, v.model_a_id, v.model_b_id, v.winner,
                (v.vote_id % 8)::smallint, 1)
        on conflict on constraint vote_count_pkey do update set n = c.n + 1;
    else
        update vote_count set n = n - 1
        where project_id = coalesce(v.project_id, 0) and category = coalesce(cat, '')
          and source = v.source and day = (v.created_at at time zone 'utc')::date
          and model_a_id = v.model_a_id and model_b_id = v.model_b_id and winner = v.winner
          and shard = (v.vote_id % 8)::smallint;
    end if;
    return null;
end;
$$;

create trigger vote_count_after_insert after insert on vote
    for each row execute function vote_count_apply();
create trigger vote_count_after_delete after delete on vote
    for each row execute function vote_count_apply();

create index vote_annotator_idx on vote (annotator_id);
