package hyperscan_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshaccel/meshaccel/hyperscan/regexsource"
)

// loadCorpus returns every regex in testdata/corpus.
func loadCorpus(tb testing.TB) []regexsource.Regex {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.txt"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus files: %v", err)
	}
	var regexes []regexsource.Regex
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		found, err := regexsource.Parse(file, data)
		if err != nil {
			tb.Fatal(err)
		}
		regexes = append(regexes, found...)
	}
	return regexes
}
