package corridor.peer;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.InstanceProfileCredentialsProvider;
import software.amazon.awssdk.core.util.VersionInfo;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.sts.StsClient;
import software.amazon.awssdk.services.sts.model.GetCallerIdentityResponse;

/**
 * The AWS SDK for Java v2 as a pod would run it: InstanceProfileCredentialsProvider (what Hadoop
 * S3A, and so Spark, uses on EC2; IMDSv2 first) finds the agent through
 * AWS_EC2_METADATA_SERVICE_ENDPOINT, then STS GetCallerIdentity at --sts-endpoint. One provider
 * and one client for every round: with --rounds and --interval-ms the program follows the
 * provider's cache across credential rollovers. Prints one JSON object; exits 1 when no round
 * succeeded.
 */
public final class Main {
    public static void main(String[] args) throws InterruptedException {
        String stsEndpoint = null;
        int rounds = 1;
        long intervalMs = 0;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--sts-endpoint": stsEndpoint = args[i + 1]; break;
                case "--rounds": rounds = Integer.parseInt(args[i + 1]); break;
                case "--interval-ms": intervalMs = Long.parseLong(args[i + 1]); break;
                default: usage("unknown option " + args[i]);
            }
        }
        if (stsEndpoint == null) usage("--sts-endpoint is required");

        List<String> results = new ArrayList<>();
        int failures = 0;
        try (InstanceProfileCredentialsProvider credentials = InstanceProfileCredentialsProvider.create();
             StsClient sts = StsClient.builder()
                 .region(Region.US_EAST_1)
                 .endpointOverride(URI.create(stsEndpoint))
                 .credentialsProvider(credentials)
                 .httpClient(UrlConnectionHttpClient.create())
                 .build()) {
            for (int i = 0; i < rounds; i++) {
                // When the round began, in ms since the epoch (the restart test lines rounds up with it).
                String at = "\"at\":" + System.currentTimeMillis() + ",";
                try {
                    GetCallerIdentityResponse identity = sts.getCallerIdentity();
                    // The provider answers from its cache: the key the call above was signed with.
                    AwsCredentials used = credentials.resolveCredentials();
                    results.add("{" + at + "\"arn\":" + json(identity.arn()) + ",\"key\":" + json(used.accessKeyId()) + "}");
                } catch (RuntimeException error) {
                    failures++;
                    results.add("{" + at + "\"error\":" + json(error.getClass().getSimpleName() + ": " + error.getMessage()) + "}");
                }
                if (i + 1 < rounds) Thread.sleep(intervalMs);
            }
        }
        System.out.println("{\"sdk\":\"aws-sdk-java-v2\",\"version\":" + json(VersionInfo.SDK_VERSION)
            + ",\"java\":" + json(System.getProperty("java.version"))
            + ",\"rounds\":[" + String.join(",", results) + "],\"failures\":" + failures + "}");
        System.exit(failures == rounds ? 1 : 0);
    }

    private static void usage(String problem) {
        System.err.println(problem + "\nusage: Main --sts-endpoint URL [--rounds N] [--interval-ms MS]");
        System.exit(2);
    }

    private static String json(String value) {
        if (value == null) return "null";
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }
}
