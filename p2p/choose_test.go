package p2p

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func candidates(loads []float64, rtts []time.Duration) []memberCandidate {
	out := make([]memberCandidate, len(loads))
	for i := range loads {
		out[i] = memberCandidate{ID: peer.ID(fmt.Sprintf("peer-%02d", i)), Load: loads[i], RTT: rtts[i]}
	}
	return out
}

func TestChooseMember(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		loads []float64
		rtts  []time.Duration
		want  []int // the members turns 0..n-1 may pick, as a set
	}{
		{"alone", []float64{0.7}, []time.Duration{ms}, []int{0}},
		{"idle beats busy", []float64{0.95, 0, 0.98}, []time.Duration{0, 0, 0}, []int{1}},
		{"near beats far at equal load", []float64{0.1, 0.1}, []time.Duration{50 * ms, ms}, []int{1}},
		{"idle far beats busy near", []float64{0.9, 0}, []time.Duration{0, 20 * ms}, []int{1}},
		{"equal members all taken", []float64{0.2, 0.2, 0.2, 0.2}, []time.Duration{ms, ms, ms, ms}, []int{0, 1, 2, 3}},
		{"within the tolerance", []float64{0, 0.03, 0.5}, []time.Duration{ms, 2 * ms, ms}, []int{0, 1}},
		{"negative figures are clamped", []float64{-5, 0}, []time.Duration{-time.Second, 0}, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := candidates(tc.loads, tc.rtts)
			got := map[int]bool{}
			for turn := range uint64(4 * len(cs)) {
				i := chooseMember(cs, turn)
				if i < 0 || i >= len(cs) {
					t.Fatalf("turn %d: index %d", turn, i)
				}
				got[i] = true
			}
			if len(got) != len(tc.want) {
				t.Fatalf("picked %v, want exactly %v", got, tc.want)
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Fatalf("picked %v, want exactly %v", got, tc.want)
				}
			}
		})
	}
	if chooseMember(nil, 3) != -1 {
		t.Fatal("chose from no candidates")
	}
}

// TestChooseMemberSpreads: successive turns over equal members take each
// in turn, whatever order the candidates come in, so 100 provisions over
// 4 equal members use all 4, 25 times each.
func TestChooseMemberSpreads(t *testing.T) {
	cs := candidates([]float64{0.1, 0.1, 0.1, 0.1}, []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond})
	count := map[peer.ID]int{}
	start := uint64(12345) // a random start, as a cluster view has
	for k := range uint64(100) {
		// Candidates arrive in any order from a refresh.
		shuffled := append([]memberCandidate(nil), cs...)
		for i := range shuffled {
			j := int((k*7 + uint64(i)*3) % uint64(len(shuffled)))
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
		count[shuffled[chooseMember(shuffled, start+k)].ID]++
	}
	if len(count) != 4 {
		t.Fatalf("used %d of 4 members: %v", len(count), count)
	}
	for id, n := range count {
		if n != 25 {
			t.Fatalf("member %s picked %d times of 100, want 25: %v", id, n, count)
		}
	}
}
