/* The state store backends (store.h). */
#include "store.h"

const struct dsb_store_backend dsb_store_sqlite = {
    "sqlite", &dsb_sessions_sqlite_ops, &dsb_jstore_sqlite_ops};

const struct dsb_store_backend dsb_store_pg = {
    "postgresql", &dsb_sessions_pg_ops, &dsb_jstore_pg_ops};
