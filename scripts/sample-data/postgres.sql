-- Sample data for the embedded default's local PostgreSQL (scripts/run.sh).
-- psql variables: reader_password (the broker's role).
\set ON_ERROR_STOP on
SELECT 'CREATE DATABASE shop' WHERE NOT EXISTS
  (SELECT FROM pg_database WHERE datname = 'shop') \gexec
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dsb_reader') THEN
    CREATE ROLE dsb_reader LOGIN;
  END IF;
END $$;
ALTER ROLE dsb_reader PASSWORD :'reader_password';
\connect shop
CREATE SCHEMA IF NOT EXISTS sales;
DROP TABLE IF EXISTS sales."Order Items", sales.orders, sales."Customers";
CREATE TABLE sales."Customers" (
  id integer PRIMARY KEY,
  "Full Name" text NOT NULL,
  country char(2) NOT NULL,
  signed_up date NOT NULL
);
COMMENT ON TABLE sales."Customers" IS 'people who bought at least once';
CREATE TABLE sales.orders (
  id bigint PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES sales."Customers"(id),
  placed_at timestamptz NOT NULL,
  status text NOT NULL,
  total numeric(12,2) NOT NULL
);
CREATE TABLE sales."Order Items" (
  order_id bigint NOT NULL REFERENCES sales.orders(id),
  line smallint NOT NULL,
  sku text NOT NULL,
  quantity integer NOT NULL,
  unit_price numeric(10,2) NOT NULL,
  PRIMARY KEY (order_id, line)
);
INSERT INTO sales."Customers"
SELECT g, 'Customer ' || g, (ARRAY['DE','FR','US','JP'])[1 + g % 4],
       date '2024-01-01' + g
FROM generate_series(1, 200) g;
INSERT INTO sales.orders
SELECT g, 1 + g % 200, timestamptz '2025-01-01 00:00+00' + g * interval '37 minutes',
       (ARRAY['placed','shipped','delivered','returned'])[1 + g % 4],
       round((10 + (g * 7919) % 500)::numeric, 2)
FROM generate_series(1, 5000) g;
INSERT INTO sales."Order Items"
SELECT o, l, 'SKU-' || ((o * l) % 97), 1 + (o + l) % 5, round((1 + (o * 13 + l) % 90)::numeric, 2)
FROM generate_series(1, 5000) o, generate_series(1, 3) l;
ANALYZE;
GRANT USAGE ON SCHEMA sales TO dsb_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA sales TO dsb_reader;
