-- Step 2 of the job store's migrations (state_dir/dsbroker.db): job
-- leases (docs/jobs.md, "Replicas and leases").  owner is the replica
-- (state.replica_id) that tracks the job, lease_ms until when (wall clock,
-- ms) its lease holds unless renewed, cancel_req a cancel asked on a
-- replica that does not own the job, for its owner to carry out.  A
-- change is a new step, never an edit of this one.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancel_req INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_owner ON jobs(owner);
