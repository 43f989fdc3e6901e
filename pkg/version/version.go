// Package version holds the build version of the secretfed binaries, set at
// link time with -ldflags "-X github.com/secretfed/secretfed/pkg/version.Version=...".
package version

// Version is the secretfed release or git description; "dev" when unset.
var Version = "dev"
