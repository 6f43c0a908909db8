/* Hive -> Spark types and storage formats, on strings and JSON. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"

static void spark(const char *hive, const char *want)
{
    char *got = glue_spark_type(hive);

    if (!want)
        cr_assert_null(got, "%s parsed as %s", hive, got);
    else
        cr_assert(got && !strcmp(got, want), "%s: %s, not %s", hive,
                  got ? got : "(null)", want);
    free(got);
}

Test(glue_types, primitives)
{
    spark("string", "string");
    spark("INT", "int");
    spark("integer", "int");
    spark("bigint", "bigint");
    spark("tinyint", "tinyint");
    spark("smallint", "smallint");
    spark("float", "float");
    spark("double", "double");
    spark("boolean", "boolean");
    spark("binary", "binary");
    spark("date", "date");
    spark("timestamp", "timestamp");
    spark("varchar(255)", "string");
    spark("char(3)", "string");
    spark("decimal", "decimal(10,0)");
    spark("decimal(12)", "decimal(12,0)");
    spark("decimal( 38 , 10 )", "decimal(38,10)");
    spark("decimal(39,1)", NULL);
    spark("decimal(5,6)", NULL);
    spark("uniontype<int,string>", NULL);
    spark("interval", NULL);
    spark("", NULL);
    spark(NULL, NULL);
}

Test(glue_types, complex)
{
    spark("array<string>", "array<string>");
    spark("map<string,array<int>>", "map<string,array<int>>");
    spark("struct<a:int,b:varchar(3)>", "struct<a:int,b:string>");
    spark("array<struct<x:decimal(5,2), y : map<string,bigint>>>",
          "array<struct<x:decimal(5,2),y:map<string,bigint>>>");
    spark("struct<`odd name`:int,ok_1:string>",
          "struct<`odd name`:int,ok_1:string>");
    spark("struct<odd-name:int>", "struct<`odd-name`:int>");
    spark("array<string", NULL);
    spark("array<string>>", NULL);
    spark("map<string>", NULL);
    spark("struct<a>", NULL);
}

static const char *fmt(const char *json)
{
    static char buf[32];
    json_t *t = json_loads(json, 0, NULL);

    cr_assert_not_null(t, "%s", json);
    snprintf(buf, sizeof(buf), "%s", glue_format(t));
    json_decref(t);
    return buf;
}

#define SD(in, lib)                                                            \
    "\"StorageDescriptor\": {\"InputFormat\": \"" in "\", \"SerdeInfo\": "     \
    "{\"SerializationLibrary\": \"" lib "\"}}"

Test(glue_types, formats)
{
    cr_assert_str_eq(
        fmt("{" SD("org.apache.hadoop.mapred.TextInputFormat",
                   "org.apache.hadoop.hive.serde2.OpenCSVSerde") "}"),
        "csv");
    cr_assert_str_eq(fmt("{" SD("x.MapredParquetInputFormat", "y") "}"),
                     "parquet");
    cr_assert_str_eq(fmt("{" SD("x.OrcInputFormat", "x.OrcSerde") "}"), "orc");
    cr_assert_str_eq(fmt("{" SD("org.apache.hadoop.mapred.TextInputFormat",
                                "org.openx.data.jsonserde.JsonSerDe") "}"),
                     "json");
    cr_assert_str_eq(fmt("{" SD("x.AvroContainerInputFormat", "x") "}"),
                     "avro");
    cr_assert_str_eq(fmt("{\"Parameters\": {\"table_type\": \"iceberg\"}, " SD(
                         "x.MapredParquetInputFormat", "y") "}"),
                     "iceberg");
    cr_assert_str_eq(fmt("{\"Parameters\": {\"classification\": \"json\"}, " SD(
                         "a", "b") "}"),
                     "json");
    cr_assert_str_eq(fmt("{\"TableType\": \"VIRTUAL_VIEW\"}"), "view");
    cr_assert_str_eq(fmt("{" SD("a", "b") "}"), "unknown");
    cr_assert_str_eq(fmt("{}"), "unknown");
}

Test(glue_types, quoted_names_round_trip)
{
    spark("struct<a`b:int>", "struct<`a``b`:int>");
    spark("struct<`a``b`:int>", "struct<`a``b`:int>");
    spark("struct<`unterminated:int>", NULL);
}
