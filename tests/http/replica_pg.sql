-- The store-loss test's own cluster (tests/http/test_replica_sync.c,
-- loaded by tests/scripts/postgres.sh as the superuser): the broker's role
-- and its state database, nothing else.  psql variables: reader_password
-- (rotate_password is given too and not used).
CREATE ROLE dsb_reader LOGIN PASSWORD :'reader_password';
CREATE DATABASE dsb_state OWNER dsb_reader;
