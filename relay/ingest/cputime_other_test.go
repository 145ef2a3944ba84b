//go:build !unix

package ingest

import (
	"testing"
	"time"
)

// cpuTime is 0 where getrusage is missing: the benchmarks then report no
// CPU figure worth reading (0 ms per 1,000 records).
func cpuTime(*testing.B) time.Duration { return 0 }
