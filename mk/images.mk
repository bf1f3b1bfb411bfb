# Container images of the operator and the bypass agent, built from scratch by cmd/meshaccel-image
# (no Docker engine, no base image) into .cache/images/<name>/: an OCI layout and a docker-save
# tarball. Both binaries are fully static, since the images hold no C library.
# The operator links Hyperscan and RE2 (C++) statically: libhs.a, libre2.a, libstdc++.a, libc.a.
APT_PACKAGES += libhyperscan-dev libre2-dev pkg-config
TEST_TARGETS += test-images

IMAGES_DIR     := $(CACHE)/images
IMAGES_BIN     := $(IMAGES_DIR)/bin
# The chart's appVersion is the tag the chart and kustomize pull by default.
IMAGE_VERSION  := $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*$$/\1/p' deploy/helm/meshaccel/Chart.yaml)
# IMAGE_REGISTRY=host/path also pushes $(IMAGE_REGISTRY)/<name>:$(IMAGE_VERSION).
IMAGE_REGISTRY ?=

# netgo and osusergo keep host and user lookups in Go: static glibc could only do them through NSS
# modules loaded at run time, which the image does not have.
STATIC_CGO_BUILD := CGO_ENABLED=1 $(GO) build -trimpath -tags netgo,osusergo,hyperscan_v54 \
	-ldflags '-s -w -linkmode external -extldflags "-static"'
STATIC_GO_BUILD  := CGO_ENABLED=0 $(GO) build -trimpath -tags netgo,osusergo -ldflags '-s -w'

.PHONY: images image-binaries test-images

image-binaries: deps ## Build the static operator and bypass binaries into .cache/images/bin.
	@mkdir -p $(IMAGES_BIN)
	$(STATIC_CGO_BUILD) -o $(IMAGES_BIN)/meshaccel-operator ./cmd/meshaccel-operator
	$(STATIC_GO_BUILD) -o $(IMAGES_BIN)/meshaccel-bypass ./cmd/meshaccel-bypass

# $(call build-image,name,user): the layout is rewritten whole so that old blobs do not pile up.
define build-image
	@echo "== $(1)"
	@rm -rf $(IMAGES_DIR)/$(1)/layout
	@$(GO) run ./cmd/meshaccel-image -binary $(IMAGES_BIN)/$(1) -version $(IMAGE_VERSION) -user $(2) \
		-oci-layout $(IMAGES_DIR)/$(1)/layout -tarball $(IMAGES_DIR)/$(1)/$(1).tar \
		$(if $(IMAGE_REGISTRY),-push $(IMAGE_REGISTRY)/$(1):$(IMAGE_VERSION))
endef

# The users match the chart: the operator runs as non-root, the bypass agent as root (bpf()).
images: image-binaries ## Build the operator and bypass images into .cache/images/<name>/ and print their digests; IMAGE_REGISTRY=host/path pushes them.
	$(call build-image,meshaccel-operator,nonroot)
	$(call build-image,meshaccel-bypass,root)

# hyperscanprobe is linked like the operator and run in the image's root filesystem to show the
# static Hyperscan and RE2 work there.
test-images: image-binaries ## Images: static binaries run in the image's root filesystem, reproducible digests, config, layers, layout, tarball, push and pull.
	$(STATIC_CGO_BUILD) -o $(IMAGES_BIN)/hyperscanprobe ./cmd/meshaccel-image/testdata/hyperscanprobe
	MESHACCEL_IMAGE_BINARIES=$(IMAGES_BIN) $(GO) test -count=1 ./internal/containerimage/ ./cmd/meshaccel-image/
