#!/usr/bin/env python3
"""Creates the Glue test catalog in moto_server through the real Glue API.

Usage: glue_fixture.py SERVICES_DIR
  SERVICES_DIR/moto.env gives DSB_TEST_MOTO_URL (tests/scripts/moto.sh).
Databases (prefixed dsbg_ so parallel suites sharing moto do not clash):
  dsbg_sales   one table per storage format, a view, complex types,
               partition keys
  dsbg_big     260 tables (more than two Glue pages of 100)
  dsbg_hr      one table
  dsbg_tmp_x   hidden by the test's exclude pattern
Dummy credentials, region us-east-1, loopback only.
"""
import os
import sys

import boto3

HIVE = "org.apache.hadoop.hive"
FORMATS = {
    "csv": (HIVE + ".ql.io.HiveIgnoreKeyTextOutputFormat",
            "org.apache.hadoop.mapred.TextInputFormat",
            "org.apache.hadoop.hive.serde2.OpenCSVSerde"),
    "parquet": (HIVE + ".ql.io.parquet.MapredParquetOutputFormat",
                HIVE + ".ql.io.parquet.MapredParquetInputFormat",
                HIVE + ".ql.io.parquet.serde.ParquetHiveSerDe"),
    "orc": (HIVE + ".ql.io.orc.OrcOutputFormat",
            HIVE + ".ql.io.orc.OrcInputFormat", HIVE + ".ql.io.orc.OrcSerde"),
    "json": (HIVE + ".ql.io.HiveIgnoreKeyTextOutputFormat",
             "org.apache.hadoop.mapred.TextInputFormat",
             "org.openx.data.jsonserde.JsonSerDe"),
    "avro": (HIVE + ".ql.io.avro.AvroContainerOutputFormat",
             HIVE + ".ql.io.avro.AvroContainerInputFormat",
             HIVE + ".serde2.avro.AvroSerDe"),
    "text": (HIVE + ".ql.io.HiveIgnoreKeyTextOutputFormat",
             "org.apache.hadoop.mapred.TextInputFormat",
             HIVE + ".serde2.lazy.LazySimpleSerDe"),
}


def moto_url(services):
    with open(os.path.join(services, "moto.env")) as f:
        for line in f:
            if line.startswith("DSB_TEST_MOTO_URL="):
                return line.split("=", 1)[1].strip()
    raise SystemExit("moto.env has no DSB_TEST_MOTO_URL")


def table(name, fmt, cols, location, parts=(), params=None, serde=None,
          ttype="EXTERNAL_TABLE", desc=None):
    out_f, in_f, lib = FORMATS[fmt]
    t = {"Name": name, "TableType": ttype,
         "Parameters": params or {},
         "PartitionKeys": [{"Name": n, "Type": ty} for n, ty in parts],
         "StorageDescriptor": {
             "Columns": [{"Name": n, "Type": ty, "Comment": "the " + n}
                         for n, ty in cols],
             "Location": location, "InputFormat": in_f,
             "OutputFormat": out_f,
             "SerdeInfo": {"SerializationLibrary": lib,
                           "Parameters": serde or {}}}}
    if desc:
        t["Description"] = desc
    return t


def sales_tables():
    loc = "s3://dsb-glue/sales/"
    return [
        table("orders", "csv",
              [("order_id", "bigint"), ("amount", "decimal(10,2)"),
               ("placed", "date"), ("tags", "array<string>"),
               ("attrs", "map<string,int>"),
               ("addr", "struct<city:string,zip:varchar(10)>")],
              loc + "orders/", parts=[("dt", "string"), ("region", "int")],
              params={"skip.header.line.count": "1", "classification": "csv",
                      "numRows": "1200", "totalSize": "56000"},
              serde={"separatorChar": ";", "quoteChar": "'"},
              desc="orders by day"),
        table("events", "parquet", [("id", "bigint"), ("ts", "timestamp"),
                                    ("payload", "binary")], loc + "events/"),
        table("clicks", "orc", [("id", "int"), ("ratio", "float")],
              loc + "clicks/"),
        table("logs", "json", [("msg", "string"), ("lvl", "tinyint")],
              loc + "logs/"),
        table("users", "avro", [("id", "smallint"), ("ok", "boolean")],
              loc + "users/"),
        table("lines", "text", [("a", "string"), ("b", "char(3)")],
              loc + "lines/", serde={"field.delim": "\t"}),
        table("ice", "parquet", [("id", "bigint")], loc + "ice/",
              params={"table_type": "ICEBERG"}),
        table("weird", "parquet", [("u", "uniontype<int,string>")],
              loc + "weird/"),
        table("v_orders", "csv", [("order_id", "bigint")], "",
              ttype="VIRTUAL_VIEW"),
    ]


def main():
    glue = boto3.client("glue", endpoint_url=moto_url(sys.argv[1]),
                        region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
    dbs = {"dsbg_sales": sales_tables(),
           "dsbg_big": [table("t%03d" % i, "parquet", [("id", "bigint")],
                              "s3://dsb-glue/big/t%03d/" % i)
                        for i in range(260)],
           "dsbg_hr": [table("staff", "parquet", [("id", "int")],
                             "s3://dsb-glue/hr/staff/")],
           "dsbg_tmp_x": [table("junk", "parquet", [("id", "int")],
                                "s3://dsb-glue/tmp/junk/")]}
    for db, tables in dbs.items():
        try:
            glue.delete_database(Name=db)
        except glue.exceptions.EntityNotFoundException:
            pass
        glue.create_database(DatabaseInput={"Name": db,
                                            "Description": "test " + db})
        for t in tables:
            if t["TableType"] == "VIRTUAL_VIEW":
                t["ViewOriginalText"] = "SELECT order_id FROM orders"
            glue.create_table(DatabaseName=db, TableInput=t)
        print("glue_fixture: %s with %d tables" % (db, len(tables)))


if __name__ == "__main__":
    main()
