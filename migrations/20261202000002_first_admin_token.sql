-- The first admin can be created in the browser with a one-time token that `verdict serve`
-- prints in its log while no admin exists (README, "Run it"). Only the token's SHA-256 is stored;
-- creating the admin deletes every token.
create table first_admin_token (
    token_hash bytea not null,
    created_at timestamptz not null default now(),
    constraint first_admin_token_pkey primary key (token_hash)
);
