package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/unode-dev/unode/capabilities"
	"github.com/unode-dev/unode/p2p"
	"github.com/unode-dev/unode/p2p/repo"
)

// ready is what the program prints once it serves: with -json, one JSON
// line.
type ready struct {
	ID      string            `json:"id"`
	Addrs   []string          `json:"addrs"`
	Natives []p2p.NativeInfo  `json:"natives"`
	Tokens  map[string]string `json:"tokens,omitempty"` // audience peer ID -> token
}

type grants []string

func (g *grants) String() string     { return strings.Join(*g, ",") }
func (g *grants) Set(s string) error { *g = append(*g, s); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "thermostat:", err)
		os.Exit(1)
	}
}

func run() error {
	repoPath := flag.String("repo", "thermostat-repo", "the node's repo `DIR` (identity, grants, audit log), created if missing")
	listen := flag.String("listen", "/ip4/0.0.0.0/tcp/4200", "listen on this `MULTIADDR`")
	expires := flag.Duration("expires", 24*time.Hour, "lifetime of the tokens -grant issues")
	asJSON := flag.Bool("json", false, "print the ready message as one JSON line")
	var to grants
	flag.Var(&to, "grant", "issue this `PEER` a token for ffi:Sensor; repeatable")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r, err := repo.Open(*repoPath)
	if err != nil {
		return err
	}
	defer r.Close()
	node, err := p2p.New(ctx,
		p2p.WithIdentity(r.Key),
		p2p.WithDatastore(r.Datastore),
		p2p.WithListenAddrs(*listen),
		p2p.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		return err
	}
	defer node.Close()

	var sensor simulatedSensor
	if _, err := node.Register(ctx, "Sensor.temperature", sensor.temperature,
		p2p.NativeDoc("the room temperature in °C"), p2p.NativeConcurrency(1)); err != nil {
		return err
	}
	if _, err := node.Register(ctx, "Sensor.raw", sensor.raw,
		p2p.NativeDoc("Sensor.raw ch: the raw reading of channel ch (0 or 1)")); err != nil {
		return err
	}

	out := ready{ID: node.ID().String(), Natives: node.Natives(), Tokens: map[string]string{}}
	for _, a := range node.Addrs() {
		out.Addrs = append(out.Addrs, a.String()+"/p2p/"+out.ID)
	}
	sb, err := capabilities.ParseSandbox("--allow pure --allow ffi:Sensor")
	if err != nil {
		return err
	}
	for _, p := range to {
		id, err := peer.Decode(p)
		if err != nil {
			return fmt.Errorf("-grant %s: %w", p, err)
		}
		tok, err := node.Grant(ctx, capabilities.Claims{Audience: id, Sandbox: sb, Expires: time.Now().Add(*expires)}, "thermostat sensor")
		if err != nil {
			return err
		}
		out.Tokens[p] = tok.String()
	}
	if *asJSON {
		line, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Println(string(line))
	} else {
		printReady(out)
	}
	<-ctx.Done()
	return nil
}

func printReady(r ready) {
	fmt.Printf("thermostat %s listening on\n", r.ID)
	for _, a := range r.Addrs {
		fmt.Printf("  %s\n", a)
	}
	fmt.Println("native builtins (add this source on another node to call them by name):")
	for _, n := range r.Natives {
		fmt.Printf("  -- %s: %s (ffi:%s)\n  %s", n.Name, n.Doc, n.Group, n.Source)
	}
	for p, t := range r.Tokens {
		fmt.Printf("token for %s:\n%s\n", p, t)
	}
}

// simulatedSensor stands in for the hardware.
type simulatedSensor struct{ reads atomic.Int64 }

// temperature reads 20, 20.5, 21, 21.5 °C in turn. A real driver would
// talk to the device here, within ctx.
func (s *simulatedSensor) temperature(ctx context.Context) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return 20 + 0.5*float64((s.reads.Add(1)-1)%4), nil
}

// raw reads a channel without checking it, as a careless driver would:
// a bad channel panics, and the node turns that into the call's error.
func (s *simulatedSensor) raw(ch int) int {
	channels := [...]int{512, 498}
	return channels[ch]
}
