/* Secret values given in requests (POST /v1/sources), kept where
 * broker.yaml's secrets.store says: a new Secrets Manager secret, or a
 * 0600 file under state_dir/secrets.  Only the reference is returned: it is
 * what a managed conf.d file holds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/aws.h"
#include "log.h"
#include "secrets.h"
#include "util.h"

static int put_aws(struct dsb_aws *aws, const char *name, const char *value,
                   char **ref, struct dsb_error *err)
{
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "Name", name, "SecretString", value,
                  "Description", "created by dsbroker for a managed source");
    json_t *out = NULL;
    const char *arn;
    int rc = -1;

    if (body &&
        dsb_aws_call_json(aws, "secretsmanager", "secretsmanager.CreateSecret",
                          NULL, body, &out, err) == 0) {
        arn = json_string_value(json_object_get(out, "ARN"));
        *ref = arn ? dsb_asprintf("aws-sm:%s", arn) : NULL;
        rc = *ref ? 0
                  : dsb_error_set(err, DSB_E_UPSTREAM,
                                  "Secrets Manager created the secret "
                                  "without an ARN");
    }
    json_decref(body);
    json_decref(out);
    return rc;
}

static int put_file(const char *dir, const char *name, const char *value,
                    char **ref, struct dsb_error *err)
{
    char *path = dsb_path_join(dir, name);
    size_t len = strlen(value);
    int fd = -1, rc = -1;

    if (!path || (mkdir(dir, 0700) < 0 && errno != EEXIST))
        goto done;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, value, len) != (ssize_t)len || fsync(fd) < 0)
        goto done;
    *ref = dsb_asprintf("file:%s", path);
    rc = *ref ? 0 : -1;
done:
    if (rc < 0) {
        dsb_error_set(err, DSB_E_UNAVAILABLE, "the secret could not be stored");
        dsb_error_detail(err, "%s: %s", path ? path : dir, strerror(errno));
        if (fd >= 0)
            unlink(path);
    }
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

int dsb_secret_store_put(struct dsb_aws *aws, const char *dir,
                         const char *label, const char *value, char **ref,
                         struct dsb_error *err)
{
    char rnd[17], *name;
    int rc;

    *ref = NULL;
    dsb_redact_register(value);
    if (dsb_random_hex(rnd, 8) < 0)
        return dsb_error_set(err, DSB_E_INTERNAL, "no random bytes");
    name = dsb_asprintf(aws ? "dsbroker/%s-%s" : "%s-%s.secret", label, rnd);
    if (!name)
        return dsb_error_set(err, DSB_E_INTERNAL, "out of memory");
    rc = aws ? put_aws(aws, name, value, ref, err)
             : put_file(dir, name, value, ref, err);
    free(name);
    return rc;
}

/* Schedules a secret the store created for deletion (Secrets Manager's
 * recovery window: it can be restored for 7 days). */
static void drop_aws(struct dsb_aws *aws, const char *arn)
{
    json_t *body =
        json_pack("{s:s, s:i}", "SecretId", arn, "RecoveryWindowInDays", 7);
    json_t *out = NULL;
    struct dsb_error err;

    if (body &&
        dsb_aws_call_json(aws, "secretsmanager", "secretsmanager.DeleteSecret",
                          NULL, body, &out, &err) < 0)
        dsb_logf(DSB_LOG_WARN, "secrets",
                 "secret %s the broker stored could not be deleted: %s", arn,
                 err.message);
    json_decref(body);
    json_decref(out);
}

void dsb_secret_store_drop(struct dsb_aws *aws, const char *dir,
                           const char *ref)
{
    size_t n = strlen(dir);

    if (strncmp(ref, "file:", 5) == 0 && strncmp(ref + 5, dir, n) == 0 &&
        ref[5 + n] == '/' && !strchr(ref + 6 + n, '/'))
        unlink(ref + 5);
    else if (aws && strncmp(ref, "aws-sm:arn:", 11) == 0 &&
             strstr(ref, ":secret:dsbroker/") && !strchr(ref, '#'))
        drop_aws(aws, ref + 7);
}
