//go:build race

package p2p

// warmRace: built with the race detector, which allocates on its own
// account (and makes sync.Pool drop what it is given at random), so
// allocation counts say nothing about the code.
const warmRace = true
