/* AWS error codes into dsb_error: code, retryable, upstream, hint. */
#include "aws/errors.h"

#include <stdio.h>
#include <string.h>

#include <expat.h>
#include <jansson.h>

/* ------------------------------------------------------------ parsing */

struct xml_state {
    int depth_in_error; /* >0 while inside <Error> */
    int field;          /* 1 Code, 2 Message, 3 RequestId */
    int in_request_id;
    char *code, *message, *request_id;
    size_t n_code, n_message, n_request_id;
};

static void append(char *dst, size_t cap, const char *s, int len)
{
    size_t used = strlen(dst), n = (size_t)len;

    if (used + 1 >= cap)
        return;
    if (n > cap - used - 1)
        n = cap - used - 1;
    memcpy(dst + used, s, n);
    dst[used + n] = '\0';
}

static void XMLCALL xml_start(void *ud, const XML_Char *name,
                              const XML_Char **attrs)
{
    struct xml_state *x = ud;

    (void)attrs;
    if (strcmp(name, "Error") == 0)
        x->depth_in_error = 1;
    if (x->depth_in_error && strcmp(name, "Code") == 0)
        x->field = 1;
    else if (x->depth_in_error && strcmp(name, "Message") == 0)
        x->field = 2;
    else if (strcmp(name, "RequestId") == 0)
        x->field = 3;
    else
        x->field = 0;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    struct xml_state *x = ud;

    if (strcmp(name, "Error") == 0)
        x->depth_in_error = 0;
    x->field = 0;
}

static void XMLCALL xml_text(void *ud, const XML_Char *s, int len)
{
    struct xml_state *x = ud;

    if (x->field == 1)
        append(x->code, x->n_code, s, len);
    else if (x->field == 2)
        append(x->message, x->n_message, s, len);
    else if (x->field == 3 && x->request_id)
        append(x->request_id, x->n_request_id, s, len);
}

static void parse_xml(const char *body, size_t len, char code[64],
                      char message[512], char request_id[128])
{
    struct xml_state x = {0, 0, 0, code, message, request_id, 64, 512, 128};
    XML_Parser p = XML_ParserCreate(NULL);

    if (!p)
        return;
    if (request_id[0])
        x.request_id = NULL; /* keep the header's */
    XML_SetUserData(p, &x);
    XML_SetElementHandler(p, xml_start, xml_end);
    XML_SetCharacterDataHandler(p, xml_text);
    XML_Parse(p, body, (int)len, 1); /* partial results are still useful */
    XML_ParserFree(p);
}

static const char *json_str(json_t *j, const char *a, const char *b)
{
    const char *v = json_string_value(json_object_get(j, a));

    return v ? v : json_string_value(json_object_get(j, b));
}

static void parse_json(const char *body, size_t len, char code[64],
                       char message[512])
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *c, *m, *hash;

    if (!json_is_object(j))
        goto fail;
    c = json_str(j, "__type", "code");
    if (!c)
        c = json_string_value(json_object_get(j, "Code"));
    m = json_str(j, "message", "Message");
    if (!m)
        m = json_string_value(json_object_get(j, "errorMessage"));
    if (c) {
        hash = strrchr(c, '#');
        snprintf(code, 64, "%s", hash ? hash + 1 : c);
        code[strcspn(code, ":")] = '\0';
    }
    if (m)
        snprintf(message, 512, "%s", m);
fail:
    json_decref(j);
}

void dsb_aws_error_parse(const char *body, size_t len, const char *errtype,
                         char code[64], char message[512], char request_id[128])
{
    size_t i = 0;

    code[0] = message[0] = '\0';
    while (body && i < len &&
           (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' ||
            body[i] == '\t'))
        i++;
    if (body && i < len && body[i] == '{')
        parse_json(body + i, len - i, code, message);
    else if (body && i < len && body[i] == '<')
        parse_xml(body + i, len - i, code, message, request_id);
    if (!code[0] && errtype && *errtype)
        snprintf(code, 64, "%.*s", (int)strcspn(errtype, ":"), errtype);
    message[strcspn(message, "\r\n")] = '\0';
}

/* ---------------------------------------------------- classification */

static int in_list(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return 1;
    return 0;
}

static const char *const throttling_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    NULL};
static const char *const transient_codes[] = {"RequestTimeout",
                                              "RequestTimeoutException",
                                              "InternalError",
                                              "InternalFailure",
                                              "InternalServerError",
                                              "InternalServiceError",
                                              "InternalServiceException",
                                              "ServiceUnavailable",
                                              NULL};
static const char *const permission_codes[] = {"AccessDenied",
                                               "AccessDeniedException",
                                               "UnauthorizedOperation",
                                               "AuthorizationError",
                                               "AuthorizationErrorException",
                                               "AllAccessDisabled",
                                               "Forbidden",
                                               NULL};
static const char *const not_found_codes[] = {"ResourceNotFoundException",
                                              "NoSuchBucket",
                                              "NoSuchKey",
                                              "EntityNotFoundException",
                                              "NoSuchEntity",
                                              "NotFound",
                                              "NoSuchUpload",
                                              NULL};
static const char *const expired_codes[] = {
    "ExpiredToken", "ExpiredTokenException", "RequestExpired", NULL};
static const char *const auth_codes[] = {"UnrecognizedClientException",
                                         "InvalidClientTokenId",
                                         "InvalidAccessKeyId",
                                         "AuthFailure",
                                         "MissingAuthenticationToken",
                                         "MissingAuthenticationTokenException",
                                         "InvalidToken",
                                         NULL};
