/* RDS-style secret JSON: the first line is the key, the rest the secret. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *nl, *value = NULL;
    struct dsb_error err;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        if (dsb_secret_select_key("aws-sm:fuzz", nl + 1, text, &value, &err) ==
            0) {
            dsb_redact_forget(value);
            dsb_secret_value_free(value);
        }
    }
    free(text);
    return 0;
}
