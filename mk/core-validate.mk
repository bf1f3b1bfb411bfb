# EnvoyFilter validation (extensions/envoyfilter), the manifest reader (extensions/manifest) and
# `meshaccel validate`.
TEST_TARGETS += test-core-validate

.PHONY: test-core-validate
test-core-validate: ## EnvoyFilter validator, manifest reader and the validate command (with fuzz seeds).
	$(GO) test ./extensions/envoyfilter/... ./extensions/manifest/...
	$(GO) test ./internal/cli/ -run 'Validate'
