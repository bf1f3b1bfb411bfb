// Package manifest reads Kubernetes manifests — plain multi-document YAML or JSON, or the List
// that `kubectl get -o yaml` prints — into typed objects, strictly: an unknown kind, an unknown
// or duplicated field is an error naming the file, the document, its line, the object and the
// field. Istio specs are checked field by field too (their own JSON decoding ignores unknown
// fields, so a misspelt EnvoyFilter key would otherwise vanish).
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/yaml"
)

// Source is where an object was read.
type Source struct {
	// File is the path as given, or "<stdin>".
	File string `json:"file"`
	// Document is the 1-based index of the YAML document in the file (empty documents are not
	// counted).
	Document int `json:"document,omitempty"`
	// Item is the 1-based index in the document's `kind: List`, 0 for a plain document.
	Item int `json:"item,omitempty"`
	// Line is where the document (or the List item) starts.
	Line int `json:"line,omitempty"`
}

// String renders the source as "file: document 3 (line 41)" or "file: document 1, item 2 (line 9)".
func (s Source) String() string {
	switch {
	case s.Document == 0:
		return s.File
	case s.Item > 0:
		return fmt.Sprintf("%s: document %d, item %d (line %d)", s.File, s.Document, s.Item, s.Line)
	default:
		return fmt.Sprintf("%s: document %d (line %d)", s.File, s.Document, s.Line)
	}
}

// Object is one decoded object and where it came from.
type Object struct {
	Source Source
	Obj    runtime.Object
	node   *yamlNode
}

// Line returns the line of a field of the object, given as a path such as
// "spec.configPatches[0].patch.value.typed_config" (keys match as written, or ignoring case and
// underscores), or 0 when it cannot be found.
func (o Object) Line(path string) int {
	return o.node.lineOf(path)
}

// Error is one object, or one field of it, that could not be read.
type Error struct {
	Source Source
	// Kind and Name ("namespace/name" or "name") when the document got that far.
	Kind, Name string
	// Field is the path of the offending field, FieldLine its line, when known.
	Field     string
	FieldLine int
	Message   string
}

func (e *Error) Error() string {
	return e.Source.String() + ": " + e.describe(true)
}

// Line is the line of the offending field when known, else where the document starts.
func (e *Error) Line() int {
	if e.FieldLine > 0 {
		return e.FieldLine
	}
	return e.Source.Line
}

// Detail is the error without its source and lines: object, field and message. With File and
// Line it makes a "file:line: detail" report.
func (e *Error) Detail() string { return e.describe(false) }

