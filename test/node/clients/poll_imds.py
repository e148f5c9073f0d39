"""Polls the instance metadata service every 100-200 ms as an SDK would (IMDSv2: a token, the
role listing, the role's credentials) and prints one JSON line per attempt: the outcome, the
access key id served, whether the answer carried the node's own secret, and whether it fell back
to IMDSv1. Like botocore, a token request that times out after connecting (a PUT answer lost to
the hop limit) is followed by the same calls without a token. Runs until killed."""
import json
import socket
import random
import time
import urllib.error
import urllib.request

IMDS = "http://169.254.169.254"
NODE_SECRET = "corridor-node-secret"


def call(method, path, headers):
    request = urllib.request.Request(IMDS + path, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=1) as response:
        return response.read().decode()


while True:
    line = {"t": round(time.time(), 3)}
    try:
        try:
            token = call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
            headers = {"X-aws-ec2-metadata-token": token}
        except (urllib.error.URLError, TimeoutError) as error:
            # botocore's IMDSFetcher: a read timeout on the token means "no token", not "no IMDS".
            if not isinstance(getattr(error, "reason", error), (socket.timeout, TimeoutError)):
                raise
            headers = {}
            line.update(imdsv1=True)
        role = call("GET", "/latest/meta-data/iam/security-credentials/", headers).strip()
        document = call("GET", f"/latest/meta-data/iam/security-credentials/{role}", headers)
        line.update(outcome="credentials", accessKeyId=json.loads(document)["AccessKeyId"], nodeSecret=NODE_SECRET in document + role)
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        line.update(outcome=f"http-{error.code}", nodeSecret=NODE_SECRET in body)
    except Exception as error:  # noqa: BLE001 - refused, reset and timeouts are outcomes here
        reason = getattr(error, "reason", error)
        line.update(outcome=type(reason).__name__, nodeSecret=False)
    print(json.dumps(line), flush=True)
    time.sleep(random.uniform(0.1, 0.2))
