"""botocore as a pod would run it: the default credential chain finds corridor through the
instance-metadata provider (AWS_EC2_METADATA_SERVICE_ENDPOINT points at the agent), then calls
sts get-caller-identity. Prints one JSON line.

--source-ip binds the client's sockets to a 127.0.0.x address so the agent sees a given pod.
--rounds N and --interval S keep one RefreshableCredentials object alive and call STS N times,
recording each access key id, to follow credential rollovers.
"""
import argparse
import json
import sys
import time

import urllib3.util.connection as urllib3_connection

parser = argparse.ArgumentParser()
parser.add_argument("--source-ip", required=True)
parser.add_argument("--sts-endpoint", required=True)
parser.add_argument("--rounds", type=int, default=1)
parser.add_argument("--interval", type=float, default=0)
args = parser.parse_args()

original_create_connection = urllib3_connection.create_connection


def create_connection_from_pod(address, *rest, **kwargs):
    # Only metadata traffic is bound to the pod address; STS calls go out normally.
    kwargs["source_address"] = (args.source_ip, 0) if address[1] != int(args.sts_endpoint.rsplit(":", 1)[1]) else None
    return original_create_connection(address, *rest, **kwargs)


urllib3_connection.create_connection = create_connection_from_pod

import boto3  # noqa: E402  (after the patch, so every connection goes through it)
import botocore  # noqa: E402

session = boto3.session.Session(region_name="us-east-1")
credentials = session.get_credentials()
if credentials is None:
    print(json.dumps({"error": "no credentials found"}))
    sys.exit(1)
sts = session.client("sts", endpoint_url=args.sts_endpoint)
rounds = []
failures = 0
for i in range(args.rounds):
    try:
        identity = sts.get_caller_identity()
        frozen = credentials.get_frozen_credentials()
        rounds.append({"arn": identity["Arn"], "key": frozen.access_key})
    except Exception as error:  # a failed call during a rollover is exactly what we look for
        failures += 1
        rounds.append({"error": str(error)})
    if i + 1 < args.rounds:
        time.sleep(args.interval)
print(json.dumps({
    "method": credentials.method,
    "botocore": botocore.__version__,
    "rounds": rounds,
    "failures": failures,
}))
