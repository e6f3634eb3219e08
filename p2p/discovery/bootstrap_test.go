package discovery

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBootstrapBackoff: a bootstrap peer that is down is dialed again
// and again, each wait about twice the last up to the cap (with jitter),
// each failure logged; never an error. When it comes up (same key and
// address) the node joins.
func TestBootstrapBackoff(t *testing.T) {
	boot := newTestNode(t)
	boot.start(t, fastConfig())
	info := boot.info()
	boot.addr = info.Addrs[0].String()
	boot.close()

	var logs lockedBuffer
	n := newTestNode(t)
	cfg := fastConfig(info)
	cfg.BootstrapBackoff = 20 * time.Millisecond
	cfg.MaxBootstrapBackoff = 160 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n.start(t, cfg)
	defer n.close()
	re := regexp.MustCompile(`failures=(\d+) retry_in=(\S+)`)
	var waits []time.Duration
	waitFor(t, 20*time.Second, func() error {
		waits = waits[:0]
		for _, m := range re.FindAllStringSubmatch(logs.String(), -1) {
			d, err := time.ParseDuration(m[2])
			if err != nil {
				return err
			}
			waits = append(waits, d)
		}
		if len(waits) < 7 {
			return fmt.Errorf("%d failures logged", len(waits))
		}
		return nil
	})
	// Jitter is ±25%: doubling keeps each wait above the last until the
	// cap, which then holds.
	for i := 1; i < 4; i++ {
		if waits[i] <= waits[i-1] {
			t.Fatalf("waits %v do not grow", waits)
		}
	}
	for _, w := range waits {
		if w > cfg.MaxBootstrapBackoff*5/4 {
			t.Fatalf("wait %v over the cap: %v", w, waits)
		}
	}
	if len(n.d.RoutingTable()) != 0 {
		t.Fatal("a routing table without the bootstrap peer")
	}
	boot.start(t, fastConfig())
	defer boot.close()
	waitFor(t, 20*time.Second, func() error {
		if len(n.d.RoutingTable()) == 0 {
			return fmt.Errorf("not joined")
		}
		return nil
	})
}
