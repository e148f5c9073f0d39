"""Asks botocore for the instance's region as boto3 does, and prints JSON.

botocore's IMDSRegionProvider (its InstanceMetadataRegionFetcher, configured from the session, so
from AWS_EC2_METADATA_SERVICE_ENDPOINT) reads .../placement/availability-zone/ with the trailing
slash. botocore 1.43 uses it for defaults_mode "auto" (in-region or cross-region); a session's
region_name does not come from IMDS. --source-ip binds the metadata sockets to a 127.0.0.x
address so the agent sees a given pod.
"""
import argparse
import json

import urllib3.util.connection as urllib3_connection

parser = argparse.ArgumentParser()
parser.add_argument("--source-ip", required=True)
args = parser.parse_args()

_create_connection = urllib3_connection.create_connection


def create_connection_from_pod(address, *rest, **kwargs):
    kwargs["source_address"] = (args.source_ip, 0)
    return _create_connection(address, *rest, **kwargs)


urllib3_connection.create_connection = create_connection_from_pod

import botocore  # noqa: E402  (after the patch, so every connection goes through it)
import botocore.session  # noqa: E402
import botocore.utils  # noqa: E402

session = botocore.session.get_session()
provider = botocore.utils.IMDSRegionProvider(session=session)
fetched = provider.provide()
factory = session._get_internal_component("smart_defaults_factory")
mode = factory.resolve_auto_mode("us-east-1")
print(json.dumps({"botocore": botocore.__version__, "fetched": fetched, "auto_mode_us_east_1": mode}))
