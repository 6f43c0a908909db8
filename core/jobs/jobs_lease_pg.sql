-- Step 2 of the job store's migrations on PostgreSQL: job leases, as
-- jobs_lease.sql (owner, lease_ms on the database's clock, cancel_req).
-- A change is a new step, never an edit of this one.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancel_req BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX jobs_owner ON jobs(owner);
