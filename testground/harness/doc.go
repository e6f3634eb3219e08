// Package harness runs the Testground plans in ../unode here, without
// Testground or Docker: `go test` builds the plan, starts Testground's
// sync service in process (github.com/testground/sync-service), puts a
// toxiproxy in front of each instance's listen address to add latency,
// jitter and loss between instances, starts every instance as its own
// process with the environment Testground's local:exec runner gives
// (TEST_PLAN, TEST_CASE, TEST_INSTANCE_COUNT, TEST_GROUP_ID,
// TEST_INSTANCE_PARAMS, TEST_OUTPUTS_PATH, SYNC_SERVICE_HOST/PORT,
// TEST_SIDECAR=false, ...), and passes when every instance reports
// success. It prints a summary of the metrics the instances recorded.
//
//	cd testground/harness && go test -count=1 -v . -tg.instances 32
//
// It is a module of its own so that Testground's and toxiproxy's
// dependencies stay out of unode's go.mod (see ../README.md).
package harness
