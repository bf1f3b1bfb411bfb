package jsonpath

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

func mustDecode(t *testing.T, text string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLocateNamesThePathOfProtojsonErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		target      func() proto.Message
		wantPath    string
		wantMessage string
	}{
		{
			name:        "unknown field deep in a list",
			input:       `{"name":"l","filter_chains":[{"filters":[{"name":"a"}]},{"filters":[{"name":"b","typo":1}]}]}`,
			target:      func() proto.Message { return &listenerv3.Listener{} },
			wantPath:    `.filter_chains[1].filters[0].typo`,
			wantMessage: `unknown field "typo"`,
		},
		{
			name:        "wrong value type",
			input:       `{"name":"l","per_connection_buffer_limit_bytes":"lots"}`,
			target:      func() proto.Message { return &listenerv3.Listener{} },
			wantPath:    `.per_connection_buffer_limit_bytes`,
			wantMessage: `invalid value for uint32 field value: "lots"`,
		},
		{
			name:        "non-ASCII text before the error moves columns in runes, not bytes",
			input:       `{"metadata":{"filter_metadata":{"ünïcødé.key":{"x":"ẞ"}}},"nope":true}`,
			target:      func() proto.Message { return &corev3.Node{} },
			wantPath:    `.nope`,
			wantMessage: `unknown field "nope"`,
		},
		{
			name:        "unresolvable Any type points at @type",
			input:       `{"name":"f","typed_config":{"@type":"type.googleapis.com/envoy.nothing.v3.Here"}}`,
			target:      func() proto.Message { return &listenerv3.Filter{} },
			wantPath:    `.typed_config.@type`,
			wantMessage: `unable to resolve "type.googleapis.com/envoy.nothing.v3.Here": "not found"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Encode(mustDecode(t, tc.input))
			if err != nil {
				t.Fatal(err)
			}
			err = protojson.Unmarshal(doc.JSON, tc.target())
			if err == nil {
				t.Fatal("protojson accepted the input")
			}
			path, message, ok := doc.Locate(err)
			if !ok {
				t.Fatalf("no position in %q", err)
			}
			if path.String() != tc.wantPath || message != tc.wantMessage {
				t.Errorf("Locate = %q, %q; want %q, %q", path, message, tc.wantPath, tc.wantMessage)
			}
		})
	}
}

func TestPathStringQuotesKeysThatAreNotIdentifiers(t *testing.T) {
	p := Path{{Key: "typed_per_filter_config"}, {Key: "envoy.filters.http.cors"}, {Key: "x"}, {Index: 2, IsIndex: true}}
	if got, want := p.String(), `.typed_per_filter_config["envoy.filters.http.cors"].x[2]`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEncodeKeepsIntegersIntegralForProtojson(t *testing.T) {
	s, err := structpb.NewStruct(map[string]any{"per_connection_buffer_limit_bytes": float64(4_000_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Encode(s.AsMap())
	if err != nil {
		t.Fatal(err)
	}
	if string(doc.JSON) != `{"per_connection_buffer_limit_bytes":4000000000}` {
		t.Fatalf("JSON = %s", doc.JSON)
	}
	var l listenerv3.Listener
	if err := protojson.Unmarshal(doc.JSON, &l); err != nil {
		t.Fatal(err)
	}
	if l.GetPerConnectionBufferLimitBytes().GetValue() != 4_000_000_000 {
		t.Fatalf("decoded %v", l.GetPerConnectionBufferLimitBytes())
	}
}

func TestEncodeRejectsValuesJSONCannotHold(t *testing.T) {
	nan := mustDecode(t, `{"a":[1]}`).(map[string]any)
	nan["a"].([]any)[0] = math.NaN()
	if _, err := Encode(nan); err == nil || err.Error() != "a[0]: NaN cannot be written as JSON" {
		t.Fatalf("err = %v", err)
	}
}

func TestDecoderReportsEveryProblemAndKeepsTheRest(t *testing.T) {
	tree := mustDecode(t, `{
		"name": "l",
		"listener_filters": [{"name": "a", "typo": 1}, {"name": "b"}],
		"filter_chains": [{"name": 7}],
		"stat_prefix": "kept",
		"typed_config_nope": {}
	}`)
	var listener listenerv3.Listener
	problems, complete := Decoder{}.Decode(tree, &listener)
	var got []string
	for _, p := range problems {
		got = append(got, p.Path.String()+": "+p.Message)
	}
	want := []string{
		`.filter_chains[0].name: invalid value for string field name: 7`,
		`.listener_filters[0].typo: unknown field "typo"`,
		`.typed_config_nope: unknown field "typed_config_nope"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if complete {
		t.Error("complete after dropping members")
	}
	if listener.GetStatPrefix() != "kept" || len(listener.GetListenerFilters()) != 2 || listener.GetListenerFilters()[1].GetName() != "b" {
		t.Errorf("the valid members were not decoded: %v", &listener)
	}
}
