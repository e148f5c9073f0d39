// A data engineer's pod, with the AWS SDK for JavaScript v3: credentials from the instance
// metadata service (fromInstanceMetadata, IMDSv2), then STS GetCallerIdentity against
// STS_ENDPOINT. Prints one JSON line, as sdk_botocore.py does.
const { fromInstanceMetadata } = require('@aws-sdk/credential-providers');
const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');

(async () => {
  try {
    const credentials = await fromInstanceMetadata({ timeout: 2000, maxRetries: 2 })();
    const sts = new STSClient({ region: 'us-east-1', endpoint: process.env.STS_ENDPOINT, credentials });
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    console.log(JSON.stringify({ ok: true, arn: identity.Arn, accessKeyId: credentials.accessKeyId }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: `${error.name}: ${error.message}` }));
  }
})();
