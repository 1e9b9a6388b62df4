-- Routing to humans (docs/design.md §3, flow 5): a project may hand its annotators first the
-- items on which the LLM judges are unsure (swap-inconsistent, disagreeing or unparsable).
alter table project add column judge_routing boolean not null default false;
