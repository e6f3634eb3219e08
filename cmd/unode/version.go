package main

import (
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/unode-dev/unode/p2p"
)

// What this binary is. A release build sets both with the linker:
//
//	go build -ldflags "-X main.version=v0.3.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/unode
//
// Unset, they come from the build information Go records: the module
// version of `go install github.com/unode-dev/unode/cmd/unode@v0.3.0`
// (or the pseudo-version `go build` derives from the checkout's VCS
// state), vcs.revision and vcs.modified. A build without either (VCS
// stamping off, as with -buildvcs=false) is "devel".
var (
	version string
	commit  string
)

// buildInfo says what this binary is: `unode version`'s result.
type buildInfo struct {
	// Version is the release (v0.3.0), a pseudo-version, or "devel".
	Version string `json:"version"`
	// Commit is the VCS revision built, when known; Modified says the
	// work tree had changes that are not in it.
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	// Agent and ProtocolVersion are what the node states in libp2p's
	// identify; Protocols the unode stream protocols it answers.
	Agent           string   `json:"agent"`
	ProtocolVersion string   `json:"protocolVersion"`
	Protocols       []string `json:"protocols"`
}

// thisBuild is the binary's buildInfo.
var thisBuild = sync.OnceValue(func() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(),
		ProtocolVersion: p2p.IdentifyProtocolVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	b.Agent = "unode/" + b.Version
	for _, p := range p2p.Protocols() {
		b.Protocols = append(b.Protocols, string(p))
	}
	return b
})
