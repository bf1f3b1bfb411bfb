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
		objects, err := manifestReader.Read("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var in extensions.Input
		for _, o := range objects {
			if err := in.AddObjects(o.Obj); err != nil {
				return
			}
		}
		if len(objects) == 0 {
			return
		}
		_, _ = extensions.Translate(in)
	})
}
