package bench

import (
	"os"
	"testing"
	"time"
)

// TestColdLoad prints the first load in a fresh process: Coraza memoizes compiled regexes for the
// whole process, so BenchmarkLoad's repeated loads understate what an Envoy worker pays at start.
// Run it alone: WAF_COLD_LOAD=1 go test -run TestColdLoad -v ./bench/
func TestColdLoad(t *testing.T) {
	if os.Getenv("WAF_COLD_LOAD") == "" {
		t.Skip("set WAF_COLD_LOAD=1 and run this test alone")
	}
	start, cpu := time.Now(), cpuTime()
	newCoraza(t)
	t.Logf("coraza first load: %v wall, %v CPU", time.Since(start), cpuTime()-cpu)
}