static const char *const signature_codes[] = {
    "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature",
    "IncompleteSignatureException", NULL};
static const char *const invalid_codes[] = {"ValidationException",
                                            "InvalidParameterException",
                                            "InvalidParameterValue",
                                            "InvalidParameterValueException",
                                            "InvalidRequestException",
                                            "InvalidInputException",
                                            "MalformedXML",
                                            "InvalidArgument",
                                            "InvalidBucketName",
                                            "SerializationException",
                                            NULL};
static const char *const conflict_codes[] = {"ConflictException",
                                             "ResourceExistsException",
                                             "AlreadyExistsException",
                                             "BucketAlreadyExists",
                                             "BucketAlreadyOwnedByYou",
                                             "ConcurrentModificationException",
                                             NULL};

int dsb_aws_is_throttling(const char *code)
{
    return code && in_list(code, throttling_codes);
}

int dsb_aws_should_retry(long status, const char *code)
{
    if (code &&
        (in_list(code, throttling_codes) || in_list(code, transient_codes)))
        return 1;
    return status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

/* ----------------------------------------------------------- mapping */

struct err_class {
    int code;
    int retryable;
    const char *hint;
};

static struct err_class classify_code(const char *c)
{
    struct err_class k = {0, 0, NULL};

    if (in_list(c, throttling_codes))
        k = (struct err_class){
            DSB_E_THROTTLED, 1,
            "AWS is throttling the "
            "broker's calls: retry later, or ask for a higher service quota"};
    else if (in_list(c, permission_codes))
        k = (struct err_class){
            DSB_E_PERMISSION, 0,
            "grant the broker's IAM "
            "identity the action named in the message (docs/aws.md lists the "
            "permissions the broker needs)"};
    else if (in_list(c, not_found_codes))
        k = (struct err_class){DSB_E_NOT_FOUND, 0,
                               "check the name or ARN, "
                               "the region and the endpoint the broker uses"};
    else if (in_list(c, expired_codes))
        k = (struct err_class){
            DSB_E_AUTH, 0,
            "the credentials' session token "
            "has expired: renew AWS_SESSION_TOKEN or the profile's "
            "aws_session_token (instance and container roles renew by themselves)"};
    else if (in_list(c, auth_codes))
        k = (struct err_class){
            DSB_E_AUTH, 0,
            "AWS does not know the access "
            "key id: check AWS_ACCESS_KEY_ID or the profile, and that the "
            "endpoint belongs to the key's partition"};
    else if (in_list(c, signature_codes))
        k = (struct err_class){
            DSB_E_AUTH, 0,
            "the secret access key does not "
            "match the access key id, or the machine's clock is off"};
    return k;
}

static struct err_class classify_more(const char *c, long status)
{
    struct err_class k = {0, 0, NULL};

    if (in_list(c, invalid_codes))
        k = (struct err_class){
            DSB_E_INVALID, 0,
            "AWS refused the request as "
            "invalid: check the names and ARNs in the source's configuration"};
    else if (in_list(c, conflict_codes))
        k = (struct err_class){
            DSB_E_CONFLICT, 0,
            "the resource is in a "
            "conflicting state: retry once the other change is done"};
    else if (strcmp(c, "RequestTimeout") == 0 ||
             strcmp(c, "RequestTimeoutException") == 0 || status == 504)
        k = (struct err_class){DSB_E_TIMEOUT, 1, "AWS timed out: retry later"};
    else if (status == 503 || strcmp(c, "ServiceUnavailable") == 0)
        k = (struct err_class){DSB_E_UNAVAILABLE, 1,
                               "the AWS service is "
                               "unavailable: retry later"};
    else if (status >= 500)
        k = (struct err_class){DSB_E_UPSTREAM, 1,
                               "AWS failed on its side: "
                               "retry later"};
    else if (status == 429)
        k = (struct err_class){DSB_E_THROTTLED, 1,
                               "AWS is throttling the "
                               "broker's calls: retry later"};
    else if (status == 403)
        k = (struct err_class){DSB_E_PERMISSION, 0,
                               "grant the broker's IAM "
                               "identity access to the resource (docs/aws.md)"};
    else if (status == 404)
        k = (struct err_class){DSB_E_NOT_FOUND, 0,
                               "check the name, the "
                               "region and the endpoint the broker uses"};
    else
        k = (struct err_class){DSB_E_UPSTREAM, 0, "see the AWS message"};
    return k;
}

int dsb_aws_error_map(long status, const char *code, const char *message,
                      const char *request_id, struct dsb_error *err)
{
    const char *c = code ? code : "";
    struct err_class k = classify_code(c);

    if (!k.code)
        k = classify_more(c, status);
    if (message && *message)
        dsb_error_set(err, k.code, "aws %s: %s", *c ? c : "error", message);
    else
        dsb_error_set(err, k.code, "aws %s (http %ld)", *c ? c : "error",
                      status);
    err->retryable = k.retryable;
    snprintf(err->upstream, sizeof(err->upstream), "%s", c);
    dsb_error_detail(err, "HTTP %ld%s%s%s%s", status, *c ? ", code " : "", c,
                     request_id && *request_id ? ", request id " : "",
                     request_id && *request_id ? request_id : "");
    dsb_error_hint(err, "%s", k.hint);
    return -1;
}
