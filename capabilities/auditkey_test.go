package capabilities

import (
	"fmt"
	"math"
	"testing"
)

// auditKey writes the keys fmt wrote, whose order is the log's order.
func TestAuditKeyAsSprintf(t *testing.T) {
	for _, ns := range []int64{0, 1, 9, 10, 1733170000123456789, math.MaxInt64} {
		for _, seq := range []uint64{0, 1, 99, 999999, 1000000, 123456789} {
			if got, want := auditKey(ns, seq), fmt.Sprintf("%s%020d-%06d", prefixAudit, ns, seq); got != want {
				t.Errorf("auditKey(%d, %d) = %q, want %q", ns, seq, got, want)
			}
		}
	}
}
