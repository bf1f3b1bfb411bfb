package resultsmd

import "testing"

func TestReplaceSection(t *testing.T) {
	const title = "## Hyperscan route matching"
	existing := "# Results\n\n## WAF\n\nwaf numbers\n\n" + title + "\n\nold numbers\n\n## eBPF bypass\n\nebpf numbers\n"
	got := ReplaceSection(existing, title, title+"\n\nnew numbers\n")
	want := "# Results\n\n## WAF\n\nwaf numbers\n\n" + title + "\n\nnew numbers\n\n## eBPF bypass\n\nebpf numbers\n"
	if got != want {
		t.Errorf("replace in the middle:\ngot\n%s\nwant\n%s", got, want)
	}
	if got := ReplaceSection("# Results\n", title, title+"\n\nx\n"); got != "# Results\n\n"+title+"\n\nx\n" {
		t.Errorf("append: %q", got)
	}
	if got := ReplaceSection("# R\n\n"+title+"\n\nold\n", title, title+"\n\nnew\n"); got != "# R\n\n"+title+"\n\nnew\n" {
		t.Errorf("replace the last section: %q", got)
	}
	if got := ReplaceSection("", title, title+"\n\nx\n"); got != Header+"\n"+title+"\n\nx\n" {
		t.Errorf("new file: %q", got)
	}
}
