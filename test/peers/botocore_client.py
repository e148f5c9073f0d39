"""botocore as a pod would run it: the default credential chain finds corridor through the
instance-metadata provider (AWS_EC2_METADATA_SERVICE_ENDPOINT points at the agent), then calls
sts get-caller-identity. Prints one JSON line.

--source-ip binds the client's metadata sockets to a 127.0.0.x address so the agent sees a given
pod. Without it nothing is patched: in a pod network namespace (the node-path e2e) botocore runs
as in a pod, AWS_EC2_METADATA_SERVICE_ENDPOINT unset, and asks 169.254.169.254 itself.
--rounds N and --interval S keep one RefreshableCredentials object alive and call STS N times,
recording each access key id, to follow credential rollovers.
--time-scale K shrinks botocore's credential time windows by K (15 min advisory and 10 min
mandatory refresh, and the IMDS fetcher's 10 min + 2-10 min expiry-extension window), so a test
can run 1 h sessions as 60 s ones (K = 1/60) with every ratio kept.
"""
import argparse
import json
import sys
import time

import urllib3.util.connection as urllib3_connection

parser = argparse.ArgumentParser()
parser.add_argument("--source-ip")
parser.add_argument("--sts-endpoint", required=True)
parser.add_argument("--rounds", type=int, default=1)
parser.add_argument("--interval", type=float, default=0)
parser.add_argument("--time-scale", type=float, default=1.0)
args = parser.parse_args()

original_create_connection = urllib3_connection.create_connection


def create_connection_from_pod(address, *rest, **kwargs):
    # Only metadata traffic is bound to the pod address; STS calls go out normally.
    kwargs["source_address"] = (args.source_ip, 0) if address[1] != int(args.sts_endpoint.rsplit(":", 1)[1]) else None
    return original_create_connection(address, *rest, **kwargs)


if args.source_ip:
    urllib3_connection.create_connection = create_connection_from_pod

import boto3  # noqa: E402  (after the patch, so every connection goes through it)
import botocore  # noqa: E402
import botocore.credentials  # noqa: E402
import botocore.utils  # noqa: E402
import logging  # noqa: E402
import random as _random  # noqa: E402

if args.time_scale != 1.0:
    k = args.time_scale
    botocore.credentials.RefreshableCredentials._advisory_refresh_timeout = 15 * 60 * k
    botocore.credentials.RefreshableCredentials._mandatory_refresh_timeout = 10 * 60 * k

    class _ScaledRandom:
        @staticmethod
        def randint(a, b):
            return _random.uniform(a * k, b * k)

    botocore.utils.random = _ScaledRandom
    _fetcher_init = botocore.utils.InstanceMetadataFetcher.__init__

    def _scaled_init(self, *a, **kw):
        _fetcher_init(self, *a, **kw)
        self._config = dict(self._config or {}, ec2_credential_refresh_window=600 * k)

    botocore.utils.InstanceMetadataFetcher.__init__ = _scaled_init


class _ExtensionWatch(logging.Handler):
    # botocore logs this when IMDS credentials are so close to expiry that it stretches them.
    extensions = 0

    def emit(self, record):
        if "credential expiration extension" in record.getMessage():
            _ExtensionWatch.extensions += 1


logging.getLogger("botocore.utils").addHandler(_ExtensionWatch())
logging.getLogger("botocore.utils").setLevel(logging.INFO)

session = boto3.session.Session(region_name="us-east-1")
credentials = session.get_credentials()
if credentials is None:
    print(json.dumps({"error": "no credentials found"}))
    sys.exit(1)
sts = session.client("sts", endpoint_url=args.sts_endpoint)
rounds = []
failures = 0
for i in range(args.rounds):
    at = int(time.time() * 1000)  # when the round began, ms since the epoch (the restart test uses it)
    try:
        identity = sts.get_caller_identity()
        frozen = credentials.get_frozen_credentials()
        rounds.append({"at": at, "arn": identity["Arn"], "key": frozen.access_key})
    except Exception as error:  # a failed call during a rollover is exactly what we look for
        failures += 1
        rounds.append({"at": at, "error": str(error)})
    if i + 1 < args.rounds:
        time.sleep(args.interval)
print(json.dumps({
    "method": credentials.method,
    "botocore": botocore.__version__,
    "rounds": rounds,
    "failures": failures,
    "expiry_extensions": _ExtensionWatch.extensions,
}))
