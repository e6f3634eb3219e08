package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Link is what the proxies add between instances, in each direction of
// every connection: the kernels here lack tc netem, so a toxiproxy in
// front of each instance's listen address delays (and "loses") what
// passes, and instances dial each other through it (each announces its
// proxy's address). A connection passes one proxy, the callee's, so a
// round trip between two instances is 2×Delay.
type Link struct {
	Delay  time.Duration // one way
	Jitter time.Duration // ± on Delay, per chunk
	// Loss is the percentage of chunks held back for a retransmission
	// timeout (LossRTO) before they go on, in order: what a lost segment
	// costs a TCP connection (the proxies carry TCP, so nothing is ever
	// dropped, only late; and what follows waits behind it).
	Loss float64
}

// LossRTO is how long a "lost" chunk is held: Linux's minimum TCP
// retransmission timeout.
const LossRTO = 200 * time.Millisecond

func (l Link) String() string {
	s := fmt.Sprintf("%v one-way", l.Delay)
	if l.Jitter > 0 {
		s += fmt.Sprintf(" ±%v", l.Jitter)
	}
	if l.Loss > 0 {
		s += fmt.Sprintf(", %.1f%% loss", l.Loss)
	}
	return s
}

// lossToxic holds a chunk for RTO with probability Percent/100, keeping
// the order: TCP's view of a lost segment.
type lossToxic struct {
	Percent float64 `json:"percent"`
	RTOms   int64   `json:"rto_ms"`
}

func (t *lossToxic) GetBufferSize() int { return 1024 }

func (t *lossToxic) Pipe(stub *toxics.ToxicStub) {
	rto := time.Duration(t.RTOms) * time.Millisecond
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if rand.Float64()*100 < t.Percent {
				select {
				case <-time.After(rto):
				case <-stub.Interrupt:
					stub.Output <- c // don't drop data on the floor
					return
				}
			}
			stub.Output <- c
		}
	}
}

func init() { toxics.Register("tcploss", new(lossToxic)) }

// proxies are the instances' proxies.
type proxies struct {
	server *toxiproxy.ApiServer
	all    []*toxiproxy.Proxy
}

func newProxies() *proxies {
	return &proxies{server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())}
}

// add starts a proxy on a free loopback port in front of upstream, with
// link's toxics, and returns its address.
func (p *proxies) add(name, upstream string, link Link) (string, error) {
	px := toxiproxy.NewProxy(p.server, name, "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		return "", fmt.Errorf("proxy %s: %w", name, err)
	}
	p.all = append(p.all, px)
	for _, dir := range []string{"upstream", "downstream"} {
		if link.Delay > 0 || link.Jitter > 0 {
			j := fmt.Sprintf(`{"name":"latency_%s","type":"latency","stream":%q,"attributes":{"latency":%d,"jitter":%d}}`,
				dir, dir, link.Delay.Milliseconds(), link.Jitter.Milliseconds())
			if _, err := px.Toxics.AddToxicJson(strings.NewReader(j)); err != nil {
				return "", fmt.Errorf("proxy %s: latency: %w", name, err)
			}
		}
		if link.Loss > 0 {
			j := fmt.Sprintf(`{"name":"loss_%s","type":"tcploss","stream":%q,"attributes":{"percent":%g,"rto_ms":%d}}`,
				dir, dir, link.Loss, LossRTO.Milliseconds())
			if _, err := px.Toxics.AddToxicJson(strings.NewReader(j)); err != nil {
				return "", fmt.Errorf("proxy %s: loss: %w", name, err)
			}
		}
	}
	return px.Listen, nil
}

func (p *proxies) close() {
	for _, px := range p.all {
		px.Stop()
	}
}

// freePorts finds n free loopback TCP ports for the instances to
// listen on, below the kernel's ephemeral range: the kernel never hands
// those out for a bind to port 0 or an outgoing connection, so between
// this check and the instance's bind (or a churned node's next one)
// nothing else on the machine takes them by chance.
func freePorts(ctx context.Context, n int) ([]int, error) {
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const floor = 10000 // above the well-known and registered ports in common use
	if low-floor < 4*n {
		return nil, fmt.Errorf("the ephemeral port range starts at %d: too few ports below it for %d instances", low, n)
	}
	var lc net.ListenConfig
	ports := make([]int, 0, n)
	// From a random place, so that two harnesses at once rarely meet.
	start := floor + rand.IntN(low-floor)
	for i := 0; i < low-floor && len(ports) < n; i++ {
		port := floor + (start-floor+i)%(low-floor)
		l, err := lc.Listen(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found %d free ports below %d, want %d", len(ports), low, n)
	}
	return ports, nil
}
