package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/extensions"
)

// FuzzInput feeds arbitrary manifests through the reader and the translator: either the input is
// rejected with an error naming the file, or it translates without panicking.
func FuzzInput(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/in/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("kind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: n}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := decodeDocuments("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: document ") {
				t.Fatalf("error does not name the file and document: %v", err)
			}
			return
		}
		var in extensions.Input
		if err := in.AddObjects(objs...); err != nil {
			return
		}
		_, _ = extensions.Translate(in)
	})
}
