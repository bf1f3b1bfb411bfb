package manifest

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead runs arbitrary bytes through document splitting, YAML, List expansion, strict
// decoding and the Istio spec check. Seeds: every file in testdata.
func FuzzRead(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("--- x: 1\n...\napiVersion: v1\nkind: List\nitems: [{kind: Node}, 3, null]\n"))
	f.Add([]byte("apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nspec: {configPatches: [{patch: {value: {a: [1, {b: null}]}}}], x: 1}\n"))
	reader := newReader(f)

	f.Fuzz(func(t *testing.T, data []byte) {
		objects, err := reader.Read("fuzz.yaml", data)
		for _, o := range objects {
			if o.Obj == nil || o.Source.File != "fuzz.yaml" || o.Source.Document < 1 || o.Source.Line < 1 {
				t.Fatalf("bad object %+v", o)
			}
		}
		if err == nil {
			return
		}
		errs, ok := err.(Errors)
		if !ok || len(errs) == 0 {
			t.Fatalf("error %v (%T) is not a non-empty Errors", err, err)
		}
		for _, e := range errs {
			if e.Source.File != "fuzz.yaml" || e.Message == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
	})
}
