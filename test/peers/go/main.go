// The AWS SDK for Go v2 as a pod would run it: config.LoadDefaultConfig finds no keys in the
// environment or in files and ends at the EC2 role provider (ec2rolecreds over the imds client,
// IMDSv2), which AWS_EC2_METADATA_SERVICE_ENDPOINT points at the agent; then STS
// GetCallerIdentity at --sts-endpoint. One aws.Config, so one credentials cache, for every round:
// with --rounds and --interval the program follows the cache across credential rollovers.
// Prints one JSON object on stdout; exits 1 when no round succeeded.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type round struct {
	// At is when the round began, in ms since the epoch (the restart test lines rounds up with it).
	At     int64  `json:"at"`
	Arn    string `json:"arn,omitempty"`
	Key    string `json:"key,omitempty"`
	Source string `json:"source,omitempty"`
	Error  string `json:"error,omitempty"`
}

type result struct {
	SDK      string            `json:"sdk"`
	Version  string            `json:"version"`
	Modules  map[string]string `json:"modules"`
	Rounds   []round           `json:"rounds"`
	Failures int               `json:"failures"`
}

func main() {
	stsEndpoint := flag.String("sts-endpoint", "", "STS endpoint (moto or the STS stand-in)")
	rounds := flag.Int("rounds", 1, "GetCallerIdentity calls with the same config")
	interval := flag.Duration("interval", 0, "pause between rounds")
	flag.Parse()
	if *stsEndpoint == "" {
		fmt.Fprintln(os.Stderr, "--sts-endpoint is required")
		os.Exit(2)
	}

	ctx := context.Background()
	out := result{SDK: "aws-sdk-go-v2", Modules: sdkModules()}
	out.Version = out.Modules["github.com/aws/aws-sdk-go-v2"]
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		out.Rounds = append(out.Rounds, round{Error: "load config: " + err.Error()})
		out.Failures++
		emit(out)
		os.Exit(1)
	}
	client := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(*stsEndpoint) })

	for i := 0; i < *rounds; i++ {
		r := round{At: time.Now().UnixMilli()}
		if identity, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			r.Error = err.Error()
			out.Failures++
		} else {
			r.Arn = aws.ToString(identity.Arn)
			// The cache answers from memory: the key the call above was signed with, unless it just expired.
			if creds, err := cfg.Credentials.Retrieve(ctx); err == nil {
				r.Key, r.Source = creds.AccessKeyID, creds.Source
			}
		}
		out.Rounds = append(out.Rounds, r)
		if i+1 < *rounds {
			time.Sleep(*interval)
		}
	}
	emit(out)
	if out.Failures == len(out.Rounds) {
		os.Exit(1)
	}
}

// sdkModules reports the versions of the SDK modules linked in, from the binary's build info.
func sdkModules() map[string]string {
	modules := map[string]string{}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if strings.HasPrefix(dep.Path, "github.com/aws/aws-sdk-go-v2") {
				modules[dep.Path] = dep.Version
			}
		}
	}
	return modules
}

func emit(out result) {
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
