import json as _dsb_vjson, os as _dsb_vos

# Verifies the reads of a Spark context without reading rows (core/verify.h).
# Each table's snippet runs as rendered: a JDBC read resolves its schema with
# a zero-row query at load time, a file read checks that its path exists.
# A CSV read with a header ("probe": "header") also reads the header line
# (inferSchema off: names only); Parquet, ORC and Avro ("footer") their
# footers.  One JSON line per table is written to $DSB_OUTPUT:
# {"index": i, "result": "<JSON text>"} with result {"ok": true, "schema":
# [{"name", "type", "nullable"}], "resolved_by"} or {"ok": false, "error":
# {"kind", "class", "sqlstate", "condition", "message"}}.  Secret values
# never reach the output: every value the reads resolved is redacted.

_DSB_NOT_FOUND_SQLSTATES = ('42P01', '3F000', '3D000', '42S02', '42704')
_DSB_DENIED_SQLSTATES = ('42501', '28000', '28P01')
_DSB_NOT_FOUND_CONDITIONS = ('PATH_NOT_FOUND', 'TABLE_OR_VIEW_NOT_FOUND',
                             'SCHEMA_NOT_FOUND', 'DATABASE_NOT_FOUND')
_DSB_MESSAGE_MAX = 2000


def _dsb_vfields(schema):
    return [{'name': f.name, 'type': f.dataType.simpleString(),
             'nullable': bool(f.nullable)} for f in schema.fields]


def _dsb_vcall(obj, name):
    f = getattr(obj, name, None)
    try:
        return f() if f is not None else None
    except Exception:
        return None


def _dsb_vroot(e):
    """The Java throwable behind a Python exception, and its root cause."""
    java = getattr(e, 'java_exception', None) or getattr(e, '_origin', None)
    root = java
    for _ in range(32):
        cause = _dsb_vcall(root, 'getCause') if root is not None else None
        if cause is None or cause.equals(root):
            break
        root = cause
    return java, root


def _dsb_vsqlstate(java):
    t = java
    for _ in range(32):
        if t is None:
            return None
        state = _dsb_vcall(t, 'getSQLState')
        if state:
            return str(state)
        t = _dsb_vcall(t, 'getCause')
    return None


def _dsb_vredact(text, secrets):
    for s in secrets:
        if s:
            text = text.replace(s, '[redacted]')
    return text


def _dsb_verror(e, secrets):
    java, root = _dsb_vroot(e)
    cls = type(e).__name__
    msg = str(e)
    if root is not None:
        cls = str(_dsb_vcall(_dsb_vcall(root, 'getClass'), 'getName') or cls)
        msg = str(_dsb_vcall(root, 'getMessage') or msg)
    cond = _dsb_vcall(e, 'getCondition') or _dsb_vcall(e, 'getErrorClass')
    state = _dsb_vsqlstate(java) or _dsb_vcall(e, 'getSqlState')
    kind = 'error'
    if state in _DSB_NOT_FOUND_SQLSTATES or cond in _DSB_NOT_FOUND_CONDITIONS \
            or cls.endswith('FileNotFoundException') \
            or cls.endswith('NoSuchTableException'):
        kind = 'not_found'
    elif state in _DSB_DENIED_SQLSTATES or cls.endswith('AccessDeniedException'):
        kind = 'denied'
    msg = _dsb_vredact(msg, secrets).strip()
    if len(msg) > _DSB_MESSAGE_MAX:
        msg = msg[:_DSB_MESSAGE_MAX] + '...'
    return {'kind': kind, 'class': _dsb_vredact(cls, secrets),
            'sqlstate': state, 'condition': cond, 'message': msg}


def _dsb_vprobe(spark, t, secret):
    """The schema the files declare themselves (header or footers)."""
    r = spark.read.format(t['format'])
    for k, v in sorted((t.get('options') or {}).items()):
        r = r.option(k, v)
    for k, ref in sorted((t.get('secret_options') or {}).items()):
        r = r.option(k, secret(ref))
    if t['probe'] == 'header':
        r = r.option('inferSchema', 'false')
    return r.load(t['path']).schema


def _dsb_vone(spark, t, secret, secrets):
    ns = {'spark': spark, '_dsb_secret': secret}
    try:
        exec(t['snippet'], ns)
        out = {'ok': True, 'schema': _dsb_vfields(ns[t['variable']].schema),
               'resolved_by': 'read'}
        if t.get('probe'):
            out['schema'] = _dsb_vfields(_dsb_vprobe(spark, t, secret))
            out['resolved_by'] = t['probe']
        return out
    except Exception as e:  # every failure is the table's result
        return {'ok': False, 'error': _dsb_verror(e, secrets)}


def _dsb_verify(tables):
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.appName('dsbroker verify').getOrCreate()
    known = _dsb_vjson.loads(_dsb_vos.environ.get('DSB_SECRET_MAP', '{}'))
    secrets = [_dsb_vos.environ.get(v, '') for v in known.values()]

    def secret(ref):
        value = _dsb_secret(ref)
        secrets.append(value)
        return value

    rows = [(i, _dsb_vjson.dumps(_dsb_vone(spark, t, secret, secrets)))
            for i, t in enumerate(tables)]
    (spark.createDataFrame(rows, 'index int, result string').coalesce(1)
     .write.json(_dsb_vos.environ['DSB_OUTPUT']))
    spark.stop()
