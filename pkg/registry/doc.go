// Package registry holds the REST storage of the secretfed.io resources, one
// folder per kind under secretfed/. Each kind has a strategy (API semantics:
// validation, generation, status reset, warnings) and an etcd-backed store
// with a separate status REST.
package registry
