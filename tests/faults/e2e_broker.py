"""A broker on real servers, as the end-to-end scripts use it (tests/mcp
agent.py, tests/ui): PostgreSQL (tests/scripts/postgres.sh: the fixture
cluster), a Glue catalog on moto_server (tests/scripts/moto.sh), a CSV file
(s3csv) and local Spark (PySpark in the venv); a job joining a PostgreSQL
and a CSV table and its exact expected rows."""
import os

import faultlib as fl

HEAD = ("import os\nfrom pyspark.sql import SparkSession, functions as F\n"
        "spark = SparkSession.builder.getOrCreate()\n")
TAIL = ("\nitems, regions = {items}, {regions}\n"
        "out = (items.join(regions, items['plain_col'] == regions['id'])\n"
        "        .groupBy('region')\n"
        "        .agg(F.count('*').alias('n'), F.sum(items['`Id`']).alias('ids'))\n"
        "        .orderBy('region'))\n"
        "out.coalesce(1).write.csv(os.environ['DSB_OUTPUT'], header=True)\n"
        "spark.stop()\n")
EXPECTED = {"columns": ["region", "n", "ids"],
            "rows": [["north", "3", "8"], ["south", "1", "2"]]}
REGIONS = "id,region\n10,north\n20,south\n30000,north\n99,west\n"


def seed_glue(moto):
    """The Glue database mcpdb with its table events, on moto."""
    import boto3
    glue = boto3.client("glue", endpoint_url=moto["DSB_TEST_MOTO_URL"],
                        region_name="us-east-1", aws_access_key_id="AKIAMCP",
                        aws_secret_access_key="x")
    try:
        glue.create_database(DatabaseInput={"Name": "mcpdb"})
        glue.create_table(DatabaseName="mcpdb", TableInput={
            "Name": "events", "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "bigint"}],
                "Location": "s3://mcp-bucket/events/"}})
    except glue.exceptions.AlreadyExistsException:
        pass


def conf(work, pg, moto, auth_yaml):
    """conf.d files of the broker: auth_yaml (the auth: section), the
    Glue endpoint on moto, a local-spark executor; sources pg (the
    fixture cluster's dsb database), csv (REGIONS under WORK/e2edata) and
    lake (Glue)."""
    data = os.path.join(work, "e2edata", "geo")
    os.makedirs(data)
    with open(os.path.join(data, "regions.csv"), "w") as f:
        f.write(REGIONS)
    with open(pg["DSB_TEST_PG_PASSWORD_FILE"]) as f:
        fl.register_canary(f.read().strip())
    extra = (auth_yaml + f"aws:\n  endpoint_url: {moto['DSB_TEST_MOTO_URL']}\n"
             "  region: us-east-1\n")
    yaml = fl.broker_yaml(os.path.join(work, "state"), extra).replace(
        "    s3a: true\n", "    conf: {spark.sql.shuffle.partitions: \"2\"}\n")
    return {
        "broker.yaml": yaml,
        "pg.yaml": f"name: pg\nplugin: postgres\nnetwork: aurora-vpc\n"
                   f"host: 127.0.0.1\nport: {pg['PGPORT']}\ndbname: dsb\n"
                   f"user: {pg['PGUSER']}\n"
                   f"password: file:{pg['DSB_TEST_PG_PASSWORD_FILE']}\n"
                   "include_databases: [dsb]\nsslmode: disable\n",
        "csv.yaml": "name: csv\nplugin: s3csv\nnetwork: local\nroots: "
                    f"[\"file:{work}/e2edata/\"]\n",
        "lake.yaml": "name: lake\nplugin: glue\nnetwork: public\n"
                     "region: us-east-1\n",
    }
