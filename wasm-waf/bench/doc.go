// Package bench compares the engine with Coraza v3 on the full OWASP CRS (see bench_test.go).
package bench
