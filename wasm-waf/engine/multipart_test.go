package engine

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"reflect"
	"strings"
	"testing"
)

// The parser replaces mime/multipart and mime.ParseMediaType in the engine; the tests and fuzz
// targets below compare the two where Go's packages accept the input.

type parsedPart struct {
	headers []string
	body    string
}

func readAllParts(body, boundary string) ([]parsedPart, error) {
	r := newMultipartReader([]byte(body), boundary)
	var out []parsedPart
	for {
		hs, data, ok, err := r.next()
		if !ok {
			return out, err
		}
		p := parsedPart{body: string(data)}
		for _, h := range hs {
			p.headers = append(p.headers, canonicalHeaderName(h.name)+": "+string(h.value))
		}
		out = append(out, p)
		if err != nil {
			return out, err
		}
	}
}

func TestMultipartReader(t *testing.T) {
	cd := func(name string) string { return `Content-Disposition: form-data; name="` + name + `"` }
	cases := []struct {
		name, body string
		want       []parsedPart
		err        error
	}{
		{"crlf", "--b\r\n" + cd("a") + "\r\n\r\none\r\n--b\r\n" + cd("c") + "\r\n\r\ntwo\r\nlines\r\n--b--\r\n",
			[]parsedPart{{[]string{cd("a")}, "one"}, {[]string{cd("c")}, "two\r\nlines"}}, nil},
		{"lf", "--b\n" + cd("a") + "\n\nx\n--b--\n", []parsedPart{{[]string{cd("a")}, "x"}}, nil},
		{"preamble and epilogue", "junk\r\n--bx\r\n--b\r\n" + cd("a") + "\r\n\r\nv\r\n--b--\r\nmore junk",
			[]parsedPart{{[]string{cd("a")}, "v"}}, nil},
		{"empty body, transport padding", "--b \t\r\n" + cd("a") + "\r\n\r\n--b--", []parsedPart{{[]string{cd("a")}, ""}}, nil},
		{"boundary text inside a body", "--b\r\n" + cd("a") + "\r\n\r\nx--b\r\n--bz\r\n--b--", []parsedPart{{[]string{cd("a")}, "x--b\r\n--bz"}}, nil},
		{"folded header", "--b\r\nContent-Disposition: form-data;\r\n\tname=\"a\"\r\n\r\nv\r\n--b--",
			[]parsedPart{{[]string{`Content-Disposition: form-data; name="a"`}, "v"}}, nil},
		{"canonical names", "--b\r\ncontent-TYPE:  text/plain \r\n\r\nv\r\n--b--", []parsedPart{{[]string{"Content-Type: text/plain"}, "v"}}, nil},
		// Control characters reach the rules as received (CRS 922130).
		{"control characters", "--b\r\n\x0eContent-Disposition: form-data\x7f; name=\"a\"\r\n\r\nv\r\n--b--",
			[]parsedPart{{[]string{"\x0eContent-Disposition: form-data\x7f; name=\"a\""}, "v"}}, nil},
		{"only the final boundary", "--b--\r\n", nil, nil},
		{"no boundary", "no parts here\r\n", nil, errMultipartNoBoundaryLine},
		{"empty", "", nil, errMultipartNoBoundaryLine},
		{"headers cut off", "--b\r\n" + cd("a") + "\r\n", nil, errMultipartHeadersEOF},
		{"header without colon", "--b\r\nnot a header\r\n\r\nv\r\n--b--", nil, errMultipartHeaderLine},
		{"continuation first", "--b\r\n folded\r\n\r\nv\r\n--b--", nil, errMultipartContinuation},
		{"unterminated body", "--b\r\n" + cd("a") + "\r\n\r\nrest", []parsedPart{{[]string{cd("a")}, "rest"}}, errMultipartBodyEOF},
		{"garbage after boundary", "--b\r\n" + cd("a") + "\r\n\r\nv\r\n--b x\r\n\r\n", []parsedPart{{[]string{cd("a")}, "v"}}, errMultipartBoundaryLine},
	}
	for _, c := range cases {
		got, err := readAllParts(c.body, "b")
		if !errors.Is(err, c.err) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

func TestParseMediaType(t *testing.T) {
	cases := []struct {
		in, typ string
		params  map[string]string
		err     error
	}{
		{"multipart/form-data; boundary=abc", "multipart/form-data", map[string]string{"boundary": "abc"}, nil},
		{`Multipart/Form-Data;BOUNDARY="a b;c"; charset=utf-8;`, "multipart/form-data", map[string]string{"boundary": "a b;c", "charset": "utf-8"}, nil},
		{`form-data; name="a\"b"; filename="C:\dir\x.php"`, "form-data", map[string]string{"name": `a"b`, "filename": `C:\dir\x.php`}, nil},
		{`form-data; filename="plain.txt"; filename*=UTF-8''%E2%82%AC.php`, "form-data", map[string]string{"filename": "€.php"}, nil},
		{`form-data; filename*=koi8-r''x; filename="kept"`, "form-data", map[string]string{"filename": "kept"}, nil},
		{"text/plain", "text/plain", map[string]string{}, nil},
		{"", "", nil, errMediaType},
		{"multipart/", "", nil, errMediaType},
		{"multipart/form-data; boundary", "multipart/form-data", nil, errMediaParam},
		{`multipart/form-data; boundary="open`, "multipart/form-data", nil, errMediaParam},
		{"multipart/form-data; boundary=a; boundary=b", "multipart/form-data", nil, errMediaDuplicateParam},
	}
	for _, c := range cases {
		typ, params, err := parseMediaType(c.in, nil)
		got := map[string]string{}
		for _, p := range params {
			got[p.key] = p.value
		}
		if !errors.Is(err, c.err) || typ != c.typ || (err == nil && !reflect.DeepEqual(got, c.params)) {
			t.Errorf("%q: got %q %v %v; want %q %v %v", c.in, typ, got, err, c.typ, c.params, c.err)
		}
	}
}

func TestMultipartReaderAllocations(t *testing.T) {
	body := []byte(strings.Repeat("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n", 50) + "--b--\r\n")
	r := newMultipartReader(body, "b")
	allocs := testing.AllocsPerRun(20, func() {
		r.pos, r.started, r.done = 0, false, false
		for {
			if _, _, ok, _ := r.next(); !ok {
				break
			}
		}
	})
	if allocs > 0 {
		t.Errorf("reading 50 parts allocates %v times, want 0", allocs)
	}
}

// goParts reads body with Go's mime/multipart; ok is false when it reports an error or when
// the input uses what the engine deliberately treats differently (quoted-printable decoding,
// header fields textproto rejects or rewrites).
func goParts(body, boundary string) (parts []parsedPart, ok bool) {
	mr := multipart.NewReader(strings.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts, true
		}
		if err != nil {
			return nil, false
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		var hs []string
		for k, vs := range p.Header {
			if k == "Content-Transfer-Encoding" || strings.ContainsAny(k, " \t") {
				return nil, false
			}
			for _, v := range vs {
				hs = append(hs, k+": "+v)
			}
		}
		parts = append(parts, parsedPart{hs, string(data)})
	}
}

func sameParts(a, b []parsedPart) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		// Folded lines are joined with one space; textproto keeps some of the folding
		// whitespace, so header values compare with whitespace runs collapsed.
		x, y := collapseSpace(a[i].headers), collapseSpace(b[i].headers)
		sortStrings(x)
		sortStrings(y)
		if a[i].body != b[i].body || !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func collapseSpace(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = strings.Join(strings.FieldsFunc(h, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
	}
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func FuzzMultipartReader(f *testing.F) {
	f.Add("b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--\r\n")
	f.Add("b", "pre\n--b\nContent-Disposition: form-data; name=a; filename=x.php\n\n<?php\n--b\n\n\n--b--")
	f.Add("xyz", "--xyz\r\nA: 1\r\n folded\r\nB:2\r\n\r\n--xyz \r\n\r\nbody\r\n--xyz--")
	f.Add("b", "--b\r\n\x0eContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--b-")
	f.Add("b", "--b\r\nX: y\r\n\r\n\r\n--b\r\n--b--")
	f.Fuzz(func(t *testing.T, boundary, body string) {
		if boundary == "" || len(boundary) > 70 {
			return
		}
		in := []byte(body)
		r := newMultipartReader(in, boundary)
		var got []parsedPart
		var err error
		for n := 0; ; n++ {
			if n > len(in) {
				t.Fatalf("more parts than body bytes")
			}
			hs, data, ok, perr := r.next()
			if !ok {
				err = perr
				break
			}
			if len(data) > 0 && !bytes.Contains(in, data) {
				t.Fatalf("part body %q is not from the input", data)
			}
			p := parsedPart{body: string(data)}
			for _, h := range hs {
				p.headers = append(p.headers, canonicalHeaderName(h.name)+": "+string(h.value))
			}
			got = append(got, p)
			if perr != nil {
				err = perr
				break
			}
		}
		if want, ok := goParts(body, boundary); ok && err == nil && !sameParts(got, want) {
			t.Fatalf("parts %q, mime/multipart reads %q", got, want)
		}
	})
}

func FuzzParseMediaType(f *testing.F) {
	f.Add("multipart/form-data; boundary=abc")
	f.Add(`form-data; name="a\"b"; filename="C:\dir\x.php"`)
	f.Add(`form-data; filename*=UTF-8''%E2%82%AC.php; filename=a`)
	f.Add(`multipart/form-data; boundary="x;y" ;`)
	f.Fuzz(func(t *testing.T, v string) {
		typ, params, err := parseMediaType(v, nil)
		if err != nil {
			return
		}
		if typ != strings.ToLower(typ) {
			t.Fatalf("type %q is not lower case", typ)
		}
		if strings.ContainsAny(v, "\r\n{}") {
			return // line breaks and braces: mime is more lenient
		}
		gtyp, gparams, gerr := mime.ParseMediaType(v)
		if gerr != nil {
			return
		}
		got := map[string]string{}
		for _, p := range params {
			got[p.key] = p.value
		}
		if gtyp != typ || !reflect.DeepEqual(got, gparams) {
			t.Fatalf("%q: got %q %q, mime reads %q %q", v, typ, got, gtyp, gparams)
		}
	})
}
