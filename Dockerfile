# secretfed-apiserver image: one static binary on an empty base.
#
# The binary is built outside the image (hack/build-image.sh runs
# `CGO_ENABLED=0 go build` first) because the build machines of this project
# cannot pull images, so a `golang` builder stage is not available. The binary
# needs nothing from a base image: it is static, the server's TLS material comes
# from mounted Secrets, and it talks to the host cluster with the in-cluster
# ServiceAccount CA. If secretfed must reach a member through a public
# endpoint signed by a public CA, give that CA in the FederatedCluster's
# caBundle (this image has no system trust store on purpose).
#
# Build: hack/build-image.sh   (IMAGE=secretfed-apiserver:dev by default)
FROM scratch

COPY bin/secretfed-apiserver /secretfed-apiserver

# The numeric user of distroless "nonroot"; the deployment manifests set the
# same user and require runAsNonRoot, which needs a numeric USER here.
USER 65532:65532

# 8443: the secure port the deployment uses (--secure-port=8443); a
# non-root process cannot bind the binary's default 443.
EXPOSE 8443

ENTRYPOINT ["/secretfed-apiserver"]
