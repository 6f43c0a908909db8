-- The job store's table in state_dir/dsbroker.db: one row per job, the
-- whole record in doc (JSON): step 1 of its versioned migrations
-- (core/statedb.h).  IF NOT EXISTS, so that a store from before versions
-- is taken as it is.  A change is a new step, never an edit of this one.
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
-- Jobs waiting for a slot (docs/jobs.md, "Limits and the queue"): the
-- request the job will be started with, in arrival order (seq).  A row
-- exists exactly while the job's record is "pending" with "queued": true.
CREATE TABLE IF NOT EXISTS job_queue (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    code TEXT,
    entry_point TEXT
);
