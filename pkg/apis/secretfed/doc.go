// +k8s:deepcopy-gen=package
// +groupName=secretfed.io

// Package secretfed holds the internal (hub) types of the secretfed.io API
// group. Validation, strategies and the propagation loop work on these types;
// the versioned packages beside it are only the wire format.
package secretfed
