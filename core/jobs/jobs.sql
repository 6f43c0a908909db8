-- The job store's table in state_dir/dsbroker.db: one row per job, the
-- whole record in doc (JSON).  Applied in one transaction whenever the
-- store opens (core/statedb.c), so every statement must be safe to run
-- again.
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    state TEXT NOT NULL,
    executor TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_session ON jobs(session_id, created_ms);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
