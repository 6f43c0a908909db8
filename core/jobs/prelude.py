import json as _dsb_json, os as _dsb_os

def _dsb_secret(ref):
    """Value of a broker secret reference, resolved at run time."""
    known = _dsb_json.loads(_dsb_os.environ.get('DSB_SECRET_MAP', '{}'))
    if ref in known:
        return _dsb_os.environ[known[ref]]
    kind, _, rest = ref.partition(':')
    key = None
    if kind in ('file', 'aws-sm') and '#' in rest:
        rest, key = rest.split('#', 1)
    if kind == 'env':
        return _dsb_os.environ[rest]
    if kind == 'file':
        with open(rest, encoding='utf-8') as f:
            value = f.read()
        value = value[:-1] if value.endswith('\n') else value
    elif kind == 'aws-sm':
        import boto3
        value = boto3.client('secretsmanager').get_secret_value(
            SecretId=rest)['SecretString']
    else:
        raise ValueError('unknown secret reference kind ' + repr(kind))
    return str(_dsb_json.loads(value)[key]) if key else value
