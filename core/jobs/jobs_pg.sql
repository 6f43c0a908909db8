-- The job store's tables on PostgreSQL (state.store: postgresql): step 1
-- of its versioned migrations, the same schema as jobs.sql.  A change is
-- a new step, never an edit of this one.
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    state TEXT NOT NULL,
    executor TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_session ON jobs(session_id, created_ms);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS job_queue (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    code TEXT,
    entry_point TEXT
);
