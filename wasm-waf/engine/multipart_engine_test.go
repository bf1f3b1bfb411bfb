package engine_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestMultipartVariables checks what the multipart body processor hands to the rules, and how it
// reports malformed bodies (CRS rule 200003 and its kind read MULTIPART_STRICT_ERROR and
// REQBODY_ERROR).
func TestMultipartVariables(t *testing.T) {
	e := compile(t, `SecRule REQUEST_HEADERS:Content-Type "@rx ^multipart/" "id:100,phase:1,pass,nolog,ctl:requestBodyProcessor=MULTIPART"
SecRule FILES:f "@streq shell.php" "id:1,phase:2,pass,log"
SecRule FILES_NAMES "@streq f" "id:2,phase:2,pass,log"
SecRule FILES_SIZES:shell.php "@eq 5" "id:3,phase:2,pass,log"
SecRule MULTIPART_FILENAME:f "@streq shell.php" "id:4,phase:2,pass,log"
SecRule MULTIPART_NAME "@streq comment" "id:5,phase:2,pass,log"
SecRule ARGS_POST:comment "@streq hello" "id:6,phase:2,pass,log"
SecRule MULTIPART_PART_HEADERS:f "@streq Content-Type: application/x-php" "id:7,phase:2,pass,log"
SecRule FILES_COMBINED_SIZE "@eq 10" "id:8,phase:2,pass,log"
SecRule MULTIPART_STRICT_ERROR "@eq 1" "id:9,phase:2,pass,log"
SecRule REQBODY_ERROR "@eq 1" "id:10,phase:2,pass,log"
SecRule MULTIPART_PART_HEADERS:comment "@beginsWith Content-Disposition: form-data; name=" "id:11,phase:2,pass,log"
SecRule &ARGS_POST "@eq 1" "id:12,phase:2,pass,log"
SecRule MULTIPART_PART_HEADERS "@rx [^\x21-\x7E][\x21-\x39\x3B-\x7E]*:" "id:13,phase:2,pass,log,t:lowercase"
`)
	const file = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\nContent-Type: application/x-php\r\n\r\n<?php\r\n"
	const field = "--b\r\ncontent-disposition: form-data; name=\"comment\"\r\n\r\nhello\r\n"
	cases := []struct {
		name, contentType, body string
		want                    []int
	}{
		{"well-formed", "multipart/form-data; boundary=b", file + field + "--b--\r\n", []int{1, 2, 3, 4, 5, 6, 7, 8, 11, 12}},
		{"quoted boundary", `multipart/form-data; boundary="b"`, file + field + "--b--\r\n", []int{1, 2, 3, 4, 5, 6, 7, 8, 11, 12}},
		{"duplicate part header", "multipart/form-data; boundary=b",
			strings.Replace(field, "\r\n\r\n", "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n", 1) + "--b--", []int{5, 6, 9, 11, 12}},
		{"unterminated part", "multipart/form-data; boundary=b", field + "--b", []int{5, 6, 9, 10, 11, 12}},
		{"malformed part header", "multipart/form-data; boundary=b", "--b\r\nno colon\r\n\r\nx\r\n--b--", []int{9, 10}},
		{"no boundary parameter", "multipart/form-data", field + "--b--", []int{9, 10}},
		{"control character in a part header name", "multipart/form-data; boundary=b",
			"--b\r\n\x0eContent-Disposition: form-data; name=\"x\"\r\n" + field[5:] + "--b--", []int{5, 6, 11, 12, 13}},
	}
	for _, c := range cases {
		_, ids, _ := run(e, req{method: "POST", uri: "/", headers: [][2]string{{"Content-Type", c.contentType}}, body: c.body})
		got := []int{}
		for _, id := range ids {
			if id != 100 {
				got = append(got, id)
			}
		}
		sort.Ints(got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: rules %v matched, want %v", c.name, got, c.want)
		}
	}
}
