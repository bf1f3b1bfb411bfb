package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
)

// inputScheme knows every kind the translator reads.
var inputScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, istioscheme.AddToScheme, nfdv1alpha1.AddToScheme, devicepluginv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strictDecoder rejects unknown fields, so a misspelt feature is an error, not a silent no-op.
var strictDecoder = serializer.NewCodecFactory(inputScheme, serializer.EnableStrict).UniversalDeserializer()

// readObjects decodes every document of the files (directories are read for *.yaml, *.yml and *.json;
// "-" is standard input), expanding `kind: List`. Errors name the file, document and its first line.
func readObjects(paths []string, stdin io.Reader) ([]runtime.Object, error) {
	var out []runtime.Object
	for _, path := range paths {
		files, err := expandPath(path)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			var data []byte
			if file == "-" {
				data, err = io.ReadAll(stdin)
				file = "<stdin>"
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return nil, err
			}
			objs, err := decodeDocuments(file, data)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func expandPath(path string) ([]string, error) {
	if path == "-" {
		return []string{path}, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func decodeDocuments(file string, data []byte) ([]runtime.Object, error) {
	var out []runtime.Object
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	line := 1
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d (line %d): %w", file, doc, line, err)
		}
		start := line + leadingBlankLines(raw)
		// The reader drops each "---" separator line, so count it back.
		line += bytes.Count(raw, []byte("\n")) + 1
		if isBlankDocument(raw) {
			continue
		}
		obj, _, err := strictDecoder.Decode(raw, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d (line %d): %s", file, doc, start, describeDecodeError(raw, err))
		}
		if list, ok := obj.(*corev1.List); ok {
			for i, item := range list.Items {
				itemObj, _, err := strictDecoder.Decode(item.Raw, nil, nil)
				if err != nil {
					return nil, fmt.Errorf("%s: document %d (line %d): items[%d]: %s", file, doc, start, i, describeDecodeError(item.Raw, err))
				}
				out = append(out, itemObj)
			}
			continue
		}
		out = append(out, obj)
	}
}

// describeDecodeError names the kind for unknown kinds instead of the scheme's internals.
func describeDecodeError(raw []byte, err error) string {
	if runtime.IsNotRegisteredError(err) {
		var tm metav1.TypeMeta
		if yaml.Unmarshal(raw, &tm) == nil {
			return fmt.Sprintf("unknown kind %q (apiVersion %s): meshaccel reads Nodes, NodeFeatures, QatDevicePlugins, Pods, Deployments, StatefulSets, AccelerationPolicies, VirtualServices and EnvoyFilters", tm.Kind, tm.APIVersion)
		}
	}
	return err.Error()
}

func leadingBlankLines(doc []byte) int {
	n := 0
	for _, l := range bytes.Split(doc, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) != 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			break
		}
		n++
	}
	return n
}

func isBlankDocument(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) != 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			return false
		}
	}
	return true
}
