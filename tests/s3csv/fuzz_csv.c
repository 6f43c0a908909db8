/* Fuzz harness: the s3csv CSV reader and column inference.  The first byte
 * picks the dialect (delimiter, escape, encoding) and the cut flag; the rest
 * is the sample. */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "s3csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char delims[] = {',', ';', '\t', '|'};
    struct s3csv_dialect d = {',', '"', '"', 0};
    struct s3csv_records r;
    json_t *notes, *cols;

    if (size == 0)
        return 0;
    d.delim = delims[data[0] & 3];
    d.escape = (data[0] & 4) ? '\\' : '"';
    d.latin1 = (data[0] & 8) != 0;
    if (s3csv_csv_parse((const char *)data + 1, size - 1, &d, data[0] & 16,
                        (data[0] & 32) ? 2 : 100000, &r) == 0) {
        notes = json_array();
        cols = s3csv_infer_columns(&r, notes);
        if (cols && json_array_size(cols) != (r.n ? r.v[0].n : 0))
            abort();
        json_decref(cols);
        json_decref(notes);
    }
    s3csv_records_free(&r);
    return 0;
}
