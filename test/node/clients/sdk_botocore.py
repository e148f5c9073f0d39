"""A data engineer's pod, with botocore: credentials from the default chain (which finds the
instance metadata service, as on EC2), then STS GetCallerIdentity against STS_ENDPOINT. Prints
one JSON line: {"ok": true, "arn": ..., "accessKeyId": ...} or {"ok": false, "error": ...}."""
import json
import os

import botocore.session

try:
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no credentials from the default chain")
    sts = session.create_client("sts", region_name="us-east-1", endpoint_url=os.environ["STS_ENDPOINT"])
    identity = sts.get_caller_identity()
    print(json.dumps({"ok": True, "arn": identity["Arn"], "accessKeyId": credentials.get_frozen_credentials().access_key}), flush=True)
except Exception as error:  # noqa: BLE001 - the test reads what failed
    print(json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"}), flush=True)
