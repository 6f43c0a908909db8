-- The session store's tables in state_dir/dsbroker.db: step 1 of its
-- versioned migrations (core/statedb.h).  IF NOT EXISTS, so that a store
-- from before versions is taken as it is.  A change is a new step, never
-- an edit of this one.
CREATE TABLE IF NOT EXISTS dsb_sessions (
    id TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    touched_ms INTEGER NOT NULL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS dsb_sessions_touched
    ON dsb_sessions(touched_ms);
CREATE TABLE IF NOT EXISTS dsb_selections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES dsb_sessions(id)
        ON DELETE CASCADE,
    source TEXT NOT NULL, db TEXT NOT NULL, schema_name TEXT NOT NULL,
    tbl TEXT NOT NULL, selected_ms INTEGER NOT NULL,
    UNIQUE (session_id, source, db, schema_name, tbl)
);
