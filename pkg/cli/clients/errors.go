package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// Target names a cluster in messages.
type Target struct {
	// Role is "host" or "member".
	Role    string
	Context string
	Server  string
}

func (t Target) String() string {
	if t.Server == "" {
		return fmt.Sprintf("%s cluster (context %q)", t.Role, t.Context)
	}
	return fmt.Sprintf("%s cluster %s (context %q)", t.Role, t.Server, t.Context)
}

// ErrUnreachable marks errors where no answer came back from the cluster.
var ErrUnreachable = errors.New("cluster unreachable")

// Explain turns err, returned while doing action (e.g. `create ClusterRole
// "secretfed:member:m1"`) against t, into one line naming the cluster, the
// action and the cause. The result wraps err, so apierrors.IsForbidden and
// friends still work on it, and wraps ErrUnreachable when the cluster did not
// answer at all.
func Explain(err error, t Target, action string) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %s: interrupted: %w", t, action, err)
	case IsUnreachable(err):
		return &unreachableError{err: err, msg: fmt.Sprintf("cannot reach %s to %s: %v", t, action, err)}
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s rejected the credentials of context %q (401 Unauthorized) trying to %s: %w", t, t.Context, action, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: not allowed to %s: %w", t, action, err)
	default:
		return fmt.Errorf("%s: cannot %s: %w", t, action, err)
	}
}

// IsUnreachable reports whether err means that no HTTP answer came back:
// connection refused, DNS failure, TLS failure, timeout.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnreachable) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return false
	}
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)
}

type unreachableError struct {
	err error
	msg string
}

func (e *unreachableError) Error() string   { return e.msg }
func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// ErrAPINotServed is wrapped by CheckSecretfedAPI when the host does not serve secretfed.io.
var ErrAPINotServed = errors.New("secretfed.io API not served")

// CheckSecretfedAPI verifies that the host serves secretfed.io/v1alpha1 with
// both resources, so that commands fail with "is secretfed installed?" rather
// than with a bare 404 from the first request.
func CheckSecretfedAPI(ctx context.Context, disc discovery.DiscoveryInterfaceWithContext, host Target) error {
	gv := v1alpha1.SchemeGroupVersion.String()
	list, err := disc.ServerResourcesForGroupVersionWithContext(ctx, gv)
	switch {
	case err == nil:
	case apierrors.IsNotFound(err):
		return notServed(fmt.Sprintf("the secretfed.io API (%s) is not available on the %s: is secretfed installed?", gv, host))
	case apierrors.IsServiceUnavailable(err) || isStatusCode(err, 503):
		return notServed(fmt.Sprintf("the secretfed.io API (%s) is registered on the %s but not available (503): is the secretfed server running? (kubectl get apiservice %s.%s)",
			gv, host, v1alpha1.SchemeGroupVersion.Version, v1alpha1.SchemeGroupVersion.Group))
	default:
		return Explain(err, host, "discover the secretfed.io API")
	}
	var missing []string
	for _, want := range []string{"federatedclusters", "federatedsecrets"} {
		found := false
		for _, r := range list.APIResources {
			if r.Name == want {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return notServed(fmt.Sprintf("the %s serves %s without %s: is this secretfed server too old?", host, gv, strings.Join(missing, ", ")))
	}
	return nil
}

// notServed is an error whose message is msg and which matches ErrAPINotServed.
func notServed(msg string) error { return &notServedError{msg} }

type notServedError struct{ msg string }

func (e *notServedError) Error() string        { return e.msg }
func (e *notServedError) Is(target error) bool { return target == ErrAPINotServed }

func isStatusCode(err error, code int32) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status) && status.Status().Code == code
}
