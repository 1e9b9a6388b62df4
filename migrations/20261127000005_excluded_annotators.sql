-- Leaderboards subtract the votes of excluded annotators on every computation (and the arena's
-- sampler computes one per battle): find those few annotators without scanning every user.
create index app_user_excluded_idx on app_user (user_id) where excluded;
