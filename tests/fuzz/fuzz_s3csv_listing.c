/* S3 ListObjectsV2 answers (XML pages, see fake_aws.h) through the listing
 * and the layout of schemas and tables.  The first byte picks the call. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "fake_aws.h"
#include "fuzz.h"
#include "s3csv.h"

static void fz_tables(const struct s3csv_inst *in, const char *schema)
{
    struct s3csv_tables ts = {0};
    struct dsb_error err;

    if (s3csv_tables_of(in, &in->roots[0], schema, &ts, &err) == 0)
        for (size_t i = 0; i < ts.n; i++) {
            size_t cursor = 0;
            while (s3csv_table_next_part(&ts.v[i], &cursor))
                ;
        }
    s3csv_tables_free(&ts);
}

static void fz_run(const struct s3csv_inst *in, int mode)
{
    struct s3csv_listing l;
    struct dsb_error err;
    json_t *names = NULL;

    if (mode < 2) {
        if (s3csv_list(in, &in->roots[0], "", mode, &l, &err) == 0)
            s3csv_listing_free(&l);
    } else if (mode == 2) {
        if (s3csv_schemas(in, &in->roots[0], &names, &err) == 0)
            json_decref(names);
    } else {
        fz_tables(in, mode == 3 ? "" : "sales");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3csv_inst in = {.host = &fa_host};
    json_t *roots = json_pack("[s]", "s3://bucket/raw/");
    struct dsb_error err;

    if (size < 1 || !roots)
        goto done;
    fa_set(data + 1, size - 1);
    if (s3csv_roots_parse(&in, roots, &err) == 0)
        fz_run(&in, data[0] % 5);
    s3csv_roots_free(&in);
done:
    json_decref(roots);
    return 0;
}
