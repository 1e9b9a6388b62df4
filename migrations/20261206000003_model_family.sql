-- A model's family (e.g. `llama`, `gpt`), when an admin names it: the judge audit measures a
-- judge's preference for answers of its own family (docs/design.md §3, flow 5).
alter table model add column family text,
    add constraint model_family_check check (family is null or family ~ '^[A-Za-z0-9._-]{1,64}$');
