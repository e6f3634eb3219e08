//go:build !race

package p2p

// warmRace: see warm_race_test.go.
const warmRace = false