func (e *Error) describe(withFieldLine bool) string {
	var b strings.Builder
	if e.Kind != "" {
		b.WriteString(e.Kind)
		if e.Name != "" {
			b.WriteString(" " + e.Name)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		if withFieldLine && e.FieldLine > 0 {
			fmt.Fprintf(&b, " (line %d)", e.FieldLine)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in the input, in input order.
type Errors []*Error

func (errs Errors) Error() string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Reader decodes manifests with a scheme that knows Kubernetes core/v1 and apps/v1, every
// Istio API, NFD and Intel device plugin objects, and whatever the caller adds.
type Reader struct {
	scheme  *runtime.Scheme
	decoder runtime.Decoder
}

// NewReader returns a Reader; addToScheme registers more API groups (the core's own
// meshaccel.io/v1alpha1, for one).
func NewReader(addToScheme ...func(*runtime.Scheme) error) (*Reader, error) {
	scheme := runtime.NewScheme()
	builders := []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, istioscheme.AddToScheme, nfdv1alpha1.AddToScheme, devicepluginv1.AddToScheme,
	}
	for _, add := range append(builders, addToScheme...) {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return &Reader{
		scheme:  scheme,
		decoder: serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer(),
	}, nil
}

// Scheme is the scheme the Reader decodes with.
func (r *Reader) Scheme() *runtime.Scheme { return r.scheme }

// manifestExtensions are the files read from a directory (not recursively, as kubectl -f).
var manifestExtensions = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// ReadPaths reads files, directories (their *.yaml, *.yml and *.json files, sorted) and "-"
// (stdin). It returns every object it could decode, in input order, and an Errors listing
// everything it could not (nil when there is nothing).
func (r *Reader) ReadPaths(paths []string, stdin io.Reader) ([]Object, error) {
	var objects []Object
	var errs Errors
	for _, path := range paths {
		files, err := expand(path)
		if err != nil {
			errs = append(errs, &Error{Source: Source{File: path}, Message: err.Error()})
			continue
		}
		for _, file := range files {
			var data []byte
			name := file
			if file == "-" {
				name = "<stdin>"
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				errs = append(errs, &Error{Source: Source{File: name}, Message: err.Error()})
				continue
			}
			objs, err := r.Read(name, data)
			objects = append(objects, objs...)
			if fileErrs, ok := err.(Errors); ok {
				errs = append(errs, fileErrs...)
			}
		}
	}
	if len(errs) > 0 {
		return objects, errs
	}
	return objects, nil
}

func expand(path string) ([]string, error) {
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
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, entry := range entries {
		if !entry.IsDir() && manifestExtensions[strings.ToLower(filepath.Ext(entry.Name()))] {
			files = append(files, filepath.Join(path, entry.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.yaml, *.yml or *.json files in directory")
	}
	return files, nil
}

// Read decodes the documents of one file (name is used in messages). Like ReadPaths it returns
// the objects it could decode and an Errors for the rest.
func (r *Reader) Read(name string, data []byte) ([]Object, error) {
	var objects []Object
	var errs Errors
	for i, doc := range splitDocuments(data) {
		source := Source{File: name, Document: i + 1, Line: doc.firstLine}
		objs, docErrs := r.readDocument(source, doc)
		objects = append(objects, objs...)
		errs = append(errs, docErrs...)
	}
	if len(errs) > 0 {
		return objects, errs
	}
	return objects, nil
}

// typeMeta is what is read of a document before knowing its type.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func (t typeMeta) name() string {
	if t.Metadata.Namespace != "" {
		return t.Metadata.Namespace + "/" + t.Metadata.Name
	}
	return t.Metadata.Name
}

func (r *Reader) readDocument(source Source, doc document) ([]Object, Errors) {
	data, err := yaml.YAMLToJSONStrict(doc.text)
	if err != nil {
		return nil, Errors{{Source: source, Message: yamlMessage(err, doc.startLine)}}
	}
	positions := newPositions(doc.text, doc.startLine)
	var meta typeMeta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, Errors{{Source: source, Message: "not a Kubernetes object: " + describeJSON(data)}}
	}
	if strings.HasSuffix(meta.Kind, "List") && meta.Items != nil {
		return r.readList(source, meta, positions)
	}
	obj, errs := r.decodeObject(source, data, meta, positions.root())
	if obj == nil {
		return nil, errs
	}
	return []Object{{Source: source, Obj: obj, node: positions.root()}}, errs
}

// readList expands a `kind: List` (or a typed list such as EnvoyFilterList): items without
// apiVersion and kind take the list's.
func (r *Reader) readList(source Source, list typeMeta, positions *positions) ([]Object, Errors) {
	var objects []Object
	var errs Errors
	itemKind := strings.TrimSuffix(list.Kind, "List")
	for i, raw := range list.Items {
		itemSource := source
		itemSource.Item = i + 1
		node := positions.item(i)
		if line := positions.line(node); line > 0 {
			itemSource.Line = line
		}
		var meta typeMeta
		if err := json.Unmarshal(raw, &meta); err != nil {
			errs = append(errs, &Error{Source: itemSource, Message: "not a Kubernetes object: " + describeJSON(raw)})
			continue
		}
		if meta.Kind == "" && itemKind != "" {
			meta.Kind, meta.APIVersion = itemKind, list.APIVersion
			raw = withTypeMeta(raw, meta.APIVersion, meta.Kind)
		}
		obj, objErrs := r.decodeObject(itemSource, raw, meta, node)
		errs = append(errs, objErrs...)
		if obj != nil {
			objects = append(objects, Object{Source: itemSource, Obj: obj, node: node})
		}
	}
	return objects, errs
}

func withTypeMeta(raw json.RawMessage, apiVersion, kind string) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	m["apiVersion"], m["kind"] = apiVersion, kind
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

// decodeObject decodes one object strictly. The object is returned only when it has no error,
// so that nothing half-read is acted on.
func (r *Reader) decodeObject(source Source, data []byte, meta typeMeta, node *yamlNode) (runtime.Object, Errors) {
	fail := func(field, message string) *Error {
		return &Error{Source: source, Kind: meta.Kind, Name: meta.name(), Field: field, FieldLine: node.lineOf(field), Message: message}
	}
	switch {
	case meta.Kind == "":
		return nil, Errors{{Source: source, Message: "no kind"}}
	case meta.APIVersion == "":
		return nil, Errors{{Source: source, Kind: meta.Kind, Name: meta.name(), Message: "no apiVersion"}}
	}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		return nil, Errors{fail("apiVersion", err.Error())}
	}
	gvk := gv.WithKind(meta.Kind)
	if !r.scheme.Recognizes(gvk) {
		return nil, Errors{{Source: source, Message: unknownKindMessage(r.scheme, gvk)}}
	}

	var errs Errors
	// Istio specs first: their own decoding skips unknown fields and stops at the first error.
	specProblems := r.checkProtoSpec(gvk, data)
	for _, p := range specProblems {
		errs = append(errs, fail(p.field, p.message))
	}
	obj, _, err := r.decoder.Decode(data, &gvk, nil)
	switch {
	case err == nil:
	case runtime.IsStrictDecodingError(err):
		for _, e := range strictErrors(err) {
			field, message := splitStrictError(e)
			errs = append(errs, fail(field, message))
		}
	case len(specProblems) > 0:
		// The spec errors above are what made decoding fail.
	default:
		errs = append(errs, fail("", decodeMessage(err)))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return obj, nil
}

func unknownKindMessage(scheme *runtime.Scheme, gvk schema.GroupVersionKind) string {
	message := fmt.Sprintf("unknown kind %q (apiVersion %s)", gvk.Kind, gvk.GroupVersion())
	var versions []string
	for known := range scheme.AllKnownTypes() {
		if known.Kind == gvk.Kind && known.Group == gvk.Group {
			versions = append(versions, known.GroupVersion().String())
		}
	}
	if len(versions) > 0 {
		sort.Strings(versions)
		message += "; known as " + strings.Join(versions, ", ")
	}
	return message
}

func strictErrors(err error) []error {
	if strict, ok := err.(interface{ Errors() []error }); ok {
		return strict.Errors()
	}
	return []error{err}
}

var strictFieldError = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)

// splitStrictError turns `unknown field "spec.replicaz"` into ("spec.replicaz", `unknown field "replicaz"`).
func splitStrictError(err error) (field, message string) {
	text := strings.TrimPrefix(err.Error(), "strict decoding error: ")
	m := strictFieldError.FindStringSubmatch(text)
	if m == nil {
		return "", text
	}
	field = m[2]
	last := field
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		last = field[i+1:]
	}
	return field, fmt.Sprintf("%s field %q", m[1], last)
}

var goJSONPrefix = regexp.MustCompile(`^(json|yaml): `)

func decodeMessage(err error) string {
	return goJSONPrefix.ReplaceAllString(err.Error(), "")
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlMessage makes a YAML parser error's line numbers count from the start of the file.
func yamlMessage(err error, startLine int) string {
	text := err.Error()
	text = strings.TrimPrefix(text, "error converting YAML to JSON: ")
	text = strings.TrimPrefix(text, "yaml: ")
	text = strings.TrimPrefix(text, "unmarshal errors:\n")
	text = yamlLine.ReplaceAllStringFunc(text, func(match string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(match, "line "))
		return fmt.Sprintf("line %d", startLine+n-1)
	})
	text = strings.Join(strings.Fields(strings.ReplaceAll(text, "\n", "; ")), " ")
	return "invalid YAML: " + text
}

// describeJSON says what a document is when it is not an object.
func describeJSON(data []byte) string {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0 || string(trimmed) == "null":
		return "empty"
	case trimmed[0] == '[':
		return "a list"
	case trimmed[0] == '"':
		return "a string"
	case trimmed[0] == '{':
		return "an object whose apiVersion, kind or metadata has the wrong type"
	default:
		return "a scalar"
	}
}
