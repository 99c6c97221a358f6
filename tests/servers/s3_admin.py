"""Administering the test S3 server from a test, with boto3 (the test venv's python):

    s3_admin.py mb BUCKET                 create a bucket
    s3_admin.py put s3://B/KEY FILE|-     upload a file (- : stdin)
    s3_admin.py get s3://B/KEY [FILE|-]   download (default: stdout)
    s3_admin.py ls s3://B/PREFIX          one "KEY<TAB>SIZE" line per object
    s3_admin.py rm s3://B/KEY             delete an object
    s3_admin.py uploads s3://B/KEY        one line per open multipart upload id of KEY
    s3_admin.py parts s3://B/KEY ID       one "NUMBER<TAB>SIZE<TAB>ETAG" line per part

The endpoint and credentials come from the environment: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY (tests/py/s3_fixtures.py sets them). oss:// paths are accepted as s3://.
A missing object exits 3 with "NoSuchKey" on stderr; other failures exit 1.
"""
import os
import sys

import boto3
import botocore.exceptions


def split(url):
    for scheme in ("s3://", "oss://"):
        if url.startswith(scheme):
            bucket, _, key = url[len(scheme):].partition("/")
            return bucket, key
    sys.exit(f"s3_admin: not an s3:// or oss:// path: {url}")


def main(argv):
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                      region_name=os.environ.get("AWS_REGION", "us-east-1"))
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "mb":
            s3.create_bucket(Bucket=args[0])
        elif cmd == "put":
            b, k = split(args[0])
            data = sys.stdin.buffer.read() if args[1] == "-" else open(args[1], "rb").read()
            s3.put_object(Bucket=b, Key=k, Body=data)
        elif cmd == "get":
            b, k = split(args[0])
            data = s3.get_object(Bucket=b, Key=k)["Body"].read()
            if len(args) < 2 or args[1] == "-":
                sys.stdout.buffer.write(data)
            else:
                open(args[1], "wb").write(data)
        elif cmd == "ls":
            b, k = split(args[0])
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix=k):
                for o in page.get("Contents", []):
                    print(f"{o['Key']}\t{o['Size']}")
        elif cmd == "rm":
            b, k = split(args[0])
            s3.delete_object(Bucket=b, Key=k)
        elif cmd == "uploads":
            b, k = split(args[0])
            for u in s3.list_multipart_uploads(Bucket=b, Prefix=k).get("Uploads", []):
                if u["Key"] == k:
                    print(u["UploadId"])
        elif cmd == "parts":
            b, k = split(args[0])
            for p in s3.list_parts(Bucket=b, Key=k, UploadId=args[1]).get("Parts", []):
                print(f"{p['PartNumber']}\t{p['Size']}\t{p['ETag']}")
        else:
            sys.exit(f"s3_admin: unknown command {cmd}")
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        print(f"s3_admin {cmd}: {code}: {e}", file=sys.stderr)
        sys.exit(3 if code in ("NoSuchKey", "404") else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
