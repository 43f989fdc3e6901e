package framework

import "errors"

// setupKind is the kind provider; it is built by the kind e2e work
// (see docs/testbed.md). Until then it says so instead of pretending.
func (f *Framework) setupKind() error {
	return errors.New("E2E_PROVIDER=kind is not implemented yet: use the local provider")
}
