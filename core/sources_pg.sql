-- What replicas on PostgreSQL share besides sessions and jobs (store
-- "sources"): the managed sources' conf.d documents and the secret values
-- their store: references name.  Step 1 of this store's migrations; a
-- change is a new step, never an edit of this one.  dsb_secret_values
-- holds secret values: protect this database as state_dir/secrets.
CREATE TABLE IF NOT EXISTS dsb_managed_sources (
    name TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    etag TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dsb_secret_values (
    id TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
