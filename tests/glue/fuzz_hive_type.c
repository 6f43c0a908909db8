/* Fuzz harness: Hive type strings from the catalog to Spark DDL types. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "glue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *t;

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    t = glue_spark_type(s);
    /* a parsed type parses again to itself */
    if (t) {
        char *again = glue_spark_type(t);
        if (!again || strcmp(again, t))
            abort();
        free(again);
    }
    free(t);
    free(s);
    return 0;
}
