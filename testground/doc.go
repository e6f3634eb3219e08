// Package testground will hold multi-node test plans (remote eval, sync,
// DHT discovery, channels, churn) that run under Testground where it is
// installed and through a local in-process runner otherwise.
package testground
