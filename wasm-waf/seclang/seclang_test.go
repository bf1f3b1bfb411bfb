package seclang

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseJoinsContinuationsAndKeepsLines(t *testing.T) {
	src := "# comment\n\nSecRuleEngine On\nSecRule ARGS \"@rx a\\\"b\\d\" \\\n    \"id:1,\\\n    phase:2,deny\"\n  SecMarker END\n"
	ds, err := Parse("r.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Directive{
		{File: "r.conf", Line: 3, Name: "SecRuleEngine", Args: []string{"On"}},
		{File: "r.conf", Line: 4, Name: "SecRule", Args: []string{"ARGS", `@rx a"b\d`, "id:1,    phase:2,deny"}},
		{File: "r.conf", Line: 7, Name: "SecMarker", Args: []string{"END"}},
	}
	if !reflect.DeepEqual(ds, want) {
		t.Fatalf("got %#v\nwant %#v", ds, want)
	}
}

func TestParseUnterminatedQuoteNamesFileAndLine(t *testing.T) {
	_, err := Parse("bad.conf", []byte("SecRuleEngine On\n\nSecRule ARGS \"@rx a"))
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("want *Error, got %v", err)
	}
	if se.File != "bad.conf" || se.Line != 3 || se.Directive != "SecRule" {
		t.Fatalf("error at %s:%d %s, want bad.conf:3 SecRule (%v)", se.File, se.Line, se.Directive, err)
	}
	if !strings.Contains(err.Error(), "bad.conf:3: SecRule: unterminated") {
		t.Fatalf("message %q", err)
	}
}

func TestParseVariables(t *testing.T) {
	vs, err := ParseVariables(`REQUEST_COOKIES|!REQUEST_COOKIES:/^__utm|x/|&ARGS|TX:'a b'|XML:/*|!request_headers:Cookie`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Variable{
		{Name: "REQUEST_COOKIES"},
		{Name: "REQUEST_COOKIES", Key: "^__utm|x", KeyRegex: true, Exclude: true},
		{Name: "ARGS", Count: true},
		{Name: "TX", Key: "a b"},
		{Name: "XML", Key: "/*"},
		{Name: "REQUEST_HEADERS", Key: "Cookie", Exclude: true},
	}
	if !reflect.DeepEqual(vs, want) {
		t.Fatalf("got %#v\nwant %#v", vs, want)
	}
	for _, bad := range []string{"", "|", "ARGS:/unterminated", "TX:'open"} {
		if _, err := ParseVariables(bad); err == nil {
			t.Errorf("ParseVariables(%q): want error", bad)
		}
	}
}

func TestParseOperator(t *testing.T) {
	cases := map[string]Operator{
		"^a+$":           {Name: "rx", Arg: "^a+$"},
		"!@eq 0":         {Name: "eq", Arg: "0", Negate: true},
		"@pm a b c":      {Name: "pm", Arg: "a b c"},
		"@detectSQLi":    {Name: "detectSQLi"},
		"! @within %{x}": {Name: "within", Arg: "%{x}", Negate: true},
	}
	for in, want := range cases {
		got, err := ParseOperator(in)
		if err != nil || got != want {
			t.Errorf("ParseOperator(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
	if _, err := ParseOperator("@ x"); err == nil {
		t.Error("empty operator name: want error")
	}
}

func TestParseActions(t *testing.T) {
	as, err := ParseActions(`id:1, phase:2,msg:'a, b \'c\'',t:none,t:lowercase,setvar:'tx.x=+%{tx.y}',nolog`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{{"id", "1"}, {"phase", "2"}, {"msg", "a, b 'c'"}, {"t", "none"}, {"t", "lowercase"},
		{"setvar", "tx.x=+%{tx.y}"}, {"nolog", ""}}
	if !reflect.DeepEqual(as, want) {
		t.Fatalf("got %#v\nwant %#v", as, want)
	}
	for _, bad := range []string{"msg:'open", "msg:'a'b", ":x"} {
		if _, err := ParseActions(bad); err == nil {
			t.Errorf("ParseActions(%q): want error", bad)
		}
	}
}

// FuzzParse checks that parsing never panics and that every directive and error points at a
// line of the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SecRule ARGS \"@rx x\" \"id:1,deny\"",
		"SecRule REQUEST_HEADERS:User-Agent \"@pm a b\" \\\n \"id:2,\\\n chain\"\n SecRule ARGS \"x\" \"t:none\"",
		"# c\nSecAction \"id:3,setvar:'tx.a=1'\"\n",
		"SecRule ARGS '@rx \\'' 'id:4'",
		"SecRule \"unterminated",
		"\\\n\\\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Count(s, "\n") + 1
		ds, err := Parse("f.conf", []byte(s))
		var se *Error
		if errors.As(err, &se) && (se.Line < 1 || se.Line > lines) {
			t.Fatalf("error line %d outside 1..%d", se.Line, lines)
		}
		for _, d := range ds {
			if d.Line < 1 || d.Line > lines || d.Name == "" {
				t.Fatalf("directive %#v outside input", d)
			}
			if len(d.Args) > 0 {
				_, _ = ParseVariables(d.Args[0])
				_, _ = ParseOperator(d.Args[0])
				_, _ = ParseActions(d.Args[len(d.Args)-1])
			}
		}
	})
}
