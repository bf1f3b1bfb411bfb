package crs_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/coreruleset/go-ftw/v2/test"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/engine"
)

// diffRequest is one request both engines evaluate.
type diffRequest struct {
	name    string
	method  string
	uri     string
	headers [][2]string
	body    string
}

var browser = [][2]string{
	{"Host", "shop.example.com"},
	{"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Safari/537.36"},
	{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	{"Accept-Language", "de-DE,de;q=0.9,en;q=0.8"},
	{"Accept-Encoding", "gzip, deflate, br"},
}

func with(extra ...[2]string) [][2]string { return append(append([][2]string{}, browser...), extra...) }

// benignRequests are ordinary application requests: pages, searches, forms, JSON APIs, uploads.
func benignRequests() []diffRequest {
	var out []diffRequest
	paths := []string{"/", "/index.html", "/static/app.3f9a1c.js", "/images/logo.png", "/api/v1/users/42",
		"/blog/2024/05/hello-world", "/search?q=winter+jacket&color=blue", "/shop/cart?item=1234&qty=2",
		"/account/settings?tab=security", "/de/produkte/schuhe?größe=42",
		"/api/v2/orders?status=shipped&limit=50&offset=100", "/feed.xml", "/favicon.ico",
		"/download?file=report-2024.pdf", "/news?page=3&sort=date", "/user/profile?id=alice",
		"/calendar?from=2024-01-01&to=2024-12-31", "/login?next=%2Faccount", "/help/faq?topic=shipping+costs"}
	for _, p := range paths {
		out = append(out, diffRequest{name: "GET " + p, method: "GET", uri: p, headers: with([2]string{"Cookie", "sid=a81f3c9d0e; lang=de"})})
	}
	forms := []string{
		"username=alice&password=correct+horse+battery+staple",
		"name=Jane+Doe&email=jane%40example.com&message=Hello%2C+I+would+like+to+order+two+items.",
		"q=how+to+cook+pasta&safe=on",
		"address=Hauptstra%C3%9Fe+12&city=M%C3%BCnchen&zip=80331",
		"comment=Great+product%21+Works+as+described.&rating=5",
		"title=Meeting+notes&body=We+discussed+the+roadmap+for+Q3+and+the+budget.",
	}
	for i, f := range forms {
		out = append(out, diffRequest{name: fmt.Sprintf("form %d", i), method: "POST", uri: "/submit",
			headers: with([2]string{"Content-Type", "application/x-www-form-urlencoded"}, [2]string{"Content-Length", fmt.Sprint(len(f))}), body: f})
	}
	jsons := []string{
		`{"user":{"name":"alice","roles":["admin","dev"]},"active":true,"age":31}`,
		`{"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"coupon":null}`,
		`[1,2,3,{"note":"plain text with, commas and (parens)"}]`,
	}
	for i, j := range jsons {
		out = append(out, diffRequest{name: fmt.Sprintf("json %d", i), method: "POST", uri: "/api/v1/orders",
			headers: with([2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", fmt.Sprint(len(j))}), body: j})
	}
	mp := "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHoliday photos\r\n" +
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"beach.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0JFIF\r\n--XyZ--\r\n"
	out = append(out, diffRequest{name: "multipart upload", method: "POST", uri: "/upload",
		headers: with([2]string{"Content-Type", "multipart/form-data; boundary=XyZ"}, [2]string{"Content-Length", fmt.Sprint(len(mp))}), body: mp})
	return out
}

// attackRequests are inputs of the CRS regression tests (every step-th plain request) and
// evasion variants of classic payloads.
func attackRequests(t *testing.T, step int) []diffRequest {
	files, err := crs.RequestTestFiles(crstests.FS)
	if err != nil {
		t.Fatal(err)
	}
	var out []diffRequest
	n := 0
	for _, f := range files {
		data, err := crstests.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ft, err := test.GetTestFromYaml(data, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range ft.Tests {
			for _, st := range tc.Stages {
				if st.Input.EncodedRequest != "" {
					continue
				}
				n++
				if n%step != 0 {
					continue
				}
				in := test.NewInput(&st.Input)
				var hs [][2]string
				for _, h := range in.GetHeaders().GetAll("") {
					hs = append(hs, [2]string{h.Name, h.Value})
				}
				out = append(out, diffRequest{name: tc.IdString(), method: in.GetMethod(), uri: in.GetURI(),
					headers: hs, body: string(in.GetData())})
			}
		}
	}
	for _, p := range evasionPayloads {
		for _, enc := range encodings {
			q := enc.fn(p)
			out = append(out, diffRequest{name: "evasion " + enc.name + " " + p, method: "GET",
				uri: "/search?q=" + q, headers: with()})
		}
	}
	return out
}

func runEngineDiff(e *engine.Engine, r *diffRequest) (bool, []int) {
	tx := e.NewTransaction()
	defer tx.Close()
	tx.SetRemoteAddr("192.0.2.10", 40000)
	it := tx.ProcessRequestHeaders(r.method, r.uri, "HTTP/1.1", r.headers)
	if it == nil {
		it = tx.ProcessRequestBody([]byte(r.body), "")
	}
	return it != nil, append([]int(nil), tx.MatchedRules()...)
}

func runCorazaDiff(waf coraza.WAF, logged *[]int, r *diffRequest) (bool, []int) {
	*logged = (*logged)[:0]
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessConnection("192.0.2.10", 40000, "192.0.2.1", 80)
	tx.ProcessURI(r.uri, r.method, "HTTP/1.1")
	for _, h := range r.headers {
		tx.AddRequestHeader(h[0], h[1])
	}
	var it *types.Interruption
	if it = tx.ProcessRequestHeaders(); it == nil {
		if r.body != "" {
			it, _, _ = tx.WriteRequestBody([]byte(r.body))
		}
		if it == nil {
			it, _ = tx.ProcessRequestBody()
		}
	}
	return it != nil, append([]int(nil), *logged...)
}

func sortedIDs(ids []int) string {
	s := append([]int(nil), ids...)
	sort.Ints(s)
	out := make([]string, 0, len(s))
	for i, id := range s {
		if i > 0 && id == s[i-1] {
			continue
		}
		out = append(out, fmt.Sprint(id))
	}
	return strings.Join(out, " ")
}

// TestDifferentialCoraza evaluates the same requests with Coraza v3 and the engine, both loading
// the same CRS text, and requires the same blocking decision and the same logged rule ids.
func TestDifferentialCoraza(t *testing.T) {
	for _, pl := range []int{1, 2} {
		t.Run(fmt.Sprintf("PL%d", pl), func(t *testing.T) {
			text, err := crs.Main(crs.Options{ParanoiaLevel: pl})
			if err != nil {
				t.Fatal(err)
			}
			var logged []int
			waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(text).
				WithErrorCallback(func(mr types.MatchedRule) { logged = append(logged, mr.Rule().ID()) }))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := crs.Compile(crs.Options{ParanoiaLevel: pl})
			if err != nil {
				t.Fatal(err)
			}
			e := engine.New(rs)
			benign := benignRequests()
			reqs := append(benign, attackRequests(t, 16)...)
			var decision, ids []string
			blocked, matches := 0, 0
			for i := range reqs {
				r := &reqs[i]
				cb, cids := runCorazaDiff(waf, &logged, r)
				eb, eids := runEngineDiff(e, r)
				if cb {
					blocked++
					if i < len(benign) {
						t.Errorf("benign request %s is blocked by Coraza: [%s]", r.name, sortedIDs(cids))
					}
				}
				matches += len(cids)
				if cb != eb {
					decision = append(decision, fmt.Sprintf("%s: coraza blocked=%v engine blocked=%v (coraza [%s] engine [%s])", r.name, cb, eb, sortedIDs(cids), sortedIDs(eids)))
				}
				if c, m := sortedIDs(cids), sortedIDs(eids); c != m {
					ids = append(ids, fmt.Sprintf("%s: coraza [%s] engine [%s]", r.name, c, m))
				}
			}
			t.Logf("%d requests (%d benign), %d blocked and %d rule matches logged by Coraza: %d decision differences, %d rule-set differences",
				len(reqs), len(benign), blocked, matches, len(decision), len(ids))
			if blocked < len(reqs)/2 {
				t.Errorf("only %d of %d requests are blocked: the attack corpus is not reaching the rules", blocked, len(reqs))
			}
			if os.Getenv("WAF_DIFF_VERBOSE") != "" {
				for _, d := range ids {
					t.Log(d)
				}
			}
			for _, d := range decision {
				t.Error(d)
			}
			for _, d := range ids {
				t.Error(d)
			}
		})
	}
}
