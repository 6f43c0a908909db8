#!/usr/bin/env python3
"""Writes the s3csv test tree (one source of truth for the local root and
the bucket the S3 tests upload).  Usage: make_data.py DIR

DIR/comma/   a root read with delimiter ","
  top.csv                         -> schema default, table top
  sales/orders.csv                -> every inferred type
  sales/customers.csv.gz          -> gzip
  sales/events/part-00000.csv ... -> a folder table of 1,500 parts
  sales/events/_SUCCESS           -> hidden (Spark's convention)
  sales/events/README.txt         -> not a part (ignored, reported)
  quirks/...                      -> BOM, quoting, CRLF, empty, header only,
                                     duplicate names, widening, name clash,
                                     parts with different headers
DIR/semi/    a root read with delimiter ";"
  eu/...                          -> quoted delimiters, decimal commas
  void/                           -> an empty schema folder (in S3: only
                                     the folder marker "void/")
  done/_SUCCESS                   -> a schema folder with only a hidden file
"""
import gzip
import os
import sys

PARTS = 1500


def put(root, rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def comma(root):
    put(root, "top.csv", "k,v\na,1\nb,2\n")
    put(root, "sales/orders.csv",
        "order_id,customer,amount,placed_on,updated_at,paid,big,ratio,zip\n"
        "1,Ann,12.50,2024-01-31,2024-01-31 10:00:00,true,3000000000,1e3,00123\n"
        "2,\"Bob, Jr.\",7.125,2024-02-29,2024-02-29T23:59:59.123Z,FALSE,"
        "-3000000000,0.5,10001\n"
        "3,,100,2023-12-01,2023-12-01 00:00:00+02:00,,4,NaN,99999\n")
    put(root, "sales/customers.csv.gz", gzip.compress(
        b"id,name,since\n1,Ann,2020-05-01\n2,Bob,2021-07-15\n", mtime=0))
    for i in range(PARTS):
        put(root, "sales/events/part-%05d.csv" % i,
            "event_id,kind\n%d,click\n%d,view\n" % (2 * i, 2 * i + 1))
    put(root, "sales/events/_SUCCESS", "")
    put(root, "sales/events/README.txt", "not data\n")
    put(root, "quirks/bom.csv",
        b"\xef\xbb\xbf\"Full Name\",\"Age (years)\",\"say \"\"hi\"\"\"\n"
        b"\"Smith, Ann\",41,\"a \"\"quoted\"\" word\"\n")
    put(root, "quirks/crlf.csv",
        "id,comment\r\n1,\"two\r\nlines\"\r\n2,plain\r\n")
    put(root, "quirks/empty.csv", "")
    put(root, "quirks/header_only.csv", "a,b,c\n")
    put(root, "quirks/dupes.csv", "id,name,,Name,name\n1,a,b,c,d\n")
    put(root, "quirks/mixed.csv",
        "i_l,i_dec,dec_dbl,d_ts,i_s,nulls,lead0,ragged\n"
        "1,1,1.5,2024-01-01,1,,01,x\n"
        "5000000000,2.25,2e5,2024-01-01T10:00:00,abc,,02\n")
    put(root, "quirks/Dup.csv", "a\n1\n")
    put(root, "quirks/dup.csv.gz", gzip.compress(b"b\n2\n", mtime=0))
    put(root, "quirks/bad_parts/p1.csv", "a,b\n1,2\n")
    put(root, "quirks/bad_parts/p2.csv", "a,c\n1,2\n")


def semi(root):
    put(root, "eu/prices.csv",
        "product;price;\"note; with semicolon\"\n"
        "tea;3,50;\"a;b\"\ncoffee;4,00;plain\n")
    put(root, "eu/plain.csv", "x;y\n1;2\n")
    os.makedirs(os.path.join(root, "void"), exist_ok=True)
    put(root, "done/_SUCCESS", "")


def main():
    base = sys.argv[1]
    comma(os.path.join(base, "comma"))
    semi(os.path.join(base, "semi"))


if __name__ == "__main__":
    main()
