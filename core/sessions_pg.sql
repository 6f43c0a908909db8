-- The session store's tables on PostgreSQL (state.store: postgresql):
-- step 1 of its versioned migrations, the same schema as sessions.sql.
-- A change is a new step, never an edit of this one.
CREATE TABLE IF NOT EXISTS dsb_sessions (
    id TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    touched_ms BIGINT NOT NULL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS dsb_sessions_touched
    ON dsb_sessions(touched_ms);
CREATE TABLE IF NOT EXISTS dsb_selections (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES dsb_sessions(id)
        ON DELETE CASCADE,
    source TEXT NOT NULL, db TEXT NOT NULL, schema_name TEXT NOT NULL,
    tbl TEXT NOT NULL, selected_ms BIGINT NOT NULL,
    UNIQUE (session_id, source, db, schema_name, tbl)
);
