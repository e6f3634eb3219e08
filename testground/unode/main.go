// Command unode is the unode Testground plan: many-node scenarios, one
// process per instance, run by Testground (local:exec, local:docker,
// cluster:k8s) or by the harness in ../harness (go test, no Docker).
// See ../README.md.
package main

import "github.com/testground/sdk-go/run"

func main() {
	run.InvokeMap(map[string]interface{}{
		"remote-eval":   run.InitializedTestCaseFn(remoteEval),
		"dht-discovery": run.InitializedTestCaseFn(dhtDiscovery),
		"channels":      run.InitializedTestCaseFn(channelsCase),
		"churn":         run.InitializedTestCaseFn(churnCase),
		"shared-store":  run.InitializedTestCaseFn(sharedStore),
	})
}
