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
